/*
 * Tenant API operations: tickets, their comments and history, and the
 * tenant's users.  Each one only shapes the request into arguments for
 * the ticket service; the routes say which scope each needs.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_api.h"
#include "lib/ngx_helpdesk_ticket.h"
#include "http/ngx_helpdesk_http.h"


static ngx_int_t
ngx_http_helpdesk_api_ticket_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_body_object(ctx,
                                      ngx_helpdesk_ticket_create_fields);
}


static ngx_int_t
ngx_http_helpdesk_api_ticket_list(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_query(ctx, ngx_helpdesk_ticket_filter);
}


static ngx_int_t
ngx_http_helpdesk_api_ticket_get(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_ticket_update(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_helpdesk_ticket_update_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (json_array_size(ctx->errors) == 0 && json_object_size(ctx->args) == 0)
    {
        ngx_helpdesk_json_error(ctx->errors, "", "name at least one of: "
                                "status, priority, category, assignee");
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_ticket_comment(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_helpdesk_ticket_comment_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_ticket_events(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_query(ctx, ngx_helpdesk_page_filter) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_user_filter(json_t *args, ngx_str_t *name,
    ngx_str_t *value, json_t *errors)
{
    const char *const  *v;

    if (name->len != 4 || ngx_strncmp(name->data, "role", 4) != 0) {
        return NGX_DECLINED;
    }

    for (v = ngx_helpdesk_user_roles; *v; v++) {
        if (value->len == ngx_strlen(*v)
            && ngx_strncmp(value->data, *v, value->len) == 0)
        {
            json_object_set_new(args, "role", json_string(*v));
            return NGX_OK;
        }
    }

    ngx_helpdesk_json_error(errors, "role",
                            "must be one of: customer agent admin");
    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_api_user_list(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_query(ctx, ngx_http_helpdesk_api_user_filter);
}


static ngx_int_t
ngx_http_helpdesk_api_user_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_body_object(ctx,
                                      ngx_helpdesk_user_create_fields);
}


static ngx_int_t
ngx_http_helpdesk_api_attachment_id(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_param(ctx, "id", 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "attachment_id", 1);
}


/* a stored file (see ngx_helpdesk_http_send_file) */

static ngx_int_t
ngx_http_helpdesk_api_attachment_send(ngx_http_helpdesk_api_ctx_t *ctx,
    PGresult *res)
{
    return ngx_helpdesk_http_send_file(ctx->req.r, res);
}


/* /v1/business-hours/{channel}: the schedule is checked by the database */

static ngx_int_t
ngx_http_helpdesk_api_hours_channel(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t           *ch = &ctx->params[0];
    const char *const   *v;

    for (v = ngx_helpdesk_ticket_channels; *v; v++) {
        if (ch->len == ngx_strlen(*v) && ngx_strncmp(ch->data, *v, ch->len) == 0)
        {
            break;
        }
    }

    if (*v == NULL) {
        ngx_helpdesk_json_error(ctx->errors, "channel", "must be one of: "
                                "api portal email whatsapp chat phone");
    }

    return ngx_http_helpdesk_api_param(ctx, "channel", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_hours_put(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (!json_is_object(ctx->body)) {
        ngx_helpdesk_json_error(ctx->errors, "",
                                "the body must be a JSON object");

    } else {
        ctx->args = json_deep_copy(ctx->body);
        if (ctx->args == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_helpdesk_api_hours_channel(ctx);
}


#define TENANT  NGX_HTTP_HELPDESK_AUTH_TENANT

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_hours_ops[] = {
    { NGX_HTTP_GET, 200, "business_hours.get", "admin", TENANT,
      ngx_http_helpdesk_api_hours_channel, NULL, NULL, NULL },
    { NGX_HTTP_PUT, 200, "business_hours.put", "admin", TENANT,
      ngx_http_helpdesk_api_hours_put, NULL, NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_attachment_ops[]
= {
    { NGX_HTTP_GET, 200, "attachment.get", "tickets:read", TENANT,
      ngx_http_helpdesk_api_attachment_id, NULL,
      "SELECT filename, content_type, data FROM api.api_attachment"
      "($1::bytea, $2, $3::inet, $4::jsonb)",
      ngx_http_helpdesk_api_attachment_send },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_tickets_ops[] = {
    { NGX_HTTP_GET, 200, "ticket.list", "tickets:read", TENANT,
      ngx_http_helpdesk_api_ticket_list, NULL },
    { NGX_HTTP_POST, 201, "ticket.create", "tickets:write", TENANT,
      ngx_http_helpdesk_api_ticket_create, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_ticket_ops[] = {
    { NGX_HTTP_GET, 200, "ticket.get", "tickets:read", TENANT,
      ngx_http_helpdesk_api_ticket_get, NULL },
    { NGX_HTTP_PATCH, 200, "ticket.update", "tickets:write", TENANT,
      ngx_http_helpdesk_api_ticket_update, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_comment_ops[] = {
    { NGX_HTTP_POST, 201, "ticket.comment", "tickets:write", TENANT,
      ngx_http_helpdesk_api_ticket_comment, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_events_ops[] = {
    { NGX_HTTP_GET, 200, "ticket.events", "tickets:read", TENANT,
      ngx_http_helpdesk_api_ticket_events, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_users_ops[] = {
    { NGX_HTTP_GET, 200, "user.list", "admin", TENANT,
      ngx_http_helpdesk_api_user_list, NULL },
    { NGX_HTTP_POST, 201, "user.create", "admin", TENANT,
      ngx_http_helpdesk_api_user_create, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

#undef TENANT


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_ticket_routes[] = {
    { "/v1/tickets", ngx_http_helpdesk_api_tickets_ops },
    { "/v1/tickets/*", ngx_http_helpdesk_api_ticket_ops },
    { "/v1/tickets/*/comments", ngx_http_helpdesk_api_comment_ops },
    { "/v1/tickets/*/events", ngx_http_helpdesk_api_events_ops },
    { "/v1/tickets/*/attachments/*", ngx_http_helpdesk_api_attachment_ops },
    { "/v1/users", ngx_http_helpdesk_api_users_ops },
    { "/v1/business-hours/*", ngx_http_helpdesk_api_hours_ops },
    { NULL, NULL }
};
