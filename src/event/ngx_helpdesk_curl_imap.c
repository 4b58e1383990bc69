/*
 * IMAP with libcurl, on the same multi handle and the same outbound policy
 * as every other request (ngx_helpdesk_curl.c): the host a tenant names is
 * checked when the mailbox is saved and again, address by address, when
 * it is reached.
 *
 * imaps:// is implicit TLS; imap:// is STARTTLS, which is required
 * (CURLUSESSL_ALL): a server that does not offer it fails the attempt
 * rather than receive a password in the clear.  Certificates are
 * verified as for https.  libcurl speaks the protocol (CAPABILITY, LOGIN
 * or AUTHENTICATE, SELECT with its UIDVALIDITY check, UID FETCH with its
 * literal); commands of our own (STATUS, UID FETCH of sizes, UID STORE,
 * UID MOVE) answer their untagged lines as the body.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_curl_imap.h"
#include "lib/ngx_helpdesk_addr.h"


static size_t ngx_helpdesk_curl_imap_write(char *ptr, size_t size,
    size_t nmemb, void *userdata);


const char *
ngx_helpdesk_curl_imap_url_check(u_char *url, size_t len, ngx_array_t *allow,
    u_char *buf, size_t size)
{
    char        *v;
    size_t       i, n;
    CURLU       *u;
    ngx_int_t    port;
    const char  *why;
    char         s[1024];

    why = ngx_helpdesk_curl_url_text(url, len, s, sizeof(s));
    if (why) {
        return why;
    }

    u = curl_url();
    if (u == NULL) {
        return "cannot be checked";
    }

    why = NULL;
    v = NULL;

    if (curl_url_set(u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME)
        != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &v, 0) != CURLUE_OK)
    {
        why = "must be an imaps:// or imap:// URL with a host and a folder, "
              "such as imaps://mail.example.com/INBOX";
        goto done;
    }

    if (ngx_strcmp(v, "imaps") != 0 && ngx_strcmp(v, "imap") != 0) {
        why = "must be an imaps:// or imap:// URL";
        goto done;
    }

    curl_free(v);
    v = NULL;

    if (curl_url_get(u, CURLUPART_USER, &v, 0) == CURLUE_OK
        || curl_url_get(u, CURLUPART_PASSWORD, &v, 0) == CURLUE_OK
        || curl_url_get(u, CURLUPART_OPTIONS, &v, 0) == CURLUE_OK)
    {
        why = "must not contain credentials (user:password@): give them as "
              "username and password";
        goto done;
    }

    if (curl_url_get(u, CURLUPART_QUERY, &v, 0) == CURLUE_OK
        || curl_url_get(u, CURLUPART_FRAGMENT, &v, 0) == CURLUE_OK)
    {
        why = "must not have a query or a fragment";
        goto done;
    }

    if (curl_url_get(u, CURLUPART_PORT, &v, CURLU_DEFAULT_PORT) != CURLUE_OK)
    {
        why = "must have a port between 1 and 65535";
        goto done;
    }

    port = ngx_atoi((u_char *) v, ngx_strlen(v));
    curl_free(v);
    v = NULL;

    if (port < 1 || port > 65535) {
        why = "must have a port between 1 and 65535";
        goto done;
    }

    /* the folder: what comes after the host, decoded */
    if (curl_url_get(u, CURLUPART_PATH, &v, CURLU_URLDECODE) != CURLUE_OK) {
        why = "must name a folder, such as imaps://mail.example.com/INBOX";
        goto done;
    }

    n = ngx_strlen(v);

    if (n < 2 || n > 201) {
        why = "must name a folder of 1 to 200 characters, such as "
              "imaps://mail.example.com/INBOX";
        goto done;
    }

    for (i = 1; i < n; i++) {
        if (v[i] < 0x20 || v[i] >= 0x7f || v[i] == '"' || v[i] == '\\'
            || v[i] == ';' || v[i] == '%' || v[i] == '*')
        {
            why = "must name a folder of printable ASCII without quotes, "
                  "backslashes, % * or ;";
            goto done;
        }
    }

    curl_free(v);
    v = NULL;

    if (curl_url_get(u, CURLUPART_HOST, &v, 0) != CURLUE_OK) {
        why = "must have a host";
        goto done;
    }

    why = ngx_helpdesk_curl_host_check(v, allow, buf, size);

