/*
 * A visitor's handshake (the WebSocket's, the event stream's, a POST's):
 * the tenant's widget, and before it the portal's session, when the
 * request carries one.
 *
 * Where the chat is served on the tenant's portal's own name, the
 * browser sends the portal's session cookie with the handshake (it is
 * host-only, so nowhere else).  A live portal session (kind 'p') gives
 * the customer's user id to the peer (peer->customer); the conversations
 * layer links the visitor to that customer if it is an active customer
 * of this tenant (api.chat_visitor()), and treats it as anonymous
 * otherwise.  A missing, expired or unknown session, a console session,
 * or Redis unavailable: an anonymous visitor, never an error.
 *
 * Then api.chat_widget_public(slug, link): link says how this location
 * links to portals, so that the tenant's own portal is an allowed Origin.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_http.h"


static void ngx_http_helpdesk_chat_customer_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_helpdesk_chat_widget_query(
    ngx_http_helpdesk_chat_ctx_t *ctx);


static const char  ngx_http_helpdesk_chat_widget_sql[] =
    "SELECT tenant_id, slug, settings, array_to_json(allowed_origins),"
    " max_message_bytes, enabled"
    " FROM api.chat_widget_public($1, $2::jsonb)";

static ngx_str_t  ngx_http_helpdesk_chat_portal_cookie =
    ngx_string("hd_session");


/* the tenant's widget (and first the portal's session, if one came) */

void
ngx_http_helpdesk_chat_lookup(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_helpdesk_pg_handler_pt handler)
{
    ngx_str_t            token;
    ngx_http_request_t  *r = ctx->req.r;

    ctx->lookup_next = handler;

    if (ctx->req.hlcf->chat != NGX_HTTP_HELPDESK_CHAT_VISITOR
        || !ngx_helpdesk_redis_configured()
        || ngx_http_helpdesk_session_cookie(r,
                                      &ngx_http_helpdesk_chat_portal_cookie,
                                      &token)
           != NGX_OK)
    {
        ngx_http_helpdesk_chat_widget_query(ctx);
        return;
    }

    ngx_http_helpdesk_session_key(&token, ctx->skey);

    if (ngx_http_helpdesk_session_fetch(&ctx->req, &ctx->rcmd, ctx->skey)
        != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->rcmd.handler = ngx_http_helpdesk_chat_customer_got;
    ctx->rcmd.data = ctx;

    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static void
ngx_http_helpdesk_chat_customer_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    time_t                         created;
    u_char                         user[36 + 64];
    ngx_http_helpdesk_chat_ctx_t  *ctx = cmd->data;

    if (cmd->status == NGX_HELPDESK_REDIS_OK && reply != NULL
        && reply->type == REDIS_REPLY_STRING
        && ngx_http_helpdesk_session_parse((u_char *) reply->str, reply->len,
                                           NGX_HTTP_HELPDESK_SESSION_PORTAL,
                                           ctx->req.hlcf->session_lifetime,
                                           user, &created)
           == NGX_OK)
    {
        ngx_memcpy(ctx->customer, user, 36);
    }

    ngx_http_helpdesk_chat_widget_query(ctx);
}


static void
ngx_http_helpdesk_chat_widget_query(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    ngx_str_t                 link;
    ngx_helpdesk_pg_query_t  *q = &ctx->query;
    ngx_http_request_t       *r = ctx->req.r;

    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->sql = ngx_http_helpdesk_chat_widget_sql;
    q->handler = ctx->lookup_next;
    q->data = ctx;
    q->log = r->connection->log;
    q->owner = r->pool;

    if (ngx_http_helpdesk_chat_link_json(ctx, r->pool, &link) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &ctx->slug) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &link) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(q);
}


/*
 * How this location links to the tenant's portal, as the portal's links
 * are made (JSON: scheme, base, port, domains), in pool.
 */

ngx_int_t
ngx_http_helpdesk_chat_link_json(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_pool_t *pool, ngx_str_t *out)
{
    char       *text;
    json_t     *args;
    ngx_str_t   path;

    ngx_str_set(&path, "/");

    args = json_object();

    if (args == NULL
        || ngx_http_helpdesk_req_link(&ctx->req, args, &path, 0) != NGX_OK)
    {
        json_decref(args);
        return NGX_ERROR;
    }

    text = json_dumps(json_object_get(args, "link"), JSON_COMPACT);
    json_decref(args);

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
