/*
 * What IMAP and SMTP requests share: the easy handle of a mail protocol
 * on the same multi handle and outbound policy as every other request
 * (ngx_helpdesk_curl.c), and the login.
 *
 * A scheme such as "imap" or "smtp" is STARTTLS, which is required
 * (CURLUSESSL_ALL): a server that does not offer it fails the attempt
 * rather than receive a password or a mail in the clear.  The same scheme
 * with an "s" ("imaps", "smtps") is implicit TLS, where CURLOPT_USE_SSL
 * has nothing left to ask.  Certificates are verified as for https.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_curl.h"


ngx_helpdesk_curl_req_t *
ngx_helpdesk_curl_mail(ngx_log_t *log, ngx_str_t *url, const char *scheme,
    const char *refused, ngx_msec_t timeout, size_t body_max)
{
    char                     *s, *port;
    size_t                    n;
    CURLUcode                 rc;
    ngx_helpdesk_curl_req_t  *req;
    char                      protocols[32];

    n = ngx_strlen(scheme);

    if (n > 8) {
        return NULL;
    }

    /* the shell of an http request: URL and protocols are set again here */
    req = ngx_helpdesk_curl_create(log, NULL, url, NULL, timeout, body_max);
    if (req == NULL) {
        return NULL;
    }

    req->refused = 0;
    req->error[0] = '\0';

    if (req->host) {
        curl_free(req->host);
        req->host = NULL;
    }

    s = ngx_helpdesk_curl_cstr(url, log);
    if (s == NULL) {
        goto failed;
    }

    rc = curl_url_set(req->url, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME);
    ngx_free(s);

    if (rc == CURLUE_OK
        && curl_url_get(req->url, CURLUPART_SCHEME, &s, 0) == CURLUE_OK)
    {
        /* "scheme" or "scheme" + "s" */
        if (ngx_strncmp(s, scheme, n) != 0
            || (s[n] != '\0' && (s[n] != 's' || s[n + 1] != '\0')))
        {
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
        ngx_cpystrn((u_char *) req->error, (u_char *) refused,
                    CURL_ERROR_SIZE);
    }

    *ngx_snprintf((u_char *) protocols, sizeof(protocols) - 1, "%s,%ss",
                  scheme, scheme) = '\0';

    curl_easy_setopt(req->easy, CURLOPT_CURLU, req->url);
    curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(req->easy, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
    curl_easy_setopt(req->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(req->easy, CURLOPT_SSL_VERIFYHOST, 2L);

    return req;

failed:

    ngx_helpdesk_curl_free(req);
    return NULL;
}


ngx_int_t
ngx_helpdesk_curl_login(ngx_helpdesk_curl_req_t *req, ngx_str_t *user,
    ngx_str_t *password, ngx_flag_t bearer)
{
    char  *s;

    /* the values are copied by libcurl */
    s = ngx_helpdesk_curl_cstr(user, req->log);
    if (s == NULL) {
        return NGX_ERROR;
    }

    curl_easy_setopt(req->easy, CURLOPT_USERNAME, s);
    ngx_free(s);

    s = ngx_helpdesk_curl_cstr(password, req->log);
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


char *
ngx_helpdesk_curl_cstr(ngx_str_t *s, ngx_log_t *log)
{
    char  *p;

    p = ngx_alloc(s->len + 1, log);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    /* a NUL inside would cut what libcurl is given short */
    if (ngx_strlen(p) != s->len) {
        ngx_explicit_memzero(p, s->len);
        ngx_free(p);
        return NULL;
    }

    return p;
}
