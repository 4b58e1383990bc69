/*
 * A portal or console call's arguments, as the service functions take
 * them: the JSON body's members, the path's parameters, the query's
 * lower-case arguments as strings, who votes on an article, and what the
 * links it emails are made of.  What is wrong with the body is answered
 * here (400); the rest is checked by the database.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_json.h"
#include "ngx_http_helpdesk_portal.h"


static ngx_int_t ngx_http_helpdesk_portal_arg(void *data, ngx_str_t *name,
    ngx_str_t *value, ngx_flag_t has_value);


/* path parameters, query and body, as the operation's arguments */
ngx_int_t
ngx_http_helpdesk_portal_args(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    json_t              *v;
    ngx_uint_t           i;
    json_error_t         err;
    ngx_http_request_t  *r = ctx->req.r;
    u_char               detail[256];

    if (ctx->op->flow != NGX_HTTP_HELPDESK_FLOW_UPLOAD && ctx->raw_body.len) {
        ctx->body = ngx_helpdesk_json_parse(ctx->raw_body.data,
                                            ctx->raw_body.len, &err);

        if (ctx->body == NULL || !json_is_object(ctx->body)) {
            ngx_snprintf(detail, sizeof(detail) - 1, "the body is not a JSON "
                         "object: %s%Z", ctx->body ? "" : err.text);
            ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid-json", "Bad Request", (char *) detail);
            return NGX_ERROR;
        }

        ctx->args = json_deep_copy(ctx->body);

    } else {
        ctx->args = json_object();
    }

    if (ctx->args == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_HELPDESK_PORTAL_MAX_PARAMS; i++) {
        if (ctx->op->param_names[i] == NULL) {
            break;
        }

        v = json_stringn((char *) ctx->params[i].data, ctx->params[i].len);
        if (v == NULL
            || json_object_set_new(ctx->args, ctx->op->param_names[i], v) != 0)
        {
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_ERROR;
        }
    }

    /*
     * what links back to the app (reset, invitation and verification
     * emails) are made of: the configured scheme and port, this app's
     * path; the name is the tenant's own, never the request's Host
     */
    if (ngx_http_helpdesk_req_link(&ctx->req, ctx->args,
                                   &ctx->req.hlcf->app_prefix,
                                   ctx->app->kind
                                   == NGX_HTTP_HELPDESK_SESSION_CONSOLE)
        != NGX_OK)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    /* who votes on articles: the customer, or this browser */
    if (ngx_strncmp(ctx->op->op, "kb.article", 10) == 0
        || ngx_strcmp(ctx->op->op, "kb.vote") == 0)
    {
        u_char  digest[32], voter[2 + 32];

        if (ctx->user.len) {
            v = json_pack("s+#", "u:", (char *) ctx->user.data,
                          (int) ctx->user.len);
        } else {
            ngx_helpdesk_sha256(ctx->csrf_cookie.data, ctx->csrf_cookie.len,
                                digest);
            voter[0] = 'b';
            voter[1] = ':';
            ngx_hex_dump(voter + 2, digest, 16);
            v = json_stringn((char *) voter, sizeof(voter));
        }

        if (v == NULL || json_object_set_new(ctx->args, "voter", v) != 0) {
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_ERROR;
        }
    }

    /* query arguments as strings (q, limit, status) */
    if (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_CALL
        || ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_CSV
        || ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_ARTICLE)
    {
        if (ngx_http_helpdesk_route_args(r, ngx_http_helpdesk_portal_arg, ctx)
            != NGX_OK)
        {
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Query arguments of short lower-case names become string arguments
 * (filters, search, paging); the service functions check them.  Path
 * parameters and the body's members are not overridden, and a value that
 * is not UTF-8 is left out.
 */

static ngx_int_t
ngx_http_helpdesk_portal_arg(void *data, ngx_str_t *name, ngx_str_t *value,
    ngx_flag_t has_value)
{
    ngx_http_helpdesk_portal_ctx_t  *ctx = data;

    char         key[17];
    json_t      *v;
    ngx_uint_t   i;

    if (!has_value || name->len == 0 || name->len > 16) {
        return NGX_OK;
    }

    for (i = 0; i < name->len; i++) {
        if (!((name->data[i] >= 'a' && name->data[i] <= 'z')
              || name->data[i] == '_'))
        {
            return NGX_OK;
        }
    }

    ngx_memcpy(key, name->data, name->len);
    key[name->len] = '\0';

    if (json_object_get(ctx->args, key) != NULL) {
        return NGX_OK;
    }

    v = json_stringn((char *) value->data, value->len);
    if (v == NULL) {
        return NGX_OK;
    }

    if (json_object_set_new(ctx->args, key, v) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
