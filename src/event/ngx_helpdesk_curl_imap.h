/*
 * IMAP with libcurl, on the same multi handle and outbound policy as
 * every other request (ngx_helpdesk_curl.c).
 */

#ifndef _NGX_HELPDESK_CURL_IMAP_H_INCLUDED_
#define _NGX_HELPDESK_CURL_IMAP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_curl.h"


/*
 * A mailbox URL taken apart: "imaps://host:993/INBOX" is the root
 * "imaps://host:993/" and the folder "INBOX" (decoded).
 */
typedef struct {
    ngx_str_t       url;        /* as stored */
    ngx_str_t       root;
    ngx_str_t       folder;
} ngx_helpdesk_imap_url_t;


/*
 * NULL when "url" may be saved as a mailbox's: imaps:// (implicit TLS) or
 * imap:// (STARTTLS, required), a host the outbound policy lets us reach,
 * a port, a folder of printable ASCII without quotes, backslashes or ";",
 * no credentials, query or fragment.  Otherwise why not.
 */
const char *ngx_helpdesk_curl_imap_url_check(u_char *url, size_t len,
    ngx_array_t *allow, u_char *buf, size_t size);

/* Takes a checked URL apart (allocations from pool). */
ngx_int_t ngx_helpdesk_curl_imap_url(ngx_pool_t *pool, ngx_str_t *url,
    ngx_helpdesk_imap_url_t *u);

/*
 * A request to "url" (an IMAP URL of libcurl's: the root, the folder with
 * ";UIDVALIDITY=", a message with "/;UID=") as "user" with "password":
 * "command" (NULL: what the URL says; otherwise a command of its own,
 * whose untagged answers are the body), "body_max" bytes kept of the
 * answer.  TLS is required either way and certificates are verified
 * ("ca_file" when not empty, otherwise the system's).
 */
ngx_helpdesk_curl_req_t *ngx_helpdesk_curl_imap(ngx_log_t *log,
    ngx_str_t *url, const char *command, ngx_str_t *user,
    ngx_str_t *password, ngx_str_t *ca_file, ngx_msec_t timeout,
    size_t body_max);

/*
 * The answer of req (a message's body) written to "fd" from its start
 * rather than kept in memory: req->file_len bytes, at most body_max (the
 * rest read and dropped, req->truncated set).
 */
void ngx_helpdesk_curl_imap_to_file(ngx_helpdesk_curl_req_t *req,
    ngx_fd_t fd);


#endif /* _NGX_HELPDESK_CURL_IMAP_H_INCLUDED_ */
