/*
 * Attempts, counted in Redis per account and per address over a window:
 * past the limit a flow is answered 429 with Retry-After before anything
 * costly (a password hashed or checked, a link sent).  A successful login
 * takes its attempt back (see the session's script).
 *
 * An account is counted as the database looks it up: the tenant's id
 * (whichever of its names the request came to) and the address trimmed
 * and lower-cased (portal.app_account_key()), so " Ana@x" and "ana@x "
 * share one counter, on the tenant's base name as on its own domain.
 * Steps that carry no address count something as hard to vary: a reset
 * link's token, the signed-in user of a second-factor or password change.
 * Each flow has counters of its own; the address's counter (an IPv6
 * client's /64) is shared by all.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "ngx_http_helpdesk_portal.h"


#define NGX_HTTP_HELPDESK_LOGIN_PER_ACCOUNT   "10"
#define NGX_HTTP_HELPDESK_OTHER_PER_ACCOUNT   "5"
#define NGX_HTTP_HELPDESK_TOTP_PER_ACCOUNT    "10"
#define NGX_HTTP_HELPDESK_ATTEMPTS_PER_IP     "50"
#define NGX_HTTP_HELPDESK_ATTEMPTS_WINDOW     "900"


static void ngx_http_helpdesk_portal_keyed(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);
static void ngx_http_helpdesk_portal_limited(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);


/* the account an address names, as the database finds it; then the limit */
void
ngx_http_helpdesk_portal_account(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *email)
{
    json_t  *a;

    a = json_pack("{s:s%}", "email", (char *) email->data, email->len);
    if (a == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_call(ctx, "account.key", a,
                                  ngx_http_helpdesk_portal_keyed);
    json_decref(a);
}


static void
ngx_http_helpdesk_portal_keyed(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    json_t        *body;
    ngx_str_t      scope, account;
    const char    *t, *a;
    json_error_t   err;

    body = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, &err);
    t = json_string_value(json_object_get(body, "tenant"));
    a = json_string_value(json_object_get(body, "account"));

    if (t == NULL || a == NULL) {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* limit() copies what it keeps: body may go afterwards */
    scope.data = (u_char *) t;
    scope.len = ngx_strlen(t);
    account.data = (u_char *) a;
    account.len = ngx_strlen(a);

    ngx_http_helpdesk_portal_limit(ctx, &scope, &account);
    json_decref(body);
}


/* counts an attempt for the account (in its scope) and for the address */
void
ngx_http_helpdesk_portal_limit(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *scope, ngx_str_t *account)
{
    u_char              *p, *k1, *k2;
    ngx_http_request_t  *r = ctx->req.r;
    u_char               digest[32];

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

    if (scope->len > 64) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_sha256(account->data, account->len, digest);

    k1 = ngx_pnalloc(r->pool, sizeof("hd:rl:a::") + scope->len + 64);
    k2 = ngx_pnalloc(r->pool, sizeof("hd:rl:ip:::/64") + 16
                              + ctx->req.ip.len);
    if (k1 == NULL || k2 == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memzero(&ctx->rcmd, sizeof(ngx_helpdesk_redis_cmd_t));
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "EVAL", 4);
    ngx_helpdesk_redis_arg(&ctx->rcmd, script, sizeof(script) - 1);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "2", 1);

    /* each flow counts apart: a sign-up is no failed login */
    p = ngx_sprintf(k1, "hd:rl:%c:%V:", (u_char) ('a' + ctx->op->flow), scope);
    p = ngx_hex_dump(p, digest, 32);
    ngx_helpdesk_redis_arg(&ctx->rcmd, k1, p - k1);
    ctx->limit_keys[0].data = k1;
    ctx->limit_keys[0].len = p - k1;

    /* an IPv6 client is its /64: one host holds a whole one */
    if (r->connection->sockaddr->sa_family == AF_INET6) {
        struct sockaddr_in6  *sin6;

        sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;
        p = ngx_sprintf(k2, "hd:rl:ip:");
        p = ngx_hex_dump(p, sin6->sin6_addr.s6_addr, 8);
        p = ngx_sprintf(p, "::/64");

    } else {
        p = ngx_sprintf(k2, "hd:rl:ip:%V", &ctx->req.ip);
    }

    ngx_helpdesk_redis_arg(&ctx->rcmd, k2, p - k2);
    ctx->limit_keys[1].data = k2;
    ctx->limit_keys[1].len = p - k2;

    switch (ctx->op->flow) {

    case NGX_HTTP_HELPDESK_FLOW_LOGIN:
        p = (u_char *) NGX_HTTP_HELPDESK_LOGIN_PER_ACCOUNT;
        break;

    case NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM:
        p = (u_char *) NGX_HTTP_HELPDESK_TOTP_PER_ACCOUNT;
        break;

    default:
        p = (u_char *) NGX_HTTP_HELPDESK_OTHER_PER_ACCOUNT;
        break;
    }

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
