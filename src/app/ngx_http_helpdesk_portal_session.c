/*
 * The apps' sessions: reading the request's session, making one at login,
 * ending one or all of an account's.  The model (tokens, what Redis keeps,
 * CSRF and Origin) is the request core's: http/ngx_http_helpdesk_session.c.
 * Logging in always makes a new token (and deletes the old one); logging
 * out deletes it.  The flows that make or end sessions (login, sign-up,
 * passwords) are in ngx_http_helpdesk_portal_flows.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "ngx_http_helpdesk_portal.h"


static void ngx_http_helpdesk_portal_session_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_helpdesk_portal_session_set(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_helpdesk_portal_session_deleted(
    ngx_helpdesk_redis_cmd_t *cmd, redisReply *reply);
static void ngx_http_helpdesk_portal_sessions_ended(
    ngx_helpdesk_redis_cmd_t *cmd, redisReply *reply);


/*
 * KEYS: session, the account's set [, the login's attempt counters:
 * account, address]; ARGV: value, idle, lifetime.  A successful login
 * takes its attempt back: only failures count against the limits.
 */
static const char  ngx_http_helpdesk_session_set[] =
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) "
    "redis.call('SADD', KEYS[2], KEYS[1]) "
    "redis.call('EXPIRE', KEYS[2], ARGV[3]) "
    "if KEYS[3] then redis.call('DEL', KEYS[3]) end "
    "if KEYS[4] and redis.call('DECR', KEYS[4]) <= 0 then "
    "  redis.call('DEL', KEYS[4]) end "
    "return 1";

/* KEYS: the account's set; ARGV: the session to keep, or "" */
static const char  ngx_http_helpdesk_sessions_end[] =
    "local n = 0 "
    "for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
    "  if k ~= ARGV[1] then redis.call('DEL', k) n = n + 1 end "
    "end "
    "redis.call('DEL', KEYS[1]) "
    "if ARGV[1] ~= '' then redis.call('SADD', KEYS[1], ARGV[1]) end "
    "return n";

static ngx_str_t  ngx_http_helpdesk_portal_csrf_cookie = ngx_string("hd_csrf");



