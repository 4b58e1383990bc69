/*
 * The WhatsApp webhook: "helpdesk_whatsapp_webhook" serves
 * <location>/<token>, one token per connected number.
 *
 *   GET   the Cloud API's verification handshake: hub.mode=subscribe and
 *         the connection's verify token give back hub.challenge, verbatim;
 *   POST  a delivery.  The token routes it to a connection (unknown: 404).
 *         For the Cloud API, X-Hub-Signature-256 (HMAC-SHA256 of the raw
 *         body with the app secret) is checked first, in constant time
 *         (wrong or missing: 401); for 360dialog the unguessable token is
 *         the credential.  The body is then stored by
 *         helpdesk.whatsapp_ingest() in one transaction, and only once it
 *         is committed does the provider get its 200: nothing acknowledged
 *         is ever lost, and a retried delivery changes nothing.
 *
 * Steps, in order: token -> route (PostgreSQL) -> verify -> ingest
 * (PostgreSQL) -> 200.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "http/ngx_http_helpdesk_request.h"
#include "http/ngx_http_helpdesk_log.h"
#include "lib/ngx_helpdesk_json.h"
#include "ngx_http_helpdesk_whatsapp.h"
#include "ngx_http_helpdesk_whatsapp_ingest.h"


#define NGX_HTTP_HELPDESK_WA_TOKEN_MIN  16

/*
 * Routes found are kept per worker for a few seconds, which saves a round
 * trip on every delivery of a busy number; a deleted or disabled
 * connection, or a rotated app secret, takes effect within that time.
 */
#define NGX_HTTP_HELPDESK_WA_ROUTES     256
#define NGX_HTTP_HELPDESK_WA_ROUTE_TTL  5000


typedef struct {
    u_char                          token[NGX_HTTP_HELPDESK_WA_TOKEN_MAX];
    size_t                          token_len;
    ngx_msec_t                      expires;
    u_char                         *mem;
    ngx_str_t                       values[5];
} ngx_http_helpdesk_wa_route_t;


typedef struct {
    ngx_http_helpdesk_req_t         req;        /* first: the core's */
    ngx_str_t                       token;
    ngx_str_t                       token_hash; /* "sha256:<hex>", stored */
    ngx_str_t                       body;
    ngx_str_t                       tenant;
    ngx_str_t                       connection;
    ngx_str_t                       provider;
    ngx_str_t                       app_secret;
    ngx_str_t                       verify_token;
    ngx_helpdesk_pg_query_t         query;
    ngx_http_helpdesk_wa_item_t     item;
} ngx_http_helpdesk_wa_ctx_t;


static ngx_int_t ngx_http_helpdesk_whatsapp_start(
    ngx_http_helpdesk_wa_ctx_t *ctx);
static void ngx_http_helpdesk_whatsapp_body(ngx_http_request_t *r);
static void ngx_http_helpdesk_whatsapp_route(ngx_http_helpdesk_wa_ctx_t *ctx);
static void ngx_http_helpdesk_whatsapp_routed(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_http_helpdesk_whatsapp_handshake(
    ngx_http_helpdesk_wa_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_whatsapp_verify(
    ngx_http_helpdesk_wa_ctx_t *ctx);
static void ngx_http_helpdesk_whatsapp_ingest(ngx_http_helpdesk_wa_ctx_t *ctx);
static void ngx_http_helpdesk_whatsapp_ingested(
    ngx_http_helpdesk_wa_item_t *item, ngx_int_t rc, ngx_str_t *result);
static ngx_int_t ngx_http_helpdesk_whatsapp_pg_failed(
    ngx_http_helpdesk_wa_ctx_t *ctx, PGresult *res, ngx_flag_t refused);
static ngx_str_t *ngx_http_helpdesk_whatsapp_copy(ngx_http_request_t *r,
    PGresult *res, int col, ngx_str_t *to);
static void ngx_http_helpdesk_whatsapp_routed_ctx(
    ngx_http_helpdesk_wa_ctx_t *ctx);
static ngx_flag_t ngx_http_helpdesk_whatsapp_cached(
    ngx_http_helpdesk_wa_ctx_t *ctx);
static void ngx_http_helpdesk_whatsapp_cache(ngx_http_helpdesk_wa_ctx_t *ctx);


static ngx_http_helpdesk_wa_route_t
    ngx_http_helpdesk_wa_routes[NGX_HTTP_HELPDESK_WA_ROUTES];


ngx_int_t
ngx_http_helpdesk_whatsapp_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_helpdesk_wa_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_wa_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_helpdesk_req_init(r, &ctx->req) != NGX_OK) {
        return ctx->req.rc;
    }

    rc = ngx_http_helpdesk_whatsapp_start(ctx);
    ctx->req.sync = 0;

    return rc;
}


