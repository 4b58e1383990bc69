/*
 * Two-step login for agents (RFC 6238 TOTP): setting it up shows a new
 * secret as a QR code to scan, and a code from the app confirms it; the
 * same check turns it off again.  The secret is kept by PostgreSQL,
 * sealed to the agent's row (users.totp_secret, also while it is pending:
 * enabling moves it there); the codes are checked here
 * (lib/ngx_helpdesk_totp.c), and each code's time step is taken once by
 * the database (a code seen is not taken again).  Turning it on ends the
 * agent's other sessions: they were opened with the password alone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_qr.h"
#include "lib/ngx_helpdesk_totp.h"
#include "ngx_http_helpdesk_portal.h"


/*
 * An agent's stored secret (sealed) into its plaintext; one that does not
 * open is answered here (NGX_DECLINED), and the log says which.
 */
ngx_int_t
ngx_http_helpdesk_portal_totp_open(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *user, ngx_str_t *secret)
{
    ngx_int_t            rc;
    ngx_str_t            plain;
    ngx_http_request_t  *r = ctx->req.r;

    rc = ngx_http_helpdesk_secret_open(ngx_http_helpdesk_secrets(r), r->pool,
                                       r->connection->log, "users",
                                       "totp_secret", user, secret, &plain);

    if (rc == NGX_DECLINED) {
        ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
            "secret-unavailable", "Service Unavailable",
            "the second factor cannot be checked now; "
            "ask the helpdesk's administrator");
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    *secret = plain;

    return NGX_OK;
}


/*
 * The setup's answer: the new secret (the database only saw it sealed)
 * and its otpauth URI, also as a QR code to scan.  The database answers
 * the URI's parts before and after the secret.
 */
void
ngx_http_helpdesk_portal_totp_qr(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    u_char              *p;
    char                *text;
    json_t              *body;
    ngx_str_t            uri, svg, b64, out;
    const char          *head, *tail;
    json_error_t         err;
    ngx_http_request_t  *r = ctx->req.r;

    body = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, &err);
    head = json_string_value(json_object_get(body, "uri_head"));
    tail = json_string_value(json_object_get(body, "uri_tail"));

    if (head == NULL || tail == NULL) {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    uri.len = ngx_strlen(head) + ctx->totp.len + ngx_strlen(tail);
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(uri.data, head, ngx_strlen(head));
    p = ngx_cpymem(p, ctx->totp.data, ctx->totp.len);
    ngx_memcpy(p, tail, ngx_strlen(tail));

    json_object_del(body, "uri_head");
    json_object_del(body, "uri_tail");
    json_object_set_new(body, "secret",
                        json_stringn((char *) ctx->totp.data, ctx->totp.len));
    json_object_set_new(body, "uri",
                        json_stringn((char *) uri.data, uri.len));

    if (ngx_helpdesk_qr_svg(r->pool, &uri, &svg) != NGX_OK) {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    b64.len = sizeof("data:image/svg+xml;base64,") - 1
              + ngx_base64_encoded_length(svg.len);
    b64.data = ngx_pnalloc(r->pool, b64.len);
    if (b64.data == NULL) {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    out.data = ngx_cpymem(b64.data, "data:image/svg+xml;base64,",
                          sizeof("data:image/svg+xml;base64,") - 1);
    ngx_encode_base64(&out, &svg);
    b64.len = out.data + out.len - b64.data;

    json_object_set_new(body, "qr", json_stringn((char *) b64.data, b64.len));
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    if (text == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    out.len = ngx_strlen(text);
    out.data = ngx_pnalloc(r->pool, out.len);
    if (out.data == NULL) {
        free(text);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(out.data, text, out.len);
    free(text);

    ngx_str_set(&b64, "no-store");
    (void) ngx_helpdesk_http_header_out(r, "Cache-Control", &b64);

    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_send(r, NGX_HTTP_OK, "application/json",
                               out.data, out.len));
}


/* the code against the secret, then "totp.enable" or "totp.disable" */
void
ngx_http_helpdesk_portal_totp_confirm(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    json_t        *body, *c;
    uint64_t       step;
    ngx_str_t      secret, code;
    json_error_t   err;

    body = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, &err);
    secret.data = (u_char *) json_string_value(json_object_get(body, "secret"));
    c = json_object_get(ctx->args, "code");

    if (secret.data == NULL) {
        json_decref(body);
        ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_CONFLICT,
            "totp-not-set-up", "Conflict",
            "there is no second factor to confirm; set one up first");
        return;
    }

    secret.len = ngx_strlen(secret.data);

    if (ngx_http_helpdesk_portal_totp_open(ctx, &ctx->user, &secret)
        != NGX_OK)
    {
        json_decref(body);
        return;
    }

    if (!json_is_string(c)) {
        json_decref(body);
        ngx_http_helpdesk_portal_invalid(ctx, "code", "required",
            "enter the code from your authenticator app",
            "enter the code from your authenticator app");
        return;
    }

    code.data = (u_char *) json_string_value(c);
    code.len = json_string_length(c);

    if (ngx_helpdesk_totp_match(&secret, &code, &step) != NGX_OK) {
        json_decref(body);
        ngx_http_helpdesk_portal_invalid(ctx, "code", "totp-invalid",
            "the code is not right", "the code is not right");
        return;
    }

    json_decref(body);

    /* the step the code belongs to: the database takes it once */
    if (json_object_set_new(ctx->args, "totp_step",
                            json_integer((json_int_t) step))
        != 0)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_call(ctx, ctx->op->op, ctx->args,
                                  ngx_strcmp(ctx->op->op, "totp.enable") == 0
                                  ? ngx_http_helpdesk_portal_totp_on
                                  : ngx_http_helpdesk_portal_reply);
}


/* on: the sessions opened with the password alone end, but this one */
void
ngx_http_helpdesk_portal_totp_on(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    ngx_http_helpdesk_portal_sessions_end(ctx, &ctx->user, &ctx->session_key);
}