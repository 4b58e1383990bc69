/*
 * Outbound HTTP: libcurl's multi-socket interface on nginx events.
 */

#ifndef _NGX_HELPDESK_CURL_H_INCLUDED_
#define _NGX_HELPDESK_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <curl/curl.h>


typedef struct ngx_helpdesk_curl_req_s  ngx_helpdesk_curl_req_t;


/*
 * Where requests may go.  Every request connects only to public unicast
 * addresses or to those in "allow" (ngx_cidr_t; NULL: none); names are
 * resolved by nginx's "resolver" when one is configured (the address
 * checked is the address used), otherwise by libcurl's resolver thread.
 */
typedef struct {
    ngx_array_t                    *allow;
    ngx_resolver_t                 *resolver;
    ngx_msec_t                      resolver_timeout;
} ngx_helpdesk_curl_conf_t;


/* what a refused address is reported as, and nothing more */
#define NGX_HELPDESK_CURL_REFUSED  "refused: address not allowed"

/*
 * Called once per request, from the event loop.  "result" is CURLE_OK
 * when an HTTP response arrived (whatever its status), otherwise the
 * transfer failed and req->error says why.
 */
typedef void (*ngx_helpdesk_curl_handler_pt)(ngx_helpdesk_curl_req_t *req,
    CURLcode result);


struct ngx_helpdesk_curl_req_s {
    CURL                           *easy;
    struct curl_slist              *headers;
    ngx_helpdesk_curl_handler_pt    handler;
    void                           *data;
    ngx_log_t                      *log;

    long                            status;     /* HTTP status */
    ngx_str_t                       body;       /* response, bounded */
    size_t                          body_max;
    size_t                          body_cap;
    unsigned                        truncated:1;
    unsigned                        running:1;  /* in the multi handle */
    ngx_msec_t                      started;
    ngx_msec_t                      elapsed;
    char                            error[CURL_ERROR_SIZE];

    ngx_str_t                       request_body;

    CURLU                          *url;
    char                           *host;       /* as libcurl parsed it */
    long                            port;
    struct curl_slist              *resolve;    /* the addresses checked */
    ngx_resolver_ctx_t             *resolving;
    ngx_event_t                     failed;     /* a failure before curl */
    CURLcode                        result;
    ngx_msec_t                      timeout;
    unsigned                        refused:1;  /* an address refused */
    unsigned                        trusted:1;  /* the operator's own host */
    unsigned                        secret:1;   /* bodies wiped when freed */

    /* SMTP: the recipients, and how much of request_body was uploaded */
    struct curl_slist              *rcpt;
    size_t                          sent;

    /*
     * IMAP: a message written to this file as it arrives (never held in
     * memory), file_len bytes of it, bounded by body_max like body
     */
    ngx_fd_t                        file;
    size_t                          file_len;
};


ngx_int_t ngx_helpdesk_curl_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_curl_conf_t *conf);
void ngx_helpdesk_curl_exit_worker(void);

/*
 * A request to "url" with "method" (NULL: GET), the given body (copied),
 * a total timeout, and room for "body_max" bytes of response.  A URL that
 * is not an absolute http(s) URL is not an error here: the request fails
 * when started, through its handler, with req->refused set.
 */
ngx_helpdesk_curl_req_t *ngx_helpdesk_curl_create(ngx_log_t *log,
    const char *method, ngx_str_t *url, ngx_str_t *body, ngx_msec_t timeout,
    size_t body_max);
ngx_int_t ngx_helpdesk_curl_header(ngx_helpdesk_curl_req_t *req,
    const char *fmt, ...);
ngx_int_t ngx_helpdesk_curl_start(ngx_helpdesk_curl_req_t *req);

/*
 * Save-time check of a URL a tenant gives: NULL when it may be saved,
 * otherwise why not (a constant or a message written into buf).
 */
const char *ngx_helpdesk_curl_url_check(u_char *url, size_t len,
    ngx_array_t *allow, u_char *buf, size_t size);

/*
 * A URL a tenant gives, as text for libcurl's parser: NULL and "url"
 * copied into "s" with its NUL, or why not (too long for "size", or a
 * character outside printable ASCII).
 */
