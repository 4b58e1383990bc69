/*
 * The REST API: one content handler for everything under a location with
 * "helpdesk_api".  A request goes through these steps, in this order:
 *
 *   1. route: match the path to an operation (404, 405 with Allow);
 *   2. authenticate: a Bearer key must be present (401); the provider
 *      key is checked here, a tenant key by PostgreSQL in step 6;
 *   3. body: JSON only (415), with a length or chunked, not too large
 *      (413, either way), well-formed (400, saying where);
 *   4. prepare: the operation turns path, query and body into arguments
 *      for the ticket service, collecting every field error (422);
 *   5. idempotency: a POST with Idempotency-Key claims the key in Redis,
 *      or replays the stored response;
 *   6. one statement in PostgreSQL does the work, its ticket event and its
 *      audit row, after checking the key, its scope and the tenant;
 *   7. the response is stored for the idempotency key, and sent.
 *
 * The request is held (r->main->count) from step 3 or 5 until step 7.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_json.h"
#include "ngx_http_helpdesk_api.h"


#define NGX_HTTP_HELPDESK_TOKEN_MAX     256


static ngx_int_t ngx_http_helpdesk_api_start(ngx_http_helpdesk_api_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_api_route(ngx_http_helpdesk_api_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_api_authenticate(
    ngx_http_helpdesk_api_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_api_unauthorized(
    ngx_http_helpdesk_api_ctx_t *ctx, const char *detail, ngx_flag_t invalid);
static ngx_int_t ngx_http_helpdesk_api_read_body(
    ngx_http_helpdesk_api_ctx_t *ctx);
static void ngx_http_helpdesk_api_process(ngx_http_helpdesk_api_ctx_t *ctx);
static void ngx_http_helpdesk_api_query_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_api_cleanup(void *data);


static ngx_str_t  ngx_http_helpdesk_api_challenge =
    ngx_string("Bearer realm=\"helpdesk\", error=\"invalid_token\"");

static const char  ngx_http_helpdesk_api_tenant_sql[] =
    "SELECT body, location FROM api.api_call"
    "($1::bytea, $2, $3::inet, $4, $5::jsonb)";

static const char  ngx_http_helpdesk_api_provider_sql[] =
    "SELECT body, location FROM api.provider_call"
    "($1::bytea, $2, $3::inet, $4::jsonb)";

static const char  ngx_http_helpdesk_api_health_sql[] =
    "SELECT NULL::jsonb, NULL::text";


static const ngx_http_helpdesk_api_route_t  *ngx_http_helpdesk_api_routes[] = {
    ngx_http_helpdesk_api_ticket_routes,
    ngx_http_helpdesk_api_provider_routes,
    ngx_http_helpdesk_api_webhook_routes,
    ngx_http_helpdesk_api_whatsapp_routes,
    ngx_http_helpdesk_api_portal_routes,
    ngx_http_helpdesk_api_health_routes,
    ngx_http_helpdesk_api_chat_routes,
    ngx_http_helpdesk_api_group_routes,
    ngx_http_helpdesk_api_email_routes,
    ngx_http_helpdesk_api_upload_routes,
    NULL
};


ngx_int_t
ngx_http_helpdesk_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_helpdesk_api_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_api_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = NGX_HTTP_OK;
    ctx->req.surface = "api";

    if (ngx_http_helpdesk_req_init(r, &ctx->req) != NGX_OK) {
        return ctx->req.rc;
    }

    rc = ngx_http_helpdesk_api_start(ctx);
    ctx->req.sync = 0;

    return rc;
}


static ngx_int_t
ngx_http_helpdesk_api_start(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_pool_cleanup_t  *cln;
    ngx_http_request_t  *r = ctx->req.r;

    ctx->errors = json_array();
    if (ctx->errors == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* jansson values live on the heap: release them with the request */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        json_decref(ctx->errors);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_helpdesk_api_cleanup;
    cln->data = ctx;

    /* either step may answer the request itself, leaving ctx->final_rc */

    if (ngx_http_helpdesk_api_route(ctx) != NGX_OK
        || ngx_http_helpdesk_api_authenticate(ctx) != NGX_OK)
    {
        return ctx->final_rc;
    }

    if (r->method & (NGX_HTTP_POST|NGX_HTTP_PATCH|NGX_HTTP_PUT)) {
        return ngx_http_helpdesk_api_read_body(ctx);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;
    ngx_http_helpdesk_api_process(ctx);

    return NGX_DONE;
}


static void
ngx_http_helpdesk_api_cleanup(void *data)
{
    ngx_http_helpdesk_api_ctx_t  *ctx = data;

    json_decref(ctx->body);
    json_decref(ctx->args);
    json_decref(ctx->errors);
}


