/*
 * Cookies: the request core's reader (ngx_http_helpdesk_session_cookie()),
 * the portal's and the console's session and CSRF cookies
 * (ngx_http_helpdesk_portal_read_cookies()), the console session the REST
 * API accepts (ngx_http_helpdesk_api_session_found()), and a session's
 * stored value (ngx_http_helpdesk_session_parse()).  The input is one or
 * more Cookie header values separated by NUL bytes.  A token taken must be
 * 64 lower-case hex digits.
 */


#include "ngx_fuzz.h"
#include "ngx_http_helpdesk_module.h"
#include "http/ngx_http_helpdesk_session.h"
#include "api/ngx_http_helpdesk_api.h"
#include "app/ngx_http_helpdesk_portal.h"


#define NGX_FUZZ_MAX_COOKIES  8


static ngx_str_t  ngx_fuzz_names[] = {
    ngx_string("hd_session"), ngx_string("hd_agent"), ngx_string("hd_csrf"),
    ngx_string("hd_s")
};

static const ngx_http_helpdesk_app_t  ngx_fuzz_apps[] = {
    { 'p', ngx_string("hd_session"), NULL, NULL, NULL, NULL, NULL },
    { 'c', ngx_string("hd_agent"), NULL, NULL, NULL, NULL, NULL }
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    return 0;
}


static void
ngx_fuzz_token(ngx_str_t *s)
{
    size_t  i;

    if (s->len == 0) {
        return;
    }

    if (s->len != 64) {
        abort();
    }

    for (i = 0; i < s->len; i++) {
        if (!((s->data[i] >= '0' && s->data[i] <= '9')
              || (s->data[i] >= 'a' && s->data[i] <= 'f')))
        {
            abort();
        }
    }
}


static ngx_http_request_t *
ngx_fuzz_cookie_request(ngx_pool_t *pool, const uint8_t *data, size_t size)
{
    size_t               len;
    ngx_str_t            value;
    ngx_uint_t           n;
    const uint8_t       *part;
    ngx_table_elt_t     *h, **cookie;
    ngx_http_request_t  *r;

    r = ngx_fuzz_request(pool);

    for (n = 0; n < NGX_FUZZ_MAX_COOKIES
                && ngx_fuzz_part(&data, &size, &part, &len); n++)
    {
        value = ngx_fuzz_value(pool, part, len);
        h = ngx_fuzz_header(r, "Cookie", &value);

        cookie = ngx_array_push(&r->headers_in.cookies);
        if (cookie == NULL) {
            abort();
        }

        *cookie = h;
    }

    return r;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t                           created;
    ngx_str_t                        value, token;
    ngx_http_request_t              *r;
    ngx_uint_t                       i;
    ngx_pool_t                      *pool;
    ngx_http_helpdesk_api_ctx_t     *actx;
    ngx_http_helpdesk_portal_ctx_t  *pctx;
    u_char                           out[36 + 64];

    pool = ngx_fuzz_pool();

    r = ngx_fuzz_cookie_request(pool, data, size);

    for (i = 0; i < sizeof(ngx_fuzz_names) / sizeof(ngx_fuzz_names[0]); i++) {
        ngx_str_null(&token);

        if (ngx_http_helpdesk_session_cookie(r, &ngx_fuzz_names[i], &token)
            == NGX_OK)
        {
            ngx_fuzz_token(&token);

            if (token.len == 0) {
                abort();
            }
        }
    }

    for (i = 0; i < sizeof(ngx_fuzz_apps) / sizeof(ngx_fuzz_apps[0]); i++) {
        pctx = ngx_pcalloc(pool, sizeof(ngx_http_helpdesk_portal_ctx_t));
        if (pctx == NULL) {
            abort();
        }

        pctx->req.r = ngx_fuzz_cookie_request(pool, data, size);
        pctx->app = &ngx_fuzz_apps[i];
        pctx->req.tls = i;

        if (ngx_http_helpdesk_portal_read_cookies(pctx) != NGX_OK) {
            abort();
        }

        ngx_fuzz_token(&pctx->token);
        ngx_fuzz_token(&pctx->csrf_cookie);

        if (pctx->csrf_cookie.len == 0
            || (pctx->token.len && pctx->session_key.len != 8 + 64))
        {
            abort();
        }
    }

    actx = ngx_pcalloc(pool, sizeof(ngx_http_helpdesk_api_ctx_t));
    if (actx == NULL) {
        abort();
    }

    actx->req.r = ngx_fuzz_cookie_request(pool, data, size);

    if (ngx_http_helpdesk_api_session_found(actx) == NGX_OK) {
        ngx_fuzz_token(&actx->agent_token);

        if (actx->agent_token.len == 0) {
            abort();
        }
    }

    /* "<user> <csrf> <created> <app>", as Redis keeps a session */
    value = ngx_fuzz_str(pool, data, size);
    (void) ngx_http_helpdesk_session_parse(value.data, value.len, 'p', 86400,
                                           out, &created);

    ngx_destroy_pool(pool);

    return 0;
}
