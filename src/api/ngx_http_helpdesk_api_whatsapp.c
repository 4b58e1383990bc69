/*
 * Tenant API: WhatsApp connections (scope "admin").  A connection is one
 * business number; its secrets (access token, app secret, verify token,
 * API key) are accepted and never returned.  Creating one answers with the
 * webhook URL to give the provider, which carries a token generated here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ngx_http_helpdesk_api.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_qr.h"


#define NGX_HTTP_HELPDESK_WA_TOKEN_RANDOM  24


/* the connection's secrets, sealed before PostgreSQL sees them */
static const char *const  ngx_http_helpdesk_wa_secrets[] = {
    "access_token", "app_secret", "verify_token", "api_key", "webhook_url",
    NULL
};


static const char *const  ngx_http_helpdesk_wa_providers[] = {
    "cloud", "360dialog", NULL
};

#define STR  NGX_HELPDESK_JSON_STRING

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_wa_create_fields[] = {
    { "provider", NGX_HELPDESK_JSON_ENUM, NGX_HELPDESK_JSON_REQUIRED, 0,
      ngx_http_helpdesk_wa_providers, NULL },
    { "display_phone_number", STR, NGX_HELPDESK_JSON_REQUIRED, 32, NULL,
      NULL },
    { "phone_number_id", STR, 0, 64, NULL, NULL },
    { "access_token", STR, 0, 2048, NULL, NULL },
    { "app_secret", STR, 0, 256, NULL, NULL },
    { "verify_token", STR, 0, 256, NULL, NULL },
    { "api_key", STR, 0, 256, NULL, NULL },
    { "base_url", STR, 0, 500, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_wa_update_fields[] = {
    { "display_phone_number", STR, 0, 32, NULL, NULL },
    { "access_token", STR, 0, 2048, NULL, NULL },
    { "app_secret", STR, 0, 256, NULL, NULL },
    { "verify_token", STR, 0, 256, NULL, NULL },
    { "api_key", STR, 0, 256, NULL, NULL },
    { "base_url", STR, 0, 500, NULL, NULL },
    { "enabled", NGX_HELPDESK_JSON_BOOL, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

#undef STR


static void
ngx_http_helpdesk_wa_check(ngx_http_helpdesk_api_ctx_t *ctx)
{
    size_t       len, i;
    json_t      *v;
    const char  *s, *provider;

    static const char *const  cloud[] = {
        "phone_number_id", "access_token", "app_secret", "verify_token", NULL
    };

    static const char *const  outbound[] = {
        "phone_number_id", "access_token", "app_secret", "verify_token",
        "api_key", "base_url", NULL
    };

    /* what goes into the provider requests' headers and URLs */
    ngx_http_helpdesk_api_check_ctl(ctx, outbound);
    ngx_http_helpdesk_api_check_url(ctx, "base_url");

    v = json_object_get(ctx->args, "phone_number_id");
    if (v) {
        s = json_string_value(v);
        len = json_string_length(v);

        for (i = 0; i < len; i++) {
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')
                  || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'
                  || s[i] == '-'))
            {
                ngx_helpdesk_json_error(ctx->errors, "phone_number_id",
                    "must be the provider's id: letters, digits, - and _");
                break;
            }
        }
    }

    v = json_object_get(ctx->args, "display_phone_number");
    if (v) {
        s = json_string_value(v);
        len = json_string_length(v);

        for (i = 0; i < len; i++) {
            if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == ' '
                  || s[i] == '-' || s[i] == '(' || s[i] == ')'))
            {
                ngx_helpdesk_json_error(ctx->errors, "display_phone_number",
                    "must be a phone number in international format");
                break;
            }
        }
    }

    v = json_object_get(ctx->args, "provider");
    if (v == NULL) {
        return;
    }

    provider = json_string_value(v);

    if (ngx_strcmp(provider, "cloud") == 0) {
        for (i = 0; cloud[i]; i++) {
            if (json_object_get(ctx->args, cloud[i]) == NULL) {
                ngx_helpdesk_json_error(ctx->errors, cloud[i],
                                        "is required for the Cloud API");
            }
        }

        if (json_object_get(ctx->args, "api_key")) {
            ngx_helpdesk_json_error(ctx->errors, "api_key",
                                    "is for 360dialog, not the Cloud API");
        }

        return;
    }

    if (json_object_get(ctx->args, "api_key") == NULL) {
        ngx_helpdesk_json_error(ctx->errors, "api_key",
                                "is required for 360dialog");
    }

    for (i = 1; cloud[i]; i++) {
        if (json_object_get(ctx->args, cloud[i])) {
            ngx_helpdesk_json_error(ctx->errors, cloud[i],
                                    "is for the Cloud API, not 360dialog");
        }
    }
}


