/*
 * Tenant API: Microsoft 365 and Gmail mailboxes (OAuth 2.0).
 *
 *   POST /v1/email/mailboxes {"kind": "microsoft365"|"gmail", "address",
 *        "client_id", "client_secret"}        the secret sealed to the new
 *                                             mailbox; answers the
 *                                             provider's consent URL
 *   POST /v1/email/mailboxes/{id}/authorize   a consent URL again
 *   GET  /v1/email/oauth/callback?code&state  where the provider sends
 *        (or ?error=...&state)                the admin back
 *
 * A consent URL carries a state of 32 random bytes (the database keeps its
 * SHA-256, bound to the tenant, the mailbox and the admin, for ten minutes,
 * taken once) and a PKCE challenge (S256) whose verifier is sealed to the
 * state.  The redirect URI is the callback on the name and path the
 * request came by: the console's (<console>/_/rest/v1/...), where the
 * admin's session comes back with the browser, or the API's.  The
 * callback seals the code to the state before PostgreSQL sees it; the
 * fetch job exchanges it for tokens (src/jobs/ngx_helpdesk_email_oauth.c)
 * and checks the connection.  On the console the callback answers with a
 * redirect to the console's E-mail settings, the outcome in the query;
 * elsewhere with JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>

#include "ngx_http_helpdesk_api.h"
#include "http/ngx_helpdesk_http.h"


#define NGX_HTTP_HELPDESK_OAUTH_RANDOM   32
#define NGX_HTTP_HELPDESK_OAUTH_SECRET_MAX  1024
#define NGX_HTTP_HELPDESK_OAUTH_CODE_MAX    4096
/* where the client id goes in a consent URL the database completes */
#define NGX_HTTP_HELPDESK_OAUTH_CLIENT   "{client_id}"
/* and the mailbox's address, as the account to consent for */
#define NGX_HTTP_HELPDESK_OAUTH_HINT     "{login_hint}"


static ngx_str_t  ngx_http_helpdesk_oauth_callback_path =
    ngx_string("/v1/email/oauth/callback");


static ngx_flag_t
ngx_http_helpdesk_oauth_kind(json_t *v)
{
    return json_is_string(v)
           && (ngx_strcmp(json_string_value(v), "microsoft365") == 0
               || ngx_strcmp(json_string_value(v), "gmail") == 0);
}


/* base64url of n random bytes, into buf */
static ngx_int_t
ngx_http_helpdesk_oauth_random(u_char *buf, ngx_str_t *out)
{
    ngx_str_t  raw;
    u_char     random[NGX_HTTP_HELPDESK_OAUTH_RANDOM];

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_ERROR;
    }

    raw.data = random;
    raw.len = sizeof(random);
    out->data = buf;
    ngx_encode_base64url(out, &raw);

    return NGX_OK;
}


/* "sha256:<hex>" of s, into a pool string */
static ngx_int_t
ngx_http_helpdesk_oauth_hash(ngx_pool_t *pool, ngx_str_t *s, ngx_str_t *out)
{
    u_char  *p;
    u_char   digest[NGX_HELPDESK_SHA256_LEN];

    out->len = 7 + 2 * NGX_HELPDESK_SHA256_LEN;
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_helpdesk_sha256(s->data, s->len, digest);
    p = ngx_cpymem(out->data, "sha256:", 7);
    ngx_hex_dump(p, digest, sizeof(digest));

    return NGX_OK;
}


/*
 * The callback's URL on the name and path this request came by: the
 * console's REST API, or the API's location.
 */
