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


ngx_helpdesk_curl_req_t *
ngx_helpdesk_curl_smtp(ngx_log_t *log, ngx_str_t *url, ngx_flag_t trusted,
    ngx_str_t *from, ngx_str_t *rcpt, ngx_str_t *message, ngx_msec_t timeout)
{
    char                     *s;
    u_char                   *p, *last, *comma;
    ngx_str_t                 one;
    struct curl_slist        *list;
    ngx_helpdesk_curl_req_t  *req;

    req = ngx_helpdesk_curl_mail(log, url, "smtp",
                                 "refused: not an smtp:// or smtps:// URL",
                                 timeout, 1024);
    if (req == NULL) {
        return NULL;
    }

    req->trusted = trusted ? 1 : 0;

    curl_easy_setopt(req->easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(req->easy, CURLOPT_READFUNCTION,
                     ngx_helpdesk_curl_smtp_read);
    curl_easy_setopt(req->easy, CURLOPT_READDATA, req);

    s = ngx_helpdesk_curl_cstr(from, log);
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

        s = ngx_helpdesk_curl_cstr(&one, log);
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


const char *
ngx_helpdesk_curl_smtp_url_check(u_char *url, size_t len, ngx_array_t *allow,
    u_char *buf, size_t size)
{
    char        *v;
    size_t       i;
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

    why = ngx_helpdesk_curl_host_check(v, allow, buf, size);

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

