/*
 * The portal's and the console's passwords in their flows: hashing a new
 * one and checking a given one in the thread pool
 * (event/ngx_helpdesk_password.c), what comes back from there (the next
 * step of the flow, a second factor's code, the one answer for every
 * refused login), and a full queue (503).  The flows themselves, and
 * where each of these is called from, are in
 * ngx_http_helpdesk_portal_flows.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "event/ngx_helpdesk_password.h"
#include "lib/ngx_helpdesk_totp.h"
#include "ngx_http_helpdesk_portal.h"


static void ngx_http_helpdesk_portal_hashed(void *data, ngx_int_t rc,
    ngx_str_t *hash);
static void ngx_http_helpdesk_portal_checked(void *data, ngx_int_t rc,
    ngx_str_t *hash);
static void ngx_http_helpdesk_portal_busy(ngx_http_helpdesk_portal_ctx_t *ctx);
static void ngx_http_helpdesk_portal_refuse(
    ngx_http_helpdesk_portal_ctx_t *ctx);
static void ngx_http_helpdesk_portal_claimed(
    ngx_http_helpdesk_portal_ctx_t *ctx, PGresult *res);


/* ctx->secret against a stored hash (NULL: an unknown account), in a thread */
void
ngx_http_helpdesk_portal_check(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *hash)
{
    ngx_str_t            v;
    ngx_http_request_t  *r = ctx->req.r;
    ngx_int_t            rc;

    v.data = (u_char *) hash;
    v.len = hash ? ngx_strlen(hash) : 0;

    ngx_http_helpdesk_req_block(&ctx->req);

    rc = ngx_helpdesk_password_check(r->pool, r->connection->log,
             &ctx->secret, hash ? &v : NULL,
             ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_LOGIN
             ? NGX_HELPDESK_PASSWORD_LOGIN : NGX_HELPDESK_PASSWORD_OTHER,
             ngx_http_helpdesk_portal_checked, ctx);

    if (rc != NGX_OK) {
        (void) ngx_http_helpdesk_req_unblock(&ctx->req);

        if (rc == NGX_BUSY) {
            ngx_http_helpdesk_portal_busy(ctx);
            return;
        }

        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/* the worker's password queue is full: try again in a moment */
static void
ngx_http_helpdesk_portal_busy(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    if (ngx_http_helpdesk_req_retry_after(ctx->req.r, 1) != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_problem(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
        "busy", "Service Unavailable",
        "too many requests are being handled right now; try again in a "
        "moment");
}


/* a password to hash, in the thread pool, the request held meanwhile */
void
ngx_http_helpdesk_portal_hash(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *password)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r = ctx->req.r;

    ngx_http_helpdesk_req_block(&ctx->req);

    rc = ngx_helpdesk_password_hash(r->pool, r->connection->log, password,
                                    NGX_HELPDESK_PASSWORD_OTHER,
                                    ngx_http_helpdesk_portal_hashed, ctx);

    if (rc != NGX_OK) {
        (void) ngx_http_helpdesk_req_unblock(&ctx->req);

        if (rc == NGX_BUSY) {
            ngx_http_helpdesk_portal_busy(ctx);
            return;
        }

        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/* a new hash is ready: store it */
static void
ngx_http_helpdesk_portal_hashed(void *data, ngx_int_t rc, ngx_str_t *hash)
{
    json_t                          *a;
    ngx_http_helpdesk_portal_ctx_t  *ctx = data;

    /* the task is over: nginx may have ended the request meanwhile */
    if (ngx_http_helpdesk_req_unblock(&ctx->req) != NGX_OK) {
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    a = json_deep_copy(ctx->args);
    if (a == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json_object_del(a, "password");
    json_object_del(a, "current");
    json_object_set_new(a, "password_hash",
                        json_stringn((char *) hash->data, hash->len));

    ngx_http_helpdesk_portal_set_args(ctx, a);

    switch (ctx->op->flow) {

    case NGX_HTTP_HELPDESK_FLOW_SIGNUP:
        ctx->step = NGX_HTTP_HELPDESK_STEP_STORED;
        ngx_http_helpdesk_portal_call(ctx, "signup", ctx->args,
                                      ngx_http_helpdesk_portal_step_pg);
        return;

    case NGX_HTTP_HELPDESK_FLOW_PASSWORD:
        ctx->step = NGX_HTTP_HELPDESK_STEP_STORED;
        ngx_http_helpdesk_portal_call(ctx, "password.set", ctx->args,
                                      ngx_http_helpdesk_portal_step_pg);
        return;

    default:
        ngx_http_helpdesk_portal_call(ctx, "reset.done", ctx->args,
                                      ngx_http_helpdesk_portal_step_pg);
        return;
    }
}


/* a password was checked */
static void
ngx_http_helpdesk_portal_checked(void *data, ngx_int_t rc, ngx_str_t *hash)
{
    json_t                          *a;
    ngx_http_helpdesk_portal_ctx_t  *ctx = data;

    /* the task is over: nginx may have ended the request meanwhile */
    if (ngx_http_helpdesk_req_unblock(&ctx->req) != NGX_OK) {
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->op->flow == NGX_HTTP_HELPDESK_FLOW_PASSWORD) {
        if (rc != NGX_OK) {
            ngx_http_helpdesk_portal_invalid(ctx, "current", "wrong",
                "the current password is not right",
                "the current password is not right");
            return;
        }

        ngx_http_helpdesk_portal_hash(ctx, &ctx->secret2);
        return;
    }

    /*
     * login: the password is right; then the second factor, if any.  A
     * missing or wrong code is a failed attempt, like a wrong password,
     * and answered the same; a right one is taken once (login.claim).
     */
    if (rc == NGX_OK && ctx->login_user.len && ctx->totp.len) {
        uint64_t   step;
        ngx_str_t  code;
        json_t    *c = json_object_get(ctx->args, "code");

        code.data = (u_char *) (json_is_string(c) ? json_string_value(c) : "");
        code.len = json_is_string(c) ? json_string_length(c) : 0;

        /* the secret is stored sealed: opened here, for this check only */
        if (ngx_http_helpdesk_portal_totp_open(ctx, &ctx->login_user,
                                               &ctx->totp)
            != NGX_OK)
        {
            return;
        }

        if (ngx_helpdesk_totp_match(&ctx->totp, &code, &step) != NGX_OK) {
            ngx_http_helpdesk_portal_refuse(ctx);
            return;
        }

        a = json_pack("{s:s%, s:I}", "user_id",
                      (char *) ctx->login_user.data, ctx->login_user.len,
                      "totp_step", (json_int_t) step);
        if (a == NULL) {
            ngx_http_helpdesk_portal_finalize(ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_helpdesk_portal_call(ctx, "login.claim", a,
                                      ngx_http_helpdesk_portal_claimed);
        json_decref(a);
        return;
    }

    if (rc == NGX_OK && ctx->login_user.len) {
        ctx->step = NGX_HTTP_HELPDESK_STEP_SESSION;
        ngx_http_helpdesk_portal_session_new(ctx);
        return;
    }

    ngx_http_helpdesk_portal_refuse(ctx);
}


/* the code's time step was not taken before: the login goes on */
static void
ngx_http_helpdesk_portal_claimed(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    json_t        *body;
    json_error_t   err;
    ngx_flag_t     ok;

    body = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, &err);
    ok = json_is_true(json_object_get(body, "ok"));
    json_decref(body);

    if (!ok) {
        ngx_http_helpdesk_portal_refuse(ctx);
        return;
    }

    ctx->step = NGX_HTTP_HELPDESK_STEP_SESSION;
    ngx_http_helpdesk_portal_session_new(ctx);
}


/* a refused login: audited by login.result, then the one answer */
static void
ngx_http_helpdesk_portal_refuse(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    json_t  *a;

    a = json_pack("{s:b, s:O?}", "ok", 0, "email",
                  json_object_get(ctx->args, "email"));
    if (a == NULL) {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_portal_set_args(ctx, a);
    ctx->step = NGX_HTTP_HELPDESK_STEP_REFUSED;

    ngx_http_helpdesk_portal_call(ctx, "login.result", ctx->args,
                                  ngx_http_helpdesk_portal_step_pg);
}
