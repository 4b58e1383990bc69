/*
 * The CA-facing steps of an ACME order, top to bottom (RFC 8555
 * section 7.4); the order's life around them (start, the stored steps,
 * polls, failures, the end) is in ngx_helpdesk_acme_order.c:
 *
 *   new/ordered   a new-order token spent ("ordered"; not for an ARI
 *                 renewal), then newOrder (with "replaces" for an ARI
 *                 renewal, sent once more without it when the CA refuses
 *                 it): its URL, its authorizations and finalize URL
 *                 stored -> authorizing
 *   authorizing   each authorization read; a valid one is reused; of a
 *                 pending one the http-01 challenge's token is stored,
 *                 then {} is posted to it -> validating, and the
 *                 authorization polled until valid or invalid
 *   finalizing    a fresh P-256 key, sealed into the row before the CSR
 *                 is posted; the order polled until valid
 *   downloading   the chain (application/pem-certificate-chain), its leaf
 *                 checked (the name, our key, its dates), stored with its
 *                 ARI certID (api.acme_store -> tls.cert_store)
 *
 * A revoke order posts revokeCert with the released name's certificate.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_acme_int.h"
#include "lib/ngx_helpdesk_jose.h"
#include "lib/ngx_helpdesk_secret.h"


#define NGX_HELPDESK_ACME_NOT_JSON  "the CA's answer is not a JSON object"


static void ngx_helpdesk_acme_order_made(ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_order_authz_got(ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_order_respond(ngx_helpdesk_acme_order_t *o);
static void ngx_helpdesk_acme_order_responded(
    ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_order_validating(ngx_helpdesk_acme_order_t *o);
static void ngx_helpdesk_acme_order_got(ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_order_csr(ngx_helpdesk_acme_order_t *o);
static void ngx_helpdesk_acme_order_download(ngx_helpdesk_acme_order_t *o);
static void ngx_helpdesk_acme_order_downloaded(
    ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_order_revoked(ngx_helpdesk_acme_call_t *call);


/* newOrder ------------------------------------------------------------- */

