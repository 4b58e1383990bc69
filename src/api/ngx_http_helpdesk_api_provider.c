/*
 * The hosting provider's API: tenants and their API keys, for a billing
 * system to automate.  An API key is generated here, returned once in the
 * response that creates it, and stored only as its SHA-256.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ngx_http_helpdesk_api.h"
#include "lib/ngx_helpdesk_ticket.h"
#include "tls/ngx_http_helpdesk_tls.h"


/* "hdk_" and 32 base64url characters: 192 random bits */
#define NGX_HTTP_HELPDESK_KEY_RANDOM   24
#define NGX_HTTP_HELPDESK_KEY_PREFIX   12


static const char *const  ngx_http_helpdesk_tenant_statuses[] = {
    "active", "disabled", NULL
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_tenant_create_fields[]
= {
    { "name", NGX_HELPDESK_JSON_STRING, NGX_HELPDESK_JSON_REQUIRED, 200, NULL,
      NULL },
    { "slug", NGX_HELPDESK_JSON_SLUG, NGX_HELPDESK_JSON_REQUIRED, 63, NULL,
      NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_tenant_update_fields[]
= {
    { "name", NGX_HELPDESK_JSON_STRING, 0, 200, NULL, NULL },
    { "status", NGX_HELPDESK_JSON_ENUM, 0, 0,
      ngx_http_helpdesk_tenant_statuses, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const char *const  ngx_http_helpdesk_admin_languages[] = {
    "pt-BR", "es", "en", NULL
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_admin_create_fields[]
= {
    { "email", NGX_HELPDESK_JSON_EMAIL, NGX_HELPDESK_JSON_REQUIRED, 254, NULL,
      NULL },
    { "name", NGX_HELPDESK_JSON_STRING, 0, 200, NULL, NULL },
    { "url", NGX_HELPDESK_JSON_STRING, NGX_HELPDESK_JSON_REQUIRED, 500, NULL,
      NULL },
    { "language", NGX_HELPDESK_JSON_ENUM, 0, 0,
      ngx_http_helpdesk_admin_languages, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  ngx_http_helpdesk_key_create_fields[] = {
    { "name", NGX_HELPDESK_JSON_STRING, NGX_HELPDESK_JSON_REQUIRED, 100, NULL,
      NULL },
    { "scopes", NGX_HELPDESK_JSON_ENUM_ARRAY, NGX_HELPDESK_JSON_REQUIRED, 0,
      ngx_helpdesk_api_scopes, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};


static ngx_int_t
ngx_http_helpdesk_api_tenant_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_body_object(ctx,
                                      ngx_http_helpdesk_tenant_create_fields);
}


static ngx_int_t
ngx_http_helpdesk_api_tenant_get(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_tenant_update(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_tenant_update_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (json_array_size(ctx->errors) == 0 && json_object_size(ctx->args) == 0)
    {
        ngx_helpdesk_json_error(ctx->errors, "",
                                "name at least one of: name, status");
    }

    return ngx_http_helpdesk_api_param(ctx, "id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_key_list(ngx_http_helpdesk_api_ctx_t *ctx)
{
    return ngx_http_helpdesk_api_param(ctx, "tenant_id", 0);
}


static ngx_int_t
ngx_http_helpdesk_api_key_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t   raw, key, enc;
    u_char      random[NGX_HTTP_HELPDESK_KEY_RANDOM];
    u_char      hash[NGX_HELPDESK_SHA256_LEN];
    u_char      hex[2 * NGX_HELPDESK_SHA256_LEN];

    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_key_create_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_ERROR;
    }

    raw.data = random;
    raw.len = sizeof(random);

    key.data = ngx_pnalloc(ctx->req.r->pool,
                           4 + ngx_base64_encoded_length(sizeof(random)));
    if (key.data == NULL) {
        return NGX_ERROR;
    }

    enc.data = ngx_cpymem(key.data, "hdk_", 4);
    ngx_encode_base64url(&enc, &raw);
    key.len = 4 + enc.len;

    ctx->secret = key;

    ngx_helpdesk_sha256(key.data, key.len, hash);
    ngx_hex_dump(hex, hash, sizeof(hash));

    json_object_set_new(ctx->args, "key_hash",
                        json_stringn((char *) hex, sizeof(hex)));
    json_object_set_new(ctx->args, "prefix",
                        json_stringn((char *) key.data,
                                     NGX_HTTP_HELPDESK_KEY_PREFIX));

    return ngx_http_helpdesk_api_param(ctx, "tenant_id", 0);
}


/*
 * A tenant's admin made by the provider (its billing system, when it sells
 * the tenant): the answer carries a one-time link to the console to choose
 * a password, and no mail is sent.  Of the console's URL the database keeps
 * the path: the name in the link is the tenant's.
 */

static ngx_int_t
ngx_http_helpdesk_api_admin_create(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t    path;
    const char  *url;

    if (ngx_http_helpdesk_api_body_object(ctx,
                                  ngx_http_helpdesk_admin_create_fields)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    url = json_string_value(json_object_get(ctx->args, "url"));

    if (url && !(ngx_strncmp(url, "https://", 8) == 0
                 || ngx_strncmp(url, "http://", 7) == 0))
    {
        ngx_helpdesk_json_error(ctx->errors, "url",
            "the agent console's address, e.g. https://acme.support.example/agent");
    }

    ngx_str_set(&path, "");

    if (ngx_http_helpdesk_req_link(&ctx->req, ctx->args, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "tenant_id", 0);
}


/* the secret is in the response that creates the key, and nowhere else */

static ngx_int_t
ngx_http_helpdesk_api_key_created(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t        *body;
    ngx_str_t      out;
    json_error_t   err;

    body = json_loadb((char *) ctx->out.data, ctx->out.len, 0, &err);
    if (body == NULL) {
        return NGX_ERROR;
    }

    json_object_set_new(body, "key",
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
ngx_http_helpdesk_api_key_delete(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ngx_http_helpdesk_api_param(ctx, "tenant_id", 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_api_param(ctx, "key_id", 1);
}


/* a tenant's portal names: {"hostname", "verified"} */
static ngx_int_t
ngx_http_helpdesk_api_domain_args(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ctx->body) {
        if (!json_is_object(ctx->body)) {
            ngx_helpdesk_json_error(ctx->errors, "", "send a JSON object");
            return NGX_OK;
        }

        json_decref(ctx->args);
        ctx->args = json_deep_copy(ctx->body);
        if (ctx->args == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_helpdesk_api_param(ctx, "tenant_id", 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->nparams > 1) {
        return ngx_http_helpdesk_api_param(ctx, "hostname", 1);
    }

    return ctx->body ? ngx_http_helpdesk_api_domain_input(ctx) : NGX_OK;
}


/*
 * PUT /v1/provider/tenants/{id}/domains/{host}/certificate: a certificate
 * the provider brings for a tenant's name, {"certificate": PEM chain (leaf
 * first), "private_key": PEM}.  Checked here (the leaf names the host, the
 * key is its own, valid now, 10 certificates at most); the database gets
 * the chain in DER and the key sealed with the secret ring, never in
 * clear.  Every node serves it after its next sync.
 */
static ngx_int_t
ngx_http_helpdesk_api_certificate_put(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t                      *cert, *key, *out, *v;
    ngx_int_t                    rc;
    ngx_str_t                    host, cert_pem, key_pem, plain, sealed, aad;
    ngx_uint_t                   i;
    const char                  *reason, *k;
    ngx_helpdesk_secret_ring_t  *ring;
    u_char                       buf[NGX_HTTP_HELPDESK_TLS_HOST_MAX + 16];

    if (ngx_http_helpdesk_api_param(ctx, "tenant_id", 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->body == NULL || !json_is_object(ctx->body)) {
        ngx_helpdesk_json_error(ctx->errors, "", "send a JSON object "
                                "{\"certificate\", \"private_key\"}");
        return NGX_OK;
    }

    cert = json_object_get(ctx->body, "certificate");
    key = json_object_get(ctx->body, "private_key");

    if (!json_is_string(cert)) {
        ngx_helpdesk_json_error(ctx->errors, "certificate",
                                "the certificate chain in PEM, leaf first");
    }

    if (!json_is_string(key)) {
        ngx_helpdesk_json_error(ctx->errors, "private_key",
                                "the certificate's private key in PEM");
    }

    host.len = ctx->params[1].len;
    host.data = ngx_pnalloc(ctx->req.r->pool, host.len + 1);
    if (host.data == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < host.len; i++) {
        host.data[i] = ngx_tolower(ctx->params[1].data[i]);

        if (!((host.data[i] >= 'a' && host.data[i] <= 'z')
              || (host.data[i] >= '0' && host.data[i] <= '9')
              || host.data[i] == '-' || host.data[i] == '.'))
        {
            host.len = 0;
            break;
        }
    }

    if (host.len == 0 || host.len > NGX_HTTP_HELPDESK_TLS_HOST_MAX
        || host.data[0] == '.')
    {
        ngx_helpdesk_json_error(ctx->errors, "hostname", "a host name");
    }

    if (json_array_size(ctx->errors)) {
        return NGX_OK;
    }

    cert_pem.data = (u_char *) json_string_value(cert);
    cert_pem.len = json_string_length(cert);
    key_pem.data = (u_char *) json_string_value(key);
    key_pem.len = json_string_length(key);

    out = json_object();
    if (out == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_helpdesk_tls_check(ctx->req.r->pool, &host, &cert_pem,
                                     &key_pem, out, &reason);

    if (rc == NGX_DECLINED) {
        json_decref(out);
        ngx_helpdesk_json_error(ctx->errors, "certificate", reason);
        return NGX_OK;
    }

    ring = ngx_http_helpdesk_secrets(ctx->req.r);

    if (rc != NGX_OK || ring == NULL) {
        json_decref(out);
        return NGX_ERROR;
    }

    v = json_object_get(out, "key");
    plain.data = (u_char *) json_string_value(v);
    plain.len = json_string_length(v);

    ngx_http_helpdesk_tls_key_aad(&aad, buf, &host);

    rc = ngx_helpdesk_secret_encrypt(ctx->req.r->pool, ring, &aad, &plain,
                                     &sealed);

    ngx_explicit_memzero(plain.data, plain.len);
    json_object_del(out, "key");

    if (rc != NGX_OK) {
        json_decref(out);
        return NGX_ERROR;
    }

    json_object_foreach(out, k, v) {
        json_object_set(ctx->args, k, v);
    }

    json_decref(out);

    json_object_set_new(ctx->args, "hostname",
                        json_stringn((char *) host.data, host.len));
    json_object_set_new(ctx->args, "key_sealed",
                        json_stringn((char *) sealed.data, sealed.len));

    return NGX_OK;
}


/*
 * GET /v1/provider/secrets: what the rotation of secrets at rest has left
 * to re-encrypt under the key file's current key.
 */
static ngx_int_t
ngx_http_helpdesk_api_secrets_status(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t                   *id;
    ngx_helpdesk_secret_ring_t  *ring;

    ring = ngx_http_helpdesk_secrets(ctx->req.r);

    if (ring == NULL) {
        ngx_helpdesk_json_error(ctx->errors, "", "no key file: "
                                "\"helpdesk_secret_key_file\" is not "
                                "configured");
        return NGX_OK;
    }

    id = ngx_helpdesk_secret_current(ring);

    ctx->args = json_pack("{s:s%}", "key_id", id->data, id->len);

    return ctx->args ? NGX_OK : NGX_ERROR;
}


/*
 * GET /v1/provider/tls: the serving of certificates as this node sees it
 * (its zone, its sync), completed by the database (tls.status).
 */
static json_t *
ngx_http_helpdesk_api_tls_time(time_t t)
{
    ngx_tm_t  tm;
    u_char    buf[sizeof("1970-01-01T00:00:00Z")];

    if (t == 0) {
        return json_null();
    }

    ngx_gmtime(t, &tm);
    ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z", tm.ngx_tm_year,
                tm.ngx_tm_mon, tm.ngx_tm_mday, tm.ngx_tm_hour,
                tm.ngx_tm_min, tm.ngx_tm_sec);

    return json_string((char *) buf);
}


static ngx_int_t
ngx_http_helpdesk_api_tls_status(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t                         *node;
    ngx_http_helpdesk_tls_stats_t   st;

    if (ctx->args == NULL) {
        ctx->args = json_object();
        if (ctx->args == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_helpdesk_tls_store_stats(&st) != NGX_OK) {
        node = json_pack("{s:b}", "configured", 0);

    } else {
        node = json_pack("{s:b, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
                         "configured", 1,
                         "zone_size", (json_int_t) st.size,
                         "zone_used", (json_int_t) st.used,
                         "entries", (json_int_t) st.entries,
                         "synced_seq", (json_int_t) st.synced_seq,
                         "synced_at",
                         ngx_http_helpdesk_api_tls_time(st.synced_at),
                         "failed_at",
                         ngx_http_helpdesk_api_tls_time(st.failed_at),
                         "error", st.error_len
                                  ? json_stringn((char *) st.error,
                                                 st.error_len)
                                  : json_null());
    }

    if (node == NULL || json_object_set_new(ctx->args, "node", node) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


#define PROVIDER  NGX_HTTP_HELPDESK_AUTH_PROVIDER

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_secrets_ops[] = {
    { NGX_HTTP_GET, 200, "secrets.status", NULL, PROVIDER,
      ngx_http_helpdesk_api_secrets_status, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_tls_ops[] = {
    { NGX_HTTP_GET, 200, "tls.status", NULL, PROVIDER,
      ngx_http_helpdesk_api_tls_status, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_tenants_ops[] = {
    { NGX_HTTP_GET, 200, "tenant.list", NULL, PROVIDER, NULL, NULL },
    { NGX_HTTP_POST, 201, "tenant.create", NULL, PROVIDER,
      ngx_http_helpdesk_api_tenant_create, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_tenant_ops[] = {
    { NGX_HTTP_GET, 200, "tenant.get", NULL, PROVIDER,
      ngx_http_helpdesk_api_tenant_get, NULL },
    { NGX_HTTP_PATCH, 200, "tenant.update", NULL, PROVIDER,
      ngx_http_helpdesk_api_tenant_update, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_keys_ops[] = {
    { NGX_HTTP_GET, 200, "key.list", NULL, PROVIDER,
      ngx_http_helpdesk_api_key_list, NULL },
    { NGX_HTTP_POST, 201, "key.create", NULL, PROVIDER,
      ngx_http_helpdesk_api_key_create, ngx_http_helpdesk_api_key_created,
      NULL, NULL, "key" },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_admins_ops[] = {
    { NGX_HTTP_POST, 201, "admin.create", NULL, PROVIDER,
      ngx_http_helpdesk_api_admin_create, NULL, NULL, NULL, "link" },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_key_ops[] = {
    { NGX_HTTP_DELETE, 204, "key.delete", NULL, PROVIDER,
      ngx_http_helpdesk_api_key_delete, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_pdomains_ops[] = {
    { NGX_HTTP_GET, 200, "domain.list", NULL, PROVIDER,
      ngx_http_helpdesk_api_domain_args, NULL },
    { NGX_HTTP_POST, 201, "domain.create", NULL, PROVIDER,
      ngx_http_helpdesk_api_domain_args, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_pdomain_ops[] = {
    { NGX_HTTP_GET, 200, "domain.get", NULL, PROVIDER,
      ngx_http_helpdesk_api_domain_args, NULL },
    { NGX_HTTP_DELETE, 204, "domain.delete", NULL, PROVIDER,
      ngx_http_helpdesk_api_domain_args, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_pcert_ops[] = {
    { NGX_HTTP_PUT, 200, "domain.certificate", NULL, PROVIDER,
      ngx_http_helpdesk_api_certificate_put, NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

#undef PROVIDER


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_provider_routes[] = {
    { "/v1/provider/secrets", ngx_http_helpdesk_api_secrets_ops },
    { "/v1/provider/tls", ngx_http_helpdesk_api_tls_ops },
    { "/v1/provider/tenants", ngx_http_helpdesk_api_tenants_ops },
    { "/v1/provider/tenants/*", ngx_http_helpdesk_api_tenant_ops },
    { "/v1/provider/tenants/*/api-keys", ngx_http_helpdesk_api_keys_ops },
    { "/v1/provider/tenants/*/api-keys/*", ngx_http_helpdesk_api_key_ops },
    { "/v1/provider/tenants/*/admins", ngx_http_helpdesk_api_admins_ops },
    { "/v1/provider/tenants/*/domains", ngx_http_helpdesk_api_pdomains_ops },
    { "/v1/provider/tenants/*/domains/*", ngx_http_helpdesk_api_pdomain_ops },
    { "/v1/provider/tenants/*/domains/*/certificate",
      ngx_http_helpdesk_api_pcert_ops },
    { NULL, NULL }
};
