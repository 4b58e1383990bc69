/*
 * Idempotency-Key on POST.
 *
 * The key is claimed in Redis with SET NX, scoped by who sent it (the API
 * key, or the console session's user and site) and holding the SHA-256 of
 * the method, the path with its query and the body:
 *
 *   "P|<hash>"   while the request runs: a short lease, longer than any
 *                statement can stay in flight (the wait for a connection
 *                plus the client-side statement timer), so a claim left
 *                by a worker that died frees itself within a minute or two
 *                and never needs renewing while the request lives;
 *   "D|<hash>|<status>|<location>|<body>"   once it succeeded, 24 hours;
 *                a secret shown once (a new API key, a webhook's signing
 *                secret) is not kept: the replay says it was shown;
 *   "U|<hash>"   when the outcome is unknown (the statement was sent and
 *                the connection was lost, or our timer gave up on it): it
 *                may have committed, so a retry must not run it again;
 *                24 hours.
 *
 * A retry with the same request replays the stored response; another
 * request under the same key is 422; a retry while the first runs, or
 * after an unknown outcome, is 409.  A request that certainly failed (the
 * database refused it, or it never reached the database) releases the
 * key, so a corrected request may use it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_json.h"
#include "ngx_http_helpdesk_api.h"


#define NGX_HTTP_HELPDESK_IDEM_TTL      "86400"
#define NGX_HTTP_HELPDESK_IDEM_MAX      255


static ngx_int_t ngx_http_helpdesk_api_idem_redact(
    ngx_http_helpdesk_api_ctx_t *ctx, ngx_str_t *out);


static void ngx_http_helpdesk_api_idem_claimed(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_helpdesk_api_idem_found(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_helpdesk_api_idem_stored(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);


ngx_int_t
ngx_http_helpdesk_api_redis_cmd(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_helpdesk_redis_handler_pt handler)
{
    ngx_memzero(&ctx->rcmd, sizeof(ngx_helpdesk_redis_cmd_t));
    ctx->rcmd.handler = handler;
    ctx->rcmd.data = ctx;
    ctx->rcmd.log = ctx->req.r->connection->log;
    ctx->rcmd.owner = ctx->req.r->pool;

    return NGX_OK;
}


void
ngx_http_helpdesk_api_idem_claim(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char              *p;
    size_t               len;
    ngx_str_t            type;
    ngx_uint_t           i;
    ngx_msec_t           lease;
    ngx_http_request_t  *r = ctx->req.r;
    u_char               hash[NGX_HELPDESK_SHA256_LEN];
    u_char               scope[NGX_HELPDESK_SHA256_LEN];

    if (ctx->idem_key.len == 0
        || ctx->idem_key.len > NGX_HTTP_HELPDESK_IDEM_MAX)
    {
        goto invalid;
    }

    for (i = 0; i < ctx->idem_key.len; i++) {
        if (ctx->idem_key.data[i] < 0x21 || ctx->idem_key.data[i] > 0x7e) {
            goto invalid;
        }
    }

    /*
     * the same key with another request (method, path and query, body;
     * for a file, its Content-Type too, which becomes the file's type) is
     * an error, not a replay
     */
    ngx_str_null(&type);

    if (ctx->op->file && r->headers_in.content_type) {
        type = r->headers_in.content_type->value;
    }

    len = r->method_name.len + 1 + r->unparsed_uri.len + 1
          + (type.len ? type.len + 1 : 0) + ctx->raw_body.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the JSON calls' hash as it was, so that keys kept stay valid */
    if (type.len) {
        ngx_sprintf(p, "%V %V\n%V\n%V", &r->method_name, &r->unparsed_uri,
                    &type, &ctx->raw_body);

    } else {
        ngx_sprintf(p, "%V %V\n%V", &r->method_name, &r->unparsed_uri,
                    &ctx->raw_body);
    }
    ngx_helpdesk_sha256(p, len, hash);
    ngx_hex_dump(ctx->body_hash, hash, NGX_HELPDESK_SHA256_LEN);

    /*
     * keys are scoped to whoever sent them: the API key (key_hash), or the
     * console session's site and user (key_hash_param, whose key_hash is
     * all zeros)
     */
    ngx_helpdesk_sha256(ctx->key_hash_param.data, ctx->key_hash_param.len,
                        scope);

    ctx->idem_redis_key.data = ngx_pnalloc(r->pool,
                                           sizeof("hd:idem::") - 1
                                           + 2 * NGX_HELPDESK_SHA256_LEN
                                           + ctx->idem_key.len);
    if (ctx->idem_redis_key.data == NULL) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(ctx->idem_redis_key.data, "hd:idem:", 8);
    p = ngx_hex_dump(p, scope, NGX_HELPDESK_SHA256_LEN);
    *p++ = ':';
    p = ngx_cpymem(p, ctx->idem_key.data, ctx->idem_key.len);
    ctx->idem_redis_key.len = p - ctx->idem_redis_key.data;

    /* claim it: "P" (pending) and the body's hash */
    p = ngx_pnalloc(r->pool, 2 + sizeof(ctx->body_hash));
    if (p == NULL) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p[0] = 'P';
    p[1] = '|';
    ngx_memcpy(p + 2, ctx->body_hash, sizeof(ctx->body_hash));

    ngx_http_helpdesk_api_redis_cmd(ctx, ngx_http_helpdesk_api_idem_claimed);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "SET", 3);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->idem_redis_key.data,
                           ctx->idem_redis_key.len);
    ngx_helpdesk_redis_arg(&ctx->rcmd, p, 2 + sizeof(ctx->body_hash));
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "NX", 2);

    /* the lease: a wait for a connection, the statement, and its grace */
    lease = 2 * ngx_http_helpdesk_api_pg_timeout(ctx) + 30000;

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "PX", 2);
    ngx_helpdesk_redis_arg(&ctx->rcmd, p, ngx_sprintf(p, "%M", lease) - p);
    ngx_helpdesk_redis_run(&ctx->rcmd);
    return;

