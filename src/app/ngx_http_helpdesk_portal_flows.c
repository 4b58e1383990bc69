/*
 * The portal's flows that involve a password, each a little state machine
 * on ctx->step (ngx_http_helpdesk_flow_step_e) advanced after every
 * statement, Redis command or thread-pool job:
 *
 *   login:      account.key → limit → login.lookup → check (and, with a
 *               second factor, the code and login.claim) → new session →
 *               login.result
 *   sign-up:    account.key → limit → hash → signup → new session → boot
 *   logout:     logout (audit) → delete the session
 *   password:   password.lookup → check the current one → hash the new
 *               one → password.set
 *   reset:      account.key → limit → reset.request (the link goes out by
 *               email)
 *   reset done: limit (by the link) → hash → reset.done
 *   second factor on or off: limit (by the user) → the secret → the code
 *               → totp.enable or totp.disable
 *   upload:     one statement with the file
 *
 * Passwords are hashed and checked in a thread pool
 * (ngx_http_helpdesk_portal_password.c over event/ngx_helpdesk_password.c),
 * only once the limits let the request through, and a full queue is 503.  Attempts are counted in Redis per
 * account and per address (ngx_http_helpdesk_portal_limit.c).  An unknown
 * account, a wrong password and a missing or wrong code all get the same
 * answer after the same work.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "event/ngx_helpdesk_password.h"
#include "lib/ngx_helpdesk_totp.h"
#include "lib/ngx_helpdesk_magic.h"
#include "ngx_http_helpdesk_portal.h"


static ngx_int_t ngx_http_helpdesk_portal_field(
    ngx_http_helpdesk_portal_ctx_t *ctx, const char *name, ngx_str_t *out,
    size_t max);


/* a 422 naming one field, as the API's validation errors do */
void
ngx_http_helpdesk_portal_invalid(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *field, const char *code, const char *detail,
    const char *message)
{
    ngx_http_helpdesk_portal_finalize(ctx,
        ngx_helpdesk_http_problem(ctx->req.r, NGX_HTTP_UNPROCESSABLE_ENTITY,
            "validation-error", "Validation Error", detail,
            json_pack("{s:[{s:s, s:s, s:s}]}", "errors", "field", field,
                      "code", code, "message", message)));
}


