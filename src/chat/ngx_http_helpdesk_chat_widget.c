/*
 * helpdesk_chat_widget: the website chat's script, for customers' pages.
 *
 * The install snippet names <location>chat.js on the provider's host.  Two
 * kinds of file are served, both embedded at build time from src/www/chat/
 * by src/tools/embed.pl, which also makes their gzip copies (nothing is
 * compressed per request):
 *
 *   chat.js            the loader: a few hundred bytes, cached five
 *                      minutes and revalidated by its ETag, so a new widget
 *                      reaches every page soon after an upgrade;
 *   widget.<hash>.js   the widget (and anything else under src/www/chat/),
 *                      named by its content: cached a year, immutable.
 *
 * The loader names the widget's versioned file and its Subresource
 * Integrity digest, so it is fetched in CORS mode: the files are public
 * scripts and say "Access-Control-Allow-Origin: *".  Anything else under
 * the location is 404; methods other than GET and HEAD are 405.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "http/ngx_http_helpdesk_request.h"
#include "www/ngx_helpdesk_www.h"


#define NGX_HTTP_HELPDESK_CHAT_WIDGET_DIR     "chat/"
#define NGX_HTTP_HELPDESK_CHAT_WIDGET_LOADER  "chat/chat.js"


static ngx_int_t ngx_http_helpdesk_chat_widget_handler(ngx_http_request_t *r);
static const ngx_helpdesk_www_file_t *ngx_http_helpdesk_chat_widget_file(
    u_char *name, size_t len, ngx_flag_t *loader);
static ngx_flag_t ngx_http_helpdesk_chat_widget_gzip_ok(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_helpdesk_chat_widget_send(ngx_http_request_t *r,
    const ngx_helpdesk_www_file_t *f, ngx_flag_t loader);


char *
ngx_http_helpdesk_chat_widget_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t       *clcf;
    void                          **at;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_helpdesk_chat_widget_handler) {
        return "is duplicate";
    }

    if (clcf->named || clcf->regex || clcf->exact_match || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        return "must be in a prefix location ending with \"/\", "
               "such as \"location /chat/widget/\"";
    }

    clcf->handler = ngx_http_helpdesk_chat_widget_handler;

    /* the install snippet the API hands out names the first one */
    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_helpdesk_module);

    if (hmcf->chat_widget_prefix.len == 0) {
        hmcf->chat_widget_prefix = clcf->name;
    }

    if (hmcf->chat_widget_servers == NULL) {
        hmcf->chat_widget_servers = ngx_array_create(cf->pool, 2,
                                                     sizeof(void *));
        if (hmcf->chat_widget_servers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    at = ngx_array_push_n(hmcf->chat_widget_servers, 2);
    if (at == NULL) {
        return NGX_CONF_ERROR;
    }

    at[0] = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    at[1] = &clcf->name;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_helpdesk_chat_widget_handler(ngx_http_request_t *r)
{
    u_char                         *name;
    size_t                          len;
    ngx_flag_t                      loader;
    ngx_http_helpdesk_req_t        *req;
    ngx_http_core_loc_conf_t       *clcf;
    const ngx_helpdesk_www_file_t  *f;

    req = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_req_t));
    if (req == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_helpdesk_req_init(r, req) != NGX_OK) {
        return req->rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    f = NULL;
    loader = 0;

    if (r->uri.len > clcf->name.len
        && ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len) == 0)
    {
        name = r->uri.data + clcf->name.len;
        len = r->uri.len - clcf->name.len;

        f = ngx_http_helpdesk_chat_widget_file(name, len, &loader);
    }

    if (f == NULL) {
        return ngx_http_helpdesk_route_miss(r, 0);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_helpdesk_route_miss(r, NGX_HTTP_GET);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_helpdesk_chat_widget_send(r, f, loader);
}


/*
 * "chat.js" is the loader; any other file under src/www/chat/ only by the
 * last segment of its versioned URL ("widget.1a2b3c4d.js").
 */

static const ngx_helpdesk_www_file_t *
ngx_http_helpdesk_chat_widget_file(u_char *name, size_t len,
    ngx_flag_t *loader)
{
    u_char                         *base;
    size_t                          dir, blen;
    const ngx_helpdesk_www_file_t  *f;

    dir = sizeof(NGX_HTTP_HELPDESK_CHAT_WIDGET_DIR) - 1;

    for (f = ngx_helpdesk_www_files; f->name.len; f++) {

        if (f->name.len <= dir
            || ngx_strncmp(f->name.data, NGX_HTTP_HELPDESK_CHAT_WIDGET_DIR,
                           dir) != 0)
        {
            continue;
        }

        if (f->name.len == sizeof(NGX_HTTP_HELPDESK_CHAT_WIDGET_LOADER) - 1
            && ngx_strncmp(f->name.data, NGX_HTTP_HELPDESK_CHAT_WIDGET_LOADER,
                           f->name.len) == 0)
        {
            if (len == f->name.len - dir
                && ngx_strncmp(name, f->name.data + dir, len) == 0)
            {
                *loader = 1;
                return f;
            }

            continue;
        }

        if (f->url.len == 0) {
            continue;
        }

        base = f->url.data + f->url.len;
        while (base > f->url.data && base[-1] != '/') {
            base--;
        }

        blen = f->url.data + f->url.len - base;

        if (blen == len && ngx_strncmp(base, name, len) == 0) {
            return f;
        }
    }

    return NULL;
}


/*
 * Whether Accept-Encoding takes gzip: "gzip" (or "x-gzip", or "*" when
 * gzip is not named) with a quality other than zero.
 */

static ngx_flag_t
ngx_http_helpdesk_chat_widget_gzip_ok(ngx_http_request_t *r)
{
    u_char           *p, *last, *tok, *end, *q;
    ngx_flag_t        star, zero;
    ngx_table_elt_t  *h;

    h = ngx_helpdesk_http_header_in(r, "Accept-Encoding",
                                    sizeof("Accept-Encoding") - 1);
    if (h == NULL) {
        return 0;
    }

    star = 0;
    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        tok = p;
        while (p < last && *p != ',' && *p != ';' && *p != ' '
               && *p != '\t')
        {
            p++;
        }
        end = p;

        /* the parameters: only "q=0", "q=0.0", ... matter */
        zero = 0;

        while (p < last && *p != ',') {
            if (*p == 'q' || *p == 'Q') {
                q = p + 1;

                while (q < last && (*q == ' ' || *q == '\t')) {
                    q++;
                }

                if (q < last && *q == '=') {
                    q++;

                    while (q < last && (*q == ' ' || *q == '\t')) {
                        q++;
                    }

                    if (q < last && *q == '0') {
                        zero = 1;
                        q++;

                        if (q < last && *q == '.') {
                            for (q++; q < last && *q >= '0' && *q <= '9'; q++)
                            {
                                if (*q != '0') {
                                    zero = 0;
                                }
                            }
                        }
                    }
                }
            }

            p++;
        }

        if ((end - tok == 4 && ngx_strncasecmp(tok, (u_char *) "gzip", 4) == 0)
            || (end - tok == 6
                && ngx_strncasecmp(tok, (u_char *) "x-gzip", 6) == 0))
        {
            return !zero;
        }

        if (end - tok == 1 && *tok == '*') {
            star = !zero;
        }
    }

    return star;
}