done:

    if (v) {
        curl_free(v);
    }

    curl_url_cleanup(u);

    return why;
}


ngx_int_t
ngx_helpdesk_curl_imap_url(ngx_pool_t *pool, ngx_str_t *url,
    ngx_helpdesk_imap_url_t *iu)
{
    char       *s, *v;
    CURLU      *u;
    size_t      n;
    ngx_int_t   rc;

    s = ngx_pnalloc(pool, url->len + 1);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s, url->data, url->len);
    s[url->len] = '\0';

    iu->url.data = (u_char *) s;
    iu->url.len = url->len;

    u = curl_url();
    if (u == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    v = NULL;

    if (curl_url_set(u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME)
        != CURLUE_OK
        || curl_url_get(u, CURLUPART_PATH, &v, CURLU_URLDECODE) != CURLUE_OK)
    {
        goto done;
    }

    n = ngx_strlen(v);

    if (n < 2) {
        goto done;
    }

    iu->folder.len = n - 1;
    iu->folder.data = ngx_pnalloc(pool, n);
    if (iu->folder.data == NULL) {
        goto done;
    }

    ngx_memcpy(iu->folder.data, v + 1, n - 1);
    iu->folder.data[n - 1] = '\0';
    curl_free(v);
    v = NULL;

    if (curl_url_set(u, CURLUPART_PATH, "/", 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_URL, &v, 0) != CURLUE_OK)
    {
        goto done;
    }

    iu->root.len = ngx_strlen(v);
    iu->root.data = ngx_pnalloc(pool, iu->root.len + 1);
    if (iu->root.data == NULL) {
        goto done;
    }

    ngx_memcpy(iu->root.data, v, iu->root.len + 1);
    rc = NGX_OK;

done:

    if (v) {
        curl_free(v);
    }

    curl_url_cleanup(u);

    return rc;
}


ngx_helpdesk_curl_req_t *
ngx_helpdesk_curl_imap(ngx_log_t *log, ngx_str_t *url, const char *command,
    ngx_str_t *user, ngx_str_t *password, ngx_str_t *ca_file,
    ngx_msec_t timeout, size_t body_max)
{
    ngx_helpdesk_curl_req_t  *req;

    req = ngx_helpdesk_curl_mail(log, url, "imap",
                                 "refused: not an imap or imaps URL",
                                 timeout, body_max);
    if (req == NULL) {
        return NULL;
    }

    if (ca_file && ca_file->len) {
        curl_easy_setopt(req->easy, CURLOPT_CAINFO, (char *) ca_file->data);
    }

    if (ngx_helpdesk_curl_login(req, user, password, 0) != NGX_OK) {
        ngx_helpdesk_curl_free(req);
        return NULL;
    }

    if (command) {
        curl_easy_setopt(req->easy, CURLOPT_CUSTOMREQUEST, command);
    }

    return req;
}


void
ngx_helpdesk_curl_imap_to_file(ngx_helpdesk_curl_req_t *req, ngx_fd_t fd)
{
    req->file = fd;
    req->file_len = 0;

    curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION,
                     ngx_helpdesk_curl_imap_write);
    curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
}


/*
 * libcurl's writer for a message: to the file, as nginx writes a request
 * body past its buffer to its temporary file, from the event loop.
 */
static size_t
ngx_helpdesk_curl_imap_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    size_t                    n, keep, done;
    ssize_t                   w;
    ngx_helpdesk_curl_req_t  *req = userdata;

    n = size * nmemb;
    keep = ngx_min(n, req->body_max - req->file_len);

    if (keep < n) {
        req->truncated = 1;
    }

    for (done = 0; done < keep; done += w) {
        w = pwrite(req->file, ptr + done, keep - done,
                   (off_t) (req->file_len + done));
        if (w <= 0) {
            ngx_log_error(NGX_LOG_ALERT, req->log, ngx_errno,
                          "helpdesk imap: writing a message to its file "
                          "failed");
            return 0;   /* the transfer fails with CURLE_WRITE_ERROR */
        }
    }

    req->file_len += keep;

    return n;
}
