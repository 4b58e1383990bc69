/*
 * Tenant API: agent groups (/v1/groups).  Admins create, rename and
 * delete groups and choose their members (scope "admin"); agents may list
 * them (scope "tickets:read": the console's transfer dialog names them).
 * The database checks names (unique in the tenant without regard to
 * case), members (agents and admins of the same tenant) and audits every
 * change; see sql/tickets/groups.sql.
 *
 * Every committed change is told to the chat, whose queue offers a
 * conversation transferred to a group to that group's members only: the
 * hook reads the agents' groups again (ngx_http_helpdesk_chat_groups.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_api.h"


static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_group_create_fields[]
= {
    { "name", NGX_HELPDESK_JSON_STRING, NGX_HELPDESK_JSON_REQUIRED, 100, NULL,
      NULL },
    { "description", NGX_HELPDESK_JSON_STRING, 0, 500, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_group_update_fields[]
= {
    { "name", NGX_HELPDESK_JSON_STRING, 0, 100, NULL, NULL },
    { "description", NGX_HELPDESK_JSON_STRING, 0, 500, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};


static ngx_int_t
ngx_http_helpdesk_api_group_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_body_object(ctx,
                                        ngx_http_helpdesk_group_create_fields);
}


static ngx_int_t
ngx_http_helpdesk_api_group_id(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_group_update(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_body_object(ctx,
                                        ngx_http_helpdesk_group_update_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (json_array_size(ctx->errors) == 0 && json_object_size(ctx->args) == 0)
    {
        ngx_helpdesk_json_error(ctx->errors, "",
                                "name at least one of: name, description");
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


/* a member is named by the path alone: no body, or {} */
static ngx_int_t
ngx_http_helpdesk_api_group_member(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ctx->body
        && !(json_is_object(ctx->body) && json_object_size(ctx->body) == 0))
    {
        ngx_helpdesk_json_error(ctx->errors, "",
                                "send no body, or an empty object {}");
        return NGX_OK;
    }

    if (ngx_http_helpdesk_api_param(ctx, "id", 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "user_id", 1);
}


/*
 * Committed: the chat reads the agents' groups again.  The group is the
 * path's, or, for a new one, the answer's.
 */

static ngx_int_t
ngx_http_helpdesk_api_group_changed(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t                         *body;
    ngx_str_t                       id;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(ctx->req.r, ngx_http_helpdesk_module);

    if (hmcf->chat_groups == NULL) {
        return NGX_OK;
    }

    if (ctx->nparams > 0) {
        hmcf->chat_groups(&ctx->params[0]);
        return NGX_OK;
    }

    body = json_loadb((char *) ctx->out.data, ctx->out.len, 0, NULL);

    if (json_is_string(json_object_get(body, "id"))) {
        id.data = (u_char *) json_string_value(json_object_get(body, "id"));
        id.len = json_string_length(json_object_get(body, "id"));
        hmcf->chat_groups(&id);
    }

    json_decref(body);

    return NGX_OK;
}


#define TENANT  NGX_HTTP_HELPDESK_AUTH_TENANT

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_groups_ops[] = {
    { NGX_HTTP_GET, 200, "group.list", "tickets:read", TENANT, NULL, NULL,
      NULL, NULL, NULL },
    { NGX_HTTP_POST, 201, "group.create", "admin", TENANT,
      ngx_http_helpdesk_api_group_create, ngx_http_helpdesk_api_group_changed,
      NULL, NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_group_ops[] = {
    { NGX_HTTP_GET, 200, "group.get", "tickets:read", TENANT,
      ngx_http_helpdesk_api_group_id, NULL, NULL, NULL, NULL },
    { NGX_HTTP_PATCH, 200, "group.update", "admin", TENANT,
      ngx_http_helpdesk_api_group_update, ngx_http_helpdesk_api_group_changed,
      NULL, NULL, NULL },
    { NGX_HTTP_DELETE, 204, "group.delete", "admin", TENANT,
      ngx_http_helpdesk_api_group_id, ngx_http_helpdesk_api_group_changed,
      NULL, NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_members_ops[] = {
    { NGX_HTTP_GET, 200, "group.members", "tickets:read", TENANT,
      ngx_http_helpdesk_api_group_id, NULL, NULL, NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_member_ops[] = {
    { NGX_HTTP_PUT, 200, "group.member.add", "admin", TENANT,
      ngx_http_helpdesk_api_group_member, ngx_http_helpdesk_api_group_changed,
      NULL, NULL, NULL },
    { NGX_HTTP_DELETE, 204, "group.member.remove", "admin", TENANT,
      ngx_http_helpdesk_api_group_member, ngx_http_helpdesk_api_group_changed,
      NULL, NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

#undef TENANT


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_group_routes[] = {
    { "/v1/groups", ngx_http_helpdesk_api_groups_ops },
    { "/v1/groups/*", ngx_http_helpdesk_api_group_ops },
    { "/v1/groups/*/members", ngx_http_helpdesk_api_members_ops },
    { "/v1/groups/*/members/*", ngx_http_helpdesk_api_member_ops },
    { NULL, NULL }
};