static ngx_int_t
ngx_http_helpdesk_chat_widget_send(ngx_http_request_t *r,
    const ngx_helpdesk_www_file_t *f, ngx_flag_t loader)
{
    ngx_str_t         v;
    ngx_flag_t        gz;
    ngx_table_elt_t  *h, *inm;
    const ngx_str_t  *etag, *body;

    gz = f->gzip.len && ngx_http_helpdesk_chat_widget_gzip_ok(r);

    etag = gz ? &f->gzip_etag : &f->etag;
    body = gz ? &f->gzip : &f->body;

    if (loader) {
        ngx_str_set(&v, "public, max-age=300");
    } else {
        ngx_str_set(&v, "public, max-age=31536000, immutable");
    }

    if (ngx_helpdesk_http_header_out(r, "Cache-Control", &v) != NGX_OK
        || ngx_helpdesk_http_header_out(r, "ETag", (ngx_str_t *) etag)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the answer depends on it whichever copy is sent */
    ngx_str_set(&v, "Accept-Encoding");
    if (ngx_helpdesk_http_header_out(r, "Vary", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "nosniff");
    if (ngx_helpdesk_http_header_out(r, "X-Content-Type-Options", &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "*");
    if (ngx_helpdesk_http_header_out(r, "Access-Control-Allow-Origin", &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * If-None-Match lists the tags the client holds ("*" for any): the
     * copy it would get now is among them, or it is sent.
     */
    inm = ngx_helpdesk_http_header_in(r, "If-None-Match",
                                      sizeof("If-None-Match") - 1);

    if (inm
        && ((inm->value.len == 1 && inm->value.data[0] == '*')
            || ngx_strlcasestrn(inm->value.data,
                                inm->value.data + inm->value.len,
                                etag->data, etag->len - 1)
               != NULL))
    {
        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    if (gz) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Content-Encoding");
        ngx_str_set(&h->value, "gzip");

        /* nginx's gzip filter, if on here, leaves it as it is */
        r->headers_out.content_encoding = h;
    }

    return ngx_helpdesk_http_send(r, NGX_HTTP_OK, (const char *) f->type.data,
                                  body->data, body->len);
}
