/*
 * Routing and query strings, the same for every surface.
 *
 * A surface keeps its own table of operations (the REST API groups them
 * by path, the apps list them flat); the core matches one path against a
 * pattern, says whether a method fits an operation, and gives the one
 * answer for a path nobody serves (404) or a method it does not take
 * (405 with Allow).  Query strings are split and decoded here only; what
 * a name means is the surface's business.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_request.h"
#include "http/ngx_helpdesk_http.h"


/*
 * Matches a path against a route pattern such as "/v1/tickets/" followed
 * by '*': each '*' is one non-empty segment, stored in params; a trailing
 * slash is tolerated.
 */

ngx_flag_t
ngx_http_helpdesk_route_match(const char *pattern, u_char *p, u_char *last,
    ngx_str_t *params, ngx_uint_t max, ngx_uint_t *n)
{
    u_char  *seg;

    *n = 0;

    while (*pattern) {

        if (p == last || *p != '/' || *pattern != '/') {
            return 0;
        }

        p++;
        pattern++;

        seg = p;
        while (p < last && *p != '/') {
            p++;
        }

        if (*pattern == '*') {
            if (p == seg || *n == max) {
                return 0;
            }

            params[*n].data = seg;
            params[*n].len = p - seg;
            (*n)++;
            pattern++;
            continue;
        }

        while (*pattern && *pattern != '/') {
            if (seg == p || *seg != (u_char) *pattern) {
                return 0;
            }

            seg++;
            pattern++;
        }

        if (seg != p) {
            return 0;
        }
    }

    return p == last || (p + 1 == last && *p == '/');
}


/* HEAD is served wherever GET is */

ngx_flag_t
ngx_http_helpdesk_route_method(ngx_http_request_t *r, ngx_uint_t method)
{
    return r->method == method
           || (r->method == NGX_HTTP_HEAD && method == NGX_HTTP_GET);
}


ngx_int_t
ngx_http_helpdesk_route_miss(ngx_http_request_t *r, ngx_uint_t allowed)
{
    u_char     *p;
    ngx_str_t   allow;

    (void) ngx_http_discard_request_body(r);

    if (allowed == 0) {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND, "not-found",
                                         "Not Found",
                                         "nothing is served at this path",
                                         NULL);
    }

    if (allowed & NGX_HTTP_GET) {
        allowed |= NGX_HTTP_HEAD;
    }

    p = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, DELETE, "));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    allow.data = p;

    if (allowed & NGX_HTTP_GET) {
        p = ngx_cpymem(p, "GET, HEAD, ", sizeof("GET, HEAD, ") - 1);
    }

    if (allowed & NGX_HTTP_POST) {
        p = ngx_cpymem(p, "POST, ", sizeof("POST, ") - 1);
    }

    if (allowed & NGX_HTTP_PUT) {
        p = ngx_cpymem(p, "PUT, ", sizeof("PUT, ") - 1);
    }

    if (allowed & NGX_HTTP_PATCH) {
        p = ngx_cpymem(p, "PATCH, ", sizeof("PATCH, ") - 1);
    }

    if (allowed & NGX_HTTP_DELETE) {
        p = ngx_cpymem(p, "DELETE, ", sizeof("DELETE, ") - 1);
    }

    allow.len = p - allow.data - 2;

    if (ngx_helpdesk_http_header_out(r, "Allow", &allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_ALLOWED,
                                     "method-not-allowed",
                                     "Method Not Allowed",
                                     "this path does not take this method; "
                                     "see the Allow header", NULL);
}


/*
 * Calls "each" for every name[=value] of the query string, in order, with
 * the value decoded ('+' is a space, then %XX) into r->pool; r->args is
 * not changed.  Empty pairs ("a=1&&b=2") are skipped.
 */

ngx_int_t
ngx_http_helpdesk_route_args(ngx_http_request_t *r,
    ngx_http_helpdesk_arg_pt each, void *data)
{
    u_char     *p, *last, *amp, *eq, *s, *dst, *src;
    ngx_int_t   rc;
    ngx_str_t   name, value;

    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        name.data = p;
        name.len = (eq ? eq : amp) - p;

        value.len = 0;
        value.data = ngx_pnalloc(r->pool, eq ? amp - eq : 1);
        if (value.data == NULL) {
            return NGX_ERROR;
        }

        if (eq) {
            for (s = eq + 1; s < amp; s++) {
                value.data[value.len++] = (*s == '+') ? ' ' : *s;
            }

            dst = value.data;
            src = value.data;
            ngx_unescape_uri(&dst, &src, value.len, 0);
            value.len = dst - value.data;
        }

        rc = each(data, &name, &value, eq != NULL);
        if (rc != NGX_OK) {
            return rc;
        }

        p = amp + 1;
    }

    return NGX_OK;
}