/* 1. route */

static ngx_int_t
ngx_http_helpdesk_api_route(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char                               *p, *last;
    ngx_uint_t                            allowed;
    ngx_http_request_t                   *r = ctx->req.r;
    const ngx_http_helpdesk_api_op_t     *op;
    const ngx_http_helpdesk_api_route_t **table, *route;

    p = r->uri.data + ctx->req.hlcf->api_prefix.len;
    last = r->uri.data + r->uri.len;

    for (table = ngx_http_helpdesk_api_routes; *table; table++) {
        for (route = *table; route->pattern; route++) {
            if (ngx_http_helpdesk_route_match(route->pattern, p, last,
                                              ctx->params,
                                              NGX_HTTP_HELPDESK_API_MAX_PARAMS,
                                              &ctx->nparams))
            {
                goto found;
            }
        }
    }

    ctx->final_rc = ngx_http_helpdesk_route_miss(r, 0);
    return NGX_DECLINED;

found:

    allowed = 0;

    for (op = route->ops; op->method; op++) {
        if (ngx_http_helpdesk_route_method(r, op->method)) {
            ctx->op = op;
            return NGX_OK;
        }

        allowed |= op->method;
    }

    ctx->final_rc = ngx_http_helpdesk_route_miss(r, allowed);
    return NGX_DECLINED;
}


/* 2. authenticate */

static ngx_int_t
ngx_http_helpdesk_api_authenticate(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char                          *p, *hex;
    ngx_str_t                        token;
    ngx_table_elt_t                 *h;
    ngx_http_request_t              *r = ctx->req.r;
    ngx_http_helpdesk_main_conf_t   *hmcf;

    if (ctx->op->auth == NGX_HTTP_HELPDESK_AUTH_NONE) {
        return NGX_OK;
    }

    h = r->headers_in.authorization;

    if (h == NULL) {
        /* the agent console's own calls: its session, checked later */
        if (ctx->op->auth == NGX_HTTP_HELPDESK_AUTH_TENANT
            && ngx_helpdesk_redis_configured()
            && ngx_http_helpdesk_api_session_found(ctx) == NGX_OK)
        {
            return NGX_OK;
        }

        return ngx_http_helpdesk_api_unauthorized(ctx,
                   "send the API key as \"Authorization: Bearer <key>\"", 0);
    }

    if (h->value.len < 7
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) != 0)
    {
        return ngx_http_helpdesk_api_unauthorized(ctx,
                   "only the Bearer scheme is accepted", 0);
    }

    token.data = h->value.data + 7;
    token.len = h->value.len - 7;

    while (token.len && token.data[0] == ' ') {
        token.data++;
        token.len--;
    }

    while (token.len && token.data[token.len - 1] == ' ') {
        token.len--;
    }

    if (token.len == 0 || token.len > NGX_HTTP_HELPDESK_TOKEN_MAX) {
        return ngx_http_helpdesk_api_unauthorized(ctx,
                   "the API key is not valid", 1);
    }

    ngx_helpdesk_sha256(token.data, token.len, ctx->key_hash);

    /*
     * PostgreSQL checks the key again, by its hash (bytea): a tenant's
     * key is looked up; the provider's must be the one installed in the
     * database, which the app role alone does not know
     */
    hex = ngx_pnalloc(r->pool, 2 + 2 * NGX_HELPDESK_SHA256_LEN);
    if (hex == NULL) {
        ctx->final_rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    p = ngx_cpymem(hex, "\\x", 2);
    p = ngx_hex_dump(p, ctx->key_hash, NGX_HELPDESK_SHA256_LEN);

    ctx->key_hash_param.data = hex;
    ctx->key_hash_param.len = p - hex;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);

    /*
     * a refusal's record names a tenant's key by its hash and its visible
     * prefix (also on the provider's routes); the provider's key, or
     * something else, by nothing
     */
    if (token.len > NGX_HTTP_HELPDESK_KEY_PREFIX
        && ngx_strncmp(token.data, "hdk_", 4) == 0)
    {
        ctx->req.key_hash = ctx->key_hash;
        ctx->req.key_prefix.data = token.data;
        ctx->req.key_prefix.len = NGX_HTTP_HELPDESK_KEY_PREFIX;
    }

    if (ctx->op->auth == NGX_HTTP_HELPDESK_AUTH_PROVIDER) {

        if (!hmcf->provider_key_set
            || CRYPTO_memcmp(ctx->key_hash, hmcf->provider_key_hash,
                             NGX_HELPDESK_SHA256_LEN) != 0)
        {
            return ngx_http_helpdesk_api_unauthorized(ctx,
                       "the provider key is not valid", 1);
        }

        return NGX_OK;
    }

    /* a common mistake, worth a precise answer */
    if (hmcf->provider_key_set
        && CRYPTO_memcmp(ctx->key_hash, hmcf->provider_key_hash,
                         NGX_HELPDESK_SHA256_LEN) == 0)
    {
        return ngx_http_helpdesk_api_unauthorized(ctx,
                   "this is the hosting provider's key, which serves "
                   "/v1/provider/ only; the tenant API takes one of the "
                   "tenant's API keys", 1);
    }


    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_api_unauthorized(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *detail, ngx_flag_t invalid)
{
    ngx_str_t            challenge;
    ngx_http_request_t  *r = ctx->req.r;

    if (invalid) {
        ngx_str_set(&challenge,
                    "Bearer realm=\"helpdesk\", error=\"invalid_token\"");
    } else {
        ngx_str_set(&challenge, "Bearer realm=\"helpdesk\"");
    }

    if (ngx_helpdesk_http_header_out(r, "WWW-Authenticate", &challenge)
        != NGX_OK)
    {
        ctx->final_rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    (void) ngx_http_discard_request_body(r);

    ctx->final_rc = ngx_helpdesk_http_problem(r, NGX_HTTP_UNAUTHORIZED,
                        "unauthorized", "Unauthorized", detail, NULL);
    return NGX_DECLINED;
}


/* 3. body */

static ngx_int_t
ngx_http_helpdesk_api_read_body(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->req.r;

    if (ctx->op->file) {
        /* a file: its type and name first, then up to the upload limit */
        if (ngx_http_helpdesk_api_upload_start(ctx) != NGX_OK) {
            return ctx->final_rc;
        }

        /* the key and its scope too, before the body */
        return ngx_http_helpdesk_api_upload_admit(ctx);
    }

    if (r->headers_in.content_type == NULL
        && r->headers_in.content_length_n <= 0 && !r->headers_in.chunked)
    {
        /* no body at all: the operation decides whether it needs one */
        r->main->count++;
        ngx_str_null(&ctx->raw_body);
        ngx_http_helpdesk_api_process(ctx);
        return NGX_DONE;
    }

    if (!ngx_http_helpdesk_req_json_type(r, 1)) {
        (void) ngx_http_discard_request_body(r);
        return ngx_helpdesk_http_problem(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                   "unsupported-media-type", "Unsupported Media Type",
                   "send the body as \"Content-Type: application/json\"",
                   NULL);
    }

    return ngx_http_helpdesk_req_read_body(&ctx->req,
                                           (off_t) ctx->req.hlcf->max_body,
                                           ngx_http_helpdesk_api_body_handler);
}


void
ngx_http_helpdesk_api_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_helpdesk_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    rc = ngx_http_helpdesk_req_body(&ctx->req, &ctx->raw_body);

    if (rc != NGX_OK) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_api_process(ctx);
}


