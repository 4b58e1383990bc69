/*
 * The chat's HTTP side: "helpdesk_chat;" (visitors, on the provider's
 * host, normally "location /chat/") and "helpdesk_chat agent;" (agents,
 * under the console: "location /agent/_/chat/", so that the console's
 * session cookie, scoped to /agent/, reaches it).  Requests go through
 * the request core like every other surface's.
 *
 *   GET <location>v1/ws?tenant=<slug>   a visitor's WebSocket
 *   GET <location>v1/ws                 an agent's WebSocket
 *
 * and the fallback's (ngx_http_helpdesk_chat_sse.c) and the files'
 * (ngx_http_helpdesk_chat_files.c) routes.
 *
 * A visitor's upgrade, in order: the upgrade's own headers (400, or 426
 * for another version), the portal's session if one came (the visitor a
 * signed-in customer: ngx_http_helpdesk_chat_customer.c), the tenant
 * (api.chat_widget_public: 404 for none, 403 while its widget is off),
 * then the page's Origin, which must be one of the tenant's allowed
 * origins, or of its own portal, exactly (403 otherwise, and without
 * one).  An agent's: the headers, the console's session cookie (401
 * without a live one) on the console's own Origin (403), then
 * api.chat_agent() (403 for anyone but an active agent or admin of the
 * Host's tenant).  Then the connection becomes a WebSocket and a peer of
 * the conversations layer (ngx_http_helpdesk_ws*.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "http/ngx_http_helpdesk_request.h"
#include "http/ngx_http_helpdesk_session.h"
#include "ngx_http_helpdesk_chat_http.h"
#include "ngx_http_helpdesk_ws.h"


/* a server ping every 30 s by default; "ping=0" turns them off */
#define NGX_HTTP_HELPDESK_CHAT_PING   30000


static void ngx_http_helpdesk_chat_ws_visitor(
    ngx_http_helpdesk_chat_ctx_t *ctx);
static void ngx_http_helpdesk_chat_widget_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_chat_session_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_helpdesk_chat_agent_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_http_helpdesk_chat_arg(void *data, ngx_str_t *name,
    ngx_str_t *value, ngx_flag_t has_value);


static const char  ngx_http_helpdesk_chat_agent_sql[] =
    "SELECT tenant_id, slug, user_id, name, role"
    " FROM api.chat_agent($1, $2, $3::uuid)";

static ngx_str_t  ngx_http_helpdesk_chat_cookie = ngx_string("hd_agent");


/* helpdesk_chat [agent] [ping=<time>] */

char *
ngx_http_helpdesk_chat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf = conf;

    ngx_str_t                 *value, s;
    ngx_uint_t                 i;
    ngx_msec_t                 ping;
    ngx_http_core_loc_conf_t  *clcf;

    if (hlcf->chat) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named || clcf->regex || clcf->exact_match || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        return "must be in a prefix location ending with \"/\", "
               "such as \"location /chat/\"";
    }

    value = cf->args->elts;
    hlcf->chat = NGX_HTTP_HELPDESK_CHAT_VISITOR;
    hlcf->chat_ping = NGX_HTTP_HELPDESK_CHAT_PING;

    for (i = 1; i < cf->args->nelts; i++) {

        if (i == 1 && value[i].len == 5
            && ngx_strncmp(value[i].data, "agent", 5) == 0)
        {
            hlcf->chat = NGX_HTTP_HELPDESK_CHAT_AGENT;
            continue;
        }

        if (value[i].len > 5 && ngx_strncmp(value[i].data, "ping=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            ping = ngx_parse_time(&s, 0);
            if (ping == (ngx_msec_t) NGX_ERROR) {
                return "has an invalid \"ping\" value";
            }

            hlcf->chat_ping = ping;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    hlcf->chat_prefix = clcf->name;
    clcf->handler = ngx_http_helpdesk_chat_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_helpdesk_chat_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      path;
    ngx_http_helpdesk_chat_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_chat_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_helpdesk_req_init(r, &ctx->req) != NGX_OK) {
        return ctx->req.rc;
    }

    /*
     * An agent refused is a refusal of the console's (recorded); a page
     * refused by its Origin is no credential refused, and is not.
     */
    if (ctx->req.hlcf->chat == NGX_HTTP_HELPDESK_CHAT_AGENT) {
        ctx->req.surface = "console";
    }

    path.data = r->uri.data + ctx->req.hlcf->chat_prefix.len;
    path.len = r->uri.len - ctx->req.hlcf->chat_prefix.len;

    rc = ngx_http_helpdesk_chat_files_route(ctx, &path);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_helpdesk_chat_sse_route(ctx, &path);
    }

    if (rc == NGX_DECLINED) {
        if (path.len != 5 || ngx_strncmp(path.data, "v1/ws", 5) != 0) {
            return ngx_http_helpdesk_route_miss(r, 0);
        }

        rc = ngx_http_helpdesk_chat_ws(ctx);
    }

    ctx->req.sync = 0;

    if (rc != NGX_DONE && r->request_body == NULL && !r->discard_body) {
        /* answered at once: what the client sends is not the next request */
        (void) ngx_http_discard_request_body(r);
    }

    return rc;
}