static ngx_int_t
ngx_http_helpdesk_whatsapp_start(ngx_http_helpdesk_wa_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   allow;
    ngx_http_request_t         *r = ctx->req.r;

    /* the token is the connection's credential (all of it, for 360dialog) */
    rc = ngx_http_helpdesk_log_path_token(r, NGX_HTTP_HELPDESK_WA_TOKEN_MIN,
                                          NGX_HTTP_HELPDESK_WA_TOKEN_MAX,
                                          &ctx->token);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        (void) ngx_http_discard_request_body(r);
        return ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND, "not-found",
                                         "Not Found", "unknown webhook", NULL);
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        r->main->count++;
        ngx_http_helpdesk_whatsapp_route(ctx);
        return NGX_DONE;
    }

    if (r->method != NGX_HTTP_POST) {
        ngx_str_set(&allow, "GET, HEAD, POST");
        (void) ngx_helpdesk_http_header_out(r, "Allow", &allow);
        (void) ngx_http_discard_request_body(r);
        return ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_ALLOWED,
                                         "method-not-allowed",
                                         "Method Not Allowed",
                                         "webhooks take GET and POST", NULL);
    }

    /* the signature is checked over these very bytes, read whole */
    return ngx_http_helpdesk_req_read_body(&ctx->req,
                                           (off_t) ctx->req.hlcf->max_body,
                                           ngx_http_helpdesk_whatsapp_body);
}


static void
ngx_http_helpdesk_whatsapp_body(ngx_http_request_t *r)
{
    ngx_http_helpdesk_wa_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    if (ngx_http_helpdesk_req_body(&ctx->req, &ctx->body) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_whatsapp_route(ctx);
}


static void
ngx_http_helpdesk_whatsapp_route(ngx_http_helpdesk_wa_ctx_t *ctx)
{
    u_char                   *p;
    ngx_str_t                *hashed = &ctx->token_hash;
    ngx_helpdesk_pg_query_t  *q = &ctx->query;
    u_char                    digest[NGX_HELPDESK_SHA256_LEN];

    /*
     * the database keeps the token's SHA-256 only: the route, and the
     * ingest's routing again, look that up
     */
    hashed->len = 7 + 2 * NGX_HELPDESK_SHA256_LEN;
    hashed->data = ngx_pnalloc(ctx->req.r->pool, hashed->len);
    if (hashed->data == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_sha256(ctx->token.data, ctx->token.len, digest);
    p = ngx_cpymem(hashed->data, "sha256:", 7);
    ngx_hex_dump(p, digest, sizeof(digest));

    if (ngx_http_helpdesk_whatsapp_cached(ctx)) {
        ngx_http_helpdesk_whatsapp_routed_ctx(ctx);
        return;
    }

    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->sql = "SELECT tenant_id, connection_id, provider, app_secret, "
             "verify_token FROM api.whatsapp_route($1)";
    q->handler = ngx_http_helpdesk_whatsapp_routed;
    q->data = ctx;
    q->log = ctx->req.r->connection->log;
    q->owner = ctx->req.r->pool;

    if (ngx_helpdesk_pg_param(q, ctx->req.r->pool, hashed) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_whatsapp_routed(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_http_request_t          *r;
    ngx_http_helpdesk_wa_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_whatsapp_pg_failed(ctx, res, 0));
        return;
    }

    if (PQntuples(res) != 1 || PQnfields(res) < 5 || PQgetisnull(res, 0, 0)) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND, "not-found",
                                      "Not Found", "unknown webhook", NULL));
        return;
    }

    if (ngx_http_helpdesk_whatsapp_copy(r, res, 0, &ctx->tenant) == NULL
        || ngx_http_helpdesk_whatsapp_copy(r, res, 1, &ctx->connection) == NULL
        || ngx_http_helpdesk_whatsapp_copy(r, res, 2, &ctx->provider) == NULL
        || ngx_http_helpdesk_whatsapp_copy(r, res, 3, &ctx->app_secret) == NULL
        || ngx_http_helpdesk_whatsapp_copy(r, res, 4, &ctx->verify_token)
           == NULL)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_whatsapp_cache(ctx);
    ngx_http_helpdesk_whatsapp_routed_ctx(ctx);
}


