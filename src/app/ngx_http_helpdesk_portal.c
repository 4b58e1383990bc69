/*
 * The customer portal, served under a location with "helpdesk_portal"
 * (normally "/") on every tenant's hostname.  A request goes like this:
 *
 *   1. the Host names the tenant (PostgreSQL decides, in the same
 *      statement as the work); under TLS, a Host other than the name the
 *      client asked for in the handshake (SNI) is refused with 421;
 *   2. /_/assets/... are the embedded, versioned files: no session, no
 *      database, strong ETags, cached for a year;
 *   3. the session cookie is looked up in Redis (ngx_http_helpdesk_portal_
 *      session.c), and a state-changing call must carry the CSRF token;
 *   4. /_/api/... are the JSON calls of the page: most are one
 *      portal.portal_call(); logging in, signing up and passwords are
 *      flows of several steps (session file);
 *   5. any other path is a page: the same HTML for all, with the tenant's
 *      data and the language filled in, or a plain 404 page when the Host
 *      is no portal (ngx_http_helpdesk_portal_pages.c, with the files).
 *
 * Every answer carries the security headers (CSP, frame and referrer
 * policies, HSTS on TLS).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_json.h"
#include "ngx_http_helpdesk_portal.h"


static ngx_int_t ngx_http_helpdesk_portal_route(
    ngx_http_helpdesk_portal_ctx_t *ctx, u_char *p, u_char *last);
static ngx_int_t ngx_http_helpdesk_portal_headers(
    ngx_http_helpdesk_portal_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_console_elsewhere(
    ngx_http_helpdesk_portal_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_app_start(
    ngx_http_helpdesk_portal_ctx_t *ctx);
static off_t ngx_http_helpdesk_portal_body_limit(
    ngx_http_helpdesk_portal_ctx_t *ctx);
static void ngx_http_helpdesk_portal_admitted(
    ngx_http_helpdesk_portal_ctx_t *ctx);
static void ngx_http_helpdesk_portal_api(ngx_http_helpdesk_portal_ctx_t *ctx);
static void ngx_http_helpdesk_portal_body(ngx_http_request_t *r);
static void ngx_http_helpdesk_portal_cleanup(void *data);


/* the JSON bodies of the page's calls (files have their own limit) */
#define NGX_HTTP_HELPDESK_PORTAL_JSON_MAX     (1024 * 1024)
#define NGX_HTTP_HELPDESK_PORTAL_ACCOUNT_MAX  (8 * 1024)


#define NGX_HTTP_HELPDESK_PORTAL_CSP                                         \
    "default-src 'none'; script-src 'self'; style-src 'self'; "             \
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "           \
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"