static ngx_int_t
ngx_http_helpdesk_oauth_redirect_uri(ngx_http_request_t *r, ngx_str_t *uri)
{
    u_char                        *p;
    ngx_str_t                     *host, prefix;
    ngx_http_helpdesk_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);

    if (r->headers_in.host == NULL) {
        return NGX_DECLINED;
    }

    host = &r->headers_in.host->value;

    if (hlcf->console) {
        prefix = hlcf->app_prefix;

    } else {
        prefix = hlcf->api_prefix;
    }

    uri->data = ngx_pnalloc(r->pool, sizeof("https://") - 1 + host->len
                                     + prefix.len + sizeof("/_/rest") - 1
                                     + ngx_http_helpdesk_oauth_callback_path.len);
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(uri->data, "%s://%V%V%s%V",
#if (NGX_HTTP_SSL)
                    (r->connection->ssl || hlcf->link_https) ? "https" : "http",
#else
                    hlcf->link_https ? "https" : "http",
#endif
                    host, &prefix, hlcf->console ? "/_/rest" : "",
                    &ngx_http_helpdesk_oauth_callback_path);
    uri->len = p - uri->data;

    return NGX_OK;
}


/*
 * A new authorisation: the state's hash, the sealed verifier, the
 * redirect URI, and each provider's consent URL with the client id left
 * for the database to put in (it knows the mailbox's).
 */
