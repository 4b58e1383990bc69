/*
 * The portal's pages and files: the embedded assets (versioned, cached for
 * a year), the page itself (one HTML for every address, filled with the
 * tenant's data and the language), the neutral 404 page for names that are
 * no portal, the tenant's logo and favicon, and ticket attachments.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_magic.h"
#include "www/ngx_helpdesk_www.h"
#include "ngx_http_helpdesk_portal.h"


static void ngx_http_helpdesk_portal_page_done(
    ngx_http_helpdesk_portal_ctx_t *ctx, PGresult *res);
static void ngx_http_helpdesk_portal_image_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_portal_file_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_portal_language(
    ngx_http_helpdesk_portal_ctx_t *ctx, json_t *boot);
static void ngx_http_helpdesk_portal_local_texts(
    ngx_http_helpdesk_portal_ctx_t *ctx, json_t *boot);
static const ngx_helpdesk_www_file_t *ngx_http_helpdesk_portal_www(
    const char *name);


static const char  ngx_http_helpdesk_portal_image_sql[] =
    "SELECT content_type, sha256, data FROM api.portal_asset($1, $2, $3)";



static const ngx_helpdesk_www_file_t *
ngx_http_helpdesk_portal_www(const char *name)
{
    size_t                          len;
    const ngx_helpdesk_www_file_t  *f;

    len = ngx_strlen(name);

    for (f = ngx_helpdesk_www_files; f->name.len; f++) {
        if (f->name.len == len && ngx_strncmp(f->name.data, name, len) == 0) {
            return f;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_helpdesk_portal_send_file(ngx_http_request_t *r,
    const ngx_helpdesk_www_file_t *f, ngx_uint_t status)
{
    ngx_str_t         v;
    ngx_table_elt_t  *inm;

    if (f->immutable) {
        ngx_str_set(&v, "public, max-age=31536000, immutable");
    } else {
        ngx_str_set(&v, "no-cache");
    }

    if (ngx_helpdesk_http_header_out(r, "Cache-Control", &v) != NGX_OK
        || ngx_helpdesk_http_header_out(r, "ETag", (ngx_str_t *) &f->etag)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    inm = ngx_helpdesk_http_header_in(r, "If-None-Match",
                                       sizeof("If-None-Match") - 1);

    if (status == NGX_HTTP_OK && inm
        && ngx_strlcasestrn(inm->value.data, inm->value.data + inm->value.len,
                            f->etag.data, f->etag.len - 1) != NULL)
    {
        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    return ngx_helpdesk_http_send(r, status, (const char *) f->type.data,
                                  f->body.data, f->body.len);
}


ngx_int_t
ngx_http_helpdesk_portal_asset(ngx_http_request_t *r, u_char *path, size_t len)
{
    ngx_int_t                       rc;
    const ngx_helpdesk_www_file_t  *f;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    for (f = ngx_helpdesk_www_files; f->name.len; f++) {
        if (f->url.len == len && ngx_strncmp(f->url.data, path, len) == 0) {
            return ngx_http_helpdesk_portal_send_file(r, f, NGX_HTTP_OK);
        }
    }

    return NGX_HTTP_NOT_FOUND;
}


void
ngx_http_helpdesk_portal_page(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ctx->args = json_object();
    if (ctx->args == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_call(ctx, "boot", ctx->args,
                                  ngx_http_helpdesk_portal_page_done);
}


void
ngx_http_helpdesk_portal_not_found(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    const ngx_helpdesk_www_file_t  *f;

    f = ngx_http_helpdesk_portal_www("portal/404.html");
    if (f == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_NOT_FOUND);
        return;
    }

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_http_helpdesk_portal_send_file(ctx->req.r, f, NGX_HTTP_NOT_FOUND));
}


/*
 * The page: index.html with "@lang@", "@i18n@" (the versioned URL of the
 * language's strings) and "@boot@" (what /_/api/boot would answer, as JSON
 * that cannot close the script element it sits in).
 */
