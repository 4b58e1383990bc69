/*
 * Tenant API: the email channel (scope "admin").  One route list for the
 * mail that arrives and the mail we send.
 *
 * Mail in: the mailboxes (/v1/email/mailboxes) and how replies to closed
 * tickets are taken (/v1/email/threading).  One statement per request
 * through api.email_call(); the database checks the fields (rules, the
 * ignore list, the sender limit), every error at once.  A mailbox fed by
 * push gets an inbound URL that carries a token generated here: the
 * database keeps its SHA-256 only, and the URL is in the answer that
 * creates the mailbox, or replaces its token ({"rotate_token": true}), and
 * nowhere else.
 *
 * Mail out:
 *
 *   /v1/email/settings                        GET, PUT: the sender, the
 *                                             signature, a relay of the
 *                                             tenant's own, the DKIM record
 *   /v1/email/settings/verification           POST: the confirmation link
 *                                             to the sender's address again
 *   /v1/email/settings/verify                 POST {"token"}: the link came
 *                                             back (the address is proven)
 *   /v1/email/templates/{kind}/{lang}         GET, PUT, DELETE (back to the
 *                                             shipped wording)
 *   /v1/email/templates/{kind}/{lang}/preview POST: the mail a template
 *                                             (stored, or the draft given)
 *                                             makes, with sample values
 *
 * A tenant's relay URL is held to the outbound policy when it is saved
 * (and its address again on every delivery); its password is sealed here,
 * to a fresh id, before PostgreSQL sees it, and never returned.
 *
 * The provider's relay sends From a tenant's address only once a link
 * mailed to it came back to an admin of the tenant (sql/email/sender.sql).
 * The link leads to the console: on the name links are made on
 * (ngx_http_helpdesk_req_link()), under the console's path when the
 * request came through it, else under the path of "console_url".  The
 * answers name the provider's own sender (helpdesk_smtp from=), which
 * mail goes From meanwhile.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ngx_http_helpdesk_api.h"
#include "http/ngx_helpdesk_http.h"


/* ---------- mail in: mailboxes, threading ---------- */


#define NGX_HTTP_HELPDESK_EMAIL_TOKEN_RANDOM  24


#define NGX_HTTP_HELPDESK_API_EMAIL_SQL(op)                                   \
    "SELECT body, location FROM api.email_call"                              \
    "($1::bytea, $2, $3::inet, '" op "', $4::jsonb)"


static const char *const  ngx_http_helpdesk_email_fields[] = {
    "address", "name", "enabled", "rules", "ignore", "sender_limit",
    "rotate_token", "kind", "url", "username", "password", "move_to",
    "poll_interval", "client_id", "client_secret", NULL
};


/* the body's members: known ones, of the right JSON types */
static ngx_int_t
ngx_http_helpdesk_api_email_body(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_flag_t create)
{
    json_t              *v;
    const char          *key;
    const char *const   *f;

    if (!json_is_object(ctx->body)) {
        ngx_helpdesk_json_error(ctx->errors, "", "must be a JSON object");
        return NGX_OK;
    }

    json_object_foreach(ctx->body, key, v) {
        for (f = ngx_http_helpdesk_email_fields; *f; f++) {
            if (ngx_strcmp(*f, key) == 0) {
                break;
            }
        }

        if (*f == NULL || (create && ngx_strcmp(key, "rotate_token") == 0)) {
            ngx_helpdesk_json_error(ctx->errors, key, "is not a field of a mailbox");
            continue;
        }

        if ((ngx_strcmp(key, "address") == 0 || ngx_strcmp(key, "name") == 0)
            && !json_is_string(v))
        {
            ngx_helpdesk_json_error(ctx->errors, key, "must be a string");
        }

        if ((ngx_strcmp(key, "enabled") == 0
             || ngx_strcmp(key, "rotate_token") == 0)
            && !json_is_boolean(v))
        {
            ngx_helpdesk_json_error(ctx->errors, key, "must be true or false");
        }
    }

    if (create && json_object_get(ctx->body, "address") == NULL) {
        ngx_helpdesk_json_error(ctx->errors, "address", "is required");
    }

    json_decref(ctx->args);
    ctx->args = json_deep_copy(ctx->body);

    if (ctx->args == NULL) {
        return NGX_ERROR;
    }

    json_object_del(ctx->args, "rotate_token");

    return NGX_OK;
}