static ngx_int_t
ngx_http_helpdesk_oauth_state(ngx_http_helpdesk_api_ctx_t *ctx)
{
    u_char                          *p, *url;
    size_t                           len;
    json_t                          *urls;
    ngx_int_t                        rc;
    ngx_str_t                        state, verifier, challenge, hash, redirect;
    ngx_str_t                        raw;
    ngx_uint_t                       i;
    ngx_http_request_t              *r = ctx->req.r;
    ngx_http_helpdesk_main_conf_t   *hmcf;
    ngx_helpdesk_oauth_provider_t   *pv;
    u_char                           sbuf[64], vbuf[64], cbuf[64];
    u_char                           digest[NGX_HELPDESK_SHA256_LEN];

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);

    rc = ngx_http_helpdesk_oauth_redirect_uri(r, &redirect);
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? NGX_OK : NGX_ERROR;
    }

    if (ngx_http_helpdesk_oauth_random(sbuf, &state) != NGX_OK
        || ngx_http_helpdesk_oauth_random(vbuf, &verifier) != NGX_OK
        || ngx_http_helpdesk_oauth_hash(r->pool, &state, &hash) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* PKCE: the challenge is base64url(SHA-256(verifier)) */
    ngx_helpdesk_sha256(verifier.data, verifier.len, digest);
    raw.data = digest;
    raw.len = sizeof(digest);
    challenge.data = cbuf;
    ngx_encode_base64url(&challenge, &raw);

    json_object_set_new(ctx->args, "oauth_state_hash",
                        json_stringn((char *) hash.data, hash.len));
    json_object_set_new(ctx->args, "oauth_verifier",
                        json_stringn((char *) verifier.data, verifier.len));
    json_object_set_new(ctx->args, "redirect_uri",
                        json_stringn((char *) redirect.data, redirect.len));

    urls = json_object();
    if (urls == NULL) {
        return NGX_ERROR;
    }

    json_object_set_new(ctx->args, "authorize_urls", urls);

    for (i = 0; i < NGX_HELPDESK_OAUTH_PROVIDERS; i++) {
        pv = &hmcf->email_fetch.oauth[i];

        len = pv->authorize.len + 3 * (redirect.len + pv->scope.len)
              + state.len + challenge.len + 256;

        url = ngx_pnalloc(r->pool, len);
        if (url == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(url, pv->authorize.data, pv->authorize.len);
        *p++ = ngx_strlchr(pv->authorize.data,
                           pv->authorize.data + pv->authorize.len, '?')
               ? '&' : '?';
        p = ngx_cpymem(p, "response_type=code&client_id="
                          NGX_HTTP_HELPDESK_OAUTH_CLIENT "&redirect_uri=",
                       sizeof("response_type=code&client_id="
                              NGX_HTTP_HELPDESK_OAUTH_CLIENT
                              "&redirect_uri=") - 1);
        p = ngx_helpdesk_oauth_escape(p, &redirect);
        p = ngx_cpymem(p, "&scope=", 7);
        p = ngx_helpdesk_oauth_escape(p, &pv->scope);
        p = ngx_sprintf(p, "&state=%V&code_challenge=%V"
                        "&code_challenge_method=S256"
                        "&login_hint=" NGX_HTTP_HELPDESK_OAUTH_HINT,
                        &state, &challenge);

        /* Google gives a refresh token to an offline consent only */
        if (ngx_strcmp(pv->kind, "gmail") == 0) {
            p = ngx_cpymem(p, "&access_type=offline&prompt=consent",
                           sizeof("&access_type=offline&prompt=consent") - 1);
        }

        json_object_set_new(urls, pv->kind,
                            json_stringn((char *) url, p - url));
    }

    return ngx_http_helpdesk_secret_seal(r, ctx->args, "oauth_verifier",
                                         "email_oauth_states", "verifier",
                                         &hash);
}


/*
 * A provider's mailbox in a create or update: its client checked, the
 * secret sealed to "row", the places of the configuration's provider; on
 * create, an authorisation.
 */
ngx_int_t
ngx_http_helpdesk_api_email_oauth(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_str_t *row, ngx_flag_t create)
{
    json_t                         *v;
    ngx_http_helpdesk_main_conf_t  *hmcf;
    ngx_helpdesk_oauth_provider_t  *pv;

    static const char *const  ctl[] = { "client_id", "client_secret", NULL };

    if (ctx->args == NULL || json_array_size(ctx->errors)) {
        return NGX_OK;
    }

    v = json_object_get(ctx->args, "client_id");
    if (v && !json_is_string(v)) {
        ngx_helpdesk_json_error(ctx->errors, "client_id", "must be a string");
    }

    v = json_object_get(ctx->args, "client_secret");
    if (v && (!json_is_string(v) || json_string_length(v) == 0
              || json_string_length(v) > NGX_HTTP_HELPDESK_OAUTH_SECRET_MAX))
    {
        ngx_helpdesk_json_error(ctx->errors, "client_secret",
                                "must be a string of 1 to 1024 bytes");
    }

    ngx_http_helpdesk_api_check_ctl(ctx, ctl);

    if (json_array_size(ctx->errors)) {
        return NGX_OK;
    }

    if (ngx_http_helpdesk_secret_seal(ctx->req.r, ctx->args, "client_secret",
                                      "email_mailboxes", "oauth_client_secret",
                                      row)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!create) {
        return NGX_OK;
    }

    v = json_object_get(ctx->args, "kind");
    if (!ngx_http_helpdesk_oauth_kind(v)) {
        return NGX_OK;
    }

    hmcf = ngx_http_get_module_main_conf(ctx->req.r, ngx_http_helpdesk_module);
    pv = ngx_helpdesk_email_oauth_provider(&hmcf->email_fetch,
                                           (u_char *) json_string_value(v),
                                           json_string_length(v));
    if (pv == NULL) {
        return NGX_OK;
    }

    json_object_set_new(ctx->args, "oauth_imap_url",
                        json_stringn((char *) pv->imap.data, pv->imap.len));
    json_object_set_new(ctx->args, "oauth_smtp_url",
                        json_stringn((char *) pv->smtp.data, pv->smtp.len));

    return ngx_http_helpdesk_oauth_state(ctx);
}


/* POST /v1/email/mailboxes/{id}/authorize */
ngx_int_t
ngx_http_helpdesk_api_email_authorize(ngx_http_helpdesk_api_ctx_t *ctx)
{
    if (ctx->raw_body.len && !json_is_object(ctx->body)) {
        ngx_helpdesk_json_error(ctx->errors, "", "must be a JSON object");
        return NGX_OK;
    }

    ctx->args = json_object();
    if (ctx->args == NULL || ngx_http_helpdesk_api_param(ctx, "id", 0) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_oauth_state(ctx);
}


/* a query argument, decoded, into a pool string; NGX_DECLINED: absent */
static ngx_int_t
ngx_http_helpdesk_oauth_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *out)
{
    u_char     *dst, *src;
    ngx_str_t   v;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &v) != NGX_OK) {
        return NGX_DECLINED;
    }

    out->data = ngx_pnalloc(r->pool, v.len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    /* a form's "+" is a space */
    dst = out->data;
    src = v.data;
    ngx_unescape_uri(&dst, &src, v.len, NGX_UNESCAPE_URI);
    out->len = dst - out->data;

    for (dst = out->data; dst < out->data + out->len; dst++) {
        if (*dst == '+') {
            *dst = ' ';
        }
    }

    return NGX_OK;
}