static void
ngx_http_helpdesk_portal_page_done(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    u_char                         *p, *s, *last, *out;
    char                           *text;
    size_t                          len, n;
    json_t                         *boot;
    json_error_t                    err;
    ngx_str_t                       v;
    ngx_http_request_t             *r = ctx->req.r;
    const ngx_helpdesk_www_file_t  *page, *i18n;
    char                            name[32];

    boot = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, &err);
    if (boot == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_language(ctx, boot);
    ngx_http_helpdesk_portal_local_texts(ctx, boot);

    json_object_set_new(boot, "language",
                        json_stringn((char *) ctx->lang.data, ctx->lang.len));
    json_object_set_new(boot, "upload_max",
                        json_integer((json_int_t) ctx->req.hlcf->upload_max));

    if (json_is_true(json_object_get(boot, "chat"))
        && ngx_http_helpdesk_portal_chat(ctx, boot) != NGX_OK)
    {
        json_decref(boot);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    text = json_dumps(boot, JSON_COMPACT|JSON_ESCAPE_SLASH);
    json_decref(boot);

    if (text == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_snprintf((u_char *) name, sizeof(name), "i18n/%V.json%Z", &ctx->lang);

    page = ngx_http_helpdesk_portal_www(ctx->app->page);
    i18n = ngx_http_helpdesk_portal_www(name);

    if (page == NULL || i18n == NULL) {
        free(text);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /*
     * The size, counted from the page itself: each placeholder is six
     * bytes replaced by its value, the boot data at worst six bytes for
     * each of its own (an escaped '<', '>' or '&').
     */
    n = ngx_strlen(text);
    len = page->body.len;

    for (s = page->body.data, last = s + page->body.len;
         last - s >= 6;
         s++)
    {
        if (*s != '@' || s[5] != '@') {
            continue;
        }

        if (ngx_strncmp(s, "@lang@", 6) == 0) {
            len += ctx->lang.len;

        } else if (ngx_strncmp(s, "@base@", 6) == 0) {
            len += ctx->req.hlcf->app_prefix.len;

        } else if (ngx_strncmp(s, "@i18n@", 6) == 0) {
            len += ctx->req.hlcf->app_prefix.len + i18n->url.len;

        } else if (ngx_strncmp(s, "@boot@", 6) == 0) {
            len += n * 6;
        }
    }

    out = ngx_pnalloc(r->pool, len);
    if (out == NULL) {
        free(text);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = out;
    s = page->body.data;
    last = s + page->body.len;

    while (s < last) {
        if (*s != '@') {
            *p++ = *s++;
            continue;
        }

        if (last - s >= 6 && ngx_strncmp(s, "@lang@", 6) == 0) {
            p = ngx_cpymem(p, ctx->lang.data, ctx->lang.len);
            s += 6;

        } else if (last - s >= 6 && ngx_strncmp(s, "@base@", 6) == 0) {
            /* where the app is: its assets and calls are under it */
            p = ngx_cpymem(p, ctx->req.hlcf->app_prefix.data,
                           ctx->req.hlcf->app_prefix.len);
            s += 6;

        } else if (last - s >= 6 && ngx_strncmp(s, "@i18n@", 6) == 0) {
            p = ngx_cpymem(p, ctx->req.hlcf->app_prefix.data,
                           ctx->req.hlcf->app_prefix.len);
            p = ngx_cpymem(p, i18n->url.data, i18n->url.len);
            s += 6;

        } else if (last - s >= 6 && ngx_strncmp(s, "@boot@", 6) == 0) {
            u_char  *t;

            /* JSON inside a script element: no "<", ">" or "&" as such */
            for (t = (u_char *) text; *t; t++) {
                if (*t == '<') {
                    p = ngx_cpymem(p, "\\u003c", 6);
                } else if (*t == '>') {
                    p = ngx_cpymem(p, "\\u003e", 6);
                } else if (*t == '&') {
                    p = ngx_cpymem(p, "\\u0026", 6);
                } else {
                    *p++ = *t;
                }
            }

            s += 6;

        } else {
            *p++ = *s++;
        }
    }

    free(text);

    ngx_str_set(&v, "no-store");

    if (ngx_helpdesk_http_header_out(r, "Cache-Control", &v) != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_str_set(&v, "Accept-Language, Cookie");
    (void) ngx_helpdesk_http_header_out(r, "Vary", &v);

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_send(r, NGX_HTTP_OK, "text/html; charset=utf-8",
                               out, p - out));
}


/* the hd_lang cookie, then Accept-Language, then the tenant's default */
static void
ngx_http_helpdesk_portal_language(ngx_http_helpdesk_portal_ctx_t *ctx,
    json_t *boot)
{
    u_char           *p, *last;
    const char       *dflt;
    ngx_str_t         cookie;
    ngx_table_elt_t  *h;
    ngx_http_request_t *r = ctx->req.r;

    static ngx_str_t  name = ngx_string("hd_lang");
    static ngx_str_t  pt = ngx_string("pt-BR");
    static ngx_str_t  es = ngx_string("es");
    static ngx_str_t  en = ngx_string("en");

    ngx_str_null(&cookie);

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                          &cookie) != NGX_DECLINED)
    {
        if (cookie.len == 5 && ngx_strncmp(cookie.data, "pt-BR", 5) == 0) {
            ctx->lang = pt;
            return;
        }

        if (cookie.len == 2 && ngx_strncmp(cookie.data, "es", 2) == 0) {
            ctx->lang = es;
            return;
        }

        if (cookie.len == 2 && ngx_strncmp(cookie.data, "en", 2) == 0) {
            ctx->lang = en;
            return;
        }
    }

    /* the first of the listed languages we have (clients list by preference) */
    h = ngx_helpdesk_http_header_in(r, "Accept-Language",
                                    sizeof("Accept-Language") - 1);

    if (h) {
        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == ',')) {
                p++;
            }

            if (last - p >= 2) {
                if (ngx_strncasecmp(p, (u_char *) "pt", 2) == 0) {
                    ctx->lang = pt;
                    return;
                }

                if (ngx_strncasecmp(p, (u_char *) "es", 2) == 0) {
                    ctx->lang = es;
                    return;
                }

                if (ngx_strncasecmp(p, (u_char *) "en", 2) == 0) {
                    ctx->lang = en;
                    return;
                }
            }

            p = ngx_strlchr(p, last, ',');
            if (p == NULL) {
                break;
            }
        }
    }

    dflt = json_string_value(json_object_get(
               json_object_get(boot, "portal"), "default_language"));

    ctx->lang = (dflt && ngx_strcmp(dflt, "es") == 0) ? es
                : (dflt && ngx_strcmp(dflt, "en") == 0) ? en : pt;
}


