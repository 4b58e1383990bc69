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
 * with it), and helpdesk.api_auth() turns it into the agent's tenant and
 * scopes — everything for admins, tickets for agents.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>

#include "ngx_http_helpdesk_api.h"
#include "app/ngx_http_helpdesk_portal.h"
#include "http/ngx_helpdesk_http.h"


static void ngx_http_helpdesk_api_session_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);


static ngx_str_t  ngx_http_helpdesk_api_agent_cookie = ngx_string("hd_agent");
static ngx_str_t  ngx_http_helpdesk_api_csrf_cookie = ngx_string("hd_csrf");


/* NGX_OK: the request carries a console session to check */
ngx_int_t
ngx_http_helpdesk_api_session_found(ngx_http_helpdesk_api_ctx_t *ctx)
{
    size_t               i;
    ngx_str_t            v;
    ngx_http_request_t  *r = ctx->req.r;

    ngx_str_null(&v);

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                          &ngx_http_helpdesk_api_agent_cookie,
                                          &v) == NGX_DECLINED
        || v.len != NGX_HTTP_HELPDESK_TOKEN_HEX)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < v.len; i++) {
        if (!((v.data[i] >= '0' && v.data[i] <= '9')
              || (v.data[i] >= 'a' && v.data[i] <= 'f')))
        {
            return NGX_DECLINED;
        }
    }

    ctx->agent_token = v;

    return NGX_OK;
}


void
ngx_http_helpdesk_api_session_check(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char              *key, *ttl;
    ngx_http_request_t  *r = ctx->req.r;

    key = ngx_pnalloc(r->pool, 8 + 64);
    ttl = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (key == NULL || ttl == NULL) {
        ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_session_key(&ctx->agent_token, key);

    ngx_memzero(&ctx->rcmd, sizeof(ngx_helpdesk_redis_cmd_t));
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "GETEX", 5);
    ngx_helpdesk_redis_arg(&ctx->rcmd, key, 8 + 64);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "EX", 2);
    ngx_helpdesk_redis_arg(&ctx->rcmd, ttl,
                           ngx_sprintf(ttl, "%T", ctx->req.hlcf->session_idle)
                           - ttl);
    ctx->rcmd.handler = ngx_http_helpdesk_api_session_got;
    ctx->rcmd.data = ctx;
    ctx->rcmd.log = r->connection->log;
    ctx->rcmd.owner = r->pool;

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
    u_char                       *p, *last;
    time_t                        created;
    ngx_str_t                     csrf;
    ngx_table_elt_t              *h;
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
                                           'c', ctx->req.hlcf->session_lifetime,
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
        ngx_str_null(&csrf);
        (void) ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                       &ngx_http_helpdesk_api_csrf_cookie,
                                       &csrf);

        h = ngx_helpdesk_http_header_in(r, "X-CSRF-Token",
                                        sizeof("X-CSRF-Token") - 1);

        if (h == NULL || h->value.len != 64 || csrf.len != 64
            || CRYPTO_memcmp(h->value.data, csrf.data, 64) != 0
            || CRYPTO_memcmp(h->value.data, who + 36, 64) != 0)
        {
            ngx_http_helpdesk_api_finalize(ctx,
                ngx_http_helpdesk_api_session_unauthorized(ctx,
                    NGX_HTTP_FORBIDDEN, "csrf-token-invalid",
                    "the page is out of date; reload it and try again"));
            return;
        }

        h = ngx_helpdesk_http_header_in(r, "Origin", sizeof("Origin") - 1);

        if (h) {
            p = ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                                 (u_char *) "://", 3 - 1);
            last = p ? ngx_strlchr(p + 3, h->value.data + h->value.len, ':')
                     : NULL;

            if (p && last == NULL) {
                last = h->value.data + h->value.len;
            }

            if (p == NULL
                || (size_t) (last - p - 3) != r->headers_in.server.len
                || ngx_strncasecmp(p + 3, r->headers_in.server.data,
                                   r->headers_in.server.len) != 0)
            {
                ngx_http_helpdesk_api_finalize(ctx,
                    ngx_http_helpdesk_api_session_unauthorized(ctx,
                        NGX_HTTP_FORBIDDEN, "csrf-token-invalid",
                        "a request from another site"));
                return;
            }
        }
    }

    /* "session:<host>\n<base>\n<user>", as bytea text */
    {
        size_t   len;
        u_char  *raw, *hex;

        len = 8 + r->headers_in.server.len + 1 + ctx->req.hlcf->base_domain.len
              + 1 + 36;

        raw = ngx_pnalloc(r->pool, len);
        hex = ngx_pnalloc(r->pool, 2 + 2 * len);
        if (raw == NULL || hex == NULL) {
            ngx_http_helpdesk_api_finalize(ctx,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = ngx_cpymem(raw, "session:", 8);
        p = ngx_cpymem(p, r->headers_in.server.data, r->headers_in.server.len);
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
    ngx_http_helpdesk_api_dispatch(ctx);
}