/* GET v1/ws: the upgrade's own headers, then who asks */

ngx_int_t
ngx_http_helpdesk_chat_ws(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            v;
    const char          *detail;
    ngx_http_request_t  *r = ctx->req.r;

    if (r->method != NGX_HTTP_GET) {
        return ngx_http_helpdesk_route_miss(r, NGX_HTTP_GET);
    }

    rc = ngx_http_helpdesk_ws_check(r, &detail);

    if (rc == NGX_HTTP_UPGRADE_REQUIRED) {
        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
        ngx_str_set(&v, "13");

        if (ngx_helpdesk_http_header_out(r, "Sec-WebSocket-Version", &v)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_helpdesk_http_problem(r, rc, "websocket-version",
                                         "Upgrade Required", detail, NULL);
    }

    if (rc != NGX_OK) {
        return ngx_helpdesk_http_problem(r, rc, "websocket-upgrade",
                                         "Bad Request", detail, NULL);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->req.hlcf->chat == NGX_HTTP_HELPDESK_CHAT_VISITOR) {
        if (ngx_http_helpdesk_chat_tenant_arg(ctx) != NGX_OK) {
            return ctx->req.rc;
        }

        /* a WebSocket's visitor says who it is in its "hello" */
        ngx_str_null(&ctx->visitor);
        ngx_str_null(&ctx->last);

        r->main->count++;
        ngx_http_helpdesk_chat_ws_visitor(ctx);
        return NGX_DONE;
    }

    /* an agent: the console's session, on the console's own page */

    if (ngx_http_helpdesk_session_cookie(r, &ngx_http_helpdesk_chat_cookie, &v)
        != NGX_OK)
    {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_UNAUTHORIZED,
                                         "login-required", "Unauthorized",
                                         "log in to the console first", NULL);
    }

    ngx_http_helpdesk_session_key(&v, ctx->skey);

    if (!ngx_http_helpdesk_session_origin_ok(&ctx->req)) {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_FORBIDDEN,
                                         "origin-not-allowed", "Forbidden",
                                         "the chat of agents opens from the "
                                         "console's own pages", NULL);
    }

    ctx->origin = ngx_helpdesk_http_header_in(r, "Origin",
                                              sizeof("Origin") - 1)->value;

    if (!ngx_helpdesk_redis_configured()) {
        return ngx_http_helpdesk_req_unavailable(r, "redis", 5);
    }

    r->main->count++;
    ngx_http_helpdesk_chat_agent_session(ctx);
    return NGX_DONE;
}


/* ?tenant=<slug>: NGX_OK, or NGX_DECLINED with the answer in req.rc */