invalid:

    ngx_http_helpdesk_api_finalize(ctx,
        ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
            "invalid-idempotency-key", "Invalid Idempotency-Key",
            "the Idempotency-Key must be 1 to 255 visible ASCII characters",
            NULL));
}


static void
ngx_http_helpdesk_api_idem_claimed(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_helpdesk_api_ctx_t  *ctx = cmd->data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_http_helpdesk_api_unavailable(ctx, "redis",
                                         ngx_helpdesk_redis_retry_after()));
        return;
    }

    if (reply->type == REDIS_REPLY_STATUS) {
        /* ours: do the work */
        ngx_http_helpdesk_api_query_run(ctx);
        return;
    }

    /* someone used this key before: look at what they got */
    ngx_http_helpdesk_api_redis_cmd(ctx, ngx_http_helpdesk_api_idem_found);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "GET", 3);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->idem_redis_key.data,
                           ctx->idem_redis_key.len);
    ngx_helpdesk_redis_run(&ctx->rcmd);
}


/*
 * A stored response is "D|<body hash>|<status>|<location>|<body>".
 */

static void
ngx_http_helpdesk_api_idem_found(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    u_char                       *p, *last, *bar;
    ngx_int_t                     status;
    ngx_http_request_t           *r;
    ngx_http_helpdesk_api_ctx_t  *ctx = cmd->data;

    r = ctx->req.r;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_http_helpdesk_api_unavailable(ctx, "redis",
                                         ngx_helpdesk_redis_retry_after()));
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        /* expired between the two commands: start over */
        ngx_http_helpdesk_api_idem_claim(ctx);
        return;
    }

    p = (u_char *) reply->str;
    last = p + reply->len;

    if (reply->len < 2 + sizeof(ctx->body_hash)
        || ngx_memcmp(p + 2, ctx->body_hash, sizeof(ctx->body_hash)) != 0)
    {
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_helpdesk_http_problem(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                "idempotency-key-reused", "Idempotency-Key Reused",
                "this Idempotency-Key was used with a different body", NULL));
        return;
    }

    if (p[0] == 'P') {
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_helpdesk_http_problem(r, NGX_HTTP_CONFLICT,
                "idempotency-key-in-use", "Request In Progress",
                "a request with this Idempotency-Key is still being "
                "processed; retry later", NULL));
        return;
    }

    if (p[0] == 'U') {
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_helpdesk_http_problem(r, NGX_HTTP_CONFLICT,
                "idempotency-outcome-unknown", "Outcome Unknown",
                "the first request with this Idempotency-Key was sent to "
                "the database and its answer was lost: it may have been "
                "applied; look it up before sending it again under a new "
                "key", NULL));
        return;
    }

    p += 2 + sizeof(ctx->body_hash) + 1;

    bar = ngx_strlchr(p, last, '|');
    status = bar ? ngx_atoi(p, bar - p) : NGX_ERROR;
    if (status == NGX_ERROR) {
        goto corrupt;
    }

    p = bar + 1;
    bar = ngx_strlchr(p, last, '|');
    if (bar == NULL) {
        goto corrupt;
    }

    ctx->status = status;
    ctx->replayed = 1;

    ctx->location.len = bar - p;
    ctx->location.data = ngx_pnalloc(r->pool, ctx->location.len + 1);
    if (ctx->location.data) {
        ngx_memcpy(ctx->location.data, p, ctx->location.len);
    }

    p = bar + 1;
    ctx->out.len = last - p;
    ctx->out.data = ngx_pnalloc(r->pool, ctx->out.len + 1);

    if (ctx->location.data == NULL || ctx->out.data == NULL) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(ctx->out.data, p, ctx->out.len);

    ngx_http_helpdesk_api_respond(ctx);
    return;