ngx_int_t
ngx_http_helpdesk_portal_read_cookies(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_str_t            v;
    ngx_http_request_t  *r = ctx->req.r;

    if (ngx_http_helpdesk_session_cookie(r, (ngx_str_t *) &ctx->app->cookie,
                                         &v)
        == NGX_OK)
    {
        ctx->token = v;
        ngx_http_helpdesk_session_key(&v, ctx->skey);
        ctx->session_key.data = ctx->skey;
        ctx->session_key.len = sizeof(ctx->skey);
    }

    if (ngx_http_helpdesk_session_cookie(r,
                                         &ngx_http_helpdesk_portal_csrf_cookie,
                                         &ctx->csrf_cookie)
        == NGX_OK)
    {
        return NGX_OK;
    }

    /* a first visit: a token for this browser, for a year */
    if (ngx_http_helpdesk_session_random(r->pool, &ctx->csrf_cookie) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_portal_cookie(ctx, "hd_csrf", &ctx->csrf_cookie,
                                           365 * 86400, 0);
}


/* the session, if any: then() runs with ctx->user set or empty */

void
ngx_http_helpdesk_portal_load_session(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_http_helpdesk_portal_then_pt then)
{

    ctx->then = then;

    if (ctx->session_key.len == 0 || !ngx_helpdesk_redis_configured()) {
        then(ctx);
        return;
    }

    if (ngx_http_helpdesk_session_fetch(&ctx->req, &ctx->rcmd, ctx->skey)
        != NGX_OK)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->rcmd.handler = ngx_http_helpdesk_portal_session_got;
    ctx->rcmd.data = ctx;

    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static void
ngx_http_helpdesk_portal_session_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_helpdesk_portal_ctx_t  *ctx = cmd->data;
    ngx_http_helpdesk_portal_then_pt then = ctx->then;

    /* Redis away: nobody is logged in, and the page says so */
    if (cmd->status != NGX_HELPDESK_REDIS_OK || reply == NULL
        || reply->type != REDIS_REPLY_STRING)
    {
        then(ctx);
        return;
    }

    ctx->user.data = ngx_pnalloc(ctx->req.r->pool, 36 + 64);
    if (ctx->user.data == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_helpdesk_session_parse((u_char *) reply->str, reply->len,
                                        ctx->app->kind,
                                        ctx->req.hlcf->session_lifetime,
                                        ctx->user.data, &ctx->created)
        != NGX_OK)
    {
        /* not this app's, or past its absolute lifetime: nobody */
        ngx_str_null(&ctx->user);
        then(ctx);
        return;
    }

    ctx->user.len = 36;
    ctx->session_csrf.data = ctx->user.data + 36;
    ctx->session_csrf.len = 64;

    then(ctx);
}


ngx_int_t
ngx_http_helpdesk_portal_csrf_ok(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    return ngx_http_helpdesk_session_csrf_ok(&ctx->req,
                                      ctx->user.len ? &ctx->session_csrf
                                                    : NULL);
}


/* a new session for ctx->login_user, replacing the request's own */
void
ngx_http_helpdesk_portal_session_new(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    u_char              *p, *value, *ttl, *ukey, *life;
    ngx_str_t            token, csrf;
    ngx_http_request_t  *r = ctx->req.r;
    u_char               digest[32];

    if (!ngx_helpdesk_redis_configured()) {
        ngx_http_helpdesk_portal_redis_failed(ctx);
        return;
    }

    if (ngx_http_helpdesk_session_random(r->pool, &token) != NGX_OK
        || ngx_http_helpdesk_session_random(r->pool, &csrf) != NGX_OK)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    value = ngx_pnalloc(r->pool, 36 + 1 + 64 + 1 + NGX_TIME_T_LEN + 2);
    ttl = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    p = ngx_pnalloc(r->pool, 8 + 64);

    if (value == NULL || ttl == NULL || p == NULL || ctx->login_user.len != 36)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the old session, if any, is deleted once the new one is made */
    ctx->session_csrf = ctx->session_key;

    ngx_helpdesk_sha256(token.data, token.len, digest);
    ctx->session_key.data = p;
    p = ngx_cpymem(p, "hd:sess:", 8);
    p = ngx_hex_dump(p, digest, 32);
    ctx->session_key.len = p - ctx->session_key.data;

    ukey = ngx_pnalloc(r->pool, sizeof("hd:usess:") - 1 + 36);
    life = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (ukey == NULL || life == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the session, and its place among the account's sessions */
    ngx_memzero(&ctx->rcmd, sizeof(ngx_helpdesk_redis_cmd_t));
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "EVAL", 4);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) ngx_http_helpdesk_session_set,
                           sizeof(ngx_http_helpdesk_session_set) - 1);
    /* a login takes its attempt back; a sign-up's stays counted */
    if (ctx->op->flow != NGX_HTTP_HELPDESK_FLOW_LOGIN) {
        ngx_str_null(&ctx->limit_keys[1]);
    }

    ngx_helpdesk_redis_arg(&ctx->rcmd,
                           (u_char *) (ctx->limit_keys[1].len ? "4" : "2"), 1);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->session_key.data,
                           ctx->session_key.len);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ukey,
                           ngx_sprintf(ukey, "hd:usess:%V", &ctx->login_user)
                           - ukey);

    if (ctx->limit_keys[1].len) {
        ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->limit_keys[0].data,
                               ctx->limit_keys[0].len);
        ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->limit_keys[1].data,
                               ctx->limit_keys[1].len);
    }

    ngx_helpdesk_redis_arg(&ctx->rcmd, value,
                           ngx_sprintf(value, "%V %V %T %c", &ctx->login_user,
                                       &csrf, ngx_time(), ctx->app->kind)
                           - value);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ttl,
                           ngx_sprintf(ttl, "%T", ctx->req.hlcf->session_idle)
                           - ttl);
    ngx_helpdesk_redis_arg(&ctx->rcmd, life,
                           ngx_sprintf(life, "%T", ctx->req.hlcf->session_lifetime)
                           - life);
    ctx->rcmd.handler = ngx_http_helpdesk_portal_session_set;
    ctx->rcmd.data = ctx;
    ctx->rcmd.log = r->connection->log;
    ctx->rcmd.owner = r->pool;

    if (ngx_http_helpdesk_portal_cookie(ctx, (char *) ctx->app->cookie.data,
                                        &token, ctx->req.hlcf->session_lifetime, 1)
           != NGX_OK
        || ngx_http_helpdesk_portal_cookie(ctx, "hd_csrf", &csrf,
                                           365 * 86400, 0) != NGX_OK)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->csrf_cookie = csrf;
    ctx->user = ctx->login_user;

    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static void