const char *ngx_helpdesk_curl_url_text(u_char *url, size_t len, char *s,
    size_t size);

/* whether "host" is one of "names": exact, or "*.suffix" */
ngx_flag_t ngx_helpdesk_curl_host_match(ngx_array_t *names, ngx_str_t *host);

/* the host libcurl will connect to, without brackets */
ngx_int_t ngx_helpdesk_curl_host(ngx_helpdesk_curl_req_t *req,
    ngx_str_t *host);


/* between the adapter (curl.c) and its policy (curl_policy.c) */
extern ngx_helpdesk_curl_conf_t  *ngx_helpdesk_curl_policy;

ngx_int_t ngx_helpdesk_curl_resolve(ngx_helpdesk_curl_req_t *req,
    ngx_helpdesk_curl_conf_t *conf, ngx_flag_t async_dns);
curl_socket_t ngx_helpdesk_curl_open(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *address);
ngx_int_t ngx_helpdesk_curl_add(ngx_helpdesk_curl_req_t *req);
void ngx_helpdesk_curl_fail(ngx_helpdesk_curl_req_t *req, CURLcode result,
    const char *error);

/*
 * A mail to submit: "url" is smtp:// (STARTTLS required) or smtps://
 * (implicit TLS); "message" (copied) goes to "rcpt" (one address, or
 * several separated by commas) from "from".  A relay
 * the operator configured is "trusted": the outbound policy's address
 * checks do not apply to it; a tenant's relay is held to them.
 */
ngx_helpdesk_curl_req_t *ngx_helpdesk_curl_smtp(ngx_log_t *log,
    ngx_str_t *url, ngx_flag_t trusted, ngx_str_t *from, ngx_str_t *rcpt,
    ngx_str_t *message, ngx_msec_t timeout);

/* Save-time check of a tenant's relay URL: NULL, or why not. */
const char *ngx_helpdesk_curl_smtp_url_check(u_char *url, size_t len,
    ngx_array_t *allow, u_char *buf, size_t size);

/*
 * The shell of a mail request (ngx_helpdesk_curl_mail.c): "url" in
 * "scheme" (STARTTLS, required) or "scheme" with an "s" (implicit TLS),
 * its certificate verified, with a total timeout and room for "body_max"
 * bytes of answer.  A URL of another kind is not an error here: the
 * request fails when started, with req->refused set and "refused" as its
 * error.
 */
ngx_helpdesk_curl_req_t *ngx_helpdesk_curl_mail(ngx_log_t *log,
    ngx_str_t *url, const char *scheme, const char *refused,
    ngx_msec_t timeout, size_t body_max);

/* "user" and "password" (or an OAuth 2.0 bearer token) for the login */
ngx_int_t ngx_helpdesk_curl_login(ngx_helpdesk_curl_req_t *req,
    ngx_str_t *user, ngx_str_t *password, ngx_flag_t bearer);

/* a NUL-terminated copy for libcurl (ngx_free()); NULL: no memory, or a NUL
 * inside */
char *ngx_helpdesk_curl_cstr(ngx_str_t *s, ngx_log_t *log);

/*
 * Save-time check of a URL's host (as libcurl parsed it): NULL when the
 * outbound policy lets us reach it, otherwise why not (written into buf).
 */
const char *ngx_helpdesk_curl_host_check(char *host, ngx_array_t *allow,
    u_char *buf, size_t size);

/*
 * A header of the response (the last one of that name; libcurl 7.84's
 * curl_easy_header), from the request's handler: NGX_OK with its value
 * (libcurl's memory, valid until req is freed), NGX_DECLINED when there is
 * none.
 */
ngx_int_t ngx_helpdesk_curl_response_header(ngx_helpdesk_curl_req_t *req,
    const char *name, ngx_str_t *value);

/* Gives up a transfer, started or not: no handler call; req is freed. */
void ngx_helpdesk_curl_cancel(ngx_helpdesk_curl_req_t *req);
void ngx_helpdesk_curl_free(ngx_helpdesk_curl_req_t *req);
ngx_uint_t ngx_helpdesk_curl_active(void);


#endif /* _NGX_HELPDESK_CURL_H_INCLUDED_ */