/* 4. prepare (see ngx_http_helpdesk_api_input.c) */

static void
ngx_http_helpdesk_api_process(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_uint_t           i;
    json_error_t         err;
    ngx_http_request_t  *r = ctx->req.r;
    u_char               detail[320];

    if ((r->method & (NGX_HTTP_POST|NGX_HTTP_PATCH|NGX_HTTP_PUT))
        && ctx->raw_body.data && !ctx->op->file)
    {
        ctx->body = ngx_helpdesk_json_parse(ctx->raw_body.data,
                                            ctx->raw_body.len, &err);
        if (ctx->body == NULL) {
            ngx_snprintf(detail, sizeof(detail) - 1,
                         "the body is not valid JSON: %s (line %d, column %d, "
                         "byte %d)%Z",
                         err.text, err.line, err.column, err.position);

            ngx_http_helpdesk_api_finalize(ctx,
                ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                    "malformed-json", "Malformed JSON", (char *) detail,
                    json_pack("{s:i, s:i, s:i}", "line", err.line,
                              "column", err.column,
                              "position", err.position)));
            return;
        }
    }

    for (i = 0; i < ctx->nparams; i++) {
        /* a path segment nginx decoded into something unprintable */
        for (p = ctx->params[i].data;
             p < ctx->params[i].data + ctx->params[i].len; p++)
        {
            if (*p < 0x20 || *p >= 0x7f) {
                ngx_http_helpdesk_api_finalize(ctx,
                    ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND,
                        "not-found", "Not Found",
                        "no such resource", NULL));
                return;
            }
        }
    }

    if (ctx->op->prepare) {
        rc = ctx->op->prepare(ctx);

        if (rc == NGX_DONE) {
            /* it answered the request itself */
            return;
        }

        if (rc != NGX_OK) {
            ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

    } else if (ctx->args == NULL) {
        ctx->args = json_object();
    }

    if (json_array_size(ctx->errors)) {
        rc = ngx_helpdesk_http_problem(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                 "validation-error", "Validation Error",
                 "the request has invalid fields; see \"errors\"",
                 json_pack("{s:O}", "errors", ctx->errors));
        ngx_http_helpdesk_api_finalize(ctx, rc);
        return;
    }

    if (ngx_helpdesk_json_dump(r->pool, ctx->args, &ctx->args_text) != NGX_OK)
    {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (r->connection->sockaddr->sa_family != AF_UNIX) {
        ctx->req.ip = r->connection->addr_text;
    }

    if (ctx->agent_token.len && !ctx->agent_checked) {
        ngx_http_helpdesk_api_session_check(ctx);
        return;
    }

    ngx_http_helpdesk_api_dispatch(ctx);
}


/* 5. idempotency, then 6. the statement */

void
ngx_http_helpdesk_api_dispatch(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->req.r;

    if (r->method == NGX_HTTP_POST) {
        ngx_table_elt_t  *h;

        h = ngx_helpdesk_http_header_in(r, "Idempotency-Key",
                                        sizeof("Idempotency-Key") - 1);
        if (h) {
            ctx->idem_key = h->value;
            ngx_http_helpdesk_api_idem_claim(ctx);
            return;
        }
    }

    ngx_http_helpdesk_api_query_run(ctx);
}


/* 5. idempotency: ngx_http_helpdesk_api_idempotency.c */


/* 6. PostgreSQL */

void
ngx_http_helpdesk_api_query_run(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t                 v;
    ngx_pool_t               *pool = ctx->req.r->pool;
    ngx_helpdesk_pg_query_t  *q = &ctx->query;

    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->handler = ngx_http_helpdesk_api_query_done;
    q->data = ctx;
    q->log = ctx->req.r->connection->log;
    q->owner = ctx->req.r->pool;

    switch (ctx->op->auth) {

    case NGX_HTTP_HELPDESK_AUTH_TENANT:
        q->sql = ngx_http_helpdesk_api_tenant_sql;
        ngx_helpdesk_pg_param(q, pool, &ctx->key_hash_param);
        v.data = (u_char *) ctx->op->scope;
        v.len = ngx_strlen(ctx->op->scope);
        ngx_helpdesk_pg_param(q, pool, &v);
        ngx_helpdesk_pg_param(q, pool, ctx->req.ip.len ? &ctx->req.ip : NULL);

        if (ctx->op->sql) {
            q->sql = ctx->op->sql;
            q->result_format = ctx->op->file ? 0 : 1;

        } else {
            v.data = (u_char *) ctx->op->op;
            v.len = ngx_strlen(ctx->op->op);
            ngx_helpdesk_pg_param(q, pool, &v);
        }

        ngx_helpdesk_pg_param(q, pool, &ctx->args_text);

        if (ctx->op->file) {
            ngx_helpdesk_pg_param_binary(q, ctx->raw_body.data,
                                         ctx->raw_body.len);
        }

        break;

    case NGX_HTTP_HELPDESK_AUTH_PROVIDER:
        q->sql = ngx_http_helpdesk_api_provider_sql;
        ngx_helpdesk_pg_param(q, pool, &ctx->key_hash_param);
        v.data = (u_char *) ctx->op->op;
        v.len = ngx_strlen(ctx->op->op);
        ngx_helpdesk_pg_param(q, pool, &v);
        ngx_helpdesk_pg_param(q, pool, ctx->req.ip.len ? &ctx->req.ip : NULL);
        ngx_helpdesk_pg_param(q, pool, &ctx->args_text);
        break;

    default:
        q->sql = ngx_http_helpdesk_api_health_sql;
        break;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_api_query_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_int_t                     rc;
    ngx_http_request_t           *r;
    ngx_http_helpdesk_api_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    /* sent, and then no answer: it may have committed */
    ctx->outcome_unknown = (q->status != NGX_HELPDESK_PG_OK && q->sent);

    if (q->status == NGX_HELPDESK_PG_TIMEOUT) {
        rc = ngx_helpdesk_http_problem(r, NGX_HTTP_GATEWAY_TIME_OUT,
                 "dependency-timeout", "Gateway Timeout",
                 "postgresql did not answer in time",
                 json_pack("{s:s}", "dependency", "postgresql"));
        goto failed;
    }

    if (q->status != NGX_HELPDESK_PG_OK) {
        if (ctx->op->auth == NGX_HTTP_HELPDESK_AUTH_NONE) {
            ctx->health_pg = 0;
            goto health;
        }

        rc = ngx_http_helpdesk_api_unavailable(ctx, "postgresql",
                 q->status == NGX_HELPDESK_PG_BUSY
                 ? 1 : ngx_helpdesk_pg_retry_after());
        goto failed;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = ngx_helpdesk_http_sql_problem(r, res,
                                           &ngx_http_helpdesk_api_challenge);
        goto failed;
    }

    if (ctx->op->result) {
        ngx_http_helpdesk_api_finalize(ctx, ctx->op->result(ctx, res));
        return;
    }

    if (PQntuples(res) != 1 || PQnfields(res) != 2) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto failed;
    }

    /* the statement answers (body, location); the status is the route's */
    ctx->status = ctx->op->status;

    if (ctx->op->auth == NGX_HTTP_HELPDESK_AUTH_NONE) {
        ctx->health_pg = 1;
        goto health;
    }

    ctx->out.len = PQgetlength(res, 0, 0);
    ctx->out.data = ngx_pnalloc(r->pool, ctx->out.len + 1);
    ctx->location.len = PQgetlength(res, 0, 1);
    ctx->location.data = ngx_pnalloc(r->pool, ctx->location.len + 1);

    if (ctx->out.data == NULL || ctx->location.data == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto failed;
    }

    ngx_memcpy(ctx->out.data, PQgetvalue(res, 0, 0), ctx->out.len);
    ngx_memcpy(ctx->location.data, PQgetvalue(res, 0, 1), ctx->location.len);

    if (ctx->op->finish && ctx->op->finish(ctx) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto failed;
    }

    if (ctx->idem_redis_key.len) {
        ngx_http_helpdesk_api_idem_store(ctx);
        return;
    }

    ngx_http_helpdesk_api_respond(ctx);
    return;

health:

    /* GET /v1/health: PostgreSQL answered (or not); now Redis */
    ngx_http_helpdesk_api_health(ctx);
    return;

failed:

    if (ctx->idem_redis_key.len) {
        /*
         * release the key so that the client may retry, unless the work
         * may have been done (ngx_http_helpdesk_api_idem_store)
         */
        ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ctx->final_rc = rc;
        ngx_http_helpdesk_api_idem_store(ctx);
        return;
    }

    ngx_http_helpdesk_api_finalize(ctx, rc);
}


/* 7. send */

void
ngx_http_helpdesk_api_respond(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char              *p;
    ngx_str_t            v;
    ngx_http_request_t  *r = ctx->req.r;

    if (ctx->location.len) {
        v.len = ctx->req.hlcf->api_prefix.len + ctx->location.len;
        v.data = ngx_pnalloc(r->pool, v.len);
        if (v.data == NULL) {
            ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = ngx_cpymem(v.data, ctx->req.hlcf->api_prefix.data,
                       ctx->req.hlcf->api_prefix.len);
        ngx_memcpy(p, ctx->location.data, ctx->location.len);

        if (ngx_helpdesk_http_header_out(r, "Location", &v) != NGX_OK) {
            ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    if (ctx->replayed) {
        ngx_str_set(&v, "true");
        (void) ngx_helpdesk_http_header_out(r, "Idempotent-Replayed", &v);
    }

    ngx_str_set(&v, "no-store");
    (void) ngx_helpdesk_http_header_out(r, "Cache-Control", &v);

    if (ctx->status == NGX_HTTP_NO_CONTENT || ctx->out.len == 0) {
        r->header_only = 1;
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_helpdesk_http_send(r, ctx->status, "application/json",
                                   NULL, 0));
        return;
    }

    /* a newline, for people reading it in a terminal */
    ctx->out.data[ctx->out.len] = '\n';

    ngx_http_helpdesk_api_finalize(ctx,
        ngx_helpdesk_http_send(r, ctx->status, "application/json",
                               ctx->out.data, ctx->out.len + 1));
}


ngx_int_t
ngx_http_helpdesk_api_unavailable(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *what, ngx_uint_t retry)
{
    return ngx_http_helpdesk_req_unavailable(ctx->req.r, what, retry);
}


ngx_msec_t
ngx_http_helpdesk_api_pg_timeout(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(ctx->req.r, ngx_http_helpdesk_module);

    return hmcf->pg.timeout;
}


void
ngx_http_helpdesk_api_finalize(ngx_http_helpdesk_api_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_helpdesk_req_finalize(&ctx->req, rc);
}
