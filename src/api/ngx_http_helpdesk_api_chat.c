/*
 * Tenant API for the website chat's record: its settings
 * (/v1/chat/settings, scope "admin"), its conversations and their
 * transcripts (/v1/chat/conversations, "tickets:read") and a
 * conversation turned into a ticket (.../{id}/ticket, "tickets:write").
 *
 * The live chat itself (the widget's WebSocket, the queue, the agents) is
 * not here: this is what was said and how the widget is set up, read and
 * written like the rest of the API, one statement per request through
 * api.chat_call().  The settings are checked by the database, which lists
 * every field error at once; query parameters are checked here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_api.h"
#include "lib/ngx_helpdesk_ticket.h"


#define ngx_http_helpdesk_api_chat_is(name, lit)                             \
    ((name)->len == sizeof(lit) - 1                                          \
     && ngx_strncmp((name)->data, lit, sizeof(lit) - 1) == 0)


/* the statement of each operation: api.chat_call with its name */
#define NGX_HTTP_HELPDESK_API_CHAT_SQL(op)                                    \
    "SELECT body, location FROM api.chat_call"                               \
    "($1::bytea, $2, $3::inet, '" op "', $4::jsonb)"


static const char *const  ngx_http_helpdesk_api_chat_statuses[] = {
    "bot", "queued", "active", "ended", "converted", NULL
};


static ngx_flag_t
ngx_http_helpdesk_api_chat_uuid(ngx_str_t *v)
{
    ngx_uint_t  i;

    if (v->len != 36) {
        return 0;
    }

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (v->data[i] != '-') {
                return 0;
            }

        } else if (!isxdigit(v->data[i])) {
            return 0;
        }
    }

    return 1;
}


/* "active,queued": every item one of the statuses */
static ngx_flag_t
ngx_http_helpdesk_api_chat_status_list(ngx_str_t *v)
{
    u_char              *p, *last, *comma;
    size_t               len;
    const char *const   *s;

    p = v->data;
    last = v->data + v->len;

    if (v->len == 0) {
        return 0;
    }

    while (p <= last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        len = comma - p;

        for (s = ngx_http_helpdesk_api_chat_statuses; *s; s++) {
            if (len == ngx_strlen(*s) && ngx_strncmp(p, *s, len) == 0) {
                break;
            }
        }

        if (*s == NULL) {
            return 0;
        }

        p = comma + 1;
    }

    return 1;
}


static ngx_int_t
ngx_http_helpdesk_api_chat_filter(json_t *args, ngx_str_t *name,
    ngx_str_t *value, json_t *errors)
{
    const char  *field, *problem;

    if (ngx_helpdesk_page_filter(args, name, value, errors) == NGX_OK) {
        return NGX_OK;
    }

    if (ngx_http_helpdesk_api_chat_is(name, "status")) {
        field = "status";
        problem = ngx_http_helpdesk_api_chat_status_list(value) ? NULL
                  : "must be a comma-separated list of: "
                    "bot queued active ended converted";

    } else if (ngx_http_helpdesk_api_chat_is(name, "visitor")) {
        field = "visitor";
        problem = ngx_http_helpdesk_api_chat_uuid(value) ? NULL
                  : "must be a visitor's id";

    } else if (ngx_http_helpdesk_api_chat_is(name, "customer")) {
        field = "customer";
        problem = (ngx_http_helpdesk_api_chat_uuid(value)
                   || ngx_helpdesk_json_email_valid((char *) value->data,
                                                    value->len))
                  ? NULL : "must be a customer's id or email";

    } else if (ngx_http_helpdesk_api_chat_is(name, "since")) {
        field = "since";
        problem = ngx_helpdesk_timestamp_valid(value->data, value->len) ? NULL
                  : "must be an RFC 3339 date or date-time";

    } else {
        return NGX_DECLINED;
    }

    if (problem) {
        ngx_helpdesk_json_error(errors, field, problem);
        return NGX_OK;
    }

    /* each one checked above: ASCII only */
    json_object_set_new(args, field,
                        json_stringn((char *) value->data, value->len));

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_api_chat_list(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_query(ctx, ngx_http_helpdesk_api_chat_filter);
}


static ngx_int_t
ngx_http_helpdesk_api_chat_id(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


/* the settings as sent: the database checks each field */
static ngx_int_t
ngx_http_helpdesk_api_chat_settings(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (!json_is_object(ctx->body)) {
        ngx_helpdesk_json_error(ctx->errors, "",
                                "send the settings as a JSON object");
        return NGX_OK;
    }

    json_decref(ctx->args);
    ctx->args = json_deep_copy(ctx->body);

    if (ctx->args) {
        /* read-only, as a GET answered it */
        (void) json_object_del(ctx->args, "script_url");
    }

    return ctx->args ? NGX_OK : NGX_ERROR;
}


/*
 * The settings answered with the URL the install snippet names:
 * "<scheme>://<base domain>[:<port>]<widget location>chat.js", the
 * provider's own name (helpdesk_base_domain) where helpdesk_chat_widget
 * serves the script, never a name from the request.  Without either, no
 * URL: the console then names its own host.
 */
static ngx_int_t
ngx_http_helpdesk_api_chat_script_url(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char                         *p, *last, *end;
    char                           *url;
    json_t                         *v;
    size_t                          len;
    ngx_http_request_t             *r = ctx->req.r;
    ngx_http_helpdesk_loc_conf_t   *hlcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);

    if (hmcf->chat_widget_prefix.len == 0 || hlcf->portal_domain.len == 0) {
        return NGX_OK;
    }

    len = sizeof("https://") - 1 + hlcf->portal_domain.len
          + sizeof(":65535") - 1 + hmcf->chat_widget_prefix.len
          + sizeof("chat.js") - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, "%s://%V", hlcf->link_https ? "https" : "http",
                       &hlcf->portal_domain);

    if (hlcf->link_port) {
        last = ngx_sprintf(last, ":%ui", hlcf->link_port);
    }

    last = ngx_sprintf(last, "%Vchat.js", &hmcf->chat_widget_prefix);

    /* added to the body as the statement wrote it: {..., "script_url": ".."} */
    v = json_stringn((char *) p, last - p);
    url = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
    json_decref(v);

    if (url == NULL) {
        return NGX_ERROR;
    }

    end = ctx->out.data + ctx->out.len;

    while (end > ctx->out.data && end[-1] != '}') {
        end--;
    }

    if (end == ctx->out.data) {
        free(url);
        return NGX_ERROR;
    }

    len = (end - 1 - ctx->out.data) + sizeof(", \"script_url\": ") - 1
          + ngx_strlen(url) + 1;

    /* and a byte past it: the answer's newline (api_respond) */
    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        free(url);
        return NGX_ERROR;
    }

    last = ngx_cpymem(p, ctx->out.data, end - 1 - ctx->out.data);

    while (last > p && (last[-1] == ' ' || last[-1] == '\n')) {
        last--;
    }

    last = ngx_sprintf(last, "%s\"script_url\": %s}",
                       (last > p && last[-1] == '{') ? "" : ", ", url);
    free(url);

    ctx->out.data = p;
    ctx->out.len = last - p;

    return NGX_OK;
}


