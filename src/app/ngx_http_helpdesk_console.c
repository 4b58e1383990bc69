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


/*
 * The console's own policy, stricter than the portal's: no form posts,
 * no data: images but the QR code's, nothing embedded, no workers, no
 * plugins, and only this origin to talk to.
 */
#define NGX_HTTP_HELPDESK_CONSOLE_CSP                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; "             \
    "img-src 'self' data:; connect-src 'self'; form-action 'none'; "        \
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "          \
    "worker-src 'none'; manifest-src 'none'"


static const ngx_http_helpdesk_portal_op_t  ngx_http_helpdesk_console_ops[] = {
    { NGX_HTTP_GET,    200, "/boot", "boot", CALL, { NULL } },
    { NGX_HTTP_POST,   200, "/login", "login", NGX_HTTP_HELPDESK_FLOW_LOGIN,
      { NULL } },
    { NGX_HTTP_POST,   204, "/logout", "logout", NGX_HTTP_HELPDESK_FLOW_LOGOUT,
      { NULL } },
    { NGX_HTTP_POST,   204, "/password", "password",
      NGX_HTTP_HELPDESK_FLOW_PASSWORD, { NULL } },
    { NGX_HTTP_POST,   202, "/reset", "reset.request",
      NGX_HTTP_HELPDESK_FLOW_RESET_REQUEST, { NULL } },
    { NGX_HTTP_GET,    200, "/reset/*", "reset.check", CALL, { "token" } },
    { NGX_HTTP_POST,   200, "/totp/setup", "totp.setup",
      NGX_HTTP_HELPDESK_FLOW_TOTP_SETUP, { NULL } },
    { NGX_HTTP_POST,   204, "/totp/enable", "totp.enable",
      NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM, { NULL } },
    { NGX_HTTP_POST,   204, "/totp/disable", "totp.disable",
      NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM, { NULL } },
    { NGX_HTTP_POST,   200, "/reset/*", "reset.done",
      NGX_HTTP_HELPDESK_FLOW_RESET_DONE, { "token" } },

    { NGX_HTTP_GET,    200, "/stream", "stream.open",
      NGX_HTTP_HELPDESK_FLOW_STREAM,
      { NULL } },
    { NGX_HTTP_GET,    200, "/queue", "queue", CALL, { NULL } },
    { NGX_HTTP_GET,    200, "/tickets/*", "ticket.get", CALL, { "number" } },
    { NGX_HTTP_PATCH,  200, "/tickets/*", "ticket.update", CALL, { "number" } },
    { NGX_HTTP_POST,   200, "/bulk", "tickets.bulk", CALL, { NULL } },
    { NGX_HTTP_POST,   201, "/tickets/*/replies", "ticket.reply", CALL,
      { "number" } },
    { NGX_HTTP_POST,   201, "/tickets/*/template", "ticket.template", CALL,
      { "number" } },
    { NGX_HTTP_POST,   200, "/tickets/*/presence", "ticket.presence", CALL,
      { "number" } },
    { NGX_HTTP_GET,    200, "/tickets/*/attachments/*", "attachment",
      NGX_HTTP_HELPDESK_FLOW_DOWNLOAD, { "number", "id" } },
    { NGX_HTTP_POST,   201, "/uploads", "upload", NGX_HTTP_HELPDESK_FLOW_UPLOAD,
      { NULL } },

    { NGX_HTTP_GET,    200, "/canned", "canned.list", CALL, { NULL } },
    { NGX_HTTP_POST,   201, "/canned", "canned.create", CALL, { NULL } },
    { NGX_HTTP_PATCH,  200, "/canned/*", "canned.update", CALL, { "id" } },
    { NGX_HTTP_DELETE, 204, "/canned/*", "canned.delete", CALL, { "id" } },
    { NGX_HTTP_GET,    200, "/views", "views.list", CALL, { NULL } },
    { NGX_HTTP_POST,   201, "/views", "views.save", CALL, { NULL } },
    { NGX_HTTP_DELETE, 204, "/views/*", "views.delete", CALL, { "id" } },
    { NGX_HTTP_GET,    200, "/customers", "customers.list", CALL, { NULL } },
    { NGX_HTTP_GET,    200, "/customers/*", "customer.get", CALL, { "id" } },
    { NGX_HTTP_PATCH,  200, "/customers/*", "customer.update", CALL, { "id" } },
    { NGX_HTTP_POST,   200, "/customers/*/merge", "customer.merge", CALL,
      { "id" } },
    { NGX_HTTP_GET,    200, "/agents", "agents.list", CALL, { NULL } },
    { NGX_HTTP_POST,   201, "/agents", "agents.invite", CALL, { NULL } },
    { NGX_HTTP_PATCH,  200, "/agents/*", "agents.update", CALL, { "id" } },
    { NGX_HTTP_GET,    200, "/profile", "profile.get", CALL, { NULL } },
    { NGX_HTTP_PATCH,  200, "/profile", "profile.update", CALL, { NULL } },
    { NGX_HTTP_GET,    200, "/audit", "audit.list", CALL, { NULL } },
    { NGX_HTTP_GET,    200, "/audit.csv", "audit.csv",
      NGX_HTTP_HELPDESK_FLOW_CSV,
      { NULL } },
    { 0, 0, NULL, NULL, 0, { NULL } }
};

#undef CALL


static const ngx_http_helpdesk_app_t  ngx_http_helpdesk_console_app = {
    NGX_HTTP_HELPDESK_SESSION_CONSOLE,
    ngx_string("hd_agent"),
    "SELECT body FROM api.console_call"
    "($1, $2, $3::uuid, $4::inet, $5, $6::jsonb, $7::bytea)",
    "SELECT body FROM api.console_upload"
    "($1, $2, $3::uuid, $4::inet, $5, $6, $7)",
    "SELECT filename, content_type, data FROM api.console_attachment"
    "($1, $2, $3::uuid, $4::inet, $5, $6)",
    "console/index.html",
    NGX_HTTP_HELPDESK_CONSOLE_CSP,
    ngx_http_helpdesk_console_ops
};


ngx_int_t
ngx_http_helpdesk_console_handler(ngx_http_request_t *r)
{
    return ngx_http_helpdesk_app_handler(r, &ngx_http_helpdesk_console_app);
}