/*
 * The secret a request is checked with, as stored (sealed; a route cached
 * keeps it so) into its plaintext, for this request only.
 */

static ngx_int_t
ngx_http_helpdesk_whatsapp_open(ngx_http_helpdesk_wa_ctx_t *ctx,
    const char *column, ngx_str_t *value)
{
    ngx_int_t            rc;
    ngx_str_t            plain;
    ngx_http_request_t  *r = ctx->req.r;

    if (value->len == 0) {
        return NGX_OK;
    }

    rc = ngx_http_helpdesk_secret_open(ngx_http_helpdesk_secrets(r), r->pool,
                                       r->connection->log,
                                       "whatsapp_connections", column,
                                       &ctx->connection, value, &plain);
    if (rc != NGX_OK) {
        return rc;
    }

    *value = plain;

    return NGX_OK;
}


static void
ngx_http_helpdesk_whatsapp_routed_ctx(ngx_http_helpdesk_wa_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r = ctx->req.r;

    rc = (r->method == NGX_HTTP_POST)
         ? ngx_http_helpdesk_whatsapp_open(ctx, "app_secret", &ctx->app_secret)
         : ngx_http_helpdesk_whatsapp_open(ctx, "verify_token",
                                           &ctx->verify_token);

    if (rc == NGX_DECLINED) {
        /* the provider retries; the error log names the value */
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                "secret-unavailable", "Service Unavailable",
                "the connection's secrets cannot be read", NULL));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (r->method != NGX_HTTP_POST) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                  ngx_http_helpdesk_whatsapp_handshake(ctx));
        return;
    }

    rc = ngx_http_helpdesk_whatsapp_verify(ctx);

    if (rc == NGX_DECLINED) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_UNAUTHORIZED,
                "invalid-signature", "Unauthorized",
                "X-Hub-Signature-256 is missing or does not match the body",
                NULL));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_whatsapp_ingest(ctx);
}


static ngx_http_helpdesk_wa_route_t *
ngx_http_helpdesk_whatsapp_slot(ngx_str_t *token)
{
    return &ngx_http_helpdesk_wa_routes[ngx_crc32_short(token->data, token->len)
                                        % NGX_HTTP_HELPDESK_WA_ROUTES];
}


static ngx_flag_t
ngx_http_helpdesk_whatsapp_cached(ngx_http_helpdesk_wa_ctx_t *ctx)
{
    u_char                        *p;
    ngx_uint_t                     i;
    ngx_str_t                     *to[5];
    ngx_http_helpdesk_wa_route_t  *rt;

    rt = ngx_http_helpdesk_whatsapp_slot(&ctx->token);

    if (rt->mem == NULL || rt->token_len != ctx->token.len
        || ngx_memcmp(rt->token, ctx->token.data, ctx->token.len) != 0
        || (ngx_msec_int_t) (rt->expires - ngx_current_msec) <= 0)
    {
        return 0;
    }

    to[0] = &ctx->tenant;
    to[1] = &ctx->connection;
    to[2] = &ctx->provider;
    to[3] = &ctx->app_secret;
    to[4] = &ctx->verify_token;

    /* copies: the slot may be reused while this request still runs */
    for (i = 0; i < 5; i++) {
        p = ngx_pnalloc(ctx->req.r->pool, rt->values[i].len + 1);
        if (p == NULL) {
            return 0;
        }

        ngx_memcpy(p, rt->values[i].data, rt->values[i].len);
        p[rt->values[i].len] = '\0';
        to[i]->data = p;
        to[i]->len = rt->values[i].len;
    }

    return 1;
}


static void
ngx_http_helpdesk_whatsapp_cache(ngx_http_helpdesk_wa_ctx_t *ctx)
{
    u_char                        *p;
    size_t                         len;
    ngx_uint_t                     i;
    ngx_str_t                     *from[5];
    ngx_http_helpdesk_wa_route_t  *rt;

    from[0] = &ctx->tenant;
    from[1] = &ctx->connection;
    from[2] = &ctx->provider;
    from[3] = &ctx->app_secret;
    from[4] = &ctx->verify_token;

    len = 0;
    for (i = 0; i < 5; i++) {
        len += from[i]->len;
    }

    rt = ngx_http_helpdesk_whatsapp_slot(&ctx->token);

    if (rt->mem) {
        ngx_free(rt->mem);
        rt->mem = NULL;
    }

    p = ngx_alloc(len + 1, ctx->req.r->connection->log);
    if (p == NULL) {
        return;
    }

    rt->mem = p;

    for (i = 0; i < 5; i++) {
        rt->values[i].data = p;
        rt->values[i].len = from[i]->len;
        p = ngx_cpymem(p, from[i]->data, from[i]->len);
    }

    ngx_memcpy(rt->token, ctx->token.data, ctx->token.len);
    rt->token_len = ctx->token.len;
    rt->expires = ngx_current_msec + NGX_HTTP_HELPDESK_WA_ROUTE_TTL;
}


