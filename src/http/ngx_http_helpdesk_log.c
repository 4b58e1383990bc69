/*
 * $helpdesk_log_uri: what an access log should keep of a request's URI.
 *
 * Some of our URLs are credentials: a 360dialog delivery is authenticated
 * by nothing but the token in its path, a password-reset or invitation
 * link is a one-time password, and a few query strings carry tokens (the
 * Cloud API's handshake sends its verify token).  nginx's $request_uri
 * writes all of them into access logs, which are read by more people, kept
 * longer and copied further than the database.  This variable is the URI
 * as it was routed ($uri, then "?" and the arguments) with
 *
 *   - everything after the prefix of a helpdesk_whatsapp_webhook or a
 *     helpdesk_email_inbound location (the token: a mailbox's is 32
 *     characters, shorter than the rule below finds) replaced by
 *     "[redacted]";
 *   - the path segment after a "reset" segment (the portal's and the
 *     console's /reset/<token> pages and their /_/api/reset/<token> calls,
 *     which invitations use too) replaced;
 *   - any other path segment of 40 or more token characters (longer than
 *     a UUID: ids stay readable) replaced;
 *   - the value of a query argument whose name speaks of a secret (token,
 *     secret, password, key, signature, code, session, auth; the chat's
 *     visitor and stream tokens), or which is
 *     itself 40 or more token characters, replaced.
 *
 * The decoded $uri is used rather than the request line, so that a token
 * sent percent-encoded, or after "//" or "/./", is found all the same.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "ngx_http_helpdesk_log.h"


#define NGX_HTTP_HELPDESK_REDACTED      "[redacted]"
#define NGX_HTTP_HELPDESK_TOKEN_MIN     40


static ngx_int_t ngx_http_helpdesk_log_uri(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static u_char *ngx_http_helpdesk_log_path(u_char *p, u_char *s, u_char *last);
static u_char *ngx_http_helpdesk_log_args(u_char *p, u_char *s, u_char *last);


static ngx_str_t  ngx_http_helpdesk_log_uri_name =
    ngx_string("helpdesk_log_uri");


static const char  *ngx_http_helpdesk_log_secret_args[] = {
    "token", "secret", "password", "passwd", "key", "signature", "code",
    "session", "auth", "visitor", "stream", NULL
};


ngx_int_t
ngx_http_helpdesk_log_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_http_helpdesk_log_uri_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_helpdesk_log_uri;

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_log_uri(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t  out;

    if (r->uri.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ngx_http_helpdesk_log_redact(r, 1, &out) != NGX_OK) {
        return NGX_ERROR;
    }

    v->data = out.data;
    v->len = out.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_helpdesk_log_redact(ngx_http_request_t *r, ngx_flag_t args,
    ngx_str_t *out)
{
    u_char                        *p, *buf;
    size_t                         len;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_helpdesk_loc_conf_t  *hlcf;

    /* a redaction is never longer than 10 bytes for every 1 it replaces */
    len = (r->uri.len + r->args.len) * (sizeof(NGX_HTTP_HELPDESK_REDACTED) - 1)
          + 2;

    buf = ngx_pnalloc(r->pool, len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (hlcf && (hlcf->whatsapp || hlcf->email)
        && r->uri.len > clcf->name.len
        && ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len) == 0)
    {
        /* the path is the location's prefix and the token, nothing else */
        p = ngx_cpymem(p, clcf->name.data, clcf->name.len);
        p = ngx_cpymem(p, NGX_HTTP_HELPDESK_REDACTED,
                       sizeof(NGX_HTTP_HELPDESK_REDACTED) - 1);

    } else {
        p = ngx_http_helpdesk_log_path(p, r->uri.data,
                                       r->uri.data + r->uri.len);
    }

    if (args && r->args.len) {
        *p++ = '?';
        p = ngx_http_helpdesk_log_args(p, r->args.data,
                                       r->args.data + r->args.len);
    }

    out->data = buf;
    out->len = p - buf;

    return NGX_OK;
}


/*
 * A token in the path is a credential (an inbound mailbox's, a WhatsApp
 * connection's), and nginx names the request line in every line it logs
 * of the request (a body buffered to a file is a warning each time, one
 * over client_max_body_size an error before any handler runs): the line
 * without what follows "token" in the path.
 */
