/*
 * The agent console, under a location with "helpdesk_agent_console"
 * (normally "/agent/") on the tenants' names.  It is the portal's sibling
 * app: the same Host-to-tenant mapping, sessions, CSRF, flows, pages and
 * files (ngx_http_helpdesk_portal*.c), with its own session cookie, its own
 * calls and console.console_call(), which admits agents and admins only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "ngx_http_helpdesk_portal.h"


#define CALL      NGX_HTTP_HELPDESK_FLOW_CALL


static const ngx_http_helpdesk_portal_op_t  ngx_http_helpdesk_console_ops[] = {
    { NGX_HTTP_GET,    "/boot", "boot", CALL, { NULL } },
    { NGX_HTTP_POST,   "/login", "login", NGX_HTTP_HELPDESK_FLOW_LOGIN,
      { NULL } },
    { NGX_HTTP_POST,   "/logout", "logout", NGX_HTTP_HELPDESK_FLOW_LOGOUT,
      { NULL } },
    { NGX_HTTP_POST,   "/password", "password",
      NGX_HTTP_HELPDESK_FLOW_PASSWORD, { NULL } },
    { NGX_HTTP_POST,   "/reset", "reset.request",
      NGX_HTTP_HELPDESK_FLOW_RESET_REQUEST, { NULL } },
    { NGX_HTTP_GET,    "/reset/*", "reset.check", CALL, { "token" } },
    { NGX_HTTP_POST,   "/totp/setup", "totp.setup",
      NGX_HTTP_HELPDESK_FLOW_TOTP_SETUP, { NULL } },
    { NGX_HTTP_POST,   "/totp/enable", "totp.enable",
      NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM, { NULL } },
    { NGX_HTTP_POST,   "/totp/disable", "totp.disable",
      NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM, { NULL } },
    { NGX_HTTP_POST,   "/reset/*", "reset.done",
      NGX_HTTP_HELPDESK_FLOW_RESET_DONE, { "token" } },

    { NGX_HTTP_GET,    "/stream", "stream.open", NGX_HTTP_HELPDESK_FLOW_STREAM,
      { NULL } },
    { NGX_HTTP_GET,    "/queue", "queue", CALL, { NULL } },
    { NGX_HTTP_GET,    "/tickets/*", "ticket.get", CALL, { "number" } },
    { NGX_HTTP_PATCH,  "/tickets/*", "ticket.update", CALL, { "number" } },
    { NGX_HTTP_POST,   "/bulk", "tickets.bulk", CALL, { NULL } },
    { NGX_HTTP_POST,   "/tickets/*/replies", "ticket.reply", CALL,
      { "number" } },
    { NGX_HTTP_POST,   "/tickets/*/template", "ticket.template", CALL,
      { "number" } },
    { NGX_HTTP_POST,   "/tickets/*/presence", "ticket.presence", CALL,
      { "number" } },
    { NGX_HTTP_GET,    "/tickets/*/attachments/*", "attachment",
      NGX_HTTP_HELPDESK_FLOW_DOWNLOAD, { "number", "id" } },
    { NGX_HTTP_POST,   "/uploads", "upload", NGX_HTTP_HELPDESK_FLOW_UPLOAD,
      { NULL } },

    { NGX_HTTP_GET,    "/canned", "canned.list", CALL, { NULL } },
    { NGX_HTTP_POST,   "/canned", "canned.create", CALL, { NULL } },
    { NGX_HTTP_PATCH,  "/canned/*", "canned.update", CALL, { "id" } },
    { NGX_HTTP_DELETE, "/canned/*", "canned.delete", CALL, { "id" } },
    { NGX_HTTP_GET,    "/views", "views.list", CALL, { NULL } },
    { NGX_HTTP_POST,   "/views", "views.save", CALL, { NULL } },
    { NGX_HTTP_DELETE, "/views/*", "views.delete", CALL, { "id" } },
    { NGX_HTTP_GET,    "/customers", "customers.list", CALL, { NULL } },
    { NGX_HTTP_GET,    "/customers/*", "customer.get", CALL, { "id" } },
    { NGX_HTTP_PATCH,  "/customers/*", "customer.update", CALL, { "id" } },
    { NGX_HTTP_POST,   "/customers/*/merge", "customer.merge", CALL,
      { "id" } },
    { NGX_HTTP_GET,    "/agents", "agents.list", CALL, { NULL } },
    { NGX_HTTP_POST,   "/agents", "agents.invite", CALL, { NULL } },
    { NGX_HTTP_PATCH,  "/agents/*", "agents.update", CALL, { "id" } },
    { NGX_HTTP_GET,    "/audit", "audit.list", CALL, { NULL } },
    { NGX_HTTP_GET,    "/audit.csv", "audit.csv", NGX_HTTP_HELPDESK_FLOW_CSV,
      { NULL } },
    { 0, NULL, NULL, 0, { NULL } }
};

#undef CALL


static const ngx_http_helpdesk_app_t  ngx_http_helpdesk_console_app = {
    NGX_HTTP_HELPDESK_SESSION_CONSOLE,
    ngx_string("hd_agent"),
    "SELECT status, body FROM api.console_call"
    "($1, $2, $3::uuid, $4::inet, $5, $6::jsonb)",
    "SELECT status, body FROM api.console_upload"
    "($1, $2, $3::uuid, $4::inet, $5, $6, $7)",
    "SELECT filename, content_type, data FROM api.console_attachment"
    "($1, $2, $3::uuid, $4::inet, $5, $6)",
    "console/index.html",
    ngx_http_helpdesk_console_ops
};


ngx_int_t
ngx_http_helpdesk_console_handler(ngx_http_request_t *r)
{
    return ngx_http_helpdesk_app_handler(r, &ngx_http_helpdesk_console_app);
}
