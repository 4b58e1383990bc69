/*
 * The chat's files, HTTP side: uploads (the attach buttons of the widget
 * and of the console's chat panel) and downloads.
 *
 *   POST <location>v1/upload?tenant=<slug>     a visitor's file
 *        the file itself as the body, its type as Content-Type, its name
 *        percent-encoded in X-Filename, the visitor's token in
 *        X-Chat-Stream (as the fallback's POST); from the tenant's pages
 *        only (CORS to the page's origin, OPTIONS the preflight)
 *   POST <agent location>v1/upload             an agent's, with the
 *        console's session cookie, on the console's own Origin with its
 *        CSRF token (X-CSRF-Token)
 *        -> 201 {"upload_id", "filename", "content_type", "size", "url"}
 *
 *   GET <location>v1/file/<id>?tenant=<slug>&exp=<t>&sig=<s>   a visitor's
 *        link (ngx_http_helpdesk_chat_link.c: an <img> sends no header)
 *   GET <agent location>v1/file/<id>           an agent's, by its session
 *
 * A body is read through the request core, at most the location's
 * helpdesk_upload_max_size however it is sent (413).  What a file is comes
 * from its bytes (lib/ngx_helpdesk_magic.c): programs and scripts are
 * refused (415) by their bytes, name or declared type; the type stored is
 * the one the bytes say.  Files are served as the portal serves
 * attachments: an image safe to show inline, anything else a download,
 * nosniff and a sandboxing policy always.  A file of another tenant, a
 * link not signed for it, an id that is no file: 404 alike.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_magic.h"
#include "ngx_http_helpdesk_chat_http.h"


#define NGX_HTTP_HELPDESK_CHAT_UPLOAD  11
#define NGX_HTTP_HELPDESK_CHAT_FILE    12


static ngx_int_t ngx_http_helpdesk_chat_files_answered(
    ngx_http_helpdesk_chat_ctx_t *ctx, PGresult *res);
static ngx_int_t ngx_http_helpdesk_chat_upload_route(
    ngx_http_helpdesk_chat_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_chat_file_route(
    ngx_http_helpdesk_chat_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_chat_agent_auth(
    ngx_http_helpdesk_chat_ctx_t *ctx, ngx_flag_t change,
    ngx_helpdesk_pg_handler_pt next);
static void ngx_http_helpdesk_chat_upload_looked(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_chat_upload_agent(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_chat_upload_body(ngx_http_request_t *r);
static void ngx_http_helpdesk_chat_upload_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_chat_file_looked(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_chat_file_agent(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_chat_file_get(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_str_t *agent);
static void ngx_http_helpdesk_chat_file_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_http_helpdesk_chat_not_found(ngx_http_request_t *r);
static ngx_int_t ngx_http_helpdesk_chat_uuid(ngx_str_t *v);
static ngx_str_t *ngx_http_helpdesk_chat_files_proof(ngx_http_request_t *r);


static ngx_str_t  ngx_http_helpdesk_chat_agent_cookie = ngx_string("hd_agent");


ngx_int_t
ngx_http_helpdesk_chat_files_route(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_str_t *path)
{
    if (path->len == 9 && ngx_strncmp(path->data, "v1/upload", 9) == 0) {
        ctx->route = NGX_HTTP_HELPDESK_CHAT_UPLOAD;
        return ngx_http_helpdesk_chat_upload_route(ctx);
    }

    if (path->len > 8 && ngx_strncmp(path->data, "v1/file/", 8) == 0) {
        ctx->route = NGX_HTTP_HELPDESK_CHAT_FILE;
        ctx->file.data = path->data + 8;
        ctx->file.len = path->len - 8;
        return ngx_http_helpdesk_chat_file_route(ctx);
    }

    return NGX_DECLINED;
}


/* POST v1/upload */

