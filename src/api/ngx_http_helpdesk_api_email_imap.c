/*
 * Tenant API: a mailbox fetched by IMAP ({"kind": "imap", "url":
 * "imaps://host:993/INBOX", "username", "password", "move_to",
 * "poll_interval"}).  The URL is held to the outbound policy here (the
 * host a tenant names must be one we may reach, as for a webhook's URL)
 * and again by the fetch job when it connects; the password is sealed to
 * the mailbox's row before PostgreSQL sees it, and never answered.  The
 * connection is checked by the fetch job as soon as the mailbox is saved:
 * its health, in the mailbox, says how it went.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_api.h"
#include "event/ngx_helpdesk_curl_imap.h"


#define NGX_HTTP_HELPDESK_EMAIL_PASSWORD_MAX  1024


ngx_int_t
ngx_http_helpdesk_api_email_imap(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_str_t *row)
{
    json_t                         *v;
    ngx_str_t                       id;
    const char                     *why;
    ngx_http_helpdesk_main_conf_t  *hmcf;
    u_char                          buf[128];
    u_char                          uuid[NGX_HELPDESK_UUID_LEN];

    static const char *const  ctl[] = { "username", "password", NULL };

    if (ctx->args == NULL) {
        return NGX_OK;
    }

    v = json_object_get(ctx->args, "kind");
    if (v && (!json_is_string(v)
              || (ngx_strcmp(json_string_value(v), "imap") != 0
                  && ngx_strcmp(json_string_value(v), "inbound") != 0
                  && ngx_strcmp(json_string_value(v), "microsoft365") != 0
                  && ngx_strcmp(json_string_value(v), "gmail") != 0)))
    {
        ngx_helpdesk_json_error(ctx->errors, "kind",
                                "must be inbound, imap, microsoft365 or "
                                "gmail");
    }

    v = json_object_get(ctx->args, "url");
    if (v) {
        if (!json_is_string(v)) {
            ngx_helpdesk_json_error(ctx->errors, "url", "must be a string");

        } else {
            hmcf = ngx_http_get_module_main_conf(ctx->req.r,
                                                 ngx_http_helpdesk_module);

            why = ngx_helpdesk_curl_imap_url_check(
                      (u_char *) json_string_value(v), json_string_length(v),
                      hmcf->outbound.allow, buf, sizeof(buf));
            if (why) {
                ngx_helpdesk_json_error(ctx->errors, "url", why);
            }
        }
    }

    v = json_object_get(ctx->args, "username");
    if (v && !json_is_string(v)) {
        ngx_helpdesk_json_error(ctx->errors, "username", "must be a string");
    }

    v = json_object_get(ctx->args, "password");
    if (v && (!json_is_string(v) || json_string_length(v) == 0
              || json_string_length(v) > NGX_HTTP_HELPDESK_EMAIL_PASSWORD_MAX))
    {
        ngx_helpdesk_json_error(ctx->errors, "password",
                                "must be a string of 1 to 1024 bytes");
    }

    v = json_object_get(ctx->args, "move_to");
    if (v && !json_is_string(v) && !json_is_null(v)) {
        ngx_helpdesk_json_error(ctx->errors, "move_to",
                                "must be a folder's name, or null");
    }

    /* they go into the IMAP session's commands */
    ngx_http_helpdesk_api_check_ctl(ctx, ctl);

    if (json_array_size(ctx->errors)) {
        return NGX_OK;
    }

    if (row == NULL) {
        /* a new mailbox: its id, which the password is sealed to */
        if (ngx_helpdesk_secret_row_id(uuid) != NGX_OK) {
            return NGX_ERROR;
        }

        id.data = uuid;
        id.len = sizeof(uuid);
        row = &id;

        v = json_stringn((char *) uuid, sizeof(uuid));
        if (v == NULL || json_object_set_new(ctx->args, "mailbox_id", v) != 0)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_helpdesk_secret_seal(ctx->req.r, ctx->args, "password",
                                         "email_mailboxes", "password", row);
}