/* a conversion takes nothing but the conversation: no body, or {} */
static ngx_int_t
ngx_http_helpdesk_api_chat_convert(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ctx->body
        && !(json_is_object(ctx->body) && json_object_size(ctx->body) == 0))
    {
        ngx_helpdesk_json_error(ctx->errors, "",
                                "send no body, or an empty object {}");
        return NGX_OK;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


/*
 * Converted (committed): the live chat is told and closed as the chat's
 * own conversion does it.
 */
static ngx_int_t
ngx_http_helpdesk_api_chat_converted(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(ctx->req.r, ngx_http_helpdesk_module);

    if (ctx->nparams > 0 && hmcf->chat_converted) {
        hmcf->chat_converted(&ctx->params[0]);
    }

    return NGX_OK;
}


#define TENANT  NGX_HTTP_HELPDESK_AUTH_TENANT

static const ngx_http_helpdesk_api_op_t
    ngx_http_helpdesk_api_chat_settings_ops[] =
{
    { NGX_HTTP_GET, 200, "chat.settings.get", "admin", TENANT, NULL,
      ngx_http_helpdesk_api_chat_script_url,
      NGX_HTTP_HELPDESK_API_CHAT_SQL("chat.settings.get"), NULL, NULL },
    { NGX_HTTP_PUT, 200, "chat.settings.put", "admin", TENANT,
      ngx_http_helpdesk_api_chat_settings,
      ngx_http_helpdesk_api_chat_script_url,
      NGX_HTTP_HELPDESK_API_CHAT_SQL("chat.settings.put"), NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t
    ngx_http_helpdesk_api_chat_conversations_ops[] =
{
    { NGX_HTTP_GET, 200, "chat.conversation.list", "tickets:read", TENANT,
      ngx_http_helpdesk_api_chat_list, NULL,
      NGX_HTTP_HELPDESK_API_CHAT_SQL("chat.conversation.list"), NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t
    ngx_http_helpdesk_api_chat_conversation_ops[] =
{
    { NGX_HTTP_GET, 200, "chat.conversation.get", "tickets:read", TENANT,
      ngx_http_helpdesk_api_chat_id, NULL,
      NGX_HTTP_HELPDESK_API_CHAT_SQL("chat.conversation.get"), NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t
    ngx_http_helpdesk_api_chat_ticket_ops[] =
{
    { NGX_HTTP_POST, 201, "chat.conversation.ticket", "tickets:write", TENANT,
      ngx_http_helpdesk_api_chat_convert,
      ngx_http_helpdesk_api_chat_converted,
      NGX_HTTP_HELPDESK_API_CHAT_SQL("chat.conversation.ticket"), NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

#undef TENANT


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_chat_routes[] = {
    { "/v1/chat/settings", ngx_http_helpdesk_api_chat_settings_ops },
    { "/v1/chat/conversations",
      ngx_http_helpdesk_api_chat_conversations_ops },
    { "/v1/chat/conversations/*",
      ngx_http_helpdesk_api_chat_conversation_ops },
    { "/v1/chat/conversations/*/ticket",
      ngx_http_helpdesk_api_chat_ticket_ops },
    { NULL, NULL }
};