static const ngx_http_helpdesk_portal_op_t  ngx_http_helpdesk_portal_ops[] = {
    { NGX_HTTP_GET,  200, "/boot", "boot", NGX_HTTP_HELPDESK_FLOW_CALL,
      { NULL } },
    { NGX_HTTP_POST, 200, "/signup", "signup", NGX_HTTP_HELPDESK_FLOW_SIGNUP,
      { NULL } },
    { NGX_HTTP_POST, 200, "/login", "login", NGX_HTTP_HELPDESK_FLOW_LOGIN,
      { NULL } },
    { NGX_HTTP_POST, 204, "/logout", "logout", NGX_HTTP_HELPDESK_FLOW_LOGOUT,
      { NULL } },
    { NGX_HTTP_POST, 204, "/password", "password",
      NGX_HTTP_HELPDESK_FLOW_PASSWORD, { NULL } },
    { NGX_HTTP_POST, 202, "/reset", "reset.request",
      NGX_HTTP_HELPDESK_FLOW_RESET_REQUEST, { NULL } },
    { NGX_HTTP_GET,  200, "/reset/*", "reset.check",
      NGX_HTTP_HELPDESK_FLOW_CALL,
      { "token" } },
    { NGX_HTTP_POST, 200, "/reset/*", "reset.done",
      NGX_HTTP_HELPDESK_FLOW_RESET_DONE, { "token" } },
    { NGX_HTTP_POST, 202, "/verify", "verify.request",
      NGX_HTTP_HELPDESK_FLOW_CALL, { NULL } },
    { NGX_HTTP_POST, 200, "/verify/*", "verify.done",
      NGX_HTTP_HELPDESK_FLOW_CALL, { "token" } },
    { NGX_HTTP_GET,  200, "/form", "form", NGX_HTTP_HELPDESK_FLOW_CALL,
      { NULL } },
    { NGX_HTTP_GET,  200, "/tickets", "ticket.list",
      NGX_HTTP_HELPDESK_FLOW_CALL,
      { NULL } },
    { NGX_HTTP_POST, 201, "/tickets", "ticket.create",
      NGX_HTTP_HELPDESK_FLOW_CALL, { NULL } },
    { NGX_HTTP_GET,  200, "/tickets/*", "ticket.get",
      NGX_HTTP_HELPDESK_FLOW_CALL,
      { "number" } },
    { NGX_HTTP_POST, 201, "/tickets/*/comments", "ticket.comment",
      NGX_HTTP_HELPDESK_FLOW_CALL, { "number" } },
    { NGX_HTTP_POST, 200, "/tickets/*/resolve", "ticket.resolve",
      NGX_HTTP_HELPDESK_FLOW_CALL, { "number" } },
    { NGX_HTTP_GET,  200, "/chats", "chat.list", NGX_HTTP_HELPDESK_FLOW_CALL,
      { NULL } },
    { NGX_HTTP_GET,  200, "/chats/*", "chat.get", NGX_HTTP_HELPDESK_FLOW_CALL,
      { "id" } },
    { NGX_HTTP_PATCH, 200, "/profile", "profile.update",
      NGX_HTTP_HELPDESK_FLOW_CALL, { NULL } },
    { NGX_HTTP_GET,  200, "/export", "export", NGX_HTTP_HELPDESK_FLOW_CALL,
      { NULL } },
    { NGX_HTTP_GET,  200, "/tickets/*/attachments/*", "attachment",
      NGX_HTTP_HELPDESK_FLOW_DOWNLOAD, { "number", "id" } },
    { NGX_HTTP_POST, 201, "/uploads", "upload", NGX_HTTP_HELPDESK_FLOW_UPLOAD,
      { NULL } },
    { NGX_HTTP_GET,  200, "/kb", "kb.home", NGX_HTTP_HELPDESK_FLOW_CALL,
      { NULL } },
    { NGX_HTTP_GET,  200, "/kb/search", "kb.search",
      NGX_HTTP_HELPDESK_FLOW_CALL,
      { NULL } },
    { NGX_HTTP_GET,  200, "/kb/articles/*", "kb.article",
      NGX_HTTP_HELPDESK_FLOW_ARTICLE, { "slug" } },
    { NGX_HTTP_POST, 200, "/kb/articles/*/vote", "kb.vote",
      NGX_HTTP_HELPDESK_FLOW_CALL, { "slug" } },
    { 0, 0, NULL, NULL, 0, { NULL } }
};


static const ngx_http_helpdesk_app_t  ngx_http_helpdesk_portal_app = {
    NGX_HTTP_HELPDESK_SESSION_PORTAL,
    ngx_string("hd_session"),
    "SELECT body FROM api.portal_call"
    "($1, $2, $3::uuid, $4::inet, $5, $6::jsonb, $7::bytea)",
    "SELECT body FROM api.portal_upload"
    "($1, $2, $3::uuid, $4::inet, $5, $6, $7)",
    "SELECT filename, content_type, data FROM api.portal_attachment"
    "($1, $2, $3::uuid, $4::inet, $5, $6)",
    "portal/index.html",
    NGX_HTTP_HELPDESK_PORTAL_CSP,
    ngx_http_helpdesk_portal_ops
};


ngx_int_t
ngx_http_helpdesk_portal_handler(ngx_http_request_t *r)
{
    return ngx_http_helpdesk_app_handler(r, &ngx_http_helpdesk_portal_app);
}