static ngx_int_t
ngx_http_helpdesk_chat_upload_route(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r = ctx->req.r;

    if (ctx->req.hlcf->chat == NGX_HTTP_HELPDESK_CHAT_AGENT) {
        if (r->method != NGX_HTTP_POST) {
            return ngx_http_helpdesk_route_miss(r, NGX_HTTP_POST);
        }

        return ngx_http_helpdesk_chat_agent_auth(ctx, 1,
                                        ngx_http_helpdesk_chat_upload_agent);
    }

    if (r->method != NGX_HTTP_POST && r->method != NGX_HTTP_OPTIONS) {
        return ngx_http_helpdesk_route_miss(r, NGX_HTTP_POST);
    }

    if (ngx_http_helpdesk_chat_tenant_arg(ctx) != NGX_OK) {
        return ctx->req.rc;
    }

    ngx_str_null(&ctx->visitor);
    ngx_str_null(&ctx->last);

    if (r->method == NGX_HTTP_POST) {
        /* who uploads: the visitor's token, as the fallback's POST says it */
        h = ngx_helpdesk_http_header_in(r, "X-Chat-Stream",
                                        sizeof("X-Chat-Stream") - 1);
        if (h == NULL) {
            h = ngx_helpdesk_http_header_in(r, "X-Chat-Visitor",
                                            sizeof("X-Chat-Visitor") - 1);
        }

        if (h == NULL || ngx_http_helpdesk_chat_token(&h->value) != NGX_OK) {
            return ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                       "invalid-stream", "Bad Request",
                       "X-Chat-Stream is the visitor's token from the "
                       "welcome (64 hex digits)", NULL);
        }

        ctx->visitor = h->value;
    }

    r->main->count++;
    ngx_http_helpdesk_chat_lookup(ctx, ngx_http_helpdesk_chat_upload_looked);

    return NGX_DONE;
}


/*
 * An agent's request: the console's session cookie (401), for a change
 * on the console's own Origin with its CSRF token (403), then the session
 * and api.chat_agent() (ngx_http_helpdesk_chat_http.c), whose answer goes
 * to "next".
 */

static ngx_int_t
ngx_http_helpdesk_chat_agent_auth(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_flag_t change, ngx_helpdesk_pg_handler_pt next)
{
    ngx_str_t            v;
    ngx_http_request_t  *r = ctx->req.r;

    if (ngx_http_helpdesk_session_cookie(r,
                                         &ngx_http_helpdesk_chat_agent_cookie,
                                         &v)
        != NGX_OK)
    {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_UNAUTHORIZED,
                                         "login-required", "Unauthorized",
                                         "log in to the console first", NULL);
    }

    ngx_http_helpdesk_session_key(&v, ctx->skey);

    if (change
        && (!ngx_http_helpdesk_session_origin_ok(&ctx->req)
            || !ngx_http_helpdesk_session_csrf_ok(&ctx->req, NULL)))
    {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_FORBIDDEN,
                                         "csrf", "Forbidden",
                                         "the console's own pages send "
                                         "files, with their CSRF token",
                                         NULL);
    }

    if (!ngx_helpdesk_redis_configured()) {
        return ngx_http_helpdesk_req_unavailable(r, "redis", 5);
    }

    ctx->agent_next = next;

    r->main->count++;
    ngx_http_helpdesk_chat_agent_session(ctx);

    return NGX_DONE;
}


/* a visitor's: the tenant and the page's Origin, then the body */

static void
ngx_http_helpdesk_chat_upload_looked(ngx_helpdesk_pg_query_t *q,
    PGresult *res)
{
    ngx_int_t                      rc;
    ngx_http_request_t            *r;
    ngx_http_helpdesk_chat_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (ngx_http_helpdesk_chat_widget(ctx, res) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, ctx->req.rc);
        return;
    }

    /* the page may read every answer from here on, refusals too */
    rc = ngx_http_helpdesk_chat_cors(ctx);

    if (rc != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, rc);
        return;
    }

    ctx->req.cors = ctx->origin;

    if (r->method == NGX_HTTP_OPTIONS) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_send(r, NGX_HTTP_NO_CONTENT, "text/plain",
                                   NULL, 0));
        return;
    }

    rc = ngx_http_helpdesk_req_read_body(&ctx->req,
                                         (off_t) ctx->req.hlcf->upload_max,
                                         ngx_http_helpdesk_chat_upload_body);
    ngx_http_helpdesk_req_resume(&ctx->req, rc);
}


