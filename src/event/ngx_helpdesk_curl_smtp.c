/*
 * Mail submission with libcurl, on the same multi handle and the same
 * outbound policy as every other request (ngx_helpdesk_curl.c).
 *
 * smtp:// URLs are submission with STARTTLS, which is required
 * (CURLUSESSL_ALL): a relay that does not offer it fails the attempt
 * rather than receive a password or a mail in the clear.  smtps:// is
 * implicit TLS.  Certificates are verified as for https.  libcurl speaks
 * the protocol (EHLO, AUTH PLAIN/LOGIN/XOAUTH2, MAIL, RCPT, DATA, the
 * dot-stuffing of the message); the request's status is the relay's last
 * reply code, and its error buffer says which step failed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_curl.h"
#include "lib/ngx_helpdesk_addr.h"


static size_t ngx_helpdesk_curl_smtp_read(char *buf, size_t size,
    size_t nitems, void *userdata);
static char *ngx_helpdesk_curl_smtp_cstr(ngx_str_t *s, ngx_log_t *log);


ngx_helpdesk_curl_req_t *
ngx_helpdesk_curl_smtp(ngx_log_t *log, ngx_str_t *url, ngx_flag_t trusted,
    ngx_str_t *from, ngx_str_t *rcpt, ngx_str_t *message, ngx_msec_t timeout)
{
    char                     *s, *port;
    u_char                   *p, *last, *comma;
    ngx_str_t                 one;
    CURLUcode                 rc;
    struct curl_slist        *list;
    ngx_helpdesk_curl_req_t  *req;

    /* a GET-less shell: the URL and protocols are set again below */
    req = ngx_helpdesk_curl_create(log, NULL, url, NULL, timeout, 1024);
    if (req == NULL) {
        return NULL;
    }

    req->refused = 0;
    req->error[0] = '\0';
    req->trusted = trusted ? 1 : 0;

    if (req->host) {
        curl_free(req->host);
        req->host = NULL;
    }

    s = ngx_helpdesk_curl_smtp_cstr(url, log);
    if (s == NULL) {
        goto failed;
    }

    rc = curl_url_set(req->url, CURLUPART_URL, s, 0);
    ngx_free(s);

    if (rc == CURLUE_OK
        && curl_url_get(req->url, CURLUPART_SCHEME, &s, 0) == CURLUE_OK)
    {
        if (ngx_strcmp(s, "smtp") != 0 && ngx_strcmp(s, "smtps") != 0) {
            rc = CURLUE_UNSUPPORTED_SCHEME;
        }

        curl_free(s);
    }

    if (rc == CURLUE_OK
        && curl_url_get(req->url, CURLUPART_HOST, &req->host, 0) != CURLUE_OK)
    {
        rc = CURLUE_NO_HOST;
    }

    if (rc == CURLUE_OK
        && curl_url_get(req->url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)
           == CURLUE_OK)
    {
        req->port = ngx_atoi((u_char *) port, ngx_strlen(port));
        curl_free(port);

    } else {
        rc = CURLUE_BAD_PORT_NUMBER;
    }

    if (rc != CURLUE_OK || req->port < 1 || req->port > 65535) {
        req->refused = 1;
        ngx_cpystrn((u_char *) req->error,
                    (u_char *) "refused: not an smtp:// or smtps:// URL",
                    CURL_ERROR_SIZE);
    }

    curl_easy_setopt(req->easy, CURLOPT_CURLU, req->url);
    curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(req->easy, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
    curl_easy_setopt(req->easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(req->easy, CURLOPT_READFUNCTION,
                     ngx_helpdesk_curl_smtp_read);
    curl_easy_setopt(req->easy, CURLOPT_READDATA, req);

    s = ngx_helpdesk_curl_smtp_cstr(from, log);
    if (s == NULL) {
        goto failed;
    }

    /* libcurl copies the strings it is given */
    curl_easy_setopt(req->easy, CURLOPT_MAIL_FROM, s);
    ngx_free(s);

    /* the recipients, separated by commas */
    p = rcpt->data;
    last = rcpt->data + rcpt->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        one.data = p;
        one.len = comma - p;
        p = comma + 1;

        s = ngx_helpdesk_curl_smtp_cstr(&one, log);
        if (s == NULL) {
            goto failed;
        }

        list = curl_slist_append(req->rcpt, s);
        ngx_free(s);

        if (list == NULL) {
            goto failed;
        }

        req->rcpt = list;
    }

    curl_easy_setopt(req->easy, CURLOPT_MAIL_RCPT, req->rcpt);

    req->request_body.data = ngx_alloc(message->len + 1, log);
    if (req->request_body.data == NULL) {
        goto failed;
    }

    ngx_memcpy(req->request_body.data, message->data, message->len);
    req->request_body.len = message->len;
    curl_easy_setopt(req->easy, CURLOPT_INFILESIZE_LARGE,
                     (curl_off_t) message->len);

    return req;

failed:

    ngx_helpdesk_curl_free(req);
    return NULL;
}


