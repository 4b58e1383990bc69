/*
 * Tenant API for the customer portal (scope "admin"): appearance and
 * rules (/v1/portal), the ticket form (/v1/portal/form), logo and favicon
 * (/v1/portal/assets/{logo|favicon}), custom domains (/v1/domains, and
 * /v1/domains/{host}/check: checked again now) and the
 * knowledge base (/v1/kb/...).  The rules are checked by the database,
 * which lists every field error at once; the module renders articles'
 * Markdown (cmark, raw HTML dropped) so that pages only ever receive HTML
 * that is safe to show.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_api.h"
#include "lib/ngx_helpdesk_markdown.h"
#include "lib/ngx_helpdesk_hostname.h"


/* the body as it is: the service functions check it */
static ngx_int_t
ngx_http_helpdesk_api_portal_body(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (!json_is_object(ctx->body)) {
        ngx_helpdesk_json_error(ctx->errors, "", "send a JSON object");
        return NGX_OK;
    }

    json_decref(ctx->args);
    ctx->args = json_deep_copy(ctx->body);

    return ctx->args ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_helpdesk_api_portal_id(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_portal_body_id(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_portal_body(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_portal_asset(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t  *name = &ctx->params[0];

    if (!((name->len == 4 && ngx_strncmp(name->data, "logo", 4) == 0)
          || (name->len == 7 && ngx_strncmp(name->data, "favicon", 7) == 0)))
    {
        ngx_helpdesk_json_error(ctx->errors, "name", "logo or favicon");
        return NGX_OK;
    }

    if (ctx->body && ngx_http_helpdesk_api_portal_body(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "name", 0);
}


/*
 * A custom domain's arguments, for the tenant's routes and the provider's:
 * the name as it was sent, then the module's configuration, which a
 * request cannot set: "zone" (helpdesk_custom_domains cname_zone=, the
 * CNAME targets' zone) and "reserved" (the provider's own zones, the
 * portals' and the agents' consoles' (helpdesk_agent_console_host), which
 * no tenant may add a name under).  A "hostname" in Unicode (an IDN) is
 * brought to its A-label here (ngx_helpdesk_hostname_normalize()) or
 * refused with the reason; the database normalises and checks every name
 * (tls.host_normal, tls.host_problem: the same words for the same faults
 * whatever the script) and refuses the zones and names taken.
 */
static ngx_uint_t
ngx_http_helpdesk_api_domain_idn(json_t *host)
{
    size_t   i, n;
    u_char  *p;

    p = (u_char *) json_string_value(host);
    n = json_string_length(host);

    for (i = 0; i < n; i++) {
        if (p[i] >= 0x80) {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_helpdesk_api_domain_input(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t                         *reserved, *host;
    ngx_int_t                       rc;
    ngx_str_t                      *zone, in, name;
    const char                     *reason;
    ngx_http_helpdesk_loc_conf_t   *hlcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    if (ctx->args == NULL) {
        ctx->args = json_object();
        if (ctx->args == NULL) {
            return NGX_ERROR;
        }
    }

    hmcf = ngx_http_get_module_main_conf(ctx->req.r, ngx_http_helpdesk_module);
    hlcf = ngx_http_get_module_loc_conf(ctx->req.r, ngx_http_helpdesk_module);

    host = json_object_get(ctx->args, "hostname");

    if (json_is_string(host) && ngx_http_helpdesk_api_domain_idn(host)) {
        in.data = (u_char *) json_string_value(host);
        in.len = json_string_length(host);

        /* blanks around a pasted name */
        while (in.len && (in.data[0] == ' ' || in.data[0] == '\t')) {
            in.data++;
            in.len--;
        }

        while (in.len && (in.data[in.len - 1] == ' '
                          || in.data[in.len - 1] == '\t'))
        {
            in.len--;
        }

        rc = ngx_helpdesk_hostname_normalize(ctx->req.r->pool, &in, &name,
                                             &reason);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_helpdesk_json_error(ctx->errors, "hostname", reason);
            return NGX_OK;
        }

        if (json_object_set_new(ctx->args, "hostname",
                                json_stringn((char *) name.data, name.len))
            != 0)
        {
            return NGX_ERROR;
        }
    }

    zone = &hmcf->domains.cname_zone;

    reserved = json_array();
    if (reserved == NULL
        || json_object_set_new(ctx->args, "reserved", reserved) != 0
        || json_object_set_new(ctx->args, "zone",
                               zone->len ? json_stringn((char *) zone->data,
                                                        zone->len)
                                         : json_null()) != 0)
    {
        return NGX_ERROR;
    }

    if (hlcf->portal_domain.len
        && json_array_append_new(reserved,
               json_stringn((char *) hlcf->portal_domain.data,
                            hlcf->portal_domain.len)) != 0)
    {
        return NGX_ERROR;
    }

    if (hlcf->base_domain.len
        && json_array_append_new(reserved,
               json_stringn((char *) hlcf->base_domain.data,
                            hlcf->base_domain.len)) != 0)
    {
        return NGX_ERROR;
    }

    /* the agents' consoles' zone (helpdesk_agent_console_host) */
    if (hlcf->console_host.len
        && json_array_append_new(reserved,
               json_stringn((char *) hlcf->console_host.data,
                            hlcf->console_host.len)) != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_api_domain(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "hostname", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_domain_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_portal_body(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (json_array_size(ctx->errors)) {
        return NGX_OK;
    }

    return ngx_http_helpdesk_api_domain_input(ctx);
}


/*
 * An article: its Markdown rendered once, when it is written.  Its HTML is
 * the renderer's only: a field of HTML sent by the client ("body_html",
 * "html", anything named "..._html") is refused, never stored or passed on.
 */
static ngx_int_t
ngx_http_helpdesk_api_kb_article(ngx_http_helpdesk_api_ctx_t *ctx)
{
    size_t       n;
    json_t      *md, *v;
    ngx_str_t    html;
    const char  *key;

    if (ngx_http_helpdesk_api_portal_body(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!json_is_object(ctx->args)) {
        return NGX_OK;
    }

    json_object_foreach(ctx->args, key, v) {
        n = ngx_strlen(key);

        if ((n >= 4 && ngx_strcasecmp((u_char *) key + n - 4,
                                      (u_char *) "html") == 0))
        {
            ngx_helpdesk_json_error(ctx->errors, key,
                "HTML is rendered by the server from the Markdown in "
                "\"body\"; send the Markdown only");
        }
    }

    if (json_array_size(ctx->errors)) {
        return NGX_OK;
    }

    if (ctx->nparams && ngx_http_helpdesk_api_param(ctx, "id", 0) != NGX_OK) {
        return NGX_ERROR;
    }

    md = json_object_get(ctx->args, "body");

    if (md == NULL || json_is_null(md)) {
        return NGX_OK;
    }

    if (!json_is_string(md)) {
        ngx_helpdesk_json_error(ctx->errors, "body", "Markdown text");
        return NGX_OK;
    }

    if (ngx_helpdesk_markdown_html(ctx->req.r->pool,
                                   (u_char *) json_string_value(md),
                                   json_string_length(md), &html)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    json_object_set_new(ctx->args, "body_html",
                        json_stringn((char *) html.data, html.len));

    return NGX_OK;
}


/* an invitation to the console: the console's URL, for the link */
static ngx_int_t
ngx_http_helpdesk_api_invitation(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t    path;
    const char  *url;

    if (ngx_http_helpdesk_api_portal_body_id(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    url = json_string_value(json_object_get(ctx->args, "url"));

    if (url == NULL || !(ngx_strncmp(url, "https://", 8) == 0
                         || ngx_strncmp(url, "http://", 7) == 0)
        || ngx_strlen(url) > 500)
    {
        ngx_helpdesk_json_error(ctx->errors, "url",
            "the agent console's address, e.g. https://acme.support.example/agent");
    }

    ngx_str_set(&path, "");

    /* of the URL, the database keeps the path: the name is the tenant's */
    return ngx_http_helpdesk_req_link(&ctx->req, ctx->args, &path, 1);
}


#define TENANT    NGX_HTTP_HELPDESK_AUTH_TENANT
#define PROVIDER  NGX_HTTP_HELPDESK_AUTH_PROVIDER

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_portal_ops[] = {
    { NGX_HTTP_GET, 200, "portal.get", "admin", TENANT, NULL, NULL },
    { NGX_HTTP_PATCH, 200, "portal.put", "admin", TENANT,
      ngx_http_helpdesk_api_portal_body, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_form_ops[] = {
    { NGX_HTTP_GET, 200, "portal.get", "admin", TENANT, NULL, NULL },
    { NGX_HTTP_PUT, 200, "portal.form.put", "admin", TENANT,
      ngx_http_helpdesk_api_portal_body, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_asset_ops[] = {
    { NGX_HTTP_PUT, 200, "portal.asset.put", "admin", TENANT,
      ngx_http_helpdesk_api_portal_asset, NULL },
    { NGX_HTTP_DELETE, 204, "portal.asset.delete", "admin", TENANT,
      ngx_http_helpdesk_api_portal_asset, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_domains_ops[] = {
    { NGX_HTTP_GET, 200, "domain.list", "admin", TENANT, NULL, NULL },
    { NGX_HTTP_POST, 201, "domain.create", "admin", TENANT,
      ngx_http_helpdesk_api_domain_create, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_domain_ops[] = {
    { NGX_HTTP_GET, 200, "domain.get", "admin", TENANT,
      ngx_http_helpdesk_api_domain, NULL },
    { NGX_HTTP_DELETE, 204, "domain.delete", "admin", TENANT,
      ngx_http_helpdesk_api_domain, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_dcheck_ops[] = {
    { NGX_HTTP_POST, 202, "domain.check", "admin", TENANT,
      ngx_http_helpdesk_api_domain, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_categories_ops[]
= {
    { NGX_HTTP_GET, 200, "kb.category.list", "admin", TENANT, NULL, NULL },
    { NGX_HTTP_POST, 201, "kb.category.create", "admin", TENANT,
      ngx_http_helpdesk_api_portal_body, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_category_ops[] = {
    { NGX_HTTP_PATCH, 200, "kb.category.update", "admin", TENANT,
      ngx_http_helpdesk_api_portal_body_id, NULL },
    { NGX_HTTP_DELETE, 204, "kb.category.delete", "admin", TENANT,
      ngx_http_helpdesk_api_portal_id, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_articles_ops[] = {
    { NGX_HTTP_GET, 200, "kb.article.list", "admin", TENANT, NULL, NULL },
    { NGX_HTTP_POST, 201, "kb.article.create", "admin", TENANT,
      ngx_http_helpdesk_api_kb_article, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_article_ops[] = {
    { NGX_HTTP_GET, 200, "kb.article.get", "admin", TENANT,
      ngx_http_helpdesk_api_portal_id, NULL },
    { NGX_HTTP_PATCH, 200, "kb.article.update", "admin", TENANT,
      ngx_http_helpdesk_api_kb_article, NULL },
    { NGX_HTTP_DELETE, 204, "kb.article.delete", "admin", TENANT,
      ngx_http_helpdesk_api_portal_id, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_console_ops[] = {
    { NGX_HTTP_GET, 200, "console.settings", "admin", TENANT, NULL, NULL },
    { NGX_HTTP_PATCH, 200, "console.settings", "admin", TENANT,
      ngx_http_helpdesk_api_portal_body, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_invite_ops[] = {
    { NGX_HTTP_POST, 202, "user.invite", "admin", TENANT,
      ngx_http_helpdesk_api_invitation, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

#undef TENANT
#undef PROVIDER


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_portal_routes[] = {
    { "/v1/portal", ngx_http_helpdesk_api_portal_ops },
    { "/v1/portal/form", ngx_http_helpdesk_api_form_ops },
    { "/v1/portal/assets/*", ngx_http_helpdesk_api_asset_ops },
    { "/v1/domains", ngx_http_helpdesk_api_domains_ops },
    { "/v1/domains/*", ngx_http_helpdesk_api_domain_ops },
    { "/v1/domains/*/check", ngx_http_helpdesk_api_dcheck_ops },
    { "/v1/kb/categories", ngx_http_helpdesk_api_categories_ops },
    { "/v1/kb/categories/*", ngx_http_helpdesk_api_category_ops },
    { "/v1/kb/articles", ngx_http_helpdesk_api_articles_ops },
    { "/v1/kb/articles/*", ngx_http_helpdesk_api_article_ops },
    { "/v1/users/*/invitation", ngx_http_helpdesk_api_invite_ops },
    { "/v1/console", ngx_http_helpdesk_api_console_ops },
    { NULL, NULL }
};