/*
 * A new token: its SHA-256 for the database, and the URL that carries it
 * ("<scheme>://<base domain>[:<port>]<location><token>") for the answer;
 * no URL without the location or a name of ours to build it on.
 */
static ngx_int_t
ngx_http_helpdesk_api_email_token(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char                         *p, *url;
    ngx_str_t                       raw, enc;
    ngx_http_request_t             *r = ctx->req.r;
    ngx_http_helpdesk_loc_conf_t   *hlcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;
    u_char                          random[NGX_HTTP_HELPDESK_EMAIL_TOKEN_RANDOM];
    u_char                          token[2 * NGX_HTTP_HELPDESK_EMAIL_TOKEN_RANDOM];
    u_char                          digest[NGX_HELPDESK_SHA256_LEN];
    u_char                          hashed[7 + 2 * NGX_HELPDESK_SHA256_LEN];

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_ERROR;
    }

    raw.data = random;
    raw.len = sizeof(random);
    enc.data = token;
    ngx_encode_base64url(&enc, &raw);

    ngx_helpdesk_sha256(enc.data, enc.len, digest);
    p = ngx_cpymem(hashed, "sha256:", 7);
    ngx_hex_dump(p, digest, sizeof(digest));

    json_object_set_new(ctx->args, "inbound_token",
                        json_stringn((char *) hashed, sizeof(hashed)));

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);

    if (hmcf->email_prefix.len == 0 || hlcf->portal_domain.len == 0) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "helpdesk: no inbound mail URL to hand out without "
                      "\"helpdesk_email_inbound\" and \"helpdesk_base_domain\"");
        return NGX_OK;
    }

    url = ngx_pnalloc(r->pool, sizeof("https://:65535") - 1
                               + hlcf->portal_domain.len
                               + hmcf->email_prefix.len + enc.len);
    if (url == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(url, "%s://%V", hlcf->link_https ? "https" : "http",
                    &hlcf->portal_domain);

    if (hlcf->link_port) {
        p = ngx_sprintf(p, ":%ui", hlcf->link_port);
    }

    p = ngx_cpymem(p, hmcf->email_prefix.data, hmcf->email_prefix.len);
    p = ngx_cpymem(p, enc.data, enc.len);

    json_object_set_new(ctx->args, "inbound_url",
                        json_stringn((char *) url, p - url));

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_api_email_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t     *kind, *v;
    ngx_str_t   row;

    if (ngx_http_helpdesk_api_email_body(ctx, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_helpdesk_api_email_imap(ctx, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a provider's mailbox: its client secret, sealed to the new id */
    v = json_object_get(ctx->args, "mailbox_id");
    if (json_is_string(v)) {
        row.data = (u_char *) json_string_value(v);
        row.len = json_string_length(v);

        if (ngx_http_helpdesk_api_email_oauth(ctx, &row, 1) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* a fetched mailbox has no inbound URL */
    kind = json_object_get(ctx->args, "kind");

    if (json_array_size(ctx->errors)
        || (json_is_string(kind)
            && ngx_strcmp(json_string_value(kind), "inbound") != 0))
    {
        return NGX_OK;
    }

    return ngx_http_helpdesk_api_email_token(ctx);
}


static ngx_int_t
ngx_http_helpdesk_api_email_update(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t   row;
    ngx_flag_t  rotate;

    rotate = json_is_true(json_object_get(ctx->body, "rotate_token"));

    if (ngx_http_helpdesk_api_email_body(ctx, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (json_array_size(ctx->errors) == 0 && json_object_size(ctx->body) == 0)
    {
        ngx_helpdesk_json_error(ctx->errors, "",
                                "name at least one field of the mailbox");
    }

    if (rotate && json_array_size(ctx->errors) == 0
        && ngx_http_helpdesk_api_email_token(ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the id as PostgreSQL prints it, which a password is sealed to */
    row.len = ctx->params[0].len;
    row.data = ngx_pnalloc(ctx->req.r->pool, row.len);
    if (row.data == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(row.data, ctx->params[0].data, row.len);
    ctx->params[0] = row;

    if (ngx_http_helpdesk_api_email_imap(ctx, &row) != NGX_OK
        || ngx_http_helpdesk_api_email_oauth(ctx, &row, 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_email_id(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_email_threading(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (!json_is_object(ctx->body)) {
        ngx_helpdesk_json_error(ctx->errors, "", "must be a JSON object");
        return NGX_OK;
    }

    json_decref(ctx->args);
    ctx->args = json_deep_copy(ctx->body);

    return ctx->args ? NGX_OK : NGX_ERROR;
}


#define TENANT  NGX_HTTP_HELPDESK_AUTH_TENANT
#define SQL     NGX_HTTP_HELPDESK_API_EMAIL_SQL

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_mailboxes_ops[] = {
    { NGX_HTTP_GET, 200, "email.mailbox.list", "admin", TENANT, NULL, NULL,
      SQL("email.mailbox.list"), NULL, NULL },
    /* a replay (Idempotency-Key) does not keep the URL's token in Redis */
    { NGX_HTTP_POST, 201, "email.mailbox.create", "admin", TENANT,
      ngx_http_helpdesk_api_email_create, NULL,
      SQL("email.mailbox.create"), NULL, "inbound_url" },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_mailbox_ops[] = {
    { NGX_HTTP_GET, 200, "email.mailbox.get", "admin", TENANT,
      ngx_http_helpdesk_api_email_id, NULL, SQL("email.mailbox.get"), NULL,
      NULL },
    { NGX_HTTP_PATCH, 200, "email.mailbox.update", "admin", TENANT,
      ngx_http_helpdesk_api_email_update, NULL, SQL("email.mailbox.update"),
      NULL, "inbound_url" },
    { NGX_HTTP_DELETE, 204, "email.mailbox.delete", "admin", TENANT,
      ngx_http_helpdesk_api_email_id, NULL, SQL("email.mailbox.delete"), NULL,
      NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_authorize_ops[] = {
    { NGX_HTTP_POST, 200, "email.mailbox.authorize", "admin", TENANT,
      ngx_http_helpdesk_api_email_authorize, NULL,
      SQL("email.mailbox.authorize"), NULL, "authorize_url" },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

/* the provider's redirect: the console's session (or a key) with it */
static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_callback_ops[] = {
    { NGX_HTTP_GET, 200, "email.oauth.callback", "admin", TENANT,
      ngx_http_helpdesk_api_email_callback, NULL,
      "SELECT mailbox, outcome, detail, code FROM api.email_oauth_callback"
      "($1::bytea, $2, $3::inet, $4::jsonb)",
      ngx_http_helpdesk_api_email_callback_result, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_threading_ops[] = {
    { NGX_HTTP_GET, 200, "email.threading.get", "admin", TENANT, NULL, NULL,
      SQL("email.threading.get"), NULL, NULL },
    { NGX_HTTP_PUT, 200, "email.threading.put", "admin", TENANT,
      ngx_http_helpdesk_api_email_threading, NULL,
      SQL("email.threading.put"), NULL, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

#undef SQL
#undef TENANT


/* ---------- mail out: sender settings, templates ---------- */


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
    /* one of the tenant's Microsoft 365 or Gmail mailboxes to send
       through (the database checks it) */
    { "smtp_mailbox_id", STR, NULLABLE, 36, NULL, NULL },
    /* which notices go to the customers of email tickets (the database
       checks its keys and values) */
    { "notify", NGX_HELPDESK_JSON_OBJECT, 0, 0, NULL, NULL },
    /* where the confirmation link leads, through the API */
    { "console_url", STR, 0, 500, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_email_sender_fields[]
= {
    { "address", STR, 0, 254, NULL, NULL },
    { "console_url", STR, 0, 500, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_email_verify_fields[]
= {
    { "token", STR, NGX_HELPDESK_JSON_REQUIRED, 100, NULL, NULL },
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


/*
 * What the sender's answers and links are made of: the provider's own
 * sender, and the link's base (the console's path, or none through the
 * API: then "console_url" names it).
 */
static ngx_int_t
ngx_http_helpdesk_api_email_sender_args(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t                       path;
    const char                     *url;
    ngx_http_helpdesk_main_conf_t  *hmcf;
    ngx_http_helpdesk_loc_conf_t   *hlcf;

    hmcf = ngx_http_get_module_main_conf(ctx->req.r, ngx_http_helpdesk_module);
    hlcf = ctx->req.hlcf;

    if (ctx->args == NULL) {
        ctx->args = json_object();
        if (ctx->args == NULL) {
            return NGX_ERROR;
        }
    }

    url = json_string_value(json_object_get(ctx->args, "console_url"));

    if (url && !(ngx_strncmp(url, "https://", 8) == 0
                 || ngx_strncmp(url, "http://", 7) == 0))
    {
        ngx_helpdesk_json_error(ctx->errors, "console_url",
            "the agent console's address, e.g. https://acme.support.example/agent");
    }

    if (hmcf->email.from.len
        && json_object_set_new(ctx->args, "provider_from",
                               json_stringn((char *) hmcf->email.from.data,
                                            hmcf->email.from.len))
           != 0)
    {
        return NGX_ERROR;
    }

    if (hlcf->console) {
        path = hlcf->app_prefix;

    } else {
        ngx_str_set(&path, "");
    }

    if (json_object_set_new(ctx->args, "console",
                            json_boolean(hlcf->console))
        != 0)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_req_link(&ctx->req, ctx->args, &path, 1);
}


static ngx_int_t
ngx_http_helpdesk_api_email_sender_send(ngx_http_helpdesk_api_ctx_t *ctx)
{
    static const char *const  oneline[] = { "address", "console_url", NULL };

    if (ctx->raw_body.len == 0) {
        ctx->args = json_object();

    } else if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_email_sender_fields)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_helpdesk_api_check_ctl(ctx, oneline);

    return ngx_http_helpdesk_api_email_sender_args(ctx);
}


static ngx_int_t
ngx_http_helpdesk_api_email_sender_verify(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_email_verify_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_email_sender_args(ctx);
}


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
        "smtp_password", "console_url", NULL
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

    if (ngx_http_helpdesk_api_email_sender_args(ctx) != NGX_OK) {
        return NGX_ERROR;
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
    { NGX_HTTP_GET, 200, "email.settings.get", "admin", TENANT,
      ngx_http_helpdesk_api_email_sender_args, NULL },
    { NGX_HTTP_PUT, 200, "email.settings.put", "admin", TENANT,
      ngx_http_helpdesk_api_email_settings_put, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_email_sender_send_ops[]
= {
    { NGX_HTTP_POST, 202, "email.sender.send", "admin", TENANT,
      ngx_http_helpdesk_api_email_sender_send, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_email_sender_verify_ops[]
= {
    { NGX_HTTP_POST, 200, "email.sender.verify", "admin", TENANT,
      ngx_http_helpdesk_api_email_sender_verify, NULL },
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
    { "/v1/email/mailboxes", ngx_http_helpdesk_api_mailboxes_ops },
    { "/v1/email/mailboxes/*", ngx_http_helpdesk_api_mailbox_ops },
    { "/v1/email/mailboxes/*/authorize", ngx_http_helpdesk_api_authorize_ops },
    { "/v1/email/oauth/callback", ngx_http_helpdesk_api_callback_ops },
    { "/v1/email/threading", ngx_http_helpdesk_api_threading_ops },
    { "/v1/email/settings", ngx_http_helpdesk_api_email_settings_ops },
    { "/v1/email/settings/verification",
      ngx_http_helpdesk_api_email_sender_send_ops },
    { "/v1/email/settings/verify",
      ngx_http_helpdesk_api_email_sender_verify_ops },
    { "/v1/email/templates/*/*", ngx_http_helpdesk_api_email_template_ops },
    { "/v1/email/templates/*/*/preview",
      ngx_http_helpdesk_api_email_preview_ops },
    { NULL, NULL }
};
