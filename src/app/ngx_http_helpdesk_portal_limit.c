/*
 * Attempts at logging in and at asking for a reset link, counted in Redis
 * per account (or email) and per address over a window: past the limit a
 * flow is answered 429 with Retry-After before any password is checked.
 * A successful login takes its attempt back (see the session's script).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "ngx_http_helpdesk_portal.h"


#define NGX_HTTP_HELPDESK_LOGIN_PER_ACCOUNT   "10"
#define NGX_HTTP_HELPDESK_RESET_PER_ACCOUNT   "5"
#define NGX_HTTP_HELPDESK_ATTEMPTS_PER_IP     "50"
#define NGX_HTTP_HELPDESK_ATTEMPTS_WINDOW     "900"


static void ngx_http_helpdesk_portal_limited(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);


/* counts an attempt for the account (or email) and for the address */
void
ngx_http_helpdesk_portal_limit(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *who)
{
    u_char              *p, *k1, *k2;
    ngx_uint_t           i;
    ngx_http_request_t  *r = ctx->req.r;
    u_char               digest[32], low[256];

    static u_char  script[] =
        "local a = redis.call('INCR', KEYS[1]) "
        "if a == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end "
        "local b = redis.call('INCR', KEYS[2]) "
        "if b == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end "
        "if a > tonumber(ARGV[1]) then return redis.call('TTL', KEYS[1]) end "
        "if b > tonumber(ARGV[2]) then return redis.call('TTL', KEYS[2]) end "
        "return 0";

    if (!ngx_helpdesk_redis_configured()) {
        ngx_http_helpdesk_portal_step(ctx);
        return;
    }

    for (i = 0; i < who->len && i < sizeof(low); i++) {
        low[i] = ngx_tolower(who->data[i]);
    }

    ngx_helpdesk_sha256(low, i, digest);

    k1 = ngx_pnalloc(r->pool, sizeof("hd:rl:a::") + ctx->req.host.len + 64);
    k2 = ngx_pnalloc(r->pool, sizeof("hd:rl:ip:") + ctx->req.ip.len);
    if (k1 == NULL || k2 == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memzero(&ctx->rcmd, sizeof(ngx_helpdesk_redis_cmd_t));
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "EVAL", 4);
    ngx_helpdesk_redis_arg(&ctx->rcmd, script, sizeof(script) - 1);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "2", 1);

    p = ngx_sprintf(k1, "hd:rl:a:%V:", &ctx->req.host);
    p = ngx_hex_dump(p, digest, 32);
    ngx_helpdesk_redis_arg(&ctx->rcmd, k1, p - k1);
    ctx->limit_keys[0].data = k1;
    ctx->limit_keys[0].len = p - k1;

    p = ngx_sprintf(k2, "hd:rl:ip:%V", &ctx->req.ip);
    ngx_helpdesk_redis_arg(&ctx->rcmd, k2, p - k2);
    ctx->limit_keys[1].data = k2;
    ctx->limit_keys[1].len = p - k2;

    p = (u_char *) (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_LOGIN
                    ? NGX_HTTP_HELPDESK_LOGIN_PER_ACCOUNT
                    : NGX_HTTP_HELPDESK_RESET_PER_ACCOUNT);
    ngx_helpdesk_redis_arg(&ctx->rcmd, p, ngx_strlen(p));
    ngx_helpdesk_redis_arg(&ctx->rcmd,
                           (u_char *) NGX_HTTP_HELPDESK_ATTEMPTS_PER_IP,
                           sizeof(NGX_HTTP_HELPDESK_ATTEMPTS_PER_IP) - 1);
    ngx_helpdesk_redis_arg(&ctx->rcmd,
                           (u_char *) NGX_HTTP_HELPDESK_ATTEMPTS_WINDOW,
                           sizeof(NGX_HTTP_HELPDESK_ATTEMPTS_WINDOW) - 1);

    ctx->rcmd.handler = ngx_http_helpdesk_portal_limited;
    ctx->rcmd.data = ctx;
    ctx->rcmd.log = r->connection->log;
    ctx->rcmd.owner = r->pool;

    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static void
ngx_http_helpdesk_portal_limited(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_helpdesk_portal_ctx_t  *ctx = cmd->data;

    if (cmd->status != NGX_HELPDESK_REDIS_OK || reply == NULL
        || reply->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_helpdesk_portal_redis_failed(ctx);
        return;
    }

    if (reply->integer != 0) {
        if (ngx_http_helpdesk_req_retry_after(ctx->req.r,
                reply->integer > 0 ? (ngx_uint_t) reply->integer : 60)
            != NGX_OK)
        {
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_TOO_MANY_REQUESTS,
            "too-many-attempts", "Too Many Requests",
            "too many attempts; wait a few minutes and try again");
        return;
    }

    ngx_http_helpdesk_portal_step(ctx);
}