ngx_int_t
ngx_http_helpdesk_log_redact_line(ngx_http_request_t *r, u_char *token)
{
    u_char  *p, *line;

    line = ngx_pnalloc(r->pool, r->method_name.len + 1 + (token - r->uri.data)
                                + sizeof(NGX_HTTP_HELPDESK_REDACTED) - 1
                                + 1 + r->http_protocol.len);
    if (line == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(line, r->method_name.data, r->method_name.len);
    *p++ = ' ';
    p = ngx_cpymem(p, r->uri.data, token - r->uri.data);
    p = ngx_cpymem(p, NGX_HTTP_HELPDESK_REDACTED,
                   sizeof(NGX_HTTP_HELPDESK_REDACTED) - 1);

    if (r->http_protocol.len) {
        *p++ = ' ';
        p = ngx_cpymem(p, r->http_protocol.data, r->http_protocol.len);
    }

    r->request_line.data = line;
    r->request_line.len = p - line;

    return NGX_OK;
}


ngx_int_t
ngx_http_helpdesk_log_redact_prefix(ngx_http_request_t *r, ngx_str_t *prefix)
{
    if (prefix->len
        && r->uri.len > prefix->len
        && ngx_strncmp(r->uri.data, prefix->data, prefix->len) == 0
        && ngx_http_helpdesk_log_redact_line(r, r->uri.data + prefix->len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_helpdesk_log_path_token(ngx_http_request_t *r, size_t min,
    size_t max, ngx_str_t *token)
{
    u_char                    *p, *last;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /*
     * the location's prefix no longer heads the URI ("rewrite ... break"
     * in the location): no token, and nothing read past the URI's end
     */
    if (r->uri.len < clcf->name.len
        || ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len) != 0)
    {
        if (ngx_http_helpdesk_log_redact_line(r, r->uri.data) != NGX_OK) {
            return NGX_ERROR;
        }

        token->data = NULL;
        token->len = 0;

        return NGX_DECLINED;
    }

    p = r->uri.data + clcf->name.len;
    last = r->uri.data + r->uri.len;

    /* "location /inbound" takes "/inbound/token" too */
    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] != '/'
        && p < last && *p == '/')
    {
        p++;
    }

    /*
     * out of the request line nginx logs (again: the post-read phase has
     * done it only for the first such location, see
     * ngx_http_helpdesk_log_redact_prefix())
     */
    if (ngx_http_helpdesk_log_redact_line(r, p) != NGX_OK) {
        return NGX_ERROR;
    }

    token->data = p;

    while (p < last && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                        || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
    {
        p++;
    }

    token->len = p - token->data;

    if (p != last || token->len < min || token->len > max) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_helpdesk_log_token_like(u_char *s, u_char *last)
{
    u_char  *c;

    if (last - s < NGX_HTTP_HELPDESK_TOKEN_MIN) {
        return 0;
    }

    for (c = s; c < last; c++) {
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z')
              || (*c >= 'A' && *c <= 'Z') || *c == '-' || *c == '_'
              || *c == '%' || *c == '~' || *c == '.' || *c == '='))
        {
            return 0;
        }
    }

    return 1;
}


static u_char *
ngx_http_helpdesk_log_path(u_char *p, u_char *s, u_char *last)
{
    u_char      *e;
    ngx_uint_t   after_reset;

    after_reset = 0;

    while (s < last) {
        if (*s == '/') {
            *p++ = *s++;
            continue;
        }

        e = ngx_strlchr(s, last, '/');
        if (e == NULL) {
            e = last;
        }

        if (after_reset || ngx_http_helpdesk_log_token_like(s, e)) {
            p = ngx_cpymem(p, NGX_HTTP_HELPDESK_REDACTED,
                           sizeof(NGX_HTTP_HELPDESK_REDACTED) - 1);

        } else {
            p = ngx_cpymem(p, s, e - s);
        }

        after_reset = (e - s == 5 && ngx_strncasecmp(s, (u_char *) "reset", 5)
                                     == 0);
        s = e;
    }

    return p;
}


static ngx_uint_t
ngx_http_helpdesk_log_secret_name(u_char *s, u_char *last)
{
    size_t        n;
    u_char       *c;
    const char  **w;

    for (w = ngx_http_helpdesk_log_secret_args; *w; w++) {
        n = ngx_strlen(*w);

        for (c = s; last - c >= (ssize_t) n; c++) {
            if (ngx_strncasecmp(c, (u_char *) *w, n) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


static u_char *
ngx_http_helpdesk_log_args(u_char *p, u_char *s, u_char *last)
{
    u_char  *e, *eq;

    while (s < last) {
        e = ngx_strlchr(s, last, '&');
        if (e == NULL) {
            e = last;
        }

        eq = ngx_strlchr(s, e, '=');

        if (eq && (ngx_http_helpdesk_log_secret_name(s, eq)
                   || ngx_http_helpdesk_log_token_like(eq + 1, e)))
        {
            p = ngx_cpymem(p, s, eq + 1 - s);
            p = ngx_cpymem(p, NGX_HTTP_HELPDESK_REDACTED,
                           sizeof(NGX_HTTP_HELPDESK_REDACTED) - 1);

        } else if (eq == NULL && ngx_http_helpdesk_log_token_like(s, e)) {
            p = ngx_cpymem(p, NGX_HTTP_HELPDESK_REDACTED,
                           sizeof(NGX_HTTP_HELPDESK_REDACTED) - 1);

        } else {
            p = ngx_cpymem(p, s, e - s);
        }

        if (e < last) {
            *p++ = '&';
            e++;
        }

        s = e;
    }

    return p;
}
