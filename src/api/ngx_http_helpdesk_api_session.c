/*
 * The REST API called by the agent console: an agent's session (the
 * "hd_agent" cookie) instead of a Bearer key, so that the console's
 * settings pages use the same endpoints a script would.
 *
 * The session is looked up in Redis (as the console does), must be the
 * console's and alive, and every state-changing call must carry the CSRF
 * token of that session (X-CSRF-Token, equal to the hd_csrf cookie) and
 * no cross-site Origin.  PostgreSQL then receives, in place of a key's
 * hash, "session:<host>\n<base domain>\n<user id>": only this file builds
 * such a credential (a key's hash is 32 bytes of SHA-256 and cannot start
 * with it), and rest.api_auth() turns it into the agent's tenant and
 * scopes — everything for admins, tickets for agents.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>

#include "ngx_http_helpdesk_api.h"
#include "http/ngx_http_helpdesk_session.h"
#include "http/ngx_helpdesk_http.h"


static void ngx_http_helpdesk_api_session_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);


static ngx_str_t  ngx_http_helpdesk_api_agent_cookie = ngx_string("hd_agent");


/* NGX_OK: the request carries a console session to check */
ngx_int_t
ngx_http_helpdesk_api_session_found(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_session_cookie(ctx->req.r,
                                            &ngx_http_helpdesk_api_agent_cookie,
                                            &ctx->agent_token);
}


void
ngx_http_helpdesk_api_session_check(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char  *key;

    key = ngx_pnalloc(ctx->req.r->pool, NGX_HTTP_HELPDESK_SESSION_KEY);
    if (key == NULL) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_session_key(&ctx->agent_token, key);

    if (ngx_http_helpdesk_session_fetch(&ctx->req, &ctx->rcmd, key) != NGX_OK) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->rcmd.handler = ngx_http_helpdesk_api_session_got;
    ctx->rcmd.data = ctx;

    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static ngx_int_t
ngx_http_helpdesk_api_session_unauthorized(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_uint_t status, const char *slug, const char *detail)
{
    return ngx_helpdesk_http_problem(ctx->req.r, status, slug,
                                     status == NGX_HTTP_FORBIDDEN
                                     ? "Forbidden" : "Unauthorized",
                                     detail, NULL);
}


static void
ngx_http_helpdesk_api_session_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    u_char                       *p;
    time_t                        created;
    ngx_str_t                     csrf;
    ngx_http_request_t           *r;
    ngx_http_helpdesk_api_ctx_t  *ctx = cmd->data;
    u_char                        who[36 + 64];

    r = ctx->req.r;

    if (cmd->status != NGX_HELPDESK_REDIS_OK) {
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_http_helpdesk_api_unavailable(ctx, "redis",
                                              ngx_helpdesk_redis_retry_after()));
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_STRING
        || ngx_http_helpdesk_session_parse((u_char *) reply->str, reply->len,
                                           NGX_HTTP_HELPDESK_SESSION_CONSOLE,
                                           ctx->req.hlcf->session_lifetime,
                                           who, &created) != NGX_OK)
    {
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_http_helpdesk_api_session_unauthorized(ctx,
                NGX_HTTP_UNAUTHORIZED, "unauthorized",
                "the session has ended; log in to the console again"));
        return;
    }

    /* a change: the session's own CSRF token, from this site */
    if (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH|NGX_HTTP_DELETE))
    {
        csrf.data = who + 36;
        csrf.len = NGX_HTTP_HELPDESK_TOKEN_HEX;

        if (!ngx_http_helpdesk_session_csrf_ok(&ctx->req, &csrf)) {
            ngx_http_helpdesk_api_finalize(ctx,
                ngx_http_helpdesk_api_session_unauthorized(ctx,
                    NGX_HTTP_FORBIDDEN, "csrf-token-invalid",
                    "the page is out of date or not ours; reload it and "
                    "try again"));
            return;
        }
    }

    /* "session:<host>\n<base>\n<user>", as bytea text */
    {
        size_t   len;
        u_char  *raw, *hex;

        len = 8 + ctx->req.host.len + 1 + ctx->req.hlcf->base_domain.len
              + 1 + 36;

        raw = ngx_pnalloc(r->pool, len);
        hex = ngx_pnalloc(r->pool, 2 + 2 * len);
        if (raw == NULL || hex == NULL) {
            ngx_http_helpdesk_api_finalize(ctx,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = ngx_cpymem(raw, "session:", 8);
        p = ngx_cpymem(p, ctx->req.host.data, ctx->req.host.len);
        *p++ = '\n';
        p = ngx_cpymem(p, ctx->req.hlcf->base_domain.data,
                       ctx->req.hlcf->base_domain.len);
        *p++ = '\n';
        p = ngx_cpymem(p, who, 36);

        ctx->key_hash_param.data = hex;
        p = ngx_cpymem(hex, "\\x", 2);
        p = ngx_hex_dump(p, raw, len);
        ctx->key_hash_param.len = p - hex;
    }

    ctx->agent_checked = 1;

    if (ctx->op->file && !ctx->admitted) {
        /* a file's body is read only once its caller may send it */
        ngx_http_helpdesk_api_upload_check(ctx);
        return;
    }

    ngx_http_helpdesk_api_dispatch(ctx);
}