/*
 * s, when UTF-8, cut to at most max bytes at a character's start;
 * NGX_DECLINED: not UTF-8
 */
static ngx_int_t
ngx_http_helpdesk_oauth_cut(ngx_str_t *s, size_t max)
{
    if (ngx_utf8_length(s->data, s->len) == (size_t) -1) {
        return NGX_DECLINED;
    }

    if (s->len > max) {
        s->len = max;

        while (s->len && (s->data[s->len] & 0xc0) == 0x80) {
            s->len--;
        }
    }

    return NGX_OK;
}


/* GET /v1/email/oauth/callback: the provider's redirect, read */
ngx_int_t
ngx_http_helpdesk_api_email_callback(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            state, code, error, desc, hash;
    ngx_uint_t           i;
    ngx_http_request_t  *r = ctx->req.r;

    ctx->args = json_object();
    if (ctx->args == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_helpdesk_oauth_arg(r, "state", &state);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED || state.len == 0 || state.len > 200) {
        ngx_helpdesk_json_error(ctx->errors, "state",
                                "is required: the provider's redirect "
                                "carries it");
        return NGX_OK;
    }

    if (ngx_http_helpdesk_oauth_hash(r->pool, &state, &hash) != NGX_OK) {
        return NGX_ERROR;
    }

    json_object_set_new(ctx->args, "state_hash",
                        json_stringn((char *) hash.data, hash.len));

    rc = ngx_http_helpdesk_oauth_arg(r, "error", &error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        if (ngx_http_helpdesk_oauth_arg(r, "error_description", &desc)
            != NGX_OK)
        {
            desc.len = 0;
        }

        /* what the provider says, as text of one line (no NUL), bounded */
        for (i = 0; i < error.len; i++) {
            if (error.data[i] < 0x20 || error.data[i] == 0x7f) {
                error.data[i] = ' ';
            }
        }

        for (i = 0; i < desc.len; i++) {
            if (desc.data[i] < 0x20 || desc.data[i] == 0x7f) {
                desc.data[i] = ' ';
            }
        }

        /* not UTF-8: left out; too long: cut between characters */
        if (ngx_http_helpdesk_oauth_cut(&error, 100) == NGX_OK) {
            json_object_set_new(ctx->args, "error",
                                json_stringn((char *) error.data, error.len));
        }

        if (desc.len && ngx_http_helpdesk_oauth_cut(&desc, 200) == NGX_OK) {
            json_object_set_new(ctx->args, "error_description",
                                json_stringn((char *) desc.data, desc.len));
        }

        return NGX_OK;
    }

    rc = ngx_http_helpdesk_oauth_arg(r, "code", &code);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED || code.len == 0) {
        return NGX_OK;      /* the database says "no code" */
    }

    if (code.len > NGX_HTTP_HELPDESK_OAUTH_CODE_MAX) {
        ngx_helpdesk_json_error(ctx->errors, "code", "is too long");
        return NGX_OK;
    }

    json_object_set_new(ctx->args, "code",
                        json_stringn((char *) code.data, code.len));

    return ngx_http_helpdesk_secret_seal(r, ctx->args, "code",
                                         "email_oauth_states", "code", &hash);
}