void
ngx_http_helpdesk_portal_flow(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_str_t            email;
    ngx_http_request_t  *r = ctx->req.r;

    ctx->step = NGX_HTTP_HELPDESK_STEP_LOOKUP;

    switch (ctx->op->flow) {

    case NGX_HTTP_HELPDESK_FLOW_LOGIN:
        if (ngx_http_helpdesk_portal_field(ctx, "email", &email, 254)
               != NGX_OK
            || ngx_http_helpdesk_portal_field(ctx, "password", &ctx->secret,
                                              NGX_HELPDESK_PASSWORD_MAX)
               != NGX_OK)
        {
            return;
        }

        ngx_http_helpdesk_portal_account(ctx, &email);
        return;

    case NGX_HTTP_HELPDESK_FLOW_SIGNUP:
    case NGX_HTTP_HELPDESK_FLOW_RESET_DONE:
        if (ngx_http_helpdesk_portal_field(ctx, "password", &ctx->secret,
                                           NGX_HELPDESK_PASSWORD_MAX)
            != NGX_OK)
        {
            return;
        }

        if (ctx->secret.len < NGX_HELPDESK_PASSWORD_MIN) {
            ngx_http_helpdesk_portal_invalid(ctx, "password", "too_short",
                "the password is too short", "use at least 8 characters");
            return;
        }

        /* the limits first: nothing is hashed for a request past them */
        if (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_RESET_DONE) {
            ngx_str_t  scope = ngx_string("reset");

            ngx_http_helpdesk_portal_limit(ctx, &scope, &ctx->params[0]);
            return;
        }

        {
            json_t  *e = json_object_get(ctx->args, "email");

            email.data = (u_char *) (json_is_string(e) ? json_string_value(e)
                                                       : "");
            email.len = json_is_string(e) ? json_string_length(e) : 0;
        }

        ngx_http_helpdesk_portal_account(ctx, &email);
        return;

    case NGX_HTTP_HELPDESK_FLOW_LOGOUT:
        ngx_http_helpdesk_portal_call(ctx, "logout", ctx->args,
                                      ngx_http_helpdesk_portal_step_pg);
        return;

    case NGX_HTTP_HELPDESK_FLOW_PASSWORD:
        if (ctx->user.len == 0) {
            ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_UNAUTHORIZED,
                "login-required", "Unauthorized", "log in to continue");
            return;
        }

        if (ngx_http_helpdesk_portal_field(ctx, "current", &ctx->secret,
                                           NGX_HELPDESK_PASSWORD_MAX)
               != NGX_OK
            || ngx_http_helpdesk_portal_field(ctx, "password", &ctx->secret2,
                                              NGX_HELPDESK_PASSWORD_MAX)
               != NGX_OK)
        {
            return;
        }

        if (ctx->secret2.len < NGX_HELPDESK_PASSWORD_MIN) {
            ngx_http_helpdesk_portal_invalid(ctx, "password", "too_short",
                "the new password is too short", "use at least 8 characters");
            return;
        }

        /* guesses of the current password count like failed logins */
        {
            ngx_str_t  scope = ngx_string("password");

            ngx_http_helpdesk_portal_limit(ctx, &scope, &ctx->user);
            return;
        }

    case NGX_HTTP_HELPDESK_FLOW_RESET_REQUEST:
        if (ngx_http_helpdesk_portal_field(ctx, "email", &email, 254)
            != NGX_OK)
        {
            return;
        }

        ngx_http_helpdesk_portal_account(ctx, &email);
        return;

    case NGX_HTTP_HELPDESK_FLOW_UPLOAD:
        ngx_http_helpdesk_portal_step(ctx);
        return;

    case NGX_HTTP_HELPDESK_FLOW_TOTP_SETUP:
        {
            ngx_str_t  secret;

            if (ngx_helpdesk_totp_secret(r->pool, &secret) != NGX_OK) {
                ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            /* the plaintext for the answer; the database gets it sealed */
            ctx->totp = secret;

            json_object_set_new(ctx->args, "secret",
                                json_stringn((char *) secret.data, secret.len));

            if (ngx_http_helpdesk_secret_seal(r, ctx->args, "secret",
                                              "users", "totp_secret",
                                              &ctx->user)
                != NGX_OK)
            {
                ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_http_helpdesk_portal_call(ctx, "totp.setup", ctx->args,
                                          ngx_http_helpdesk_portal_totp_qr);
            return;
        }

    case NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM:
        {
            ngx_str_t  scope = ngx_string("totp");

            if (ctx->user.len == 0) {
                ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_UNAUTHORIZED,
                    "login-required", "Unauthorized", "log in to continue");
                return;
            }

            ngx_http_helpdesk_portal_limit(ctx, &scope, &ctx->user);
            return;
        }

    default:
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
}


/* a string member of the body, at most "max" bytes */
static ngx_int_t
ngx_http_helpdesk_portal_field(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *name, ngx_str_t *out, size_t max)
{
    json_t  *v;
    u_char   detail[128];

    v = json_object_get(ctx->args, name);

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) > max)
    {
        ngx_snprintf(detail, sizeof(detail), "enter the %s%Z",
                     ngx_strcmp(name, "current") == 0 ? "current password"
                     : name);

        ngx_http_helpdesk_portal_invalid(ctx, name, "required",
                                         (char *) detail, (char *) detail);
        return NGX_ERROR;
    }

    /* a copy of our own: the JSON may be released before the secret */
    out->len = json_string_length(v);
    out->data = ngx_pnalloc(ctx->req.r->pool, out->len);
    if (out->data == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, json_string_value(v), out->len);

    return NGX_OK;
}


