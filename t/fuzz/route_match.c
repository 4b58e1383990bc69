/*
 * The router's matcher, ngx_http_helpdesk_route_match(): a path against every
 * route of the API and the apps' shapes, and against a pattern taken from
 * the input (pattern, NUL, path).  A match must account for the whole
 * path: the pattern with each '*' segment replaced by its parameter is the
 * path, give or take one trailing slash, and no parameter is empty or
 * holds '/'.
 */


#include "ngx_fuzz.h"
#include "http/ngx_http_helpdesk_request.h"
#include "api/ngx_http_helpdesk_api.h"


#define NGX_FUZZ_MAX_PARAMS  4


static const ngx_http_helpdesk_api_route_t  *ngx_fuzz_tables[] = {
    ngx_http_helpdesk_api_ticket_routes,
    ngx_http_helpdesk_api_provider_routes,
    ngx_http_helpdesk_api_webhook_routes,
    ngx_http_helpdesk_api_whatsapp_routes,
    ngx_http_helpdesk_api_portal_routes,
    NULL
};

/* the shapes of the portal's and the console's routes */
static const char  *ngx_fuzz_patterns[] = {
    "/session", "/tickets", "/tickets/*", "/tickets/*/comments",
    "/tickets/*/files/*", "/kb/*/*", "/customers/*/notes", "/", "/*", "/*/*",
    NULL
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    return 0;
}


/* the pattern with its '*' segments replaced by the parameters */
static ngx_flag_t
ngx_fuzz_rebuilt(const char *pattern, u_char *p, u_char *last,
    ngx_str_t *params, ngx_uint_t n)
{
    u_char      *q;
    ngx_uint_t   i;
    const char  *s;

    q = p;
    i = 0;

    for (s = pattern; *s; s++) {
        /* a '*' is a parameter at a segment's start, elsewhere a letter */
        if (*s != '*' || s == pattern || s[-1] != '/') {
            if (q == last || *q != (u_char) *s) {
                return 0;
            }

            q++;
            continue;
        }

        if (i == n || params[i].data != q || params[i].len == 0
            || params[i].len > (size_t) (last - q)
            || memchr(params[i].data, '/', params[i].len))
        {
            return 0;
        }

        q += params[i].len;
        i++;
    }

    return i == n && q == last;
}


static void
ngx_fuzz_match(const char *pattern, u_char *p, u_char *last, ngx_uint_t max)
{
    ngx_str_t   params[NGX_FUZZ_MAX_PARAMS];
    ngx_uint_t  n;

    if (!ngx_http_helpdesk_route_match(pattern, p, last, params, max, &n)) {
        return;
    }

    if (n > max) {
        abort();
    }

    /* as it is, or without the one trailing slash tolerated */
    if (!ngx_fuzz_rebuilt(pattern, p, last, params, n)
        && !(last > p && last[-1] == '/'
             && ngx_fuzz_rebuilt(pattern, p, last - 1, params, n)))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                               len;
    ngx_str_t                            path, pattern;
    ngx_pool_t                          *pool;
    const char                         **pt;
    const uint8_t                       *part;
    const ngx_http_helpdesk_api_route_t **table, *route;

    pool = ngx_fuzz_pool();

    path = ngx_fuzz_str(pool, data, size);

    for (table = ngx_fuzz_tables; *table; table++) {
        for (route = *table; route->pattern; route++) {
            ngx_fuzz_match(route->pattern, path.data, path.data + path.len,
                           NGX_HTTP_HELPDESK_API_MAX_PARAMS);
        }
    }

    for (pt = ngx_fuzz_patterns; *pt; pt++) {
        ngx_fuzz_match(*pt, path.data, path.data + path.len, 2);
    }

    /* a pattern of the input's own: a short one, no longer than a route */
    if (ngx_fuzz_part(&data, &size, &part, &len) && data != NULL
        && len <= 64)
    {
        pattern = ngx_fuzz_str(pool, part, len + 1);
        pattern.data[len] = '\0';
        path = ngx_fuzz_str(pool, data, size);

        ngx_fuzz_match((char *) pattern.data, path.data,
                       path.data + path.len, 1);
        ngx_fuzz_match((char *) pattern.data, path.data,
                       path.data + path.len, NGX_FUZZ_MAX_PARAMS);
    }

    ngx_destroy_pool(pool);

    return 0;
}