static ngx_str_t *
ngx_http_helpdesk_whatsapp_copy(ngx_http_request_t *r, PGresult *res, int col,
    ngx_str_t *to)
{
    to->len = PQgetlength(res, 0, col);
    to->data = ngx_pnalloc(r->pool, to->len + 1);
    if (to->data == NULL) {
        return NULL;
    }

    ngx_memcpy(to->data, PQgetvalue(res, 0, col), to->len);
    to->data[to->len] = '\0';

    return to;
}


/* a query argument's value, URL-decoded, into the request's pool */

ngx_int_t
ngx_http_helpdesk_whatsapp_unescape(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *out)
{
    u_char  *dst, *src;

    out->data = ngx_pnalloc(r->pool, arg->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    dst = out->data;
    src = arg->data;
    ngx_unescape_uri(&dst, &src, arg->len, NGX_UNESCAPE_URI);
    out->len = dst - out->data;

    return NGX_OK;
}


/* GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=... */

static ngx_int_t
ngx_http_helpdesk_whatsapp_handshake(ngx_http_helpdesk_wa_ctx_t *ctx)
{
    ngx_str_t            mode, token, challenge, v;
    ngx_http_request_t  *r = ctx->req.r;

    if (ngx_strcmp(ctx->provider.data, "cloud") != 0
        || ngx_http_arg(r, (u_char *) "hub.mode", 8, &mode) != NGX_OK
        || ngx_http_arg(r, (u_char *) "hub.verify_token", 16, &token)
           != NGX_OK
        || ngx_http_arg(r, (u_char *) "hub.challenge", 13, &challenge)
           != NGX_OK
        || mode.len != 9 || ngx_strncmp(mode.data, "subscribe", 9) != 0)
    {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_FORBIDDEN,
                   "verification-failed", "Forbidden",
                   "this is not a valid verification request", NULL);
    }

    if (ngx_http_helpdesk_whatsapp_unescape(r, &token, &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (v.len != ctx->verify_token.len || v.len == 0
        || CRYPTO_memcmp(v.data, ctx->verify_token.data, v.len) != 0)
    {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_FORBIDDEN,
                   "verification-failed", "Forbidden",
                   "the verify token does not match", NULL);
    }

    if (ngx_http_helpdesk_whatsapp_unescape(r, &challenge, &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_helpdesk_http_send(r, NGX_HTTP_OK, "text/plain", v.data, v.len);
}


/*
 * Cloud API: X-Hub-Signature-256: sha256=<hex HMAC of the raw body>.
 * NGX_OK when it matches (or the provider does not sign), NGX_DECLINED
 * when it does not.
 */

static ngx_int_t
ngx_http_helpdesk_whatsapp_verify(ngx_http_helpdesk_wa_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    if (ngx_strcmp(ctx->provider.data, "cloud") != 0) {
        return NGX_OK;      /* 360dialog: the token in the URL was the secret */
    }

    h = ngx_helpdesk_http_header_in(ctx->req.r, "X-Hub-Signature-256",
                                    sizeof("X-Hub-Signature-256") - 1);

    return ngx_http_helpdesk_whatsapp_signature(&ctx->app_secret, &ctx->body,
                                                h ? &h->value : NULL);
}


/* the header's value (NULL: none) against the body and the app secret */

ngx_int_t
ngx_http_helpdesk_whatsapp_signature(ngx_str_t *secret, ngx_str_t *body,
    ngx_str_t *header)
{
    size_t        i;
    unsigned int  len;
    u_char        mac[EVP_MAX_MD_SIZE];
    u_char        expect[2 * EVP_MAX_MD_SIZE];
    u_char        given[2 * EVP_MAX_MD_SIZE];

    if (header == NULL || secret->len == 0
        || header->len != 7 + 2 * 32
        || ngx_strncasecmp(header->data, (u_char *) "sha256=", 7) != 0)
    {
        goto invalid;
    }

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len,
             body->data, body->len, mac, &len) == NULL
        || len != 32)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(expect, mac, len);

    for (i = 0; i < 2 * len; i++) {
        given[i] = ngx_tolower(header->data[7 + i]);
    }

    if (CRYPTO_memcmp(expect, given, 2 * len) == 0) {
        return NGX_OK;
    }

invalid:

    return NGX_DECLINED;
}


/*
 * Well-formed JSON only; PostgreSQL would say so less clearly.  NGX_DECLINED
 * with a NUL-terminated reason in detail (size bytes) when it is not a JSON
 * object.
 */

ngx_int_t
ngx_http_helpdesk_whatsapp_payload(ngx_str_t *body, u_char *detail,
    size_t size)
{
    json_t        *doc;
    json_error_t   err;

    doc = ngx_helpdesk_json_parse(body->data, body->len, &err);

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        ngx_snprintf(detail, size - 1,
                     "the body is not a JSON object: %s (byte %d)%Z",
                     doc ? "not an object" : err.text, err.position);
        detail[size - 1] = '\0';
        return NGX_DECLINED;
    }

    json_decref(doc);

    return NGX_OK;
}


