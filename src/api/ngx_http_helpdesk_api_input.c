/*
 * Request input for the API's operations: the JSON body checked against a
 * field table, path parameters, and query parameters (decoded, checked,
 * every error collected).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_json.h"
#include "ngx_http_helpdesk_api.h"


ngx_int_t
ngx_http_helpdesk_api_body_object(ngx_http_helpdesk_api_ctx_t *ctx,
    const ngx_helpdesk_json_field_t *fields)
{
    json_t  *args;

    args = ngx_helpdesk_json_validate(ctx->body, fields, ctx->errors);
    if (args == NULL) {
        return NGX_ERROR;
    }

    json_decref(ctx->args);
    ctx->args = args;

    return NGX_OK;
}


ngx_int_t
ngx_http_helpdesk_api_param(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *name, ngx_uint_t n)
{
    json_t  *v;

    if (ctx->args == NULL) {
        ctx->args = json_object();
    }

    v = json_stringn((const char *) ctx->params[n].data, ctx->params[n].len);

    if (ctx->args == NULL || v == NULL) {
        json_decref(v);
        return NGX_ERROR;
    }

    json_object_set_new(ctx->args, name, v);

    return NGX_OK;
}


typedef struct {
    ngx_http_helpdesk_api_ctx_t  *ctx;
    ngx_int_t                   (*filter)(json_t *args, ngx_str_t *name,
                                          ngx_str_t *value, json_t *errors);
} ngx_http_helpdesk_api_query_t;


static ngx_int_t
ngx_http_helpdesk_api_query_arg(void *data, ngx_str_t *name, ngx_str_t *value,
    ngx_flag_t has_value)
{
    ngx_http_helpdesk_api_query_t  *aq = data;

    json_t  *args = aq->ctx->args, *errors = aq->ctx->errors;
    u_char   key[64];

    ngx_cpystrn(key, name->data, ngx_min(name->len + 1, sizeof(key)));

    if (ngx_strlchr(value->data, value->data + value->len, '\0')) {
        ngx_helpdesk_json_error(errors, (char *) key,
                                "must not contain NUL bytes");

    } else if (json_object_get(args, (char *) key)) {
        ngx_helpdesk_json_error(errors, (char *) key,
                                "is given more than once");

    } else if (aq->filter(args, name, value, errors) == NGX_DECLINED) {
        ngx_helpdesk_json_error(errors, (char *) key,
                                "unknown query parameter");
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_helpdesk_api_query(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_int_t (*filter)(json_t *args, ngx_str_t *name, ngx_str_t *value,
    json_t *errors))
{
    ngx_http_helpdesk_api_query_t  aq;

    if (ctx->args == NULL) {
        ctx->args = json_object();
        if (ctx->args == NULL) {
            return NGX_ERROR;
        }
    }

    aq.ctx = ctx;
    aq.filter = filter;

    return ngx_http_helpdesk_route_args(ctx->req.r,
                                        ngx_http_helpdesk_api_query_arg, &aq);
}


/*
 * A URL the helpdesk will send requests to: the outbound policy's check
 * (scheme, credentials, port, a public host), as "field"'s error.
 */

void
ngx_http_helpdesk_api_check_url(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *field)
{
    json_t                         *v;
    const char                     *why;
    ngx_http_helpdesk_main_conf_t  *hmcf;
    u_char                          buf[128];

    v = json_object_get(ctx->args, field);
    if (!json_is_string(v)) {
        return;
    }

    hmcf = ngx_http_get_module_main_conf(ctx->req.r, ngx_http_helpdesk_module);

    why = ngx_helpdesk_curl_url_check((u_char *) json_string_value(v),
                                      json_string_length(v),
                                      hmcf->outbound.allow, buf, sizeof(buf));
    if (why) {
        ngx_helpdesk_json_error(ctx->errors, field, why);
    }
}


/*
 * Strings that go into an outbound request's headers or URL: no control
 * character (CR, LF, NUL, any C0, DEL), so none can end a header line.
 */

void
ngx_http_helpdesk_api_check_ctl(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *const *fields)
{
    size_t       i, len;
    json_t      *v;
    ngx_uint_t   n;
    const char  *s;

    for (n = 0; fields[n]; n++) {
        v = json_object_get(ctx->args, fields[n]);
        if (!json_is_string(v)) {
            continue;
        }

        s = json_string_value(v);
        len = json_string_length(v);

        for (i = 0; i < len; i++) {
            if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
                ngx_helpdesk_json_error(ctx->errors, fields[n],
                                        "must not contain control characters "
                                        "(line breaks, NUL)");
                break;
            }
        }
    }
}
