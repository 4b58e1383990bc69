/*
 * The tenant's website chat on its portal's page: the same loader as on
 * any site (chat.js with data-tenant), from
 *
 *   - the portal's own server, when helpdesk_chat_widget is in the same
 *     server{} (with helpdesk_chat beside it): the portal's session cookie,
 *     host-only, then reaches the chat, and a signed-in customer is linked
 *     (ngx_http_helpdesk_chat_customer.c); the page's policy, 'self', needs
 *     nothing more;
 *   - else the provider's host, as the install snippet the API hands out
 *     names it ("<scheme>://<base domain>[:<port>]<widget location>
 *     chat.js"): the page's policy then allows that origin for the scripts,
 *     the connections (the WebSocket, the fallback) and the pictures; the
 *     cookie does not go there, so the visitor is anonymous.
 *
 * Without either (no widget location, no base domain), no launcher.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "ngx_http_helpdesk_portal.h"


static ngx_int_t ngx_http_helpdesk_portal_chat_csp(ngx_http_request_t *r,
    ngx_str_t *origin);
static u_char *ngx_http_helpdesk_portal_chat_add(u_char *p, u_char **csp,
    u_char *last, const char *directive, ngx_str_t *add);


ngx_int_t
ngx_http_helpdesk_portal_chat(ngx_http_helpdesk_portal_ctx_t *ctx,
    json_t *boot)
{
    void                           **at;
    size_t                           len;
    json_t                          *chat, *slug;
    ngx_str_t                       *prefix, origin;
    ngx_uint_t                       i;
    ngx_http_request_t              *r = ctx->req.r;
    ngx_http_core_srv_conf_t        *cscf;
    ngx_http_helpdesk_loc_conf_t    *hlcf = ctx->req.hlcf;
    ngx_http_helpdesk_main_conf_t   *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);
    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
    slug = json_object_get(json_object_get(boot, "tenant"), "slug");

    if (hmcf->chat_widget_servers && json_is_string(slug)) {
        at = hmcf->chat_widget_servers->elts;

        for (i = 0; i < hmcf->chat_widget_servers->nelts; i += 2) {
            if (at[i] != cscf) {
                continue;
            }

            prefix = at[i + 1];

            chat = json_pack("{s:s%+, s:O}",
                             "script", (char *) prefix->data, prefix->len,
                             "chat.js", "tenant", slug);
            if (chat == NULL) {
                return NGX_ERROR;
            }

            json_object_set_new(boot, "chat", chat);
            return NGX_OK;
        }
    }

    if (hmcf->chat_widget_prefix.len == 0 || hlcf->portal_domain.len == 0
        || !json_is_string(slug))
    {
        json_object_set_new(boot, "chat", json_false());
        return NGX_OK;
    }

    /* the provider's host, as the settings' script_url names it */

    len = sizeof("https://") - 1 + hlcf->portal_domain.len
          + sizeof(":65535") - 1;

    origin.data = ngx_pnalloc(r->pool, len);
    if (origin.data == NULL) {
        return NGX_ERROR;
    }

    origin.len = ngx_sprintf(origin.data, "%s://%V",
                             hlcf->link_https ? "https" : "http",
                             &hlcf->portal_domain)
                 - origin.data;

    if (hlcf->link_port) {
        origin.len = ngx_sprintf(origin.data + origin.len, ":%ui",
                                 hlcf->link_port)
                     - origin.data;
    }

    chat = json_pack("{s:s%+%+, s:O}",
                     "script", (char *) origin.data, origin.len,
                     (char *) hmcf->chat_widget_prefix.data,
                     hmcf->chat_widget_prefix.len, "chat.js",
                     "tenant", slug);
    if (chat == NULL) {
        return NGX_ERROR;
    }

    json_object_set_new(boot, "chat", chat);

    return ngx_http_helpdesk_portal_chat_csp(r, &origin);
}


/*
 * The page's Content-Security-Policy, set already, with the provider's
 * origin added to script-src, connect-src (and its ws:/wss: form) and
 * img-src.
 */

static ngx_int_t
ngx_http_helpdesk_portal_chat_csp(ngx_http_request_t *r, ngx_str_t *origin)
{
    u_char           *p, *csp, *last;
    ngx_str_t         both, ws;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0
            && h[i].key.len == sizeof("Content-Security-Policy") - 1
            && ngx_strncasecmp(h[i].key.data,
                               (u_char *) "Content-Security-Policy",
                               h[i].key.len) == 0)
        {
            break;
        }
    }

    /* "wss://host[:port]" from "https://host[:port]" */
    ws.len = origin->len - 2;
    ws.data = ngx_pnalloc(r->pool, ws.len);
    both.len = origin->len + 1 + ws.len;
    both.data = ngx_pnalloc(r->pool, both.len);
    p = ngx_pnalloc(r->pool, h[i].value.len + origin->len * 4 + 8);

    if (ws.data == NULL || both.data == NULL || p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ws.data, "ws", 2);
    ngx_memcpy(ws.data + 2, origin->data + 4, origin->len - 4);
    ngx_sprintf(both.data, "%V %V", origin, &ws);

    csp = h[i].value.data;
    last = csp + h[i].value.len;
    h[i].value.data = p;

    p = ngx_http_helpdesk_portal_chat_add(p, &csp, last, "script-src 'self'",
                                          origin);
    p = ngx_http_helpdesk_portal_chat_add(p, &csp, last, "img-src 'self'",
                                          origin);
    p = ngx_http_helpdesk_portal_chat_add(p, &csp, last, "connect-src 'self'",
                                          &both);
    p = ngx_cpymem(p, csp, last - csp);

    h[i].value.len = p - h[i].value.data;

    return NGX_OK;
}


/* copies up to and with this directive's start, then " <add>" after it */

static u_char *
ngx_http_helpdesk_portal_chat_add(u_char *p, u_char **csp, u_char *last,
    const char *directive, ngx_str_t *add)
{
    u_char  *at;
    size_t   len;

    len = ngx_strlen(directive);
    at = ngx_strlcasestrn(*csp, last, (u_char *) directive, len - 1);

    if (at == NULL) {
        return p;
    }

    p = ngx_cpymem(p, *csp, at + len - *csp);
    *p++ = ' ';
    p = ngx_cpymem(p, add->data, add->len);
    *csp = at + len;

    return p;
}