static void
ngx_http_helpdesk_whatsapp_ingest(ngx_http_helpdesk_wa_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->req.r;
    u_char               detail[256];

    if (ngx_http_helpdesk_whatsapp_payload(&ctx->body, detail, sizeof(detail))
        != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                                      "malformed-json", "Malformed JSON",
                                      (char *) detail, NULL));
        return;
    }

    /* stored together with whatever else arrives in the same instant */
    ctx->item.token = ctx->token_hash;
    ctx->item.tenant = ctx->tenant;
    ctx->item.connection = ctx->connection;
    ctx->item.body = ctx->body;
    ctx->item.done = ngx_http_helpdesk_whatsapp_ingested;
    ctx->item.data = ctx;
    ctx->item.log = r->connection->log;
    ctx->item.owner = r->pool;

    if (r->connection->sockaddr->sa_family != AF_UNIX) {
        ctx->item.ip = r->connection->addr_text;
    }

    if (ngx_http_helpdesk_wa_ingest(&ctx->item) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_http_helpdesk_whatsapp_ingested(ngx_http_helpdesk_wa_item_t *item,
    ngx_int_t rc, ngx_str_t *result)
{
    u_char                      *p;
    ngx_http_request_t          *r;
    ngx_http_helpdesk_wa_ctx_t  *ctx = item->data;

    r = ctx->req.r;

    if (rc != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_whatsapp_pg_failed(ctx, NULL,
                                                 rc == NGX_DECLINED));
        return;
    }

    /* committed: now the provider may forget it */
    p = ngx_pnalloc(r->pool, result->len + 1);
    if (p == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(p, result->data, result->len);
    p[result->len] = '\n';

    ngx_http_helpdesk_req_finalize(&ctx->req,
        ngx_helpdesk_http_send(r, NGX_HTTP_OK, "application/json", p,
                               result->len + 1));
}


/*
 * The delivery was not stored: the provider must retry, so the answer is
 * a 5xx, never a 200.
 */

static ngx_int_t
ngx_http_helpdesk_whatsapp_pg_failed(ngx_http_helpdesk_wa_ctx_t *ctx,
    PGresult *res, ngx_flag_t refused)
{
    ngx_http_request_t  *r = ctx->req.r;

    if (res || refused) {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "helpdesk whatsapp: %s", PQresultErrorMessage(res));
        }

        return ngx_helpdesk_http_problem(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                   "internal-error", "Internal Server Error",
                   "the delivery could not be stored; the error was logged",
                   NULL);
    }

    return ngx_http_helpdesk_req_unavailable(r, "postgresql",
                                             ngx_helpdesk_pg_retry_after());
}


/*
 * At the post-read phase, before nginx picks the location (a body
 * buffered to a file, or one over client_max_body_size, is logged with the
 * request line before the handler runs): a request under the (first)
 * webhook location's prefix has its request line redacted.
 */
static ngx_int_t
ngx_http_helpdesk_whatsapp_redact(ngx_http_request_t *r)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);

    return ngx_http_helpdesk_log_redact_prefix(r, &hmcf->whatsapp_prefix);
}


ngx_int_t
ngx_http_helpdesk_whatsapp_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_helpdesk_module);

    if (hmcf->whatsapp_prefix.len == 0) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_helpdesk_whatsapp_redact;

    return NGX_OK;
}