/* the next statement of a flow, by flow and step */
void
ngx_http_helpdesk_portal_step(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->req.r;

    switch (ctx->op->flow) {

    case NGX_HTTP_HELPDESK_FLOW_LOGIN:
        ngx_http_helpdesk_portal_call(ctx, "login.lookup", ctx->args,
                                      ngx_http_helpdesk_portal_step_pg);
        return;

    case NGX_HTTP_HELPDESK_FLOW_RESET_REQUEST:
        /* email and language as the page sent them, the link's parts */
        ngx_http_helpdesk_portal_call(ctx, "reset.request", ctx->args,
                                      ngx_http_helpdesk_portal_reply);
        return;

    case NGX_HTTP_HELPDESK_FLOW_SIGNUP:
    case NGX_HTTP_HELPDESK_FLOW_RESET_DONE:
        ngx_http_helpdesk_portal_hash(ctx, &ctx->secret);
        return;

    case NGX_HTTP_HELPDESK_FLOW_PASSWORD:
        ngx_http_helpdesk_portal_call(ctx, "password.lookup", ctx->args,
                                      ngx_http_helpdesk_portal_step_pg);
        return;

    case NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM:
        /* the secret to check the code against, then the change */
        ngx_http_helpdesk_portal_call(ctx,
            ngx_strcmp(ctx->op->op, "totp.enable") == 0 ? "totp.pending"
                                                        : "totp.current",
            ctx->args, ngx_http_helpdesk_portal_totp_confirm);
        return;

    case NGX_HTTP_HELPDESK_FLOW_UPLOAD:
        {
            ngx_str_t          name, type;
            ngx_table_elt_t   *fh;
            u_char            *d, *s;

            if (ctx->user.len == 0) {
                ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_UNAUTHORIZED,
                    "login-required", "Unauthorized", "log in to continue");
                return;
            }

            if (ctx->raw_body.len == 0) {
                ngx_http_helpdesk_portal_problem(ctx,
                    NGX_HTTP_UNPROCESSABLE_ENTITY, "empty-file",
                    "Validation Error", "the file is empty");
                return;
            }

            if (ctx->raw_body.len > ctx->req.hlcf->upload_max) {
                ngx_http_helpdesk_portal_problem(ctx,
                    NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "payload-too-large",
                    "Payload Too Large",
                    "the file is larger than this portal accepts");
                return;
            }

            /* X-Filename: percent-encoded UTF-8 */
            fh = ngx_helpdesk_http_header_in(r, "X-Filename",
                                             sizeof("X-Filename") - 1);
            ngx_str_set(&name, "file");

            if (fh && fh->value.len && fh->value.len <= 600) {
                d = ngx_pnalloc(r->pool, fh->value.len + 1);
                if (d == NULL) {
                    ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                name.data = d;
                s = fh->value.data;
                ngx_unescape_uri(&d, &s, fh->value.len,
                                 0);
                name.len = d - name.data;

                for (s = name.data; s < d; s++) {
                    if (*s < 0x20 || *s == '/' || *s == '\\' || *s == 0x7f) {
                        *s = '_';
                    }
                }

                if (name.len == 0 || name.len > 255
                    || ngx_utf8_length(name.data, name.len) == (size_t) -1)
                {
                    ngx_str_set(&name, "file");
                }
            }

            type = r->headers_in.content_type
                   ? r->headers_in.content_type->value
                   : (ngx_str_t) ngx_string("application/octet-stream");

            if (ngx_helpdesk_magic_refused(&name, &type, NULL, 0)) {
                ngx_http_helpdesk_portal_problem(ctx,
                    NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "file-type-refused",
                    "Unsupported Media Type",
                    "programs and scripts cannot be attached; send a "
                    "document, an image or a compressed file instead");
                return;
            }

            for (s = type.data; s < type.data + type.len; s++) {
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
                      || (*s >= '0' && *s <= '9') || ngx_strchr("/.+-_", *s)))
                {
                    break;
                }
            }

            if (type.len == 0 || type.len > 100 || s < type.data + type.len) {
                ngx_str_set(&type, "application/octet-stream");
            }

            ngx_memzero(&ctx->query, sizeof(ngx_helpdesk_pg_query_t));
            ctx->query.sql = ctx->app->upload_sql;
            ctx->query.handler = NULL;

            if (ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.host)
                   != NGX_OK
                || ngx_helpdesk_pg_param(&ctx->query, r->pool,
                                         &ctx->req.hlcf->base_domain) != NGX_OK
                || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->user)
                   != NGX_OK
                || ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.ip)
                   != NGX_OK
                || ngx_helpdesk_pg_param(&ctx->query, r->pool, &name)
                   != NGX_OK
                || ngx_helpdesk_pg_param(&ctx->query, r->pool, &type)
                   != NGX_OK)
            {
                ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_helpdesk_pg_param_binary(&ctx->query, ctx->raw_body.data,
                                         ctx->raw_body.len);

            /* the common completion: errors, then the body */
            ngx_http_helpdesk_portal_run(ctx, ngx_http_helpdesk_portal_reply);
            return;
        }

    default:
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
}




/*
 * One answer for every refused login: an unknown account, a wrong
 * password, a missing, wrong or used code (the console's form always
 * offers the code's field), an account the database refused at the end
 */
void
ngx_http_helpdesk_portal_login_refused(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_UNAUTHORIZED,
        "invalid-credentials", "Unauthorized",
        ctx->app->kind == NGX_HTTP_HELPDESK_SESSION_CONSOLE
        ? "the email, the password or the code is not right"
        : "the email or the password is not right");
}