void
ngx_helpdesk_acme_order_new(ngx_helpdesk_acme_order_t *o)
{
    char       *text;
    json_t     *p, *ids, *id;
    ngx_str_t   payload;

    p = json_object();
    ids = json_array();
    id = json_object();

    if (p == NULL || ids == NULL || id == NULL) {
        goto failed;
    }

    json_object_set_new(id, "type", json_string("dns"));
    json_object_set_new(id, "value", json_stringn((char *) o->host.data,
                                                  o->host.len));
    json_array_append_new(ids, id);
    id = NULL;
    json_object_set_new(p, "identifiers", ids);
    ids = NULL;

    if (o->replaces.len) {
        json_object_set_new(p, "replaces",
                            json_stringn((char *) o->replaces.data,
                                         o->replaces.len));
    }

    text = json_dumps(p, JSON_COMPACT);
    json_decref(p);

    if (text == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    payload.len = ngx_strlen(text);
    payload.data = ngx_pnalloc(o->pool, payload.len);
    if (payload.data == NULL) {
        free(text);
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    ngx_memcpy(payload.data, text, payload.len);
    free(text);

    ngx_helpdesk_acme_order_call(o, &ngx_helpdesk_acme_client.new_order,
                                 &payload, NULL,
                                 ngx_helpdesk_acme_order_made);
    return;

failed:

    if (p) {
        json_decref(p);
    }
    if (ids) {
        json_decref(ids);
    }
    if (id) {
        json_decref(id);
    }

    ngx_helpdesk_acme_order_done(o);
}


/*
 * Whether the CA refused newOrder because of its "replaces" (RFC 9773
 * section 5): alreadyReplaced, or a client error whose detail is about it.
 */
static ngx_flag_t
ngx_helpdesk_acme_order_replaces_refused(ngx_helpdesk_acme_call_t *call)
{
    if (call->result != CURLE_OK || call->status < 400 || call->status >= 500
        || call->status == 429)
    {
        return 0;
    }

    if (ngx_helpdesk_acme_is(&call->problem_type, "alreadyReplaced")) {
        return 1;
    }

    return call->problem_detail.len
           && ngx_strlcasestrn(call->problem_detail.data,
                               call->problem_detail.data
                               + call->problem_detail.len,
                               (u_char *) "replace", 7 - 1)
              != NULL;
}


static void
ngx_helpdesk_acme_order_made(ngx_helpdesk_acme_call_t *call)
{
    size_t                      i;
    json_t                     *a, *v, *patch;
    ngx_str_t                  *s;
    ngx_helpdesk_acme_order_t  *o = call->data;

    if (o->replaces.len && ngx_helpdesk_acme_order_replaces_refused(call)) {
        /* once more as a plain order (which spends a new-order token) */
        ngx_log_error(NGX_LOG_NOTICE, o->log, 0,
                      "helpdesk acme: the CA refuses the renewal of %V as "
                      "a replacement of %V (%V), ordered without it",
                      &o->host, &o->replaces, &call->problem_detail);
        ngx_str_null(&o->replaces);
        ngx_helpdesk_acme_order_step(o, "ordered",
                                     json_pack("{s:n}", "replaces"),
                                     ngx_helpdesk_acme_order_new);
        return;
    }

    if (!ngx_helpdesk_acme_order_ok(call) || call->json == NULL) {
        ngx_helpdesk_acme_order_failed(o, call, NULL,
                                       ngx_helpdesk_acme_order_ok(call)
                                       ? NGX_HELPDESK_ACME_NOT_JSON : NULL);
        return;
    }

    a = json_object_get(call->json, "authorizations");

    if (!ngx_helpdesk_acme_url_ok(&call->location)
        || a == NULL || !json_is_array(a) || json_array_size(a) == 0
        || json_array_size(a) > 8
        || ngx_helpdesk_acme_order_keep(o, call->json, "finalize",
                                        &o->finalize_url) != NGX_OK)
    {
        ngx_helpdesk_acme_order_failed(o, call, NULL,
                                       "the CA's new order is malformed");
        return;
    }

    o->order_url = call->location;
    o->authz->nelts = 0;

    json_array_foreach(a, i, v) {
        if (!json_is_string(v) || json_string_length(v) > 1024) {
            ngx_helpdesk_acme_order_failed(o, call, NULL,
                                           "the CA's new order is malformed");
            return;
        }

        s = ngx_array_push(o->authz);
        if (s == NULL) {
            ngx_helpdesk_acme_order_done(o);
            return;
        }

        s->len = json_string_length(v);
        s->data = ngx_pnalloc(o->pool, s->len + 1);
        if (s->data == NULL) {
            ngx_helpdesk_acme_order_done(o);
            return;
        }

        ngx_memcpy(s->data, json_string_value(v), s->len + 1);
    }

    patch = json_pack("{s:s%, s:O, s:s%}",
                      "order_url", o->order_url.data, o->order_url.len,
                      "authz_urls", a,
                      "finalize_url", o->finalize_url.data,
                      o->finalize_url.len);
    if (patch == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, o->log, 0,
                  "helpdesk acme: order %V for %V", &o->order_url, &o->host);

    o->authz_i = 0;
    ngx_helpdesk_acme_order_step(o, "authorizing", patch,
                                 ngx_helpdesk_acme_order_authz);
}


/* authorizations ------------------------------------------------------- */

void
ngx_helpdesk_acme_order_authz(ngx_helpdesk_acme_order_t *o)
{
    ngx_str_t  *urls;

    if (o->authz_i >= o->authz->nelts) {
        /* every one valid: the order next */
        ngx_helpdesk_acme_order_read(o);
        return;
    }

    urls = o->authz->elts;
    o->polls = 0;
    o->delay = 1000;

    ngx_helpdesk_acme_order_call(o, &urls[o->authz_i], NULL, NULL,
                                 ngx_helpdesk_acme_order_authz_got);
}


static void
ngx_helpdesk_acme_order_authz_got(ngx_helpdesk_acme_call_t *call)
{
    size_t                      i;
    json_t                     *ch, *c, *err;
    ngx_str_t                   status, type, token, url, *urls;
    ngx_helpdesk_acme_order_t  *o = call->data;

    if (call->result == CURLE_OK && call->status == 404) {
        ngx_helpdesk_acme_order_failed(o, call, "orderNotFound",
                                       "the CA no longer knows the order");
        return;
    }

    if (!ngx_helpdesk_acme_order_ok(call) || call->json == NULL) {
        ngx_helpdesk_acme_order_failed(o, call, NULL,
                                       ngx_helpdesk_acme_order_ok(call)
                                       ? NGX_HELPDESK_ACME_NOT_JSON : NULL);
        return;
    }

    ngx_helpdesk_acme_json_str(call->json, "status", &status);
    ch = json_object_get(call->json, "challenges");

    if (ngx_helpdesk_acme_is(&status, "valid")) {
        o->authz_i++;
        ngx_helpdesk_acme_order_authz(o);
        return;
    }

    if (ngx_helpdesk_acme_is(&status, "invalid")) {
        /* the failed challenge's error is the problem */
        json_array_foreach(ch, i, c) {
            err = json_object_get(c, "error");

            if (err && json_is_object(err)) {
                ngx_helpdesk_acme_json_str(err, "type", &call->problem_type);
                ngx_helpdesk_acme_json_str(err, "detail",
                                           &call->problem_detail);
                break;
            }
        }

        if (call->problem_type.len > 27) {
            call->problem_type.data += 27;  /* urn:ietf:params:acme:error: */
            call->problem_type.len -= 27;
        }

        ngx_helpdesk_acme_order_failed(o, call,
            call->problem_type.len ? NULL : "unauthorized",
            call->problem_detail.len ? NULL : "the authorization is invalid");
        return;
    }

    if (!ngx_helpdesk_acme_is(&status, "pending")) {
        ngx_helpdesk_acme_order_failed(o, call, NULL,
                                       "the authorization is neither pending "
                                       "nor valid");
        return;
    }

    /* pending: its http-01 challenge */
    json_array_foreach(ch, i, c) {
        ngx_helpdesk_acme_json_str(c, "type", &type);

        if (!ngx_helpdesk_acme_is(&type, "http-01")) {
            continue;
        }

        ngx_helpdesk_acme_json_str(c, "token", &token);
        ngx_helpdesk_acme_json_str(c, "url", &url);
        ngx_helpdesk_acme_json_str(c, "status", &status);

        if (!ngx_helpdesk_acme_token_valid(token.data, token.len)
            || url.len == 0 || url.len > 1024)
        {
            break;
        }

        /* answered already (this node or another): poll */
        if (!ngx_helpdesk_acme_is(&status, "pending")
            && o->token.len == token.len
            && ngx_strncmp(o->token.data, token.data, token.len) == 0)
        {
            ngx_helpdesk_acme_order_validating(o);
            return;
        }

        o->token.data = ngx_pstrdup(o->pool, &token);
        o->challenge_url.data = ngx_pstrdup(o->pool, &url);
        if (o->token.data == NULL || o->challenge_url.data == NULL) {
            ngx_helpdesk_acme_order_done(o);
            return;
        }

        o->token.len = token.len;
        o->challenge_url.len = url.len;

        /* the token stored before the CA may ask for it */
        ngx_helpdesk_acme_order_step(o, "authorizing",
            json_pack("{s:s%, s:s%}",
                      "challenge_url", o->challenge_url.data,
                      o->challenge_url.len,
                      "token", o->token.data, o->token.len),
            ngx_helpdesk_acme_order_respond);
        return;
    }

    urls = o->authz->elts;
    ngx_log_error(NGX_LOG_ERR, o->log, 0,
                  "helpdesk acme: %V offers no usable http-01 challenge",
                  &urls[o->authz_i]);
    ngx_helpdesk_acme_order_failed(o, call, "unsupportedIdentifier",
                                   "the CA offers no http-01 challenge");
}


static void
ngx_helpdesk_acme_order_respond(ngx_helpdesk_acme_order_t *o)
{
    ngx_str_t  empty = ngx_string("{}");

    ngx_helpdesk_acme_order_call(o, &o->challenge_url, &empty, NULL,
                                 ngx_helpdesk_acme_order_responded);
}


static void
ngx_helpdesk_acme_order_responded(ngx_helpdesk_acme_call_t *call)
{
    ngx_helpdesk_acme_order_t  *o = call->data;

    if (!ngx_helpdesk_acme_order_ok(call)) {
        ngx_helpdesk_acme_order_failed(o, call, NULL, NULL);
        return;
    }

    o->delay = call->retry_after > 0 ? (ngx_msec_t) call->retry_after * 1000
                                     : 1000;

    ngx_helpdesk_acme_order_step(o, "validating", NULL,
                                 ngx_helpdesk_acme_order_validating);
}


static void
ngx_helpdesk_acme_order_validating(ngx_helpdesk_acme_order_t *o)
{
    ngx_str_t  *urls = o->authz->elts;

    ngx_helpdesk_acme_order_poll(o, &urls[o->authz_i],
                                 ngx_helpdesk_acme_order_authz_got);
}


/* the order: finalize, certificate -------------------------------------- */

void
ngx_helpdesk_acme_order_read(ngx_helpdesk_acme_order_t *o)
{
    ngx_helpdesk_acme_order_call(o, &o->order_url, NULL, NULL,
                                 ngx_helpdesk_acme_order_got);
}


static void
ngx_helpdesk_acme_order_got(ngx_helpdesk_acme_call_t *call)
{
    json_t                     *err;
    ngx_str_t                   status;
    ngx_helpdesk_acme_order_t  *o = call->data;

    if (call->result == CURLE_OK && call->status == 404) {
        ngx_helpdesk_acme_order_failed(o, call, "orderNotFound",
                                       "the CA no longer knows the order");
        return;
    }

    if (!ngx_helpdesk_acme_order_ok(call) || call->json == NULL) {
        ngx_helpdesk_acme_order_failed(o, call, NULL,
                                       ngx_helpdesk_acme_order_ok(call)
                                       ? NGX_HELPDESK_ACME_NOT_JSON : NULL);
        return;
    }

    ngx_helpdesk_acme_json_str(call->json, "status", &status);

    if (ngx_helpdesk_acme_is(&status, "valid")) {
        if (ngx_helpdesk_acme_order_keep(o, call->json, "certificate",
                                         &o->cert_url) != NGX_OK)
        {
            ngx_helpdesk_acme_order_failed(o, call, NULL,
                                           "the valid order names no "
                                           "certificate");
            return;
        }

        ngx_helpdesk_acme_order_step(o, "downloading",
            json_pack("{s:s%}", "cert_url", o->cert_url.data,
                      o->cert_url.len),
            ngx_helpdesk_acme_order_finalize);
        return;
    }

    if (ngx_helpdesk_acme_is(&status, "ready")) {
        if (o->finalized) {
            /* the CSR posted, the CA not yet moved on: polled, not posted
             * again */
            ngx_helpdesk_acme_order_poll(o, &o->order_url,
                                         ngx_helpdesk_acme_order_got);
            return;
        }

        ngx_helpdesk_acme_order_finalize(o);
        return;
    }

    if (ngx_helpdesk_acme_is(&status, "processing")) {
        ngx_helpdesk_acme_order_poll(o, &o->order_url,
                                     ngx_helpdesk_acme_order_got);
        return;
    }

    if (ngx_helpdesk_acme_is(&status, "pending")) {
        /* an authorization went back to pending: walked again, a few
         * times at most (the CA may also keep the order pending while
         * every authorization is valid) */
        if (++o->rounds > 3) {
            ngx_helpdesk_acme_order_failed(o, call, NULL,
                                           "the order stays pending");
            return;
        }

        o->authz_i = 0;
        ngx_helpdesk_acme_order_authz(o);
        return;
    }

    err = json_object_get(call->json, "error");
    if (err && json_is_object(err)) {
        ngx_helpdesk_acme_json_str(err, "type", &call->problem_type);
        ngx_helpdesk_acme_json_str(err, "detail", &call->problem_detail);

        if (call->problem_type.len > 27) {
            call->problem_type.data += 27;
            call->problem_type.len -= 27;
        }
    }

    ngx_helpdesk_acme_order_failed(o, call, NULL, "the order is invalid");
}


/* the certificate's key: opened from the row, or made and stored first */
void
ngx_helpdesk_acme_order_finalize(ngx_helpdesk_acme_order_t *o)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    aad, pem, sealed;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    aad.len = sizeof("tls_key:") - 1 + o->host.len;
    aad.data = ngx_pnalloc(o->pool, aad.len);
    if (aad.data == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    p = ngx_cpymem(aad.data, "tls_key:", sizeof("tls_key:") - 1);
    ngx_memcpy(p, o->host.data, o->host.len);

    if (o->key == NULL && o->key_sealed.len) {
        rc = ngx_helpdesk_secret_decrypt(o->pool, ac->conf->secrets, &aad,
                                         &o->key_sealed, &pem);
        if (rc == NGX_OK) {
            o->key = ngx_helpdesk_jose_key_from_pem(pem.data, pem.len);
            OPENSSL_cleanse(pem.data, pem.len);
        }

        if (o->key == NULL) {
            ngx_helpdesk_acme_order_failed(o, NULL, NULL,
                                           "the order's key does not open");
            return;
        }
    }

    if (o->key) {
        if (ngx_helpdesk_acme_is(&o->step, "downloading")) {
            ngx_helpdesk_acme_order_download(o);

        } else {
            ngx_helpdesk_acme_order_csr(o);
        }

        return;
    }

    o->key = ngx_helpdesk_jose_key_generate();

    if (o->key == NULL
        || ngx_helpdesk_jose_key_to_pem(o->pool, o->key, &pem) != NGX_OK
        || ngx_helpdesk_secret_encrypt(o->pool, ac->conf->secrets, &aad, &pem,
                                       &sealed) != NGX_OK)
    {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    o->key_sealed = sealed;

    /* sealed into the row before the CA sees the request */
    ngx_helpdesk_acme_order_step(o, "finalizing",
        json_pack("{s:s%}", "key_sealed", sealed.data, sealed.len),
        ngx_helpdesk_acme_order_csr);
}


static void
ngx_helpdesk_acme_order_csr(ngx_helpdesk_acme_order_t *o)
{
    u_char     *p;
    ngx_str_t   der, b64, payload;

    if (ngx_helpdesk_jose_csr(o->pool, o->key, &o->host, &der) != NGX_OK
        || ngx_helpdesk_b64u_encode(o->pool, der.data, der.len, &b64)
           != NGX_OK)
    {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    payload.data = ngx_pnalloc(o->pool, b64.len + sizeof("{\"csr\":\"\"}"));
    if (payload.data == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    p = ngx_sprintf(payload.data, "{\"csr\":\"%V\"}", &b64);
    payload.len = p - payload.data;

    o->polls = 0;
    o->delay = 1000;
    o->finalized = 1;

    ngx_helpdesk_acme_order_call(o, &o->finalize_url, &payload, NULL,
                                 ngx_helpdesk_acme_order_got);
}


static void
ngx_helpdesk_acme_order_download(ngx_helpdesk_acme_order_t *o)
{
    ngx_helpdesk_acme_order_call(o, &o->cert_url, NULL,
                                 "application/pem-certificate-chain",
                                 ngx_helpdesk_acme_order_downloaded);
}


static void
ngx_helpdesk_acme_order_downloaded(ngx_helpdesk_acme_call_t *call)
{
    u_char                     *p;
    size_t                      len;
    ngx_str_t                  *ders, v;
    ngx_uint_t                  i;
    const char                 *reason;
    ngx_array_t                *chain;
    ngx_helpdesk_jose_leaf_t    leaf;
    ngx_helpdesk_acme_order_t  *o = call->data;

    if (!ngx_helpdesk_acme_order_ok(call)) {
        ngx_helpdesk_acme_order_failed(o, call, NULL, NULL);
        return;
    }

    reason = NULL;

    if (ngx_helpdesk_jose_pem_chain(o->pool, &call->body, &chain, &reason)
        != NGX_OK
        || ngx_helpdesk_jose_leaf_check(chain, &o->host, o->key, ngx_time(),
                                        &leaf, &reason)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, o->log, 0,
                      "helpdesk acme: the certificate for %V is refused: %s",
                      &o->host, reason ? reason : "out of memory");
        ngx_helpdesk_acme_order_failed(o, NULL, NULL,
                                       reason ? reason
                                              : "the certificate is refused");
        return;
    }

    /* the chain as a bytea[] literal: {"\\x..","\\x.."} */
    ders = chain->elts;
    len = 2;
    for (i = 0; i < chain->nelts; i++) {
        len += 6 + 2 * ders[i].len;
    }

    v.data = ngx_pnalloc(o->pool, len);
    if (v.data == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    p = v.data;
    *p++ = '{';
    for (i = 0; i < chain->nelts; i++) {
        if (i) {
            *p++ = ',';
        }
        p = ngx_cpymem(p, "\"\\\\x", 4);
        p = ngx_hex_dump(p, ders[i].data, ders[i].len);
        *p++ = '"';
    }
    *p++ = '}';
    v.len = p - v.data;

    ngx_memzero(&o->query, sizeof(ngx_helpdesk_pg_query_t));
    o->query.sql = "SELECT api.acme_store($1::bytea, $2, $3, $4, $5::bytea[], "
                   "$6, to_timestamp($7::double precision), "
                   "to_timestamp($8::double precision), $9)";
    o->query.handler = ngx_helpdesk_acme_order_recorded;
    o->query.data = o;
    o->query.log = o->log;

    ngx_helpdesk_acme_proof(&o->query);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->tenant);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->host);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->lease);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &v);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->key_sealed);

    p = ngx_pnalloc(o->pool, 2 * NGX_TIME_T_LEN);
    if (p == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%T", leaf.not_before) - p;
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &v);
    v.data = p + NGX_TIME_T_LEN;
    v.len = ngx_sprintf(v.data, "%T", leaf.not_after) - v.data;
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &v);

    /* its ARI certID, when the CA has renewal information */
    if (ngx_helpdesk_acme_client.renewal_info.len
        && ngx_helpdesk_jose_ari_cert_id(o->pool, &ders[0], &v) == NGX_OK
        && v.len <= 512)
    {
        (void) ngx_helpdesk_pg_param(&o->query, o->pool, &v);

    } else {
        (void) ngx_helpdesk_pg_param(&o->query, o->pool, NULL);
    }

    ngx_log_error(NGX_LOG_NOTICE, o->log, 0,
                  "helpdesk acme: certificate for %V issued", &o->host);

    ngx_helpdesk_pg_run(&o->query);
}