/* a column of the answer (binary text) into a pool string */
static ngx_int_t
ngx_http_helpdesk_oauth_col(ngx_http_request_t *r, PGresult *res, int col,
    ngx_str_t *out)
{
    out->len = PQgetisnull(res, 0, col) ? 0 : PQgetlength(res, 0, col);
    out->data = ngx_pnalloc(r->pool, out->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, PQgetvalue(res, 0, col), out->len);
    out->data[out->len] = '\0';

    return NGX_OK;
}


/*
 * The callback's answer: on the console, back to its E-mail settings with
 * the outcome (the console shows it, and the mailbox's health as the
 * fetch job records it); elsewhere, JSON.
 */
ngx_int_t
ngx_http_helpdesk_api_email_callback_result(ngx_http_helpdesk_api_ctx_t *ctx,
    PGresult *res)
{
    u_char                        *p;
    json_t                        *j;
    ngx_str_t                      mailbox, outcome, detail, code, loc, v;
    ngx_http_request_t            *r = ctx->req.r;
    ngx_http_helpdesk_loc_conf_t  *hlcf;

    if (PQntuples(res) != 1 || PQnfields(res) != 4
        || ngx_http_helpdesk_oauth_col(r, res, 0, &mailbox) != NGX_OK
        || ngx_http_helpdesk_oauth_col(r, res, 1, &outcome) != NGX_OK
        || ngx_http_helpdesk_oauth_col(r, res, 2, &detail) != NGX_OK
        || ngx_http_helpdesk_oauth_col(r, res, 3, &code) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "no-store");
    (void) ngx_helpdesk_http_header_out(r, "Cache-Control", &v);

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);

    if (hlcf->console) {
        loc.data = ngx_pnalloc(r->pool, hlcf->app_prefix.len + 64
                                        + mailbox.len + 3 * detail.len
                                        + 3 * code.len);
        if (loc.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(loc.data, "%V/admin?tab=email&email_oauth=%V",
                        &hlcf->app_prefix, &outcome);

        if (mailbox.len) {
            p = ngx_sprintf(p, "&mailbox=%V", &mailbox);
        }

        /* the reason's code, which the console words in its language */
        if (code.len) {
            p = ngx_cpymem(p, "&code=", 6);
            p = ngx_helpdesk_oauth_escape(p, &code);
        }

        p = ngx_cpymem(p, "&detail=", 8);
        p = ngx_helpdesk_oauth_escape(p, &detail);
        loc.len = p - loc.data;

        if (ngx_helpdesk_http_header_out(r, "Location", &loc) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->header_only = 1;
        return ngx_helpdesk_http_send(r, NGX_HTTP_SEE_OTHER, "text/plain",
                                      NULL, 0);
    }

    if (outcome.len != 2 || ngx_strncmp(outcome.data, "ok", 2) != 0) {
        return ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                   outcome.data[0] == 'r' ? "consent-refused"
                                          : "invalid-authorization",
                   "Bad Request", (char *) detail.data,
                   mailbox.len ? json_pack("{s:s, s:s*}", "mailbox",
                                           (char *) mailbox.data, "code",
                                           code.len ? (char *) code.data
                                                    : NULL)
                               : code.len ? json_pack("{s:s}", "code",
                                                      (char *) code.data)
                                          : NULL);
    }

    j = json_pack("{s:s, s:s, s:s}", "mailbox", (char *) mailbox.data,
                  "outcome", "ok", "detail", (char *) detail.data);
    if (j == NULL || ngx_helpdesk_json_dump(r->pool, j, &v) != NGX_OK) {
        json_decref(j);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_decref(j);

    return ngx_helpdesk_http_send(r, NGX_HTTP_OK, "application/json",
                                  v.data, v.len);
}
