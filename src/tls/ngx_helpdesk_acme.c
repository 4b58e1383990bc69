/*
 * The ACME client's requests (RFC 8555 section 6): every POST is a flattened
 * JWS (ES256) over the payload with the protected header {alg, nonce, url,
 * kid | jwk}, sent as application/jose+json; a POST-as-GET has an empty
 * payload.  Nonces come from every answer's Replay-Nonce into a small
 * per-worker stack; when it is empty a HEAD to newNonce fetches one.  A
 * "badNonce" problem is retried at once with the nonce that answer
 * carried, at most three times in a row.  Problem documents are read into
 * their type (without the URN prefix) and detail; Retry-After is taken in
 * seconds or as an HTTP-date, never more than a day.
 *
 * Requests go to the CA's own host (the directory's, which the operator
 * configured) as trusted requests; a URL the CA hands out on another host
 * is held to the outbound address policy like any other.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_acme_int.h"
#include "lib/ngx_helpdesk_jose.h"


#define NGX_HELPDESK_ACME_URN  "urn:ietf:params:acme:error:"


ngx_helpdesk_acme_client_t  ngx_helpdesk_acme_client;


static void ngx_helpdesk_acme_sent(ngx_helpdesk_curl_req_t *req,
    CURLcode result);
static void ngx_helpdesk_acme_nonce_got(ngx_helpdesk_acme_call_t *nonce);
static void ngx_helpdesk_acme_post(ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_fail(ngx_helpdesk_acme_call_t *call,
    const char *error);


static void
ngx_helpdesk_acme_nonce_keep(ngx_str_t *v)
{
    ngx_uint_t                   i;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    /* base64url, as RFC 8555 section 6.5.1 says */
    if (v->len == 0 || v->len > NGX_HELPDESK_ACME_NONCE_MAX) {
        return;
    }

    for (i = 0; i < v->len; i++) {
        if (!((v->data[i] >= 'A' && v->data[i] <= 'Z')
              || (v->data[i] >= 'a' && v->data[i] <= 'z')
              || (v->data[i] >= '0' && v->data[i] <= '9')
              || v->data[i] == '-' || v->data[i] == '_'))
        {
            return;
        }
    }

    if (ac->nnonces == NGX_HELPDESK_ACME_NONCES) {
        /* the oldest goes */
        ngx_memmove(ac->nonces[0], ac->nonces[1],
                    (NGX_HELPDESK_ACME_NONCES - 1)
                    * NGX_HELPDESK_ACME_NONCE_MAX);
        ngx_memmove(&ac->nonce_len[0], &ac->nonce_len[1],
                    (NGX_HELPDESK_ACME_NONCES - 1) * sizeof(size_t));
        ac->nnonces--;
    }

    ngx_memcpy(ac->nonces[ac->nnonces], v->data, v->len);
    ac->nonce_len[ac->nnonces] = v->len;
    ac->nnonces++;
}