corrupt:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "helpdesk: unreadable idempotency record \"%V\"",
                  &ctx->idem_redis_key);
    ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
}


void
ngx_http_helpdesk_api_idem_store(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   out;

    ngx_http_helpdesk_api_redis_cmd(ctx, ngx_http_helpdesk_api_idem_stored);

    if (ctx->outcome_unknown) {
        p = ngx_pnalloc(ctx->req.r->pool, 2 + sizeof(ctx->body_hash));
        if (p == NULL) {
            ngx_http_helpdesk_api_finalize(ctx, ctx->final_rc);
            return;
        }

        p[0] = 'U';
        p[1] = '|';
        ngx_memcpy(p + 2, ctx->body_hash, sizeof(ctx->body_hash));

        ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "SET", 3);
        ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->idem_redis_key.data,
                               ctx->idem_redis_key.len);
        ngx_helpdesk_redis_arg(&ctx->rcmd, p, 2 + sizeof(ctx->body_hash));
        ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "EX", 2);
        ngx_helpdesk_redis_arg(&ctx->rcmd,
                               (u_char *) NGX_HTTP_HELPDESK_IDEM_TTL,
                               sizeof(NGX_HTTP_HELPDESK_IDEM_TTL) - 1);
        ngx_helpdesk_redis_run(&ctx->rcmd);
        return;
    }

    if (ctx->status < 200 || ctx->status >= 300) {
        ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "DEL", 3);
        ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->idem_redis_key.data,
                               ctx->idem_redis_key.len);
        ngx_helpdesk_redis_run(&ctx->rcmd);
        return;
    }

    if (ngx_http_helpdesk_api_idem_redact(ctx, &out) != NGX_OK) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    len = 2 + sizeof(ctx->body_hash) + 1 + NGX_INT_T_LEN + 1
          + ctx->location.len + 1 + out.len;

    p = ngx_pnalloc(ctx->req.r->pool, len);
    if (p == NULL) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->idem_value.data = p;
    p = ngx_cpymem(p, "D|", 2);
    p = ngx_cpymem(p, ctx->body_hash, sizeof(ctx->body_hash));
    p = ngx_sprintf(p, "|%ui|%V|%V", ctx->status, &ctx->location, &out);
    ctx->idem_value.len = p - ctx->idem_value.data;

    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "SET", 3);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->idem_redis_key.data,
                           ctx->idem_redis_key.len);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->idem_value.data,
                           ctx->idem_value.len);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "EX", 2);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) NGX_HTTP_HELPDESK_IDEM_TTL,
                           sizeof(NGX_HTTP_HELPDESK_IDEM_TTL) - 1);
    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static void
ngx_http_helpdesk_api_idem_stored(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_helpdesk_api_ctx_t  *ctx = cmd->data;

    if (reply == NULL) {
        /* the work is done and committed: say so, even if Redis is gone */
        ngx_log_error(NGX_LOG_WARN, ctx->req.r->connection->log, 0,
                      "helpdesk: could not store the idempotent response");
    }

    if (ctx->outcome_unknown || ctx->status < 200 || ctx->status >= 300) {
        ngx_http_helpdesk_api_finalize(ctx, ctx->final_rc);
        return;
    }

    ngx_http_helpdesk_api_respond(ctx);
}


/*
 * What a replay may show: the response without the secret that only the
 * first one carries (ctx->op->once), which says so instead.
 */

static ngx_int_t
ngx_http_helpdesk_api_idem_redact(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_str_t *out)
{
    char          note[64];
    json_t       *body;
    ngx_int_t     rc;
    json_error_t  err;

    *out = ctx->out;

    if (ctx->op->once == NULL) {
        return NGX_OK;
    }

    body = json_loadb((char *) ctx->out.data, ctx->out.len, 0, &err);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        return NGX_ERROR;
    }

    ngx_snprintf((u_char *) note, sizeof(note), "%s_shown%Z", ctx->op->once);

    if (json_object_set_new(body, ctx->op->once, json_null()) != 0
        || json_object_set_new(body, note,
               json_string("only in the first response to this "
                           "Idempotency-Key")) != 0)
    {
        json_decref(body);
        return NGX_ERROR;
    }

    rc = ngx_helpdesk_json_dump(ctx->req.r->pool, body, out);
    json_decref(body);

    return rc;
}