/* an agent's: who, then the body */

static void
ngx_http_helpdesk_chat_upload_agent(ngx_helpdesk_pg_query_t *q,
    PGresult *res)
{
    ngx_int_t                      rc;
    ngx_http_helpdesk_chat_ctx_t  *ctx = q->data;

    if (ngx_http_helpdesk_chat_agent_found(ctx, res) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, ctx->req.rc);
        return;
    }

    rc = ngx_http_helpdesk_req_read_body(&ctx->req,
                                         (off_t) ctx->req.hlcf->upload_max,
                                         ngx_http_helpdesk_chat_upload_body);
    ngx_http_helpdesk_req_resume(&ctx->req, rc);
}


/* the file is in: checked, typed by its bytes, stored */

static void
ngx_http_helpdesk_chat_upload_body(ngx_http_request_t *r)
{
    u_char                        *d, *s, hash[32], hex[2 + 64];
    ngx_str_t                      body, name, type, v;
    ngx_table_elt_t               *fh;
    ngx_helpdesk_pg_query_t       *q;
    ngx_http_helpdesk_chat_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    if (ngx_http_helpdesk_req_body(&ctx->req, &body) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (body.len == 0) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST, "empty-file",
                                      "Bad Request",
                                      "the file is empty: send its bytes as "
                                      "the body", NULL));
        return;
    }

    /* X-Filename: percent-encoded UTF-8, as the portal's uploads */
    fh = ngx_helpdesk_http_header_in(r, "X-Filename", sizeof("X-Filename") - 1);
    ngx_str_set(&name, "file");

    if (fh && fh->value.len && fh->value.len <= 765) {
        d = ngx_pnalloc(r->pool, fh->value.len);
        if (d == NULL) {
            ngx_http_helpdesk_req_finalize(&ctx->req,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        name.data = d;
        s = fh->value.data;
        ngx_unescape_uri(&d, &s, fh->value.len, 0);
        name.len = d - name.data;

        for (s = name.data; s < d; s++) {
            if (*s < 0x20 || *s == '/' || *s == '\\' || *s == 0x7f) {
                *s = '_';
            }
        }

        if (name.len == 0 || name.len > 255
            || ngx_utf8_length(name.data, name.len) == (size_t) -1)
        {
            ngx_str_set(&name, "file");
        }
    }

    type = r->headers_in.content_type ? r->headers_in.content_type->value
                                      : (ngx_str_t) ngx_null_string;

    if (ngx_helpdesk_magic_refused(&name, &type, body.data, body.len)) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                      "file-type-refused",
                                      "Unsupported Media Type",
                                      "programs and scripts cannot be sent; "
                                      "send a document, an image or a "
                                      "compressed file instead", NULL));
        return;
    }

    /* what the bytes are, never what the uploader said */
    type.data = (u_char *) ngx_helpdesk_magic(body.data, body.len)->type;
    type.len = ngx_strlen(type.data);

    q = &ctx->query;
    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->sql = "SELECT body FROM api.chat_file_store($1::bytea, $2::uuid,"
             " $3::bytea, $4::uuid, $5, $6, $7::bytea)";
    q->handler = ngx_http_helpdesk_chat_upload_done;
    q->data = ctx;
    q->log = r->connection->log;
    q->owner = r->pool;

    v.data = ctx->tenant;
    v.len = 36;

    if (ngx_helpdesk_pg_param(q, r->pool, ngx_http_helpdesk_chat_files_proof(r))
           != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &v) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->req.hlcf->chat == NGX_HTTP_HELPDESK_CHAT_VISITOR) {
        /* the record knows the token by its SHA-256 only */
        ngx_helpdesk_sha256(ctx->visitor.data, ctx->visitor.len, hash);
        hex[0] = '\\';
        hex[1] = 'x';
        ngx_hex_dump(hex + 2, hash, sizeof(hash));

        v.data = hex;
        v.len = sizeof(hex);

        if (ngx_helpdesk_pg_param(q, r->pool, &v) != NGX_OK
            || ngx_helpdesk_pg_param(q, r->pool, NULL) != NGX_OK)
        {
            ngx_http_helpdesk_req_finalize(&ctx->req,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

    } else if (ngx_helpdesk_pg_param(q, r->pool, NULL) != NGX_OK
               || ngx_helpdesk_pg_param(q, r->pool, &ctx->user) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_helpdesk_pg_param(q, r->pool, &name) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &type) != NGX_OK
        || ngx_helpdesk_pg_param_binary(q, body.data, body.len) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_chat_upload_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    char                          *out;
    json_t                        *body, *link;
    ngx_str_t                      prefix, *slug;
    ngx_int_t                      rc;
    const char                    *id;
    json_error_t                   err;
    ngx_http_request_t            *r;
    ngx_http_helpdesk_chat_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (ngx_http_helpdesk_chat_files_answered(ctx, res) != NGX_OK) {
        return;
    }

    body = NULL;

    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        body = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0,
                          &err);
    }

    id = json_string_value(json_object_get(body, "upload_id"));

    if (id == NULL || ngx_strlen(id) != NGX_HELPDESK_UUID_LEN) {
        json_decref(body);
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* where it is downloaded from, for a preview before it is sent */
    prefix.len = ctx->req.hlcf->chat_prefix.len + sizeof("v1/file/") - 1;
    prefix.data = ngx_pnalloc(r->pool, prefix.len);

    if (prefix.data == NULL) {
        json_decref(body);
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_sprintf(prefix.data, "%Vv1/file/", &ctx->req.hlcf->chat_prefix);

    slug = ctx->req.hlcf->chat == NGX_HTTP_HELPDESK_CHAT_VISITOR ? &ctx->slug
                                                                 : NULL;

    link = ngx_http_helpdesk_chat_link(&prefix, ctx->tenant, slug,
                                       (u_char *) id);
    if (link) {
        json_object_set_new(body, "url", link);
    }

    out = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    if (out == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_helpdesk_http_send(r, NGX_HTTP_CREATED, "application/json",
                                (u_char *) out, ngx_strlen(out));
    free(out);

    ngx_http_helpdesk_req_finalize(&ctx->req, rc);
}


/* GET v1/file/<id> */

static ngx_int_t
ngx_http_helpdesk_chat_file_route(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    ngx_int_t            exp;
    ngx_http_request_t  *r = ctx->req.r;

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return ngx_http_helpdesk_route_miss(r, NGX_HTTP_GET);
    }

    if (ngx_http_helpdesk_chat_uuid(&ctx->file) != NGX_OK) {
        return ngx_http_helpdesk_chat_not_found(r);
    }

    if (ctx->req.hlcf->chat == NGX_HTTP_HELPDESK_CHAT_AGENT) {
        return ngx_http_helpdesk_chat_agent_auth(ctx, 0,
                                          ngx_http_helpdesk_chat_file_agent);
    }

    if (ngx_http_helpdesk_chat_tenant_arg(ctx) != NGX_OK) {
        return ctx->req.rc;
    }

    /* a link that is not one of ours goes no further */
    exp = ngx_atoi(ctx->exp.data, ctx->exp.len);

    if (exp == NGX_ERROR || ctx->exp.len > 12 || ctx->sig.len != 64) {
        return ngx_http_helpdesk_chat_not_found(r);
    }

    r->main->count++;
    ngx_http_helpdesk_chat_lookup(ctx, ngx_http_helpdesk_chat_file_looked);

    return NGX_DONE;
}


/*
 * A visitor's link: its tenant (the page's Origin is not asked: an <img>
 * of the page sends none), then its signature, then its time.
 */

static void
ngx_http_helpdesk_chat_file_looked(ngx_helpdesk_pg_query_t *q,
    PGresult *res)
{
    ngx_http_request_t            *r;
    ngx_http_helpdesk_chat_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (res == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_req_unavailable(r, "postgresql",
                                              ngx_helpdesk_pg_retry_after()));
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1
        || PQgetlength(res, 0, 0) != 36)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       ngx_http_helpdesk_chat_not_found(r));
        return;
    }

    ngx_memcpy(ctx->tenant, PQgetvalue(res, 0, 0), 36);

    if (ngx_http_helpdesk_chat_link_check(ctx->tenant, ctx->file.data,
                                          ngx_atoi(ctx->exp.data,
                                                   ctx->exp.len),
                                          &ctx->sig)
        != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       ngx_http_helpdesk_chat_not_found(r));
        return;
    }

    if (ngx_atoi(ctx->exp.data, ctx->exp.len) < ngx_time()) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_FORBIDDEN, "link-expired",
                                      "Forbidden",
                                      "this link has expired; open the chat "
                                      "again for a new one", NULL));
        return;
    }

    ngx_http_helpdesk_chat_file_get(ctx, NULL);
}