/* the newest nonce, copied into pool: each one is used once */
static ngx_int_t
ngx_helpdesk_acme_nonce_take(ngx_pool_t *pool, ngx_str_t *nonce)
{
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    if (ac->nnonces == 0) {
        return NGX_DECLINED;
    }

    ac->nnonces--;
    nonce->len = ac->nonce_len[ac->nnonces];
    nonce->data = ngx_pnalloc(pool, nonce->len);
    if (nonce->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(nonce->data, ac->nonces[ac->nnonces], nonce->len);

    return NGX_OK;
}


static ngx_helpdesk_curl_req_t *
ngx_helpdesk_acme_request(ngx_helpdesk_acme_call_t *call, const char *method,
    ngx_str_t *body)
{
    ngx_str_t                    host;
    ngx_helpdesk_curl_req_t     *req;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    req = ngx_helpdesk_curl_create(call->log, method, &call->url, body,
                                   ac->conf->timeout,
                                   NGX_HELPDESK_ACME_BODY_MAX);
    if (req == NULL) {
        return NULL;
    }

    req->handler = ngx_helpdesk_acme_sent;
    req->data = call;

    /* the operator's CA: its own host only */
    if (ngx_helpdesk_curl_host(req, &host) == NGX_OK
        && host.len == ac->dir_host.len
        && ngx_strncasecmp(host.data, ac->dir_host.data, host.len) == 0)
    {
        req->trusted = 1;
    }

    if (ac->conf->ca_bundle.len) {
        curl_easy_setopt(req->easy, CURLOPT_CAINFO,
                         (char *) ac->conf->ca_bundle.data);
    }

    if (call->head) {
        curl_easy_setopt(req->easy, CURLOPT_NOBODY, 1L);
    }

    return req;
}


void
ngx_helpdesk_acme_send(ngx_helpdesk_acme_call_t *call)
{
    ngx_helpdesk_acme_call_t    *nonce;
    ngx_helpdesk_curl_req_t     *req;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    call->retry_after = -1;
    call->status = 0;
    call->json = NULL;
    ngx_str_null(&call->problem_type);
    ngx_str_null(&call->problem_detail);

    if (call->get || call->head) {
        req = ngx_helpdesk_acme_request(call, call->head ? "HEAD" : NULL,
                                        NULL);
        if (req == NULL) {
            ngx_helpdesk_acme_fail(call, "out of memory");
            return;
        }

        call->req = req;

        if (ngx_helpdesk_curl_start(req) != NGX_OK) {
            call->req = NULL;
            ngx_helpdesk_curl_free(req);
            ngx_helpdesk_acme_fail(call, "cannot start the request");
        }

        return;
    }

    if (ac->nnonces) {
        ngx_helpdesk_acme_post(call);
        return;
    }

    /* no nonce at hand: HEAD newNonce first */
    nonce = ngx_pcalloc(call->pool, sizeof(ngx_helpdesk_acme_call_t));
    if (nonce == NULL) {
        ngx_helpdesk_acme_fail(call, "out of memory");
        return;
    }

    nonce->pool = call->pool;
    nonce->log = call->log;
    nonce->url = ac->new_nonce;
    nonce->head = 1;
    nonce->handler = ngx_helpdesk_acme_nonce_got;
    nonce->data = call;
    call->nonce = nonce;

    ngx_helpdesk_acme_send(nonce);
}


static void
ngx_helpdesk_acme_nonce_got(ngx_helpdesk_acme_call_t *nonce)
{
    ngx_helpdesk_acme_call_t    *call = nonce->data;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    call->nonce = NULL;

    if (nonce->result != CURLE_OK || ac->nnonces == 0) {
        ngx_memcpy(call->error, nonce->error, CURL_ERROR_SIZE);
        call->result = nonce->result != CURLE_OK ? nonce->result
                                                 : CURLE_WEIRD_SERVER_REPLY;
        if (nonce->result == CURLE_OK) {
            ngx_cpystrn((u_char *) call->error,
                        (u_char *) "the CA gave no nonce", CURL_ERROR_SIZE);
        }

        call->handler(call);
        return;
    }

    ngx_helpdesk_acme_post(call);
}


static void
ngx_helpdesk_acme_post(ngx_helpdesk_acme_call_t *call)
{
    ngx_str_t                    body;
    ngx_helpdesk_curl_req_t     *req;
    ngx_helpdesk_jws_header_t    hdr;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    ngx_memzero(&hdr, sizeof(ngx_helpdesk_jws_header_t));

    if (ngx_helpdesk_acme_nonce_take(call->pool, &hdr.nonce) != NGX_OK) {
        ngx_helpdesk_acme_fail(call, "out of memory");
        return;
    }

    hdr.url = call->url;

    if (!call->jwk) {
        hdr.kid = ac->kid;
    }

    if (ac->key == NULL
        || ngx_helpdesk_jose_jws(call->pool, ac->key, &hdr, &call->payload,
                                 &body)
           != NGX_OK)
    {
        ngx_helpdesk_acme_fail(call, "cannot sign the request");
        return;
    }

    req = ngx_helpdesk_acme_request(call, "POST", &body);
    if (req == NULL) {
        ngx_helpdesk_acme_fail(call, "out of memory");
        return;
    }

    if (ngx_helpdesk_curl_header(req, "Content-Type: application/jose+json")
        != NGX_OK
        || ngx_helpdesk_curl_header(req, "Accept: %s",
                                    call->accept ? call->accept
                                                 : "application/json")
           != NGX_OK)
    {
        ngx_helpdesk_curl_free(req);
        ngx_helpdesk_acme_fail(call, "out of memory");
        return;
    }

    call->req = req;

    if (ngx_helpdesk_curl_start(req) != NGX_OK) {
        call->req = NULL;
        ngx_helpdesk_curl_free(req);
        ngx_helpdesk_acme_fail(call, "cannot start the request");
    }
}


static void
ngx_helpdesk_acme_fail(ngx_helpdesk_acme_call_t *call, const char *error)
{
    /* the request could not be made: its handler at once (from inside
     * ngx_helpdesk_acme_send() on a first try, as its comment says) */
    call->result = CURLE_FAILED_INIT;
    ngx_cpystrn((u_char *) call->error, (u_char *) error, CURL_ERROR_SIZE);

    ngx_log_error(NGX_LOG_ERR, call->log, 0, "helpdesk acme: %s", error);

    call->handler(call);
}


static ngx_int_t
ngx_helpdesk_acme_copy(ngx_pool_t *pool, ngx_str_t *from, ngx_str_t *to)
{
    to->len = from->len;
    to->data = ngx_pnalloc(pool, from->len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    /* an empty body (HEAD newNonce) has no data at all: no memcpy of NULL */
    if (from->len) {
        ngx_memcpy(to->data, from->data, from->len);
    }

    to->data[to->len] = '\0';

    return NGX_OK;
}


static void
ngx_helpdesk_acme_sent(ngx_helpdesk_curl_req_t *req, CURLcode result)
{
    ngx_str_t                  v;
    json_error_t               jerr;
    ngx_helpdesk_acme_call_t  *call = req->data;

    call->req = NULL;
    call->result = result;
    call->status = req->status;
    ngx_memcpy(call->error, req->error, CURL_ERROR_SIZE);

    if (result != CURLE_OK) {
        ngx_helpdesk_curl_free(req);
        call->handler(call);
        return;
    }

    if (ngx_helpdesk_curl_response_header(req, "Replay-Nonce", &v) == NGX_OK) {
        ngx_helpdesk_acme_nonce_keep(&v);
    }

    ngx_str_null(&call->location);

    if (ngx_helpdesk_curl_response_header(req, "Location", &v) == NGX_OK
        && ngx_helpdesk_acme_copy(call->pool, &v, &call->location) != NGX_OK)
    {
        goto nomem;
    }

    if (ngx_helpdesk_curl_response_header(req, "Retry-After", &v) == NGX_OK) {
        call->retry_after = ngx_helpdesk_acme_retry_after(&v, ngx_time());
    }

    if (req->truncated) {
        call->result = CURLE_FILESIZE_EXCEEDED;
        ngx_cpystrn((u_char *) call->error,
                    (u_char *) "the CA's answer is too large",
                    CURL_ERROR_SIZE);
        ngx_helpdesk_curl_free(req);
        call->handler(call);
        return;
    }

    if (ngx_helpdesk_acme_copy(call->pool, &req->body, &call->body) != NGX_OK)
    {
        goto nomem;
    }

    ngx_helpdesk_curl_free(req);

    if (call->body.len && call->body.data[0] == '{') {
        call->json = json_loadb((char *) call->body.data, call->body.len,
                                JSON_REJECT_DUPLICATES, &jerr);

        if (call->json && !json_is_object(call->json)) {
            json_decref(call->json);
            call->json = NULL;
        }

        if (call->json) {
            ngx_pool_cleanup_t  *cln;

            cln = ngx_pool_cleanup_add(call->pool, 0);
            if (cln == NULL) {
                json_decref(call->json);
                call->json = NULL;
                goto nomem;
            }

            cln->handler = (ngx_pool_cleanup_pt) json_decref;
            cln->data = call->json;
        }
    }

    if (call->status >= 400 && call->json) {
        ngx_helpdesk_acme_json_str(call->json, "type", &call->problem_type);
        ngx_helpdesk_acme_json_str(call->json, "detail",
                                   &call->problem_detail);

        if (call->problem_type.len > sizeof(NGX_HELPDESK_ACME_URN) - 1
            && ngx_strncmp(call->problem_type.data, NGX_HELPDESK_ACME_URN,
                           sizeof(NGX_HELPDESK_ACME_URN) - 1) == 0)
        {
            call->problem_type.data += sizeof(NGX_HELPDESK_ACME_URN) - 1;
            call->problem_type.len -= sizeof(NGX_HELPDESK_ACME_URN) - 1;
        }

        if (call->problem_type.len == 8
            && ngx_strncmp(call->problem_type.data, "badNonce", 8) == 0
            && ++call->bad_nonces <= NGX_HELPDESK_ACME_BAD_NONCES
            && !call->get && !call->head)
        {
            ngx_log_error(NGX_LOG_INFO, call->log, 0,
                          "helpdesk acme: badNonce from %V, retried",
                          &call->url);
            ngx_helpdesk_acme_send(call);
            return;
        }
    }

    if (call->status < 400) {
        call->bad_nonces = 0;
    }

    call->handler(call);
    return;

nomem:

    ngx_helpdesk_curl_free(req);
    call->result = CURLE_OUT_OF_MEMORY;
    ngx_cpystrn((u_char *) call->error, (u_char *) "out of memory",
                CURL_ERROR_SIZE);
    call->handler(call);
}


void
ngx_helpdesk_acme_call_cancel(ngx_helpdesk_acme_call_t *call)
{
    if (call->nonce) {
        ngx_helpdesk_acme_call_cancel(call->nonce);
        call->nonce = NULL;
    }

    if (call->req) {
        ngx_helpdesk_curl_cancel(call->req);
        call->req = NULL;
    }
}


ngx_flag_t
ngx_helpdesk_acme_url_ok(ngx_str_t *url)
{
    size_t  i;

    if (url->len == 0 || url->len > 1024) {
        return 0;
    }

    for (i = 0; i < url->len; i++) {
        if (url->data[i] <= 0x20 || url->data[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_helpdesk_acme_retry_after(ngx_str_t *value, time_t now)
{
    time_t     t;
    ngx_int_t  n;

    if (value->len == 0) {
        return -1;
    }

    n = ngx_atoi(value->data, value->len);

    if (n == NGX_ERROR) {
        t = ngx_parse_http_time(value->data, value->len);
        if (t == NGX_ERROR) {
            return -1;
        }

        n = (t > now) ? (ngx_int_t) (t - now) : 0;
    }

    return ngx_min(n, NGX_HELPDESK_ACME_RETRY_MAX);
}


void
ngx_helpdesk_acme_json_str(json_t *obj, const char *name, ngx_str_t *s)
{
    json_t  *v;

    v = obj ? json_object_get(obj, name) : NULL;

    if (v == NULL || !json_is_string(v)) {
        ngx_str_set(s, "");
        return;
    }

    s->data = (u_char *) json_string_value(v);
    s->len = json_string_length(v);
}


ngx_int_t
ngx_helpdesk_acme_problem_json(ngx_pool_t *pool,
    ngx_helpdesk_acme_call_t *call, ngx_str_t *out)
{
    char    *text;
    json_t  *o;

    o = json_object();
    if (o == NULL) {
        return NGX_ERROR;
    }

    if (call->result != CURLE_OK) {
        json_object_set_new(o, "detail", json_string(call->error[0]
                                                     ? call->error
                                                     : "the request failed"));

    } else {
        if (call->problem_type.len) {
            json_object_set_new(o, "type",
                                json_stringn((char *) call->problem_type.data,
                                             call->problem_type.len));
        }

        if (call->problem_detail.len) {
            json_object_set_new(o, "detail",
                json_stringn((char *) call->problem_detail.data,
                             call->problem_detail.len));

        } else {
            json_object_set_new(o, "detail",
                                json_string("the CA answered with an error"));
        }

        json_object_set_new(o, "status", json_integer(call->status));

        /* which account the CA forgot: another worker may have made it
         * again already */
        if (call->problem_type.len == sizeof("accountDoesNotExist") - 1
            && ngx_strncmp(call->problem_type.data, "accountDoesNotExist",
                           call->problem_type.len) == 0)
        {
            json_object_set_new(o, "kid",
                json_stringn((char *) ngx_helpdesk_acme_client.kid.data,
                             ngx_helpdesk_acme_client.kid.len));
        }
    }

    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    if (text == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_strlen(text);
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, text, out->len);
    free(text);

    return NGX_OK;
}