/* after a portal_call() of a flow */
void
ngx_http_helpdesk_portal_step_pg(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    json_t              *body, *a;
    ngx_flag_t           known;
    json_error_t         err;
    const char          *hash, *user, *totp;
    ngx_http_request_t  *r = ctx->req.r;

    body = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0),
                      JSON_DECODE_ANY, &err);

    switch (ctx->op->flow) {

    case NGX_HTTP_HELPDESK_FLOW_LOGIN:

        if (ctx->step == NGX_HTTP_HELPDESK_STEP_LOOKUP) {
            /* login.lookup: check the password (or a stand-in) */
            ctx->step = NGX_HTTP_HELPDESK_STEP_CHECKING;
            hash = json_string_value(json_object_get(body, "password_hash"));
            user = json_string_value(json_object_get(body, "user_id"));

            /* an agent with a second factor: its secret, for the code */
            totp = json_string_value(json_object_get(body, "totp_secret"));
            if (totp) {
                ctx->totp.len = ngx_strlen(totp);
                ctx->totp.data = ngx_pnalloc(r->pool, ctx->totp.len);
                if (ctx->totp.data == NULL) {
                    json_decref(body);
                    ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                ngx_memcpy(ctx->totp.data, totp, ctx->totp.len);
            }

            if (user) {
                ctx->login_user.len = ngx_strlen(user);
                ctx->login_user.data = ngx_pstrdup(r->pool,
                                           &(ngx_str_t) { ctx->login_user.len,
                                                          (u_char *) user });
            }

            ngx_http_helpdesk_portal_check(ctx, user ? hash : NULL);
            json_decref(body);
            return;
        }

        /*
         * login.result: the user, or no body when the database refused
         * the login (and audited it); anything else is a refusal too
         */
        known = (json_string_value(json_object_get(body, "id")) != NULL);
        json_decref(body);

        if (PQgetisnull(res, 0, 0) || !known
            || ctx->step != NGX_HTTP_HELPDESK_STEP_LOGGED_IN)
        {
            if (ctx->step == NGX_HTTP_HELPDESK_STEP_LOGGED_IN
                && ctx->session_key.len)
            {
                /*
                 * refused once the session was made (the account was
                 * disabled meanwhile): the session goes first
                 */
                ctx->step = NGX_HTTP_HELPDESK_STEP_REFUSED;
                ngx_http_helpdesk_portal_session_del(ctx);
                return;
            }

            ngx_http_helpdesk_portal_login_refused(ctx);
            return;
        }

        ngx_http_helpdesk_portal_reply(ctx, res);
        return;

    case NGX_HTTP_HELPDESK_FLOW_SIGNUP:
        json_decref(body);

        if (ctx->step == NGX_HTTP_HELPDESK_STEP_STORED) {
            /* the account exists: log it in */
            ctx->step = NGX_HTTP_HELPDESK_STEP_SESSION;
            user = NULL;
            a = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0,
                           &err);
            user = json_string_value(json_object_get(a, "id"));

            if (user == NULL) {
                json_decref(a);
                ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ctx->login_user.len = ngx_strlen(user);
            ctx->login_user.data = ngx_pnalloc(r->pool, ctx->login_user.len);
            if (ctx->login_user.data == NULL) {
                json_decref(a);
                ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_memcpy(ctx->login_user.data, user, ctx->login_user.len);
            json_decref(a);

            ctx->status = NGX_HTTP_CREATED;
            ngx_http_helpdesk_portal_session_new(ctx);
            return;
        }

        ngx_http_helpdesk_portal_reply(ctx, res);
        return;

    case NGX_HTTP_HELPDESK_FLOW_LOGOUT:
        json_decref(body);
        ngx_http_helpdesk_portal_session_del(ctx);
        return;

    case NGX_HTTP_HELPDESK_FLOW_PASSWORD:

        if (ctx->step == NGX_HTTP_HELPDESK_STEP_LOOKUP) {
            ctx->step = NGX_HTTP_HELPDESK_STEP_CHECKING;
            hash = json_string_value(json_object_get(body, "password_hash"));
            ngx_http_helpdesk_portal_check(ctx, hash);
            json_decref(body);
            return;
        }

        /* a new password: every other session of the account ends */
        json_decref(body);
        ngx_http_helpdesk_portal_sessions_end(ctx, &ctx->user,
                                              &ctx->session_key);
        return;

    case NGX_HTTP_HELPDESK_FLOW_RESET_DONE:
        /* whoever had the old password is logged out everywhere */
        user = json_string_value(json_object_get(body, "user_id"));

        if (user == NULL || ngx_strlen(user) != 36) {
            json_decref(body);
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ctx->login_user.len = 36;
        ctx->login_user.data = ngx_pnalloc(r->pool, 36);
        if (ctx->login_user.data == NULL) {
            json_decref(body);
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(ctx->login_user.data, user, 36);
        json_decref(body);

        ngx_http_helpdesk_portal_sessions_end(ctx, &ctx->login_user, NULL);
        return;

    default:
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
}