ngx_int_t
ngx_helpdesk_curl_smtp_auth(ngx_helpdesk_curl_req_t *req, ngx_str_t *user,
    ngx_str_t *password, ngx_flag_t bearer)
{
    char  *s;

    s = ngx_helpdesk_curl_smtp_cstr(user, req->log);
    if (s == NULL) {
        return NGX_ERROR;
    }

    curl_easy_setopt(req->easy, CURLOPT_USERNAME, s);
    ngx_free(s);

    s = ngx_helpdesk_curl_smtp_cstr(password, req->log);
    if (s == NULL) {
        return NGX_ERROR;
    }

    if (bearer) {
        curl_easy_setopt(req->easy, CURLOPT_XOAUTH2_BEARER, s);
        curl_easy_setopt(req->easy, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");

    } else {
        curl_easy_setopt(req->easy, CURLOPT_PASSWORD, s);
    }

    ngx_explicit_memzero(s, password->len);
    ngx_free(s);

    return NGX_OK;
}


const char *
ngx_helpdesk_curl_smtp_url_check(u_char *url, size_t len, ngx_array_t *allow,
    u_char *buf, size_t size)
{
    char        *v;
    size_t       i;
    CURLU       *u;
    ngx_int_t    port;
    ngx_str_t    host;
    const char  *why;
    char         s[1024];

    if (len >= sizeof(s)) {
        return "is too long";
    }

    for (i = 0; i < len; i++) {
        if (url[i] <= 0x20 || url[i] >= 0x7f) {
            return "must not contain spaces, control characters or "
                   "characters outside ASCII";
        }
    }

    u = curl_url();
    if (u == NULL) {
        return "cannot be checked";
    }

    ngx_memcpy(s, url, len);
    s[len] = '\0';

    why = "must be an smtp:// (STARTTLS) or smtps:// URL with a host";

    if (curl_url_set(u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME)
        != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &v, 0) != CURLUE_OK)
    {
        goto done;
    }

    i = (ngx_strcmp(v, "smtp") == 0 || ngx_strcmp(v, "smtps") == 0);
    curl_free(v);

    if (!i) {
        goto done;
    }

    if (curl_url_get(u, CURLUPART_USER, &v, 0) == CURLUE_OK) {
        curl_free(v);
        why = "must not contain credentials (give user and password apart)";
        goto done;
    }

    if (curl_url_get(u, CURLUPART_PORT, &v, CURLU_DEFAULT_PORT)
        != CURLUE_OK)
    {
        why = "must have a port between 1 and 65535";
        goto done;
    }

    port = ngx_atoi((u_char *) v, ngx_strlen(v));
    curl_free(v);

    if (port < 1 || port > 65535) {
        why = "must have a port between 1 and 65535";
        goto done;
    }

    if (curl_url_get(u, CURLUPART_HOST, &v, 0) != CURLUE_OK) {
        goto done;
    }

    host.data = (u_char *) v;
    host.len = ngx_strlen(v);

    if (host.len && host.data[host.len - 1] == '.') {
        host.len--;
    }

    why = NULL;

    if (ngx_helpdesk_addr_text_refused(host.data, host.len, allow, &why)
        == NGX_OK)
    {
        if (why) {
            *ngx_snprintf(buf, size - 1, "points at a %s address, which is "
                          "not allowed", why) = '\0';
            why = (const char *) buf;
        }

    } else {
        why = ngx_helpdesk_addr_name_refused(host.data, host.len);

        if (why) {
            *ngx_snprintf(buf, size - 1, "host %s", why) = '\0';
            why = (const char *) buf;
        }
    }

    curl_free(v);

done:

    curl_url_cleanup(u);

    return why;
}


/* libcurl reads the message from here, and escapes its leading dots */

static size_t
ngx_helpdesk_curl_smtp_read(char *buf, size_t size, size_t nitems,
    void *userdata)
{
    size_t                    n;
    ngx_helpdesk_curl_req_t  *req = userdata;

    n = ngx_min(size * nitems, req->request_body.len - req->sent);

    ngx_memcpy(buf, req->request_body.data + req->sent, n);
    req->sent += n;

    return n;
}


static char *
ngx_helpdesk_curl_smtp_cstr(ngx_str_t *s, ngx_log_t *log)
{
    char  *p;

    p = ngx_alloc(s->len + 1, log);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return p;
}