/*
 * The tenant's welcome title and text, one string or one per language: the
 * page gets the one of its language, else of the tenant's default, else
 * any (null when there is none).
 */
static void
ngx_http_helpdesk_portal_local_texts(ngx_http_helpdesk_portal_ctx_t *ctx,
    json_t *boot)
{
    json_t      *branding, *v, *s;
    ngx_uint_t   i, k;
    const char  *want[5];
    u_char       lang[8];

    static const char  *names[] = { "welcome_title", "welcome_text" };

    branding = json_object_get(json_object_get(boot, "portal"), "branding");
    if (!json_is_object(branding) || ctx->lang.len >= sizeof(lang)) {
        return;
    }

    ngx_cpystrn(lang, ctx->lang.data, ctx->lang.len + 1);

    want[0] = (const char *) lang;
    want[1] = json_string_value(json_object_get(
                  json_object_get(boot, "portal"), "default_language"));
    want[2] = "pt-BR";
    want[3] = "es";
    want[4] = "en";

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        v = json_object_get(branding, names[i]);

        if (!json_is_object(v)) {
            continue;
        }

        s = NULL;

        for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
            if (want[k] == NULL) {
                continue;
            }

            s = json_object_get(v, want[k]);

            if (json_is_string(s) && json_string_length(s)) {
                break;
            }

            s = NULL;
        }

        json_object_set_new(branding, names[i],
                            s ? json_incref(s) : json_null());
    }
}


/* the tenant's logo and favicon */