/*
 * "<scheme>://<base domain>[:<port>]<webhook location>" for the URLs
 * handed out.  The webhook location is the provider's, one URL per
 * number on the provider's own name (helpdesk_base_domain), with the
 * scheme and port of helpdesk_link_scheme: nothing of it comes from the
 * request, whose Host a caller chooses.
 */

static ngx_int_t
ngx_http_helpdesk_wa_webhook_base(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char                         *p, *last;
    json_t                         *v;
    size_t                          len;
    ngx_http_request_t             *r = ctx->req.r;
    ngx_http_helpdesk_loc_conf_t   *hlcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);

    if (hmcf->whatsapp_prefix.len == 0) {
        return NGX_OK;      /* no webhook location: no URL to give */
    }

    /*
     * the base domain as configured: under a console on names of its own
     * (the REST API the console's pages call), base_domain is the
     * console's, where no webhook is served; portal_domain keeps it
     */
    if (hlcf->portal_domain.len == 0) {
        /* no name of ours to give: no URL, rather than one from the Host */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "helpdesk: no WhatsApp webhook URL to hand out without "
                      "\"helpdesk_base_domain\" where \"helpdesk_api\" is");
        return NGX_OK;
    }

    len = sizeof("https://") - 1 + hlcf->portal_domain.len
          + sizeof(":65535") - 1 + hmcf->whatsapp_prefix.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, "%s://%V", hlcf->link_https ? "https" : "http",
                       &hlcf->portal_domain);

    if (hlcf->link_port) {
        last = ngx_sprintf(last, ":%ui", hlcf->link_port);
    }

    last = ngx_cpymem(last, hmcf->whatsapp_prefix.data,
                      hmcf->whatsapp_prefix.len);

    v = json_stringn((char *) p, last - p);

    if (v == NULL || json_object_set_new(ctx->args, "webhook_base", v) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The webhook's token is stored as its SHA-256 only ("sha256:<hex>",
 * what a delivery's token is looked up by), and the URL that carries it
 * sealed like the other secrets: the database can route a delivery but
 * holds nothing to forge one with.
 */

static ngx_int_t
ngx_http_helpdesk_wa_token(ngx_http_helpdesk_api_ctx_t *ctx, ngx_str_t *token)
{
    u_char      *p;
    json_t      *base;
    ngx_str_t    url;
    u_char       digest[NGX_HELPDESK_SHA256_LEN];
    u_char       hashed[7 + 2 * NGX_HELPDESK_SHA256_LEN];

    ngx_helpdesk_sha256(token->data, token->len, digest);
    p = ngx_cpymem(hashed, "sha256:", 7);
    ngx_hex_dump(p, digest, sizeof(digest));

    json_object_set_new(ctx->args, "webhook_token",
                        json_stringn((char *) hashed, sizeof(hashed)));

    base = json_object_get(ctx->args, "webhook_base");
    if (base == NULL) {
        return NGX_OK;      /* no webhook location: no URL */
    }

    url.len = json_string_length(base) + token->len;
    url.data = ngx_pnalloc(ctx->req.r->pool, url.len);
    if (url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url.data, json_string_value(base),
                   json_string_length(base));
    ngx_memcpy(p, token->data, token->len);

    json_object_del(ctx->args, "webhook_base");
    json_object_set_new(ctx->args, "webhook_url",
                        json_stringn((char *) url.data, url.len));

    return NGX_OK;
}


/*
 * The answers show the webhook URL to the tenant's admins, opened here
 * from its sealed form: a connection, or "data", a list of them.
 */

static ngx_int_t
ngx_http_helpdesk_wa_open_one(ngx_http_helpdesk_api_ctx_t *ctx, json_t *c)
{
    json_t              *id, *url;
    ngx_int_t            rc;
    ngx_str_t            row, value, plain;
    ngx_http_request_t  *r = ctx->req.r;

    id = json_object_get(c, "id");
    url = json_object_get(c, "webhook_url");

    if (!json_is_string(id) || !json_is_string(url)) {
        return NGX_OK;
    }

    row.data = (u_char *) json_string_value(id);
    row.len = json_string_length(id);
    value.data = (u_char *) json_string_value(url);
    value.len = json_string_length(url);

    rc = ngx_http_helpdesk_secret_open(ngx_http_helpdesk_secrets(r), r->pool,
                                       r->connection->log,
                                       "whatsapp_connections", "webhook_url",
                                       &row, &value, &plain);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    /* one that does not open is not shown (the log says which) */
    return json_object_set_new(c, "webhook_url",
                               rc == NGX_OK
                               ? json_stringn((char *) plain.data, plain.len)
                               : json_null())
           == 0 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_helpdesk_wa_open_urls(ngx_http_helpdesk_api_ctx_t *ctx)
{
    size_t         i;
    json_t        *body, *data;
    ngx_int_t      rc;
    ngx_str_t      out;
    json_error_t   err;

    body = json_loadb((char *) ctx->out.data, ctx->out.len, 0, &err);
    if (body == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;
    data = json_object_get(body, "data");

    if (json_is_array(data)) {
        for (i = 0; rc == NGX_OK && i < json_array_size(data); i++) {
            rc = ngx_http_helpdesk_wa_open_one(ctx, json_array_get(data, i));
        }

    } else {
        rc = ngx_http_helpdesk_wa_open_one(ctx, body);
    }

    if (rc == NGX_OK) {
        rc = ngx_helpdesk_json_dump(ctx->req.r->pool, body, &out);
    }

    json_decref(body);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->out = out;

    return NGX_OK;
}


/*
 * Seals the secrets of args to the connection "row" (its id as PostgreSQL
 * prints it: lower case).
 */

static ngx_int_t
ngx_http_helpdesk_wa_seal(ngx_http_helpdesk_api_ctx_t *ctx, ngx_str_t *row)
{
    ngx_uint_t  i;

    if (json_array_size(ctx->errors)) {
        return NGX_OK;
    }

    for (i = 0; ngx_http_helpdesk_wa_secrets[i]; i++) {
        if (ngx_http_helpdesk_secret_seal(ctx->req.r, ctx->args,
                                          ngx_http_helpdesk_wa_secrets[i],
                                          "whatsapp_connections",
                                          ngx_http_helpdesk_wa_secrets[i], row)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_api_wa_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t   raw, enc, row;
    u_char      random[NGX_HTTP_HELPDESK_WA_TOKEN_RANDOM];
    u_char      token[2 * NGX_HTTP_HELPDESK_WA_TOKEN_RANDOM];
    u_char      id[NGX_HELPDESK_UUID_LEN];

    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_wa_create_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_helpdesk_wa_check(ctx);

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_ERROR;
    }

    raw.data = random;
    raw.len = sizeof(random);
    enc.data = token;
    ngx_encode_base64url(&enc, &raw);

    if (ngx_http_helpdesk_wa_webhook_base(ctx) != NGX_OK
        || ngx_http_helpdesk_wa_token(ctx, &enc) != NGX_OK
        || ngx_helpdesk_secret_row_id(id) != NGX_OK)
    {
        return NGX_ERROR;
    }

    row.data = id;
    row.len = sizeof(id);

    json_object_set_new(ctx->args, "connection_id",
                        json_stringn((char *) id, sizeof(id)));

    return ngx_http_helpdesk_wa_seal(ctx, &row);
}


static ngx_int_t
ngx_http_helpdesk_api_wa_id(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_wa_update(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t  row;

    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_wa_update_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_helpdesk_wa_check(ctx);

    if (json_array_size(ctx->errors) == 0 && json_object_size(ctx->args) == 0)
    {
        ngx_helpdesk_json_error(ctx->errors, "", "name at least one field "
                                "to change");
    }

    /* the id as PostgreSQL prints it, which the secrets are sealed to */
    row.len = ctx->params[0].len;
    row.data = ngx_pnalloc(ctx->req.r->pool, row.len);
    if (row.data == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(row.data, ctx->params[0].data, row.len);
    ctx->params[0] = row;

    if (ngx_http_helpdesk_wa_seal(ctx, &row) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static const char *const  ngx_http_helpdesk_wa_uses[] = {
    "ticket_opened", "status_update", "reply_reminder", "resolved", NULL
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_wa_template_fields[] = {
    { "use", NGX_HELPDESK_JSON_ENUM, NGX_HELPDESK_JSON_REQUIRED, 0,
      ngx_http_helpdesk_wa_uses, NULL },
    { "parameters", NGX_HELPDESK_JSON_STRING_ARRAY, 0, 1024, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_wa_tpl_fields[] = {
    { "name", NGX_HELPDESK_JSON_STRING, NGX_HELPDESK_JSON_REQUIRED, 512, NULL,
      NULL },
    { "language", NGX_HELPDESK_JSON_STRING, 0, 16, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};


/* POST /v1/tickets/{id}/whatsapp-template: {"use", "parameters"} */

static ngx_int_t
ngx_http_helpdesk_api_wa_template_send(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_wa_template_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


/*
 * PUT /v1/whatsapp/templates: one approved template per use,
 * {"status_update": {"name": "atualizacao_chamado", "language": "pt_BR"}}
 */

static ngx_int_t
ngx_http_helpdesk_api_wa_templates_put(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t             *value, *one, *errors, *e;
    size_t              i;
    const char         *key;
    const char *const  *use;
    u_char              field[64];

    ctx->args = json_object();
    if (ctx->args == NULL) {
        return NGX_ERROR;
    }

    if (!json_is_object(ctx->body)) {
        ngx_helpdesk_json_error(ctx->errors, "",
                                "the body must be a JSON object");
        return NGX_OK;
    }

    json_object_foreach(ctx->body, key, value) {

        for (use = ngx_http_helpdesk_wa_uses; *use; use++) {
            if (ngx_strcmp(*use, key) == 0) {
                break;
            }
        }

        if (*use == NULL) {
            ngx_helpdesk_json_error(ctx->errors, key, "must be one of: "
                "ticket_opened status_update reply_reminder resolved");
            continue;
        }

        errors = json_array();
        if (errors == NULL) {
            return NGX_ERROR;
        }

        one = ngx_helpdesk_json_validate(value, ngx_http_helpdesk_wa_tpl_fields,
                                         errors);

        /* name the nested fields as "use.field" */
        json_array_foreach(errors, i, e) {
            ngx_snprintf(field, sizeof(field) - 1, "%s.%s%Z", key,
                         json_string_value(json_object_get(e, "field")));
            ngx_helpdesk_json_error(ctx->errors, (char *) field,
                json_string_value(json_object_get(e, "message")));
        }

        json_decref(errors);

        if (one) {
            json_object_set_new(ctx->args, key, one);
        }
    }

    return NGX_OK;
}


/* ?text= (a prefilled message) and ?size= (pixels per module, PNG) */

static ngx_int_t
ngx_http_helpdesk_wa_qr_filter(json_t *args, ngx_str_t *name, ngx_str_t *value,
    json_t *errors)
{
    ngx_int_t  n;
    json_t    *s;

    if (name->len == 4 && ngx_strncmp(name->data, "text", 4) == 0) {
        s = json_stringn((char *) value->data, value->len);

        if (s == NULL || value->len == 0
            || ngx_helpdesk_json_utf8_chars((char *) value->data, value->len)
               > 140)
        {
            json_decref(s);
            ngx_helpdesk_json_error(errors, "text",
                                    "must be 1 to 140 characters of UTF-8");
            return NGX_OK;
        }

        json_object_set_new(args, "text", s);
        return NGX_OK;
    }

    if (name->len == 4 && ngx_strncmp(name->data, "size", 4) == 0) {
        n = ngx_atoi(value->data, value->len);
        if (n < 1 || n > 40) {
            ngx_helpdesk_json_error(errors, "size",
                                    "must be 1 to 40 pixels per module");
            return NGX_OK;
        }

        json_object_set_new(args, "size", json_integer(n));
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_helpdesk_api_wa_qr(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_query(ctx, ngx_http_helpdesk_wa_qr_filter)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


/* https://wa.me/<digits>[?text=<percent-encoded>] */

static ngx_int_t
ngx_http_helpdesk_wa_link(ngx_http_helpdesk_api_ctx_t *ctx, PGresult *res,
    ngx_str_t *link)
{
    u_char      *p;
    size_t       n;
    json_t      *text;
    const char  *t;

    if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) == 0) {
        return NGX_ERROR;
    }

    n = PQgetlength(res, 0, 0);
    text = json_object_get(ctx->args, "text");
    t = text ? json_string_value(text) : NULL;

    link->data = ngx_pnalloc(ctx->req.r->pool, sizeof("https://wa.me/?text=") + n
                             + (t ? 3 * ngx_strlen(t) : 0));
    if (link->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(link->data, "https://wa.me/", 14);
    p = ngx_cpymem(p, PQgetvalue(res, 0, 0), n);

    if (t) {
        p = ngx_cpymem(p, "?text=", 6);
        p = (u_char *) ngx_escape_uri(p, (u_char *) t, ngx_strlen(t),
                                      NGX_ESCAPE_URI_COMPONENT);
    }

    link->len = p - link->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_wa_qr_send(ngx_http_helpdesk_api_ctx_t *ctx, PGresult *res,
    ngx_flag_t png)
{
    json_t              *size;
    ngx_str_t            link, image, v;
    ngx_http_request_t  *r = ctx->req.r;

    if (ngx_http_helpdesk_wa_link(ctx, res, &link) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = json_object_get(ctx->args, "size");

    if ((png ? ngx_helpdesk_qr_png(r->pool, &link,
                                   size ? json_integer_value(size) : 8, &image)
             : ngx_helpdesk_qr_svg(r->pool, &link, &image))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* what the code says, for whoever prints it */
    (void) ngx_helpdesk_http_header_out(r, "X-Click-To-Chat", &link);
    ngx_str_set(&v, "nosniff");
    (void) ngx_helpdesk_http_header_out(r, "X-Content-Type-Options", &v);

    return ngx_helpdesk_http_send(r, NGX_HTTP_OK,
                                  png ? "image/png" : "image/svg+xml",
                                  image.data, image.len);
}


static ngx_int_t
ngx_http_helpdesk_wa_qr_png(ngx_http_helpdesk_api_ctx_t *ctx, PGresult *res)
{
    return ngx_http_helpdesk_wa_qr_send(ctx, res, 1);
}


static ngx_int_t
ngx_http_helpdesk_wa_qr_svg(ngx_http_helpdesk_api_ctx_t *ctx, PGresult *res)
{
    return ngx_http_helpdesk_wa_qr_send(ctx, res, 0);
}


#define NUMBER_SQL                                                            \
    "SELECT number FROM api.api_whatsapp_number"                              \
    "($1::bytea, $2, $3::inet, $4::jsonb)"

#define TENANT  NGX_HTTP_HELPDESK_AUTH_TENANT

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_wa_png_ops[] = {
    { NGX_HTTP_GET, 200, "whatsapp.qr", "admin", TENANT,
      ngx_http_helpdesk_api_wa_qr, NULL, NUMBER_SQL,
      ngx_http_helpdesk_wa_qr_png },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_wa_svg_ops[] = {
    { NGX_HTTP_GET, 200, "whatsapp.qr", "admin", TENANT,
      ngx_http_helpdesk_api_wa_qr, NULL, NUMBER_SQL,
      ngx_http_helpdesk_wa_qr_svg },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_wa_tpl_ops[] = {
    { NGX_HTTP_GET, 200, "whatsapp.templates.get", "admin", TENANT, NULL,
      NULL },
    { NGX_HTTP_PUT, 200, "whatsapp.templates.put", "admin", TENANT,
      ngx_http_helpdesk_api_wa_templates_put, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_wa_send_ops[] = {
    { NGX_HTTP_POST, 201, "ticket.whatsapp_template", "tickets:write", TENANT,
      ngx_http_helpdesk_api_wa_template_send, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_was_ops[] = {
    { NGX_HTTP_GET, 200, "whatsapp.list", "admin", TENANT, NULL,
      ngx_http_helpdesk_wa_open_urls },
    /* a replay (Idempotency-Key) does not keep the URL's token in Redis */
    { NGX_HTTP_POST, 201, "whatsapp.create", "admin", TENANT,
      ngx_http_helpdesk_api_wa_create, ngx_http_helpdesk_wa_open_urls, NULL,
      NULL, "webhook_url" },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_wa_ops[] = {
    { NGX_HTTP_GET, 200, "whatsapp.get", "admin", TENANT,
      ngx_http_helpdesk_api_wa_id, ngx_http_helpdesk_wa_open_urls },
    { NGX_HTTP_PATCH, 200, "whatsapp.update", "admin", TENANT,
      ngx_http_helpdesk_api_wa_update, ngx_http_helpdesk_wa_open_urls },
    { NGX_HTTP_DELETE, 204, "whatsapp.delete", "admin", TENANT,
      ngx_http_helpdesk_api_wa_id, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

#undef TENANT


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_whatsapp_routes[] = {
    { "/v1/whatsapp/connections", ngx_http_helpdesk_api_was_ops },
    { "/v1/whatsapp/connections/*", ngx_http_helpdesk_api_wa_ops },
    { "/v1/whatsapp/connections/*/qr.png", ngx_http_helpdesk_api_wa_png_ops },
    { "/v1/whatsapp/connections/*/qr.svg", ngx_http_helpdesk_api_wa_svg_ops },
    { "/v1/whatsapp/templates", ngx_http_helpdesk_api_wa_tpl_ops },
    { "/v1/tickets/*/whatsapp-template", ngx_http_helpdesk_api_wa_send_ops },
    { NULL, NULL }
};
