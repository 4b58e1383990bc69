/*
 * Query strings: the request core's splitter (ngx_http_helpdesk_route_args(),
 * whose decoded values are never longer than the query), the API's use of
 * it (ngx_http_helpdesk_api_query() with the ticket list's and the paging
 * filters) and the portal's and console's (ngx_http_helpdesk_portal_args(),
 * which turns lower-case arguments into the call's string arguments).
 */


#include "ngx_fuzz.h"
#include "ngx_http_helpdesk_module.h"
#include "lib/ngx_helpdesk_json.h"
#include "lib/ngx_helpdesk_ticket.h"
#include "http/ngx_http_helpdesk_request.h"
#include "api/ngx_http_helpdesk_api.h"
#include "app/ngx_http_helpdesk_portal.h"


static ngx_http_helpdesk_loc_conf_t  ngx_fuzz_hlcf;

static const ngx_http_helpdesk_portal_op_t  ngx_fuzz_ops[] = {
    { NGX_HTTP_GET, 200, "/tickets", "tickets.list",
      NGX_HTTP_HELPDESK_FLOW_CALL, { NULL, NULL } },
    { NGX_HTTP_GET, 200, "/kb/*/*", "kb.article",
      NGX_HTTP_HELPDESK_FLOW_CALL, { "category", "slug" } },
    { NGX_HTTP_GET, 200, "/customers.csv", "customers.csv",
      NGX_HTTP_HELPDESK_FLOW_CSV, { NULL, NULL } }
};

static const ngx_http_helpdesk_app_t  ngx_fuzz_app = {
    NGX_HTTP_HELPDESK_SESSION_PORTAL, ngx_string("hd_session"),
    NULL, NULL, NULL, NULL, NULL, ngx_fuzz_ops
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    ngx_str_set(&ngx_fuzz_hlcf.app_prefix, "");
    return 0;
}


static ngx_int_t
ngx_fuzz_arg(void *data, ngx_str_t *name, ngx_str_t *value,
    ngx_flag_t has_value)
{
    ngx_str_t  *args = data;

    if (name->data < args->data || value->len > args->len
        || name->data + name->len > args->data + args->len
        || (!has_value && value->len))
    {
        abort();
    }

    return NGX_OK;
}


static void
ngx_fuzz_api(ngx_pool_t *pool, const uint8_t *data, size_t size,
    ngx_int_t (*filter)(json_t *args, ngx_str_t *name, ngx_str_t *value,
    json_t *errors))
{
    ngx_http_request_t           *r;
    ngx_http_helpdesk_api_ctx_t  *ctx;

    r = ngx_fuzz_request(pool);
    r->args = ngx_fuzz_str(pool, data, size);

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_helpdesk_api_ctx_t));
    if (ctx == NULL) {
        abort();
    }

    ctx->req.r = r;
    ctx->errors = json_array();

    if (ctx->errors == NULL
        || ngx_http_helpdesk_api_query(ctx, filter) != NGX_OK
        || !json_is_object(ctx->args))
    {
        abort();
    }

    json_decref(ctx->args);
    json_decref(ctx->errors);
}


static void
ngx_fuzz_portal(ngx_pool_t *pool, const uint8_t *data, size_t size,
    const ngx_http_helpdesk_portal_op_t *op)
{
    const char                      *key;
    json_t                          *value;
    ngx_http_request_t              *r;
    ngx_http_helpdesk_portal_ctx_t  *ctx;

    r = ngx_fuzz_request(pool);
    r->args = ngx_fuzz_str(pool, data, size);

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_helpdesk_portal_ctx_t));
    if (ctx == NULL) {
        abort();
    }

    ctx->req.r = r;
    ctx->req.hlcf = &ngx_fuzz_hlcf;
    ctx->op = op;
    ctx->app = &ngx_fuzz_app;
    ngx_str_set(&ctx->req.host, "demo.localhost");
    ngx_str_set(&ctx->params[0], "general");
    ngx_str_set(&ctx->params[1], "reset-password");
    ngx_str_set(&ctx->csrf_cookie,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");

    if (ngx_http_helpdesk_portal_args(ctx) != NGX_OK) {
        abort();
    }

    /* the query adds only short lower-case names */
    json_object_foreach(ctx->args, key, value) {
        if (ngx_strlen(key) > 16 || key[strspn(key, "abcdefghijklmnopqrstuv"
                                                    "wxyz_")] != '\0')
        {
            abort();
        }
    }

    json_decref(ctx->args);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_uint_t           i;
    ngx_pool_t          *pool;
    ngx_http_request_t  *r;

    pool = ngx_fuzz_pool();

    r = ngx_fuzz_request(pool);
    r->args = ngx_fuzz_str(pool, data, size);

    if (ngx_http_helpdesk_route_args(r, ngx_fuzz_arg, &r->args) != NGX_OK) {
        abort();
    }

    ngx_fuzz_api(pool, data, size, ngx_helpdesk_ticket_filter);
    ngx_fuzz_api(pool, data, size, ngx_helpdesk_page_filter);

    for (i = 0; i < sizeof(ngx_fuzz_ops) / sizeof(ngx_fuzz_ops[0]); i++) {
        ngx_fuzz_portal(pool, data, size, &ngx_fuzz_ops[i]);
    }

    ngx_destroy_pool(pool);

    return 0;
}