ngx_int_t
ngx_http_helpdesk_app_handler(ngx_http_request_t *r,
    const ngx_http_helpdesk_app_t *app)
{
    ngx_int_t                        rc;
    ngx_http_helpdesk_portal_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_portal_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->app = app;
    ctx->req.surface = (app->kind == 'c') ? "console" : "portal";

    if (ngx_http_helpdesk_req_init(r, &ctx->req) != NGX_OK) {
        return ctx->req.rc;
    }

    rc = ngx_http_helpdesk_app_start(ctx);
    ctx->req.sync = 0;

    return rc;
}


static ngx_int_t
ngx_http_helpdesk_app_start(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    u_char                          *p, *last;
    ngx_int_t                        rc;
    ngx_pool_cleanup_t              *cln;
    ngx_http_request_t              *r = ctx->req.r;
#if (NGX_HTTP_SSL)
    const char                      *sni;
#endif

    /* paths are the app's own: the location's prefix is not part of them */
    if (r->uri.len < ctx->req.hlcf->app_prefix.len) {
        return NGX_HTTP_NOT_FOUND;
    }

    ctx->path.data = r->uri.data + ctx->req.hlcf->app_prefix.len;
    ctx->path.len = r->uri.len - ctx->req.hlcf->app_prefix.len;

    if (ctx->path.len == 0) {
        ngx_str_set(&ctx->path, "/");
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_helpdesk_portal_cleanup;
    cln->data = ctx;

#if (NGX_HTTP_SSL)
    if (ctx->req.tls) {

        /* a name the certificate was not chosen for: 421 (RFC 9110 15.5.20) */
        sni = SSL_get_servername(r->connection->ssl->connection,
                                 TLSEXT_NAMETYPE_host_name);

        if (sni && (ngx_strlen(sni) != ctx->req.host.len
                    || ngx_strncasecmp((u_char *) sni, ctx->req.host.data,
                                       ctx->req.host.len) != 0))
        {
            if (ngx_http_helpdesk_portal_headers(ctx) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            (void) ngx_http_discard_request_body(r);
            r->keepalive = 0;

            return ngx_helpdesk_http_problem(r, NGX_HTTP_MISDIRECTED_REQUEST,
                       "misdirected-request", "Misdirected Request",
                       "this connection was opened for another name; open a "
                       "new one for this host", NULL);
        }
    }
#endif

    if (ngx_http_helpdesk_portal_headers(ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->req.hlcf->console && ctx->req.hlcf->console_host.len) {
        rc = ngx_http_helpdesk_console_elsewhere(ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    p = ctx->path.data;
    last = p + ctx->path.len;

    if (ctx->path.len > 10 && ngx_strncmp(p, "/_/assets/", 10) == 0) {
        return ngx_http_helpdesk_portal_asset(r, p, ctx->path.len);
    }

    if (ngx_http_helpdesk_portal_read_cookies(ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->path.len >= 7 && ngx_strncmp(p, "/_/api/", 7) == 0) {
        rc = ngx_http_helpdesk_portal_route(ctx, p + 6, last);
        if (ctx->op == NULL) {
            /* answered: 404 or 405 */
            return rc;
        }

        if (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_UPLOAD
            || (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH)))
        {
            /* the page's calls send JSON; files come as they are */
            if (ctx->op->flow != NGX_HTTP_HELPDESK_FLOW_UPLOAD
                && (r->headers_in.content_length_n > 0
                    || r->headers_in.chunked)
                && !ngx_http_helpdesk_req_json_type(r, 0))
            {
                (void) ngx_http_discard_request_body(r);
                return ngx_helpdesk_http_problem(r,
                           NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                           "unsupported-media-type", "Unsupported Media Type",
                           "send the body as \"Content-Type: application/json\"",
                           NULL);
            }

            /*
             * The session and the CSRF token are checked before a byte of
             * the body is read: an upload's limit is for signed-in pages
             * only, and nobody makes us read a body we would refuse.
             */
            if (r->headers_in.content_length_n
                > ngx_http_helpdesk_portal_body_limit(ctx))
            {
                return ngx_http_helpdesk_req_read_body(&ctx->req,
                           ngx_http_helpdesk_portal_body_limit(ctx), NULL);
            }

            r->main->count++;
            ngx_http_helpdesk_portal_load_session(ctx,
                                            ngx_http_helpdesk_portal_admitted);
            return NGX_DONE;
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        r->main->count++;
        ngx_http_helpdesk_portal_load_session(ctx,
                                              ngx_http_helpdesk_portal_api);
        return NGX_DONE;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        (void) ngx_http_discard_request_body(r);
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;

    if ((ctx->path.len == 7 && ngx_strncmp(p, "/_/logo", 7) == 0)
        || (ctx->path.len == 10 && ngx_strncmp(p, "/_/favicon", 10) == 0)
        || (ctx->path.len == 12 && ngx_strncmp(p, "/favicon.ico", 12) == 0))
    {
        ngx_http_helpdesk_portal_image(ctx);
        return NGX_DONE;
    }

    ctx->page = ctx->path;
    ngx_http_helpdesk_portal_load_session(ctx, ngx_http_helpdesk_portal_page);

    return NGX_DONE;
}


/* passwords do not outlive the request, not even in freed memory */
static void
ngx_http_helpdesk_portal_wipe(json_t *o)
{
    json_t      *v;
    const char  *keys[] = { "password", "current", NULL }, **k;

    for (k = keys; *k; k++) {
        v = json_object_get(o, *k);

        if (json_is_string(v)) {
            ngx_explicit_memzero((void *) json_string_value(v),
                                 json_string_length(v));
        }
    }
}


void
ngx_http_helpdesk_portal_set_args(ngx_http_helpdesk_portal_ctx_t *ctx,
    json_t *args)
{
    ngx_http_helpdesk_portal_wipe(ctx->args);
    json_decref(ctx->args);
    ctx->args = args;
}


static void
ngx_http_helpdesk_portal_cleanup(void *data)
{
    ngx_http_helpdesk_portal_ctx_t  *ctx = data;

    ngx_http_helpdesk_portal_wipe(ctx->body);
    ngx_http_helpdesk_portal_wipe(ctx->args);
    json_decref(ctx->body);
    json_decref(ctx->args);

    if (ctx->secret.data) {
        ngx_explicit_memzero(ctx->secret.data, ctx->secret.len);
    }

    if (ctx->secret2.data) {
        ngx_explicit_memzero(ctx->secret2.data, ctx->secret2.len);
    }
}


/*
 * Each app answers with its own policy only: the portal's and the
 * console's are not merged, so a weaker one never applies to the other.
 */
static ngx_int_t
ngx_http_helpdesk_portal_headers(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_uint_t           i;
    ngx_str_t            v;
    ngx_flag_t           tls = ctx->req.tls;
    ngx_http_request_t  *r = ctx->req.r;

    static struct {
        const char  *name;
        const char  *value;
    }  headers[] = {
        { "Content-Security-Policy", NULL },
        { "Referrer-Policy", "same-origin" },
        { "X-Frame-Options", "DENY" },
        { "X-Content-Type-Options", "nosniff" },
        { "Cross-Origin-Opener-Policy", "same-origin" },
        { "Permissions-Policy", "camera=(), microphone=(), geolocation=()" },
        { "Strict-Transport-Security", "max-age=31536000" }
    };

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        if (!tls && ngx_strcmp(headers[i].name, "Strict-Transport-Security") == 0)
        {
            continue;
        }

        v.data = (u_char *) (headers[i].value ? headers[i].value
                                              : ctx->app->csp);
        v.len = ngx_strlen(v.data);

        if (ngx_helpdesk_http_header_out(r, headers[i].name, &v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* 4. the JSON calls */

static ngx_int_t
ngx_http_helpdesk_portal_route(ngx_http_helpdesk_portal_ctx_t *ctx, u_char *p,
    u_char *last)
{
    ngx_uint_t                            n, allowed;
    ngx_http_request_t                   *r = ctx->req.r;
    const ngx_http_helpdesk_portal_op_t  *op;

    allowed = 0;

    for (op = ctx->app->ops; op->method; op++) {
        if (!ngx_http_helpdesk_route_match(op->pattern, p, last, ctx->params,
                                           NGX_HTTP_HELPDESK_PORTAL_MAX_PARAMS,
                                           &n))
        {
            continue;
        }

        if (ngx_http_helpdesk_route_method(r, op->method)) {
            ctx->op = op;
            return NGX_OK;
        }

        allowed |= op->method;
    }

    return ngx_http_helpdesk_route_miss(r, allowed);
}


/*
 * What a call may send: an account step (log in, sign up, a password) a
 * few hundred bytes, the other calls a JSON document, an upload a file.
 */

static off_t
ngx_http_helpdesk_portal_body_limit(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    switch (ctx->op->flow) {

    case NGX_HTTP_HELPDESK_FLOW_UPLOAD:
        return (off_t) ctx->req.hlcf->upload_max;

    case NGX_HTTP_HELPDESK_FLOW_LOGIN:
    case NGX_HTTP_HELPDESK_FLOW_SIGNUP:
    case NGX_HTTP_HELPDESK_FLOW_LOGOUT:
    case NGX_HTTP_HELPDESK_FLOW_PASSWORD:
    case NGX_HTTP_HELPDESK_FLOW_RESET_REQUEST:
    case NGX_HTTP_HELPDESK_FLOW_RESET_DONE:
    case NGX_HTTP_HELPDESK_FLOW_TOTP_SETUP:
    case NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM:
        return NGX_HTTP_HELPDESK_PORTAL_ACCOUNT_MAX;

    default:
        return NGX_HTTP_HELPDESK_PORTAL_JSON_MAX;
    }
}


/* a call with a body: the session is known, the body not yet read */
static void
ngx_http_helpdesk_portal_admitted(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (!ngx_http_helpdesk_portal_csrf_ok(ctx)) {
        ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_FORBIDDEN,
            "csrf-token-invalid", "Forbidden",
            "the page is out of date or was not sent by this portal; "
            "reload it and try again");
        return;
    }

    if (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_UPLOAD && ctx->user.len == 0) {
        ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_UNAUTHORIZED,
            "login-required", "Unauthorized", "log in to continue");
        return;
    }

    rc = ngx_http_helpdesk_req_read_body(&ctx->req,
                                         ngx_http_helpdesk_portal_body_limit(ctx),
                                         ngx_http_helpdesk_portal_body);

    ngx_http_helpdesk_req_resume(&ctx->req, rc);
}


static void
ngx_http_helpdesk_portal_body(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_helpdesk_portal_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    rc = ngx_http_helpdesk_req_body(&ctx->req, &ctx->raw_body);

    if (rc != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_api(ctx);
}


/* the session is known (and the body read): run the call */
static void
ngx_http_helpdesk_portal_api(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->req.r;

    if ((r->method & NGX_HTTP_DELETE) && !ngx_http_helpdesk_portal_csrf_ok(ctx))
    {
        ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_FORBIDDEN,
            "csrf-token-invalid", "Forbidden",
            "the page is out of date or was not sent by this portal; "
            "reload it and try again");
        return;
    }

    if (ngx_http_helpdesk_portal_args(ctx) != NGX_OK) {
        return;
    }

    switch (ctx->op->flow) {

    case NGX_HTTP_HELPDESK_FLOW_CALL:
        ngx_http_helpdesk_portal_call(ctx, ctx->op->op, ctx->args,
                                      ngx_http_helpdesk_portal_reply);
        return;

    case NGX_HTTP_HELPDESK_FLOW_DOWNLOAD:
        ngx_http_helpdesk_portal_file(ctx);
        return;

    case NGX_HTTP_HELPDESK_FLOW_STREAM:
        ngx_http_helpdesk_stream_open(ctx);
        return;

    case NGX_HTTP_HELPDESK_FLOW_CSV:
        ngx_http_helpdesk_portal_call(ctx, ctx->op->op, ctx->args,
                                      ngx_http_helpdesk_portal_csv);
        return;

    case NGX_HTTP_HELPDESK_FLOW_ARTICLE:
        ngx_http_helpdesk_portal_call(ctx, ctx->op->op, ctx->args,
                                      ngx_http_helpdesk_portal_article);
        return;

    default:
        ngx_http_helpdesk_portal_flow(ctx);
        return;
    }
}


void
ngx_http_helpdesk_portal_problem(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_uint_t status, const char *slug, const char *title,
    const char *detail)
{
    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_problem(ctx->req.r, status, slug, title, detail, NULL));
}


void
ngx_http_helpdesk_portal_redis_failed(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_http_helpdesk_req_unavailable(ctx->req.r, "redis",
                                          ngx_helpdesk_redis_retry_after()));
}


void
ngx_http_helpdesk_portal_finalize(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_int_t rc)
{
    ngx_http_helpdesk_req_finalize(&ctx->req, rc);
}


ngx_int_t
ngx_http_helpdesk_portal_cookie(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *name, ngx_str_t *value, time_t max_age, ngx_flag_t http_only)
{
    u_char              *p;
    size_t               len;
    ngx_str_t            path;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r = ctx->req.r;

    /*
     * A session cookie belongs to its app's path ("/agent/" for the
     * console, whose REST API is under it too), so the portal's pages
     * never receive the console's; the sessions' kinds keep them apart as
     * well.  The CSRF cookie is the site's: the pages read it.
     */
    if (ngx_strcmp(name, "hd_csrf") == 0) {
        ngx_str_set(&path, "");

    } else {
        path = ctx->req.hlcf->app_prefix;
    }

    len = ngx_strlen(name) + 1 + value->len + path.len
          + sizeof("; Path=/; Max-Age=; SameSite=Lax; HttpOnly; Secure") - 1
          + NGX_TIME_T_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Set-Cookie");
    h->value.data = p;

    p = ngx_sprintf(p, "%s=%V; Path=%V/; Max-Age=%T; SameSite=Lax", name, value,
                    &path, max_age);

    if (http_only) {
        p = ngx_cpymem(p, "; HttpOnly", 10);
    }

    if (ctx->req.tls) {
        p = ngx_cpymem(p, "; Secure", 8);
    }

    h->value.len = p - h->value.data;

    return NGX_OK;
}


/*
 * The console on its own names (helpdesk_agent_console_host): a request
 * for it on any other name -- the portal's origin -- is sent to the same
 * path on <slug>.<console host> when the name is <slug>.<portal domain>,
 * and is "not found" otherwise.  NGX_DECLINED: the name is the console's.
 */
static ngx_int_t
ngx_http_helpdesk_console_elsewhere(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    u_char                        *p, *dot;
    size_t                         len;
    ngx_str_t                     *host, slug;
    ngx_table_elt_t               *h;
    ngx_http_request_t            *r = ctx->req.r;
    ngx_http_helpdesk_loc_conf_t  *hlcf = ctx->req.hlcf;

    host = &ctx->req.host;

    if (host->len > hlcf->console_host.len + 1
        && host->data[host->len - hlcf->console_host.len - 1] == '.'
        && ngx_strncmp(host->data + host->len - hlcf->console_host.len,
                       hlcf->console_host.data, hlcf->console_host.len) == 0)
    {
        return NGX_DECLINED;
    }

    (void) ngx_http_discard_request_body(r);

    dot = ngx_strlchr(host->data, host->data + host->len, '.');

    if (dot == NULL || hlcf->portal_domain.len == 0
        || (size_t) (host->data + host->len - dot - 1)
           != hlcf->portal_domain.len
        || ngx_strncmp(dot + 1, hlcf->portal_domain.data,
                       hlcf->portal_domain.len) != 0
        || !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND, "not-found",
                   "Not Found", "the agent console is not served on this "
                   "name", NULL);
    }

    slug.data = host->data;
    slug.len = dot - host->data;

    /* the request line's own bytes: no CR or LF can be in them */
    len = sizeof("https://.:") - 1 + slug.len + hlcf->console_host.len
          + ctx->req.port.len + r->unparsed_uri.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value.data = p;

    p = ngx_sprintf(p, "%s://%V.%V", ctx->req.tls ? "https" : "http", &slug,
                    &hlcf->console_host);

    if (ctx->req.port.len) {
        p = ngx_sprintf(p, ":%V", &ctx->req.port);
    }

    p = ngx_cpymem(p, r->unparsed_uri.data, r->unparsed_uri.len);

    h->value.len = p - h->value.data;
    r->headers_out.location = h;

    r->headers_out.status = NGX_HTTP_PERMANENT_REDIRECT;
    r->header_only = 1;
    r->headers_out.content_length_n = 0;

    return ngx_http_send_header(r);
}
