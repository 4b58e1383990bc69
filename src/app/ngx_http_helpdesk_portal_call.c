/*
 * The apps' service call: one statement of the app's SQL entry point
 * (host, base domain, session user, address, operation, arguments), run
 * on the request's behalf, and its answer turned into the response: the
 * JSON it returns with its status, a CSV file, or a problem document
 * mapped from the SQLSTATE by the request core.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_json.h"
#include "lib/ngx_helpdesk_markdown.h"
#include "ngx_http_helpdesk_portal.h"


static void ngx_http_helpdesk_portal_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);



void
ngx_http_helpdesk_portal_call(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *op, json_t *args, ngx_http_helpdesk_portal_next_pt next)
{
    char                           *text;
    ngx_str_t                       v;
    ngx_http_request_t             *r = ctx->req.r;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    ngx_memzero(&ctx->query, sizeof(ngx_helpdesk_pg_query_t));
    ctx->query.sql = ctx->app->call_sql;

    text = json_dumps(args, JSON_COMPACT);
    if (text == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    v.data = (u_char *) text;
    v.len = ngx_strlen(text);

    if (ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.host) != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.hlcf->base_domain)
           != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->user) != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.ip) != NGX_OK)
    {
        free(text);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    {
        ngx_str_t  o;

        o.data = (u_char *) op;
        o.len = ngx_strlen(op);

        /*
         * the proof, last: the account steps (the lookups that hand out a
         * password's hash or a TOTP secret, the results that log a user
         * in or set a password) want it, so the app role alone cannot
         * take over an account
         */
        hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);

        if (ngx_helpdesk_pg_param(&ctx->query, r->pool, &o) != NGX_OK
            || ngx_helpdesk_pg_param(&ctx->query, r->pool, &v) != NGX_OK
            || ngx_helpdesk_pg_param(&ctx->query, r->pool,
                                     hmcf->provider_key_set
                                     ? &hmcf->provider_proof : NULL)
               != NGX_OK)
        {
            free(text);
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    free(text);

    /* an empty user id means "no session": SQL NULL */
    if (ctx->user.len == 0) {
        ctx->query.values[2] = NULL;
    }

    ngx_http_helpdesk_portal_run(ctx, next);
}


/* ctx->query, prepared by the caller, then next() with its result */
void
ngx_http_helpdesk_portal_run(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_http_helpdesk_portal_next_pt next)
{
    ctx->query.handler = ngx_http_helpdesk_portal_done;
    ctx->query.data = ctx;
    ctx->query.log = ctx->req.r->connection->log;
    ctx->query.owner = ctx->req.r->pool;
    ctx->next = next;

    ngx_helpdesk_pg_run(&ctx->query);
}


static void
ngx_http_helpdesk_portal_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_http_helpdesk_portal_ctx_t  *ctx = q->data;
    ngx_http_request_t              *r = ctx->req.r;

    if (q->status != NGX_HELPDESK_PG_OK) {
        ngx_http_helpdesk_portal_finalize(ctx,
            ngx_http_helpdesk_req_unavailable(r, "postgresql",
                                              ngx_helpdesk_pg_retry_after()));
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (ctx->page.len) {
            char  *slug = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

            if (slug && ngx_strcmp(slug, "unknown-site") == 0) {
                ngx_http_helpdesk_portal_not_found(ctx);
                return;
            }
        }

        ngx_http_helpdesk_portal_finalize(ctx,
            ngx_helpdesk_http_sql_problem(r, res, NULL));
        return;
    }

    /* every statement of the apps answers one row: a body, or a file */
    if (PQntuples(res) != 1 || PQnfields(res) < 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "helpdesk: the statement answered %d rows of %d "
                      "columns", PQntuples(res), PQnfields(res));
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->next(ctx, res);
}


/* the statement's body as the answer, with the operation's status */
void
ngx_http_helpdesk_portal_reply(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    u_char              *body;
    size_t               len;
    ngx_uint_t           status;
    ngx_http_request_t  *r = ctx->req.r;

    status = ctx->op->status;
    len = PQgetisnull(res, 0, 0) ? 0 : (size_t) PQgetlength(res, 0, 0);

    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(body, PQgetvalue(res, 0, 0), len);

    if (status == NGX_HTTP_NO_CONTENT || status == NGX_HTTP_ACCEPTED) {
        len = 0;
    }

    if (len == 0 && status == NGX_HTTP_OK) {
        body = (u_char *) "{}";
        len = 2;
    }

    ngx_str_set(&ctx->out, "no-store");

    if (ngx_helpdesk_http_header_out(r, "Cache-Control", &ctx->out) != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_send(r, status, "application/json", body, len));
}


/* a statement whose body is a JSON string: that text, as a CSV download */
void
ngx_http_helpdesk_portal_csv(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    u_char              *data;
    json_t              *v;
    ngx_str_t            h;
    json_error_t         err;
    ngx_http_request_t  *r = ctx->req.r;

    v = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0),
                   JSON_DECODE_ANY, &err);

    if (!json_is_string(v)) {
        json_decref(v);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    data = ngx_pnalloc(r->pool, json_string_length(v) + 1);
    if (data == NULL) {
        json_decref(v);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    h.len = json_string_length(v);
    ngx_memcpy(data, json_string_value(v), h.len);
    json_decref(v);

    {
        ngx_str_t  disp = ngx_string("attachment; filename=\"audit-log.csv\"");
        ngx_str_t  cache = ngx_string("private, no-store");

        if (ngx_helpdesk_http_header_out(r, "Content-Disposition", &disp)
               != NGX_OK
            || ngx_helpdesk_http_header_out(r, "Cache-Control", &cache)
               != NGX_OK)
        {
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_send(r, NGX_HTTP_OK, "text/csv; charset=utf-8",
                               data, h.len));
}

/*
 * An article of the knowledge base.  The HTML the page inserts is only
 * ever cmark's, in its safe mode: rendered when the article was written,
 * or -- for an article whose stored HTML the renderer did not write (the
 * database answers its Markdown instead) -- rendered here, now.
 */
void
ngx_http_helpdesk_portal_article(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    json_t              *body, *md, *v;
    ngx_str_t            html, out;
    json_error_t         err;
    ngx_http_request_t  *r = ctx->req.r;

    body = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, &err);

    if (!json_is_object(body)) {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    md = json_object_get(body, "markdown");

    if (json_is_string(md)) {
        if (ngx_helpdesk_markdown_html(r->pool,
                                       (u_char *) json_string_value(md),
                                       json_string_length(md), &html)
            != NGX_OK)
        {
            json_decref(body);
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        v = json_stringn((char *) html.data, html.len);

        if (v == NULL || json_object_set_new(body, "html", v) != 0) {
            json_decref(body);
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    (void) json_object_del(body, "markdown");

    if (ngx_helpdesk_json_dump(r->pool, body, &out) != NGX_OK) {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json_decref(body);

    ngx_str_set(&ctx->out, "no-store");

    if (ngx_helpdesk_http_header_out(r, "Cache-Control", &ctx->out) != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_send(r, ctx->op->status, "application/json",
                               out.data, out.len));
}