ngx_int_t
ngx_http_helpdesk_chat_tenant_arg(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    size_t               i;
    u_char               c;
    ngx_http_request_t  *r = ctx->req.r;

    if (ngx_http_helpdesk_route_args(r, ngx_http_helpdesk_chat_arg, ctx)
        != NGX_OK)
    {
        ctx->req.rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (ctx->slug.len == 0) {
        ctx->req.rc = ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                                         "tenant-required", "Bad Request",
                                         "the \"tenant\" parameter names the "
                                         "chat's helpdesk", NULL);
        return NGX_DECLINED;
    }

    for (i = 0; i < ctx->slug.len; i++) {
        c = ctx->slug.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
            || ctx->slug.len > 63)
        {
            ctx->req.rc = ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND,
                                             "unknown-tenant", "Not Found",
                                             "there is no chat for this "
                                             "tenant", NULL);
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_chat_arg(void *data, ngx_str_t *name, ngx_str_t *value,
    ngx_flag_t has_value)
{
    ngx_http_helpdesk_chat_ctx_t  *ctx = data;

    /* the event stream's: "stream" (the visitor's token), "after" */

    if (name->len == 6 && ngx_strncmp(name->data, "tenant", 6) == 0) {
        ctx->slug = *value;

    } else if ((name->len == 6 && ngx_strncmp(name->data, "stream", 6) == 0)
               || (name->len == 7
                   && ngx_strncmp(name->data, "visitor", 7) == 0))
    {
        ctx->visitor = *value;

    } else if ((name->len == 5 && ngx_strncmp(name->data, "after", 5) == 0)
               || (name->len == 4 && ngx_strncmp(name->data, "last", 4) == 0))
    {
        ctx->last = *value;

    } else if (name->len == 3 && ngx_strncmp(name->data, "exp", 3) == 0) {
        /* a file's link: "exp", "sig" */
        ctx->exp = *value;

    } else if (name->len == 3 && ngx_strncmp(name->data, "sig", 3) == 0) {
        ctx->sig = *value;
    }

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_ws_visitor(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    ngx_http_helpdesk_chat_lookup(ctx, ngx_http_helpdesk_chat_widget_done);
}


/*
 * The widget's answer, checked: NGX_OK with ctx->tenant and the rest set,
 * or NGX_DECLINED with the answer sent and its code in req.rc.  The page's
 * Origin must be one of the tenant's, byte for byte (they are stored as
 * browsers send them).
 */

ngx_int_t
ngx_http_helpdesk_chat_widget(ngx_http_helpdesk_chat_ctx_t *ctx,
    PGresult *res)
{
    size_t               i;
    json_t              *origins, *o;
    ngx_flag_t           allowed;
    json_error_t         err;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r = ctx->req.r;

    if (ngx_http_helpdesk_chat_tuples(ctx, res) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (PQntuples(res) != 1 || PQnfields(res) != 6) {
        ctx->req.rc = ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND,
                                         "unknown-tenant", "Not Found",
                                         "there is no chat for this tenant",
                                         NULL);
        return NGX_DECLINED;
    }

    if (PQgetvalue(res, 0, 5)[0] != 't') {
        ctx->req.rc = ngx_helpdesk_http_problem(r, NGX_HTTP_FORBIDDEN,
                                         "chat-disabled", "Forbidden",
                                         "this tenant's chat is turned off",
                                         NULL);
        return NGX_DECLINED;
    }

    h = ngx_helpdesk_http_header_in(r, "Origin", sizeof("Origin") - 1);
    allowed = 0;

    origins = json_loadb(PQgetvalue(res, 0, 3), PQgetlength(res, 0, 3), 0,
                         &err);

    if (h) {
        json_array_foreach(origins, i, o) {
            if (json_is_string(o)
                && json_string_length(o) == h->value.len
                && ngx_strncmp(json_string_value(o), h->value.data,
                               h->value.len) == 0)
            {
                allowed = 1;
                break;
            }
        }
    }

    json_decref(origins);

    if (!allowed) {
        ctx->req.rc = ngx_helpdesk_http_problem(r, NGX_HTTP_FORBIDDEN,
                                         "origin-not-allowed", "Forbidden",
                                         "this page may not open the "
                                         "tenant's chat", NULL);
        return NGX_DECLINED;
    }

    if (PQgetlength(res, 0, 0) != 36) {
        ctx->req.rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    ngx_memcpy(ctx->tenant, PQgetvalue(res, 0, 0), 36);
    ctx->origin = h->value;
    ctx->max_message = ngx_atoi((u_char *) PQgetvalue(res, 0, 4),
                                PQgetlength(res, 0, 4));

    ctx->settings.len = PQgetlength(res, 0, 2);
    ctx->settings.data = ngx_pnalloc(r->pool, ctx->settings.len);
    ctx->slug.len = PQgetlength(res, 0, 1);
    ctx->slug.data = ngx_pnalloc(r->pool, ctx->slug.len);

    if (ctx->settings.data == NULL || ctx->slug.data == NULL
        || ctx->max_message == (size_t) NGX_ERROR)
    {
        ctx->req.rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    ngx_memcpy(ctx->settings.data, PQgetvalue(res, 0, 2), ctx->settings.len);
    ngx_memcpy(ctx->slug.data, PQgetvalue(res, 0, 1), ctx->slug.len);

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_widget_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_http_helpdesk_chat_ctx_t   *ctx = q->data;
    ngx_http_helpdesk_chat_peer_t  *peer;

    if (ngx_http_helpdesk_chat_widget(ctx, res) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, ctx->req.rc);
        return;
    }

    peer = ngx_http_helpdesk_chat_peer(ctx, NGX_HTTP_HELPDESK_CHAT_VISITOR);
    if (peer == NULL) {
        return;
    }

    ngx_http_helpdesk_ws_accept(ctx->req.r, peer);
}


/*
 * The peer of an accepted request, with what it keeps of the request
 * (ngx_http_helpdesk_chat_peer_strings()), or NULL once the request is
 * finalized with 500.
 */

ngx_http_helpdesk_chat_peer_t *
ngx_http_helpdesk_chat_peer(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_uint_t role)
{
    ngx_http_helpdesk_chat_peer_t  *peer;

    peer = ngx_http_helpdesk_ws_create(ctx->req.r, ctx->req.hlcf->chat_ping);

    if (peer == NULL || ngx_http_helpdesk_chat_peer_strings(ctx, peer)
                        != NGX_OK)
    {
        if (peer) {
            ngx_http_helpdesk_ws_abandon(peer);
        }

        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NULL;
    }

    peer->role = role;

    return peer;
}


/*
 * NGX_OK when the request's statement answered rows; else NGX_DECLINED
 * with the request's answer in ctx->req.rc: 503 without PostgreSQL, or
 * the problem the statement raised.
 */

ngx_int_t
ngx_http_helpdesk_chat_tuples(ngx_http_helpdesk_chat_ctx_t *ctx,
    PGresult *res)
{
    ngx_http_request_t  *r = ctx->req.r;

    if (res == NULL) {
        ctx->req.rc = ngx_http_helpdesk_req_unavailable(r, "postgresql",
                                                 ngx_helpdesk_pg_retry_after());
        return NGX_DECLINED;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ctx->req.rc = ngx_helpdesk_http_sql_problem(r, res, NULL);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* what the conversations layer keeps of the request, in the peer's pool */

ngx_int_t
ngx_http_helpdesk_chat_peer_strings(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_http_helpdesk_chat_peer_t *peer)
{
    ngx_str_t           *s, *d, v;
    ngx_uint_t           i;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r = ctx->req.r;
    ngx_str_t           *src[7], *dst[7];

    ngx_memcpy(peer->tenant, ctx->tenant, 36);
    peer->max_message = ctx->max_message;

    src[0] = &ctx->slug;       dst[0] = &peer->slug;
    src[1] = &ctx->settings;   dst[1] = &peer->settings;
    src[2] = &ctx->origin;     dst[2] = &peer->origin;
    src[3] = &ctx->req.ip;     dst[3] = &peer->ip;
    src[4] = &ctx->agent_name; dst[4] = &peer->agent_name;
    src[5] = &ctx->visitor;    dst[5] = &peer->visitor;
    src[6] = &ctx->last;       dst[6] = &peer->last;

    for (i = 0; i < 7; i++) {
        s = src[i];
        d = dst[i];

        if (s->len == 0) {
            continue;
        }

        d->data = ngx_pnalloc(peer->pool, s->len);
        if (d->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(d->data, s->data, s->len);
        d->len = s->len;
    }

    /* the browser's own words, cut to what the record keeps */
    if (r->headers_in.user_agent) {
        v = r->headers_in.user_agent->value;
        v.len = ngx_min(v.len, 512);
        peer->user_agent.data = ngx_pstrdup(peer->pool, &v);
        peer->user_agent.len = peer->user_agent.data ? v.len : 0;
    }

    h = ngx_helpdesk_http_header_in(r, "Accept-Language",
                                    sizeof("Accept-Language") - 1);
    if (h) {
        v = h->value;
        v.len = ngx_min(v.len, 35);
        peer->language.data = ngx_pstrdup(peer->pool, &v);
        peer->language.len = peer->language.data ? v.len : 0;
    }

    if (ctx->user.len == 36) {
        ngx_memcpy(peer->user, ctx->user.data, 36);

    } else if (ngx_http_helpdesk_chat_link_json(ctx, peer->pool,
                                                &peer->portal)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a visitor signed in to the tenant's portal (chat_customer.c) */
    ngx_memcpy(peer->customer, ctx->customer, 36);

    /* where its files are: "<location>v1/file/" */
    v = ctx->req.hlcf->chat_prefix;

    peer->files.data = ngx_pnalloc(peer->pool, v.len + sizeof("v1/file/"));
    if (peer->files.data == NULL) {
        return NGX_ERROR;
    }

    peer->files.len = ngx_sprintf(peer->files.data, "%Vv1/file/", &v)
                      - peer->files.data;

    return NGX_OK;
}


/*
 * An agent: the console's session in Redis, then api.chat_agent(), whose
 * answer goes to ctx->agent_next (the WebSocket's when unset).
 */

void
ngx_http_helpdesk_chat_agent_session(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    if (ngx_http_helpdesk_session_fetch(&ctx->req, &ctx->rcmd, ctx->skey)
        != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->rcmd.handler = ngx_http_helpdesk_chat_session_got;
    ctx->rcmd.data = ctx;

    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static void
ngx_http_helpdesk_chat_session_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    time_t                         created;
    ngx_str_t                     *base;
    ngx_http_request_t            *r;
    ngx_helpdesk_pg_query_t       *q;
    ngx_http_helpdesk_chat_ctx_t  *ctx = cmd->data;

    r = ctx->req.r;

    if (cmd->status != NGX_HELPDESK_REDIS_OK || reply == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_req_unavailable(r, "redis",
                ngx_helpdesk_redis_retry_after()));
        return;
    }

    ctx->user.data = ngx_pnalloc(r->pool, 36 + 64);
    if (ctx->user.data == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (reply->type != REDIS_REPLY_STRING
        || ngx_http_helpdesk_session_parse((u_char *) reply->str, reply->len,
                                           NGX_HTTP_HELPDESK_SESSION_CONSOLE,
                                           ctx->req.hlcf->session_lifetime,
                                           ctx->user.data, &created)
           != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_UNAUTHORIZED,
                                      "login-required", "Unauthorized",
                                      "log in to the console first", NULL));
        return;
    }

    ctx->user.len = 36;

    /* the console's tenants are <slug>.<its own name> when it has one */
    base = ctx->req.hlcf->console_host.len ? &ctx->req.hlcf->console_host
                                           : &ctx->req.hlcf->base_domain;

    q = &ctx->query;
    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->sql = ngx_http_helpdesk_chat_agent_sql;
    q->handler = ctx->agent_next ? ctx->agent_next
                                 : ngx_http_helpdesk_chat_agent_done;
    q->data = ctx;
    q->log = r->connection->log;
    q->owner = r->pool;

    if (ngx_helpdesk_pg_param(q, r->pool, &ctx->req.host) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, base) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &ctx->user) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(q);
}


/*
 * api.chat_agent()'s answer: NGX_OK with ctx->tenant, user, slug and
 * agent_name set (the strings in the result: copy what outlives it), or
 * NGX_DECLINED with the answer in req.rc.
 */

ngx_int_t
ngx_http_helpdesk_chat_agent_found(ngx_http_helpdesk_chat_ctx_t *ctx,
    PGresult *res)
{
    if (ngx_http_helpdesk_chat_tuples(ctx, res) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (PQntuples(res) != 1 || PQnfields(res) != 5
        || PQgetlength(res, 0, 0) != 36 || PQgetlength(res, 0, 2) != 36)
    {
        ctx->req.rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    ngx_memcpy(ctx->tenant, PQgetvalue(res, 0, 0), 36);
    ngx_memcpy(ctx->user.data, PQgetvalue(res, 0, 2), 36);

    ctx->slug.data = (u_char *) PQgetvalue(res, 0, 1);
    ctx->slug.len = PQgetlength(res, 0, 1);
    ctx->agent_name.data = (u_char *) PQgetvalue(res, 0, 3);
    ctx->agent_name.len = PQgetlength(res, 0, 3);
    ctx->max_message = 65536;

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_agent_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_http_request_t             *r;
    ngx_http_helpdesk_chat_ctx_t   *ctx = q->data;
    ngx_http_helpdesk_chat_peer_t  *peer;

    r = ctx->req.r;

    if (ngx_http_helpdesk_chat_agent_found(ctx, res) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, ctx->req.rc);
        return;
    }

    peer = ngx_http_helpdesk_chat_peer(ctx, NGX_HTTP_HELPDESK_CHAT_AGENT);
    if (peer == NULL) {
        return;
    }

    peer->admin = PQgetlength(res, 0, 4) == 5
                  && ngx_strncmp(PQgetvalue(res, 0, 4), "admin", 5) == 0;

    ngx_http_helpdesk_ws_accept(r, peer);
}
