/*
 * Tenant API: the mail the helpdesk sends (scope "admin").
 *
 *   /v1/email/settings                        GET, PUT: the sender, the
 *                                             signature, a relay of the
 *                                             tenant's own, the DKIM record
 *   /v1/email/templates/{kind}/{lang}         GET, PUT, DELETE (back to the
 *                                             shipped wording)
 *   /v1/email/templates/{kind}/{lang}/preview POST: the mail a template
 *                                             (stored, or the draft given)
 *                                             makes, with sample values
 *
 * A tenant's relay URL is held to the outbound policy when it is saved
 * (and its address again on every delivery); its password is sealed here,
 * to a fresh id, before PostgreSQL sees it, and never returned.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_api.h"


#define STR       NGX_HELPDESK_JSON_STRING
#define NULLABLE  NGX_HELPDESK_JSON_NULLABLE

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_email_settings_fields[]
= {
    { "from_name", STR, NULLABLE, 100, NULL, NULL },
    { "from_address", STR, NULLABLE, 254, NULL, NULL },
    { "reply_to", STR, NULLABLE, 254, NULL, NULL },
    { "signature", STR, NULLABLE, 2000, NULL, NULL },
    { "smtp_url", STR, NULLABLE, 500, NULL, NULL },
    { "smtp_user", STR, NULLABLE, 254, NULL, NULL },
    { "smtp_password", STR, NULLABLE, 1024, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_email_template_fields[]
= {
    { "subject", STR, NGX_HELPDESK_JSON_REQUIRED, 500, NULL, NULL },
    { "text", STR, NGX_HELPDESK_JSON_REQUIRED, 20000, NULL, NULL },
    { "html", STR, NGX_HELPDESK_JSON_REQUIRED, 50000, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_email_preview_fields[]
= {
    { "subject", STR, 0, 500, NULL, NULL },
    { "text", STR, 0, 20000, NULL, NULL },
    { "html", STR, 0, 50000, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

#undef STR
#undef NULLABLE


static ngx_int_t
ngx_http_helpdesk_api_email_settings_put(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t                         *v;
    ngx_str_t                       row;
    const char                     *why;
    ngx_http_helpdesk_main_conf_t  *hmcf;
    u_char                          buf[128];
    u_char                          id[NGX_HELPDESK_UUID_LEN];

    static const char *const  oneline[] = {
        "from_name", "from_address", "reply_to", "smtp_url", "smtp_user",
        "smtp_password", NULL
    };

    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_email_settings_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* what goes into headers and the SMTP dialogue: one line each */
    ngx_http_helpdesk_api_check_ctl(ctx, oneline);

    if (json_array_size(ctx->errors) == 0 && json_object_size(ctx->args) == 0)
    {
        ngx_helpdesk_json_error(ctx->errors, "", "name at least one of: "
                                "from_name, from_address, reply_to, "
                                "signature, smtp_url, smtp_user, "
                                "smtp_password");
    }

    v = json_object_get(ctx->args, "smtp_url");

    if (json_is_string(v)) {
        hmcf = ngx_http_get_module_main_conf(ctx->req.r,
                                             ngx_http_helpdesk_module);

        why = ngx_helpdesk_curl_smtp_url_check(
                  (u_char *) json_string_value(v), json_string_length(v),
                  hmcf->outbound.allow, buf, sizeof(buf));
        if (why) {
            ngx_helpdesk_json_error(ctx->errors, "smtp_url", why);
        }
    }

    v = json_object_get(ctx->args, "smtp_password");

    if (!json_is_string(v) || json_array_size(ctx->errors)) {
        return NGX_OK;
    }

    /* a new password, sealed to a new id the row keeps */
    if (ngx_helpdesk_secret_row_id(id) != NGX_OK) {
        return NGX_ERROR;
    }

    row.data = id;
    row.len = sizeof(id);

    json_object_set_new(ctx->args, "smtp_secret_id",
                        json_stringn((char *) id, sizeof(id)));

    return ngx_http_helpdesk_secret_seal(ctx->req.r, ctx->args,
                                         "smtp_password", "email_settings",
                                         "smtp_password", &row);
}


static ngx_int_t
ngx_http_helpdesk_api_email_template_ref(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_param(ctx, "kind", 0) != NGX_OK
        || ngx_http_helpdesk_api_param(ctx, "lang", 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_api_email_template_put(ngx_http_helpdesk_api_ctx_t *ctx)
{
    static const char *const  oneline[] = { "subject", NULL };

    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_email_template_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_helpdesk_api_check_ctl(ctx, oneline);

    return ngx_http_helpdesk_api_email_template_ref(ctx);
}


static ngx_int_t
ngx_http_helpdesk_api_email_template_preview(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ctx->raw_body.len == 0) {
        ctx->args = json_object();

    } else if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_email_preview_fields)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_email_template_ref(ctx);
}


#define TENANT  NGX_HTTP_HELPDESK_AUTH_TENANT

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_email_settings_ops[]
= {
    { NGX_HTTP_GET, 200, "email.settings.get", "admin", TENANT, NULL, NULL },
    { NGX_HTTP_PUT, 200, "email.settings.put", "admin", TENANT,
      ngx_http_helpdesk_api_email_settings_put, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_email_template_ops[]
= {
    { NGX_HTTP_GET, 200, "email.template.get", "admin", TENANT,
      ngx_http_helpdesk_api_email_template_ref, NULL },
    { NGX_HTTP_PUT, 200, "email.template.put", "admin", TENANT,
      ngx_http_helpdesk_api_email_template_put, NULL },
    { NGX_HTTP_DELETE, 204, "email.template.delete", "admin", TENANT,
      ngx_http_helpdesk_api_email_template_ref, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_email_preview_ops[]
= {
    { NGX_HTTP_POST, 200, "email.template.preview", "admin", TENANT,
      ngx_http_helpdesk_api_email_template_preview, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

#undef TENANT


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_email_routes[] = {
    { "/v1/email/settings", ngx_http_helpdesk_api_email_settings_ops },
    { "/v1/email/templates/*/*", ngx_http_helpdesk_api_email_template_ops },
    { "/v1/email/templates/*/*/preview",
      ngx_http_helpdesk_api_email_preview_ops },
    { NULL, NULL }
};