void
ngx_http_helpdesk_portal_image(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_str_t            name;
    ngx_http_request_t  *r = ctx->req.r;

    if (ctx->path.len == 7) {
        ngx_str_set(&name, "logo");
    } else {
        ngx_str_set(&name, "favicon");
    }

    ctx->query.sql = ngx_http_helpdesk_portal_image_sql;
    ctx->query.handler = ngx_http_helpdesk_portal_image_done;
    ctx->query.data = ctx;
    ctx->query.log = r->connection->log;
    ctx->query.owner = r->pool;
    ctx->query.result_format = 1;

    if (ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.host) != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.hlcf->base_domain)
           != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &name) != NGX_OK)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(&ctx->query);
}


static void
ngx_http_helpdesk_portal_image_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    u_char                          *data, *etag;
    size_t                           len;
    ngx_str_t                        v, type;
    ngx_table_elt_t                 *inm;
    const ngx_helpdesk_magic_t      *kind;
    ngx_http_helpdesk_portal_ctx_t  *ctx = q->data;
    ngx_http_request_t              *r = ctx->req.r;

    if (q->status != NGX_HELPDESK_PG_OK || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQgetisnull(res, 0, 2)) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_NOT_FOUND);
        return;
    }

    len = PQgetlength(res, 0, 2);
    data = ngx_pnalloc(r->pool, len ? len : 1);
    etag = ngx_pnalloc(r->pool, 2 + 16);

    if (data == NULL || etag == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(data, PQgetvalue(res, 0, 2), len);

    etag[0] = '"';
    ngx_memcpy(etag + 1, PQgetvalue(res, 0, 1),
               ngx_min(16, (size_t) PQgetlength(res, 0, 1)));
    etag[17] = '"';

    v.data = etag;
    v.len = 18;

    if (ngx_helpdesk_http_header_out(r, "ETag", &v) != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_str_set(&v, "public, max-age=300");
    (void) ngx_helpdesk_http_header_out(r, "Cache-Control", &v);

    inm = ngx_helpdesk_http_header_in(r, "If-None-Match",
                                       sizeof("If-None-Match") - 1);

    if (inm && inm->value.len == 18
        && ngx_strncmp(inm->value.data, etag, 18) == 0)
    {
        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        r->header_only = 1;
        ngx_http_helpdesk_portal_finalize(ctx, ngx_http_send_header(r));
        return;
    }

    /*
     * The type the bytes say, not the stored one: a logo is shown in the
     * portal's pages, so only a raster image (or an icon) is named as one.
     */
    kind = ngx_helpdesk_magic(data, len);

    if (kind->inline_ok) {
        type.data = (u_char *) kind->type;

    } else if (len >= 4 && ngx_memcmp(data, "\0\0\1\0", 4) == 0) {
        type.data = (u_char *) "image/x-icon";

    } else {
        type.data = (u_char *) kind->type;
        ngx_str_set(&v, "attachment");
        (void) ngx_helpdesk_http_header_out(r, "Content-Disposition", &v);
    }

    if (ngx_helpdesk_http_file_csp(r) != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_send(r, NGX_HTTP_OK, (const char *) type.data,
                               data, len));
}


/* an attachment of one of the customer's tickets */

void
ngx_http_helpdesk_portal_file(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->req.r;

    ngx_memzero(&ctx->query, sizeof(ngx_helpdesk_pg_query_t));
    ctx->query.sql = ctx->app->file_sql;
    ctx->query.handler = ngx_http_helpdesk_portal_file_done;
    ctx->query.data = ctx;
    ctx->query.log = r->connection->log;
    ctx->query.owner = r->pool;
    ctx->query.result_format = 1;

    if (ctx->user.len == 0) {
        ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_UNAUTHORIZED,
            "login-required", "Unauthorized", "log in to continue");
        return;
    }

    if (ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.host) != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.hlcf->base_domain)
           != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->user) != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.ip) != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->params[0])
           != NGX_OK
        || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->params[1])
           != NGX_OK)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(&ctx->query);
}


static void
ngx_http_helpdesk_portal_file_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_http_helpdesk_portal_ctx_t  *ctx = q->data;
    ngx_http_request_t              *r = ctx->req.r;

    if (q->status != NGX_HELPDESK_PG_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_http_helpdesk_portal_finalize(ctx,
            ngx_helpdesk_http_sql_problem(r, res, NULL));
        return;
    }

    ngx_http_helpdesk_portal_finalize(ctx,
                                      ngx_helpdesk_http_send_file(r, res));
}