static void
ngx_http_helpdesk_chat_file_agent(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_http_helpdesk_chat_ctx_t  *ctx = q->data;

    if (ngx_http_helpdesk_chat_agent_found(ctx, res) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, ctx->req.rc);
        return;
    }

    ngx_http_helpdesk_chat_file_get(ctx, &ctx->user);
}


static void
ngx_http_helpdesk_chat_file_get(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_str_t *agent)
{
    ngx_str_t                 tenant;
    ngx_http_request_t       *r = ctx->req.r;
    ngx_helpdesk_pg_query_t  *q;

    q = &ctx->query;
    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->sql = "SELECT filename, content_type, data"
             " FROM api.chat_file($1::bytea, $2::uuid, $3::uuid, $4::uuid)";
    q->handler = ngx_http_helpdesk_chat_file_done;
    q->data = ctx;
    q->log = r->connection->log;
    q->owner = r->pool;
    q->result_format = 1;

    tenant.data = ctx->tenant;
    tenant.len = 36;

    if (ngx_helpdesk_pg_param(q, r->pool, ngx_http_helpdesk_chat_files_proof(r))
           != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &tenant) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &ctx->file) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, agent) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_chat_file_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_str_t                      v;
    ngx_http_request_t            *r;
    ngx_http_helpdesk_chat_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (ngx_http_helpdesk_chat_files_answered(ctx, res) != NGX_OK) {
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       ngx_http_helpdesk_chat_not_found(r));
        return;
    }

    if (ctx->req.hlcf->chat == NGX_HTTP_HELPDESK_CHAT_VISITOR) {
        /* shown in the tenant's pages by the widget */
        ngx_str_set(&v, "cross-origin");

        if (ngx_helpdesk_http_header_out(r, "Cross-Origin-Resource-Policy",
                                         &v)
            != NGX_OK)
        {
            ngx_http_helpdesk_req_finalize(&ctx->req,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_helpdesk_req_finalize(&ctx->req,
                                   ngx_helpdesk_http_send_file(r, res));
}


static ngx_int_t
ngx_http_helpdesk_chat_not_found(ngx_http_request_t *r)
{
    return ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND, "not-found",
                                     "Not Found", "there is no such file",
                                     NULL);
}


/* 8-4-4-4-12 hex digits, lower case (as PostgreSQL writes them) */

static ngx_int_t
ngx_http_helpdesk_chat_uuid(ngx_str_t *v)
{
    size_t  i;
    u_char  c;

    if (v->len != NGX_HELPDESK_UUID_LEN) {
        return NGX_DECLINED;
    }

    for (i = 0; i < v->len; i++) {
        c = v->data[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return NGX_DECLINED;
            }

        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* the module's proof to the chat's entry points ("\\x" and hex) */

static ngx_str_t *
ngx_http_helpdesk_chat_files_proof(ngx_http_request_t *r)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);

    return &hmcf->provider_proof;
}


/*
 * A statement's answer, or the request ended with what its failure means
 * (PostgreSQL away: 503; a refusal: its problem document): NGX_DECLINED.
 */
static ngx_int_t
ngx_http_helpdesk_chat_files_answered(ngx_http_helpdesk_chat_ctx_t *ctx,
    PGresult *res)
{
    if (ngx_http_helpdesk_chat_tuples(ctx, res) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, ctx->req.rc);
        return NGX_DECLINED;
    }

    return NGX_OK;
}