ngx_http_helpdesk_portal_session_set(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    json_t                          *a;
    ngx_http_helpdesk_portal_ctx_t  *ctx = cmd->data;

    if (cmd->status != NGX_HELPDESK_REDIS_OK || reply == NULL
        || reply->type == REDIS_REPLY_ERROR)
    {
        ngx_http_helpdesk_portal_redis_failed(ctx);
        return;
    }

    /* the session it replaces goes first */
    if (ctx->session_csrf.len) {
        ngx_memzero(&ctx->rcmd, sizeof(ngx_helpdesk_redis_cmd_t));
        ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "DEL", 3);
        ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->session_csrf.data,
                               ctx->session_csrf.len);
        ctx->rcmd.handler = ngx_http_helpdesk_portal_session_set;
        ctx->rcmd.data = ctx;
        ctx->rcmd.log = ctx->req.r->connection->log;
        ctx->rcmd.owner = ctx->req.r->pool;
        ctx->session_csrf.len = 0;

        ngx_helpdesk_redis_run(&ctx->rcmd);
        return;
    }

    if (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_LOGIN) {
        a = json_pack("{s:b, s:s%}", "ok", 1, "user_id",
                      (char *) ctx->login_user.data, ctx->login_user.len);
        if (a == NULL) {
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_helpdesk_portal_set_args(ctx, a);
        ctx->step = NGX_HTTP_HELPDESK_STEP_LOGGED_IN;

        ngx_http_helpdesk_portal_call(ctx, "login.result", ctx->args,
                                      ngx_http_helpdesk_portal_step_pg);
        return;
    }

    /* signed up: the page reloads its state with boot */
    a = json_object();
    if (a == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_set_args(ctx, a);

    ngx_http_helpdesk_portal_call(ctx, "boot", ctx->args,
                                  ngx_http_helpdesk_portal_reply);
}


void
ngx_http_helpdesk_portal_session_del(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_str_t  empty = ngx_string("");

    if (ngx_http_helpdesk_portal_cookie(ctx, (char *) ctx->app->cookie.data,
                                        &empty, 0, 1)
        != NGX_OK)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->session_key.len == 0 || !ngx_helpdesk_redis_configured()) {
        ngx_http_helpdesk_portal_finalize(ctx,
            ngx_helpdesk_http_send(ctx->req.r, NGX_HTTP_NO_CONTENT,
                                   "application/json", NULL, 0));
        return;
    }

    ngx_memzero(&ctx->rcmd, sizeof(ngx_helpdesk_redis_cmd_t));
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "DEL", 3);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ctx->session_key.data,
                           ctx->session_key.len);
    ctx->rcmd.handler = ngx_http_helpdesk_portal_session_deleted;
    ctx->rcmd.data = ctx;
    ctx->rcmd.log = ctx->req.r->connection->log;
    ctx->rcmd.owner = ctx->req.r->pool;

    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static void
ngx_http_helpdesk_portal_session_deleted(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_helpdesk_portal_ctx_t  *ctx = cmd->data;

    if (ctx == NULL) {
        return;
    }

    if (cmd->status != NGX_HELPDESK_REDIS_OK) {
        ngx_http_helpdesk_portal_redis_failed(ctx);
        return;
    }

    /* a login refused at its last step: its session is gone, now the 401 */
    if (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_LOGIN) {
        ngx_http_helpdesk_portal_login_refused(ctx);
        return;
    }

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_send(ctx->req.r, NGX_HTTP_NO_CONTENT,
                               "application/json", NULL, 0));
}


/*
 * Ends every session of an account but "keep" (the request's own, or none
 * after a reset), then answers: 204 for a password change or a second
 * factor turned on, 200 for a reset.
 */
static void
ngx_http_helpdesk_portal_sessions_ended(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_helpdesk_portal_ctx_t  *ctx = cmd->data;

    if (cmd->status != NGX_HELPDESK_REDIS_OK || reply == NULL
        || reply->type == REDIS_REPLY_ERROR)
    {
        ngx_http_helpdesk_portal_redis_failed(ctx);
        return;
    }

    if (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_PASSWORD
        || ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM)
    {
        ngx_http_helpdesk_portal_finalize(ctx,
            ngx_helpdesk_http_send(ctx->req.r, NGX_HTTP_NO_CONTENT,
                                   "application/json", NULL, 0));
        return;
    }

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_send(ctx->req.r, NGX_HTTP_OK, "application/json",
                               (u_char *) "{}", 2));
}


void
ngx_http_helpdesk_portal_sessions_end(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *user, ngx_str_t *keep)
{
    u_char              *ukey;
    ngx_http_request_t  *r = ctx->req.r;

    if (!ngx_helpdesk_redis_configured()) {
        ngx_http_helpdesk_portal_redis_failed(ctx);
        return;
    }

    ukey = ngx_pnalloc(r->pool, sizeof("hd:usess:") - 1 + user->len);
    if (ukey == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memzero(&ctx->rcmd, sizeof(ngx_helpdesk_redis_cmd_t));
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "EVAL", 4);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) ngx_http_helpdesk_sessions_end,
                           sizeof(ngx_http_helpdesk_sessions_end) - 1);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "1", 1);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ukey,
                           ngx_sprintf(ukey, "hd:usess:%V", user) - ukey);
    ngx_helpdesk_redis_arg(&ctx->rcmd, keep ? keep->data : (u_char *) "",
                           keep ? keep->len : 0);
    ctx->rcmd.handler = ngx_http_helpdesk_portal_sessions_ended;
    ctx->rcmd.data = ctx;
    ctx->rcmd.log = r->connection->log;
    ctx->rcmd.owner = r->pool;

    ngx_helpdesk_redis_run(&ctx->rcmd);
}
