/*
 * Tenant API: event webhooks (scope "admin").  A tenant registers an
 * endpoint with the events it wants; deliveries go through the outbox,
 * signed with the endpoint's secret, which is generated here and shown
 * in the response that creates the endpoint only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ngx_http_helpdesk_api.h"
#include "lib/ngx_helpdesk_ticket.h"


#define NGX_HTTP_HELPDESK_SECRET_RANDOM  24


static const char *const  ngx_http_helpdesk_webhook_events[] = {
    "ticket.created", "ticket.updated", "ticket.comment_added",
    "whatsapp.message_failed", "domain.status_changed", NULL
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_webhook_create_fields[]
= {
    { "url", NGX_HELPDESK_JSON_STRING, NGX_HELPDESK_JSON_REQUIRED, 2000, NULL,
      NULL },
    { "events", NGX_HELPDESK_JSON_ENUM_ARRAY, NGX_HELPDESK_JSON_REQUIRED, 0,
      ngx_http_helpdesk_webhook_events, NULL },
    { "description", NGX_HELPDESK_JSON_STRING, 0, 500, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_webhook_update_fields[]
= {
    { "url", NGX_HELPDESK_JSON_STRING, 0, 2000, NULL, NULL },
    { "events", NGX_HELPDESK_JSON_ENUM_ARRAY, 0, 0,
      ngx_http_helpdesk_webhook_events, NULL },
    { "description", NGX_HELPDESK_JSON_STRING, NGX_HELPDESK_JSON_NULLABLE, 500,
      NULL, NULL },
    { "enabled", NGX_HELPDESK_JSON_BOOL, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};


/*
 * The URL deliveries go to: the outbound policy's check (an absolute
 * http(s) URL, no credentials, a public host); the address a name stands
 * for is checked on every delivery.
 */

static void
ngx_http_helpdesk_webhook_check_url(ngx_http_helpdesk_api_ctx_t *ctx)
{
    static const char *const  fields[] = { "url", NULL };

    ngx_http_helpdesk_api_check_ctl(ctx, fields);
    ngx_http_helpdesk_api_check_url(ctx, "url");
}


static ngx_int_t
ngx_http_helpdesk_api_webhook_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char     *p;
    ngx_str_t   raw, enc, row;
    u_char      random[NGX_HTTP_HELPDESK_SECRET_RANDOM];
    u_char      id[NGX_HELPDESK_UUID_LEN];

    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_webhook_create_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_helpdesk_webhook_check_url(ctx);

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_ERROR;
    }

    raw.data = random;
    raw.len = sizeof(random);

    p = ngx_pnalloc(ctx->req.r->pool,
                    6 + ngx_base64_encoded_length(sizeof(random)));
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->secret.data = p;
    enc.data = ngx_cpymem(p, "whsec_", 6);
    ngx_encode_base64url(&enc, &raw);
    ctx->secret.len = 6 + enc.len;

    /*
     * the row's id is chosen here, so the secret is sealed to it before
     * PostgreSQL sees it; the plaintext goes to the response only
     */
    if (ngx_helpdesk_secret_row_id(id) != NGX_OK) {
        return NGX_ERROR;
    }

    row.data = id;
    row.len = sizeof(id);

    json_object_set_new(ctx->args, "endpoint_id",
                        json_stringn((char *) id, sizeof(id)));
    json_object_set_new(ctx->args, "secret",
                        json_stringn((char *) ctx->secret.data,
                                     ctx->secret.len));

    return ngx_http_helpdesk_secret_seal(ctx->req.r, ctx->args, "secret",
                                         "webhook_endpoints", "secret", &row);
}


/* the signing secret is in the response that creates the endpoint only */

static ngx_int_t
ngx_http_helpdesk_api_webhook_created(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t        *body;
    ngx_str_t      out;
    json_error_t   err;

    body = json_loadb((char *) ctx->out.data, ctx->out.len, 0, &err);
    if (body == NULL) {
        return NGX_ERROR;
    }

    json_object_set_new(body, "secret",
                        json_stringn((char *) ctx->secret.data,
                                     ctx->secret.len));

    if (ngx_helpdesk_json_dump(ctx->req.r->pool, body, &out) != NGX_OK) {
        json_decref(body);
        return NGX_ERROR;
    }

    json_decref(body);
    ctx->out = out;

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_api_webhook_id(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_webhook_update(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_webhook_update_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_helpdesk_webhook_check_url(ctx);

    if (json_array_size(ctx->errors) == 0 && json_object_size(ctx->args) == 0)
    {
        ngx_helpdesk_json_error(ctx->errors, "", "name at least one of: "
                                "url, events, description, enabled");
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_webhook_deliveries(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_query(ctx, ngx_helpdesk_page_filter) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


#define TENANT  NGX_HTTP_HELPDESK_AUTH_TENANT

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_webhooks_ops[] = {
    { NGX_HTTP_GET, 200, "webhook.list", "admin", TENANT, NULL, NULL },
    { NGX_HTTP_POST, 201, "webhook.create", "admin", TENANT,
      ngx_http_helpdesk_api_webhook_create,
      ngx_http_helpdesk_api_webhook_created, NULL, NULL, "secret" },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_webhook_ops[] = {
    { NGX_HTTP_GET, 200, "webhook.get", "admin", TENANT,
      ngx_http_helpdesk_api_webhook_id, NULL },
    { NGX_HTTP_PATCH, 200, "webhook.update", "admin", TENANT,
      ngx_http_helpdesk_api_webhook_update, NULL },
    { NGX_HTTP_DELETE, 204, "webhook.delete", "admin", TENANT,
      ngx_http_helpdesk_api_webhook_id, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_ping_ops[] = {
    { NGX_HTTP_POST, 202, "webhook.ping", "admin", TENANT,
      ngx_http_helpdesk_api_webhook_id, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_deliveries_ops[]
= {
    { NGX_HTTP_GET, 200, "webhook.deliveries", "admin", TENANT,
      ngx_http_helpdesk_api_webhook_deliveries, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

#undef TENANT


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_webhook_routes[] = {
    { "/v1/webhooks", ngx_http_helpdesk_api_webhooks_ops },
    { "/v1/webhooks/*", ngx_http_helpdesk_api_webhook_ops },
    { "/v1/webhooks/*/ping", ngx_http_helpdesk_api_ping_ops },
    { "/v1/webhooks/*/deliveries", ngx_http_helpdesk_api_deliveries_ops },
    { NULL, NULL }
};