/* a released name's certificate ----------------------------------------- */

void
ngx_helpdesk_acme_order_revoke(ngx_helpdesk_acme_order_t *o)
{
    u_char     *p;
    ngx_str_t   b64, payload;

    if (o->cert_der.len == 0 || ngx_helpdesk_acme_client.revoke_cert.len == 0
        || ngx_helpdesk_b64u_encode(o->pool, o->cert_der.data,
                                    o->cert_der.len, &b64)
           != NGX_OK)
    {
        ngx_helpdesk_acme_order_failed(o, NULL, NULL,
                                       "nothing to revoke, or no revokeCert");
        return;
    }

    payload.data = ngx_pnalloc(o->pool, b64.len + 64);
    if (payload.data == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    /* reason 5: cessationOfOperation (the name left the helpdesk) */
    p = ngx_sprintf(payload.data, "{\"certificate\":\"%V\",\"reason\":5}",
                    &b64);
    payload.len = p - payload.data;

    ngx_helpdesk_acme_order_call(o, &ngx_helpdesk_acme_client.revoke_cert,
                                 &payload, NULL,
                                 ngx_helpdesk_acme_order_revoked);
}


static void
ngx_helpdesk_acme_order_revoked(ngx_helpdesk_acme_call_t *call)
{
    ngx_helpdesk_acme_order_t  *o = call->data;

    if (!ngx_helpdesk_acme_order_ok(call)
        && !(call->result == CURLE_OK
             && ngx_helpdesk_acme_is(&call->problem_type, "alreadyRevoked")))
    {
        ngx_helpdesk_acme_order_failed(o, call, NULL, NULL);
        return;
    }

    ngx_memzero(&o->query, sizeof(ngx_helpdesk_pg_query_t));
    o->query.sql = "SELECT api.acme_revoked($1::bytea, $2, $3, $4)";
    o->query.handler = ngx_helpdesk_acme_order_recorded;
    o->query.data = o;
    o->query.log = o->log;

    ngx_helpdesk_acme_proof(&o->query);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->tenant);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->host);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->lease);

    ngx_log_error(NGX_LOG_NOTICE, o->log, 0,
                  "helpdesk acme: certificate of %V revoked", &o->host);

    ngx_helpdesk_pg_run(&o->query);
}


