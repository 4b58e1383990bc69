/*
 * The customer portal: pages, assets and the JSON calls behind them,
 * served on each tenant's own hostname.
 */

#ifndef _NGX_HTTP_HELPDESK_PORTAL_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_PORTAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_helpdesk_module.h"
#include "event/ngx_helpdesk_pg.h"
#include "event/ngx_helpdesk_redis.h"
#include "http/ngx_http_helpdesk_request.h"
#include "http/ngx_http_helpdesk_session.h"


#define NGX_HTTP_HELPDESK_PORTAL_MAX_PARAMS  2


typedef enum {
    NGX_HTTP_HELPDESK_FLOW_CALL = 0,    /* one portal_call() */
    NGX_HTTP_HELPDESK_FLOW_LOGIN,
    NGX_HTTP_HELPDESK_FLOW_SIGNUP,
    NGX_HTTP_HELPDESK_FLOW_LOGOUT,
    NGX_HTTP_HELPDESK_FLOW_PASSWORD,
    NGX_HTTP_HELPDESK_FLOW_RESET_REQUEST,
    NGX_HTTP_HELPDESK_FLOW_RESET_DONE,
    NGX_HTTP_HELPDESK_FLOW_UPLOAD,
    NGX_HTTP_HELPDESK_FLOW_DOWNLOAD,
    NGX_HTTP_HELPDESK_FLOW_CSV,         /* one call, its text as a CSV file */
    NGX_HTTP_HELPDESK_FLOW_ARTICLE,     /* one call, an article's HTML */
    NGX_HTTP_HELPDESK_FLOW_STREAM,      /* server-sent events (the console) */
    NGX_HTTP_HELPDESK_FLOW_TOTP_SETUP,  /* a new secret, shown as a QR code */
    NGX_HTTP_HELPDESK_FLOW_TOTP_CONFIRM /* a code, then the change it allows */
} ngx_http_helpdesk_portal_flow_e;


/*
 * Where a flow of several steps stands (ngx_http_helpdesk_portal_flows.c):
 *
 *   login:    LOOKUP (the account's key, the limit, the hash) ->
 *             CHECKING (the password, in a thread; the code) ->
 *             SESSION (a new one, in Redis) -> LOGGED_IN, or REFUSED;
 *   sign-up:  LOOKUP (hashing) -> STORED (the account) -> SESSION;
 *   password: LOOKUP -> CHECKING (the current one) -> STORED (the new).
 */
typedef enum {
    NGX_HTTP_HELPDESK_STEP_LOOKUP = 0,
    NGX_HTTP_HELPDESK_STEP_CHECKING,
    NGX_HTTP_HELPDESK_STEP_STORED,
    NGX_HTTP_HELPDESK_STEP_SESSION,
    NGX_HTTP_HELPDESK_STEP_LOGGED_IN,
    NGX_HTTP_HELPDESK_STEP_REFUSED
} ngx_http_helpdesk_flow_step_e;


typedef struct {
    ngx_uint_t                          method;
    ngx_uint_t                          status;     /* on success */
    const char                         *pattern;    /* '*' is one segment */
    const char                         *op;
    ngx_http_helpdesk_portal_flow_e     flow;
    const char                         *param_names[NGX_HTTP_HELPDESK_PORTAL_MAX_PARAMS];
} ngx_http_helpdesk_portal_op_t;


/*
 * What the customer portal and the agent console differ in; everything
 * else (Host to tenant, sessions, CSRF, flows, pages, files) they share.
 */
typedef struct {
    char                                kind;       /* in the session: 'p', 'c' */
    ngx_str_t                           cookie;     /* the session cookie's name */
    const char                         *call_sql;   /* (host, base, user, ip, op, args) */
    const char                         *upload_sql;
    const char                         *file_sql;
    const char                         *page;       /* under src/www */
    const char                         *csp;        /* its pages' policy */
    const ngx_http_helpdesk_portal_op_t *ops;
} ngx_http_helpdesk_app_t;


typedef struct ngx_http_helpdesk_portal_ctx_s  ngx_http_helpdesk_portal_ctx_t;

/* a step after a statement; res is a PGRES_TUPLES_OK result */
typedef void (*ngx_http_helpdesk_portal_next_pt)(
    ngx_http_helpdesk_portal_ctx_t *ctx, PGresult *res);

/* what runs once the session is known */
typedef void (*ngx_http_helpdesk_portal_then_pt)(
    ngx_http_helpdesk_portal_ctx_t *ctx);


struct ngx_http_helpdesk_portal_ctx_s {
    ngx_http_helpdesk_req_t             req;        /* first: the core's */
    const ngx_http_helpdesk_app_t      *app;
    const ngx_http_helpdesk_portal_op_t *op;
    ngx_str_t                           path;       /* the URI under the app */

    ngx_str_t                           params[NGX_HTTP_HELPDESK_PORTAL_MAX_PARAMS];
    ngx_str_t                           lang;

    /* the session, when the request carries a live one */
    ngx_str_t                           token;          /* cookie value */
    u_char                              skey[sizeof("hd:sess:") - 1 + 64];
    ngx_str_t                           session_key;
    ngx_str_t                           user;           /* uuid text */
    ngx_str_t                           session_csrf;
    time_t                              created;
    ngx_str_t                           csrf_cookie;

    /* the request */
    ngx_str_t                           raw_body;
    json_t                             *body;
    json_t                             *args;
    ngx_str_t                           page;           /* a page's path */

    /* flows */
    ngx_str_t                           secret;         /* a password */
    ngx_str_t                           secret2;        /* the new one */
    ngx_str_t                           hash;
    ngx_str_t                           login_user;
    ngx_str_t                           limit_keys[2];  /* account, address */
    ngx_str_t                           totp;           /* the agent's secret */
    ngx_http_helpdesk_portal_next_pt    next;
    ngx_http_helpdesk_portal_then_pt    then;
    ngx_http_helpdesk_flow_step_e       step;

    ngx_helpdesk_pg_query_t             query;
    ngx_helpdesk_redis_cmd_t            rcmd;

    /* the response */
    ngx_uint_t                          status;
    ngx_str_t                           out;
    ngx_str_t                           cookies[3];
    ngx_uint_t                          ncookies;
};


ngx_int_t ngx_http_helpdesk_portal_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_helpdesk_console_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_helpdesk_app_handler(ngx_http_request_t *r,
    const ngx_http_helpdesk_app_t *app);


/* ngx_http_helpdesk_portal.c: shared by the flows */
void ngx_http_helpdesk_portal_call(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *op, json_t *args, ngx_http_helpdesk_portal_next_pt next);
void ngx_http_helpdesk_portal_run(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_http_helpdesk_portal_next_pt next);
void ngx_http_helpdesk_portal_reply(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);
void ngx_http_helpdesk_portal_csv(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);
void ngx_http_helpdesk_portal_article(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);
void ngx_http_helpdesk_portal_finalize(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_int_t rc);
void ngx_http_helpdesk_portal_problem(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_uint_t status, const char *slug, const char *title,
    const char *detail);
ngx_int_t ngx_http_helpdesk_portal_cookie(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *name, ngx_str_t *value, time_t max_age, ngx_flag_t http_only);
void ngx_http_helpdesk_portal_set_args(ngx_http_helpdesk_portal_ctx_t *ctx,
    json_t *args);
void ngx_http_helpdesk_portal_redis_failed(ngx_http_helpdesk_portal_ctx_t *ctx);


/* ngx_http_helpdesk_portal_args.c */
ngx_int_t ngx_http_helpdesk_portal_args(ngx_http_helpdesk_portal_ctx_t *ctx);


/* ngx_http_helpdesk_portal_pages.c */
ngx_int_t ngx_http_helpdesk_portal_asset(ngx_http_request_t *r, u_char *path,
    size_t len);
void ngx_http_helpdesk_portal_page(ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_not_found(ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_image(ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_file(ngx_http_helpdesk_portal_ctx_t *ctx);


/* ngx_http_helpdesk_portal_session.c */
ngx_int_t ngx_http_helpdesk_portal_read_cookies(
    ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_load_session(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_http_helpdesk_portal_then_pt then);
ngx_int_t ngx_http_helpdesk_portal_csrf_ok(ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_session_new(ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_session_del(ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_sessions_end(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *user, ngx_str_t *keep);


/* ngx_http_helpdesk_console_stream.c */
void ngx_http_helpdesk_stream_open(ngx_http_helpdesk_portal_ctx_t *ctx);


/* ngx_http_helpdesk_portal_flows.c */
void ngx_http_helpdesk_portal_flow(ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_step(ngx_http_helpdesk_portal_ctx_t *ctx);
void ngx_http_helpdesk_portal_invalid(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *field, const char *code, const char *detail,
    const char *message);
void ngx_http_helpdesk_portal_step_pg(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);


/* ngx_http_helpdesk_portal_limit.c */
void ngx_http_helpdesk_portal_account(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *email);
/* the 401 every refused login gets, whatever was wrong */
void ngx_http_helpdesk_portal_login_refused(
    ngx_http_helpdesk_portal_ctx_t *ctx);

/* ngx_http_helpdesk_portal_password.c: a password hashed, or checked */
void ngx_http_helpdesk_portal_hash(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *password);
void ngx_http_helpdesk_portal_check(ngx_http_helpdesk_portal_ctx_t *ctx,
    const char *hash);

void ngx_http_helpdesk_portal_limit(ngx_http_helpdesk_portal_ctx_t *ctx,
    ngx_str_t *scope, ngx_str_t *account);


/* ngx_http_helpdesk_portal_totp.c */
ngx_int_t ngx_http_helpdesk_portal_totp_open(
    ngx_http_helpdesk_portal_ctx_t *ctx, ngx_str_t *user, ngx_str_t *secret);
void ngx_http_helpdesk_portal_totp_qr(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);
void ngx_http_helpdesk_portal_totp_confirm(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);
void ngx_http_helpdesk_portal_totp_on(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);

/*
 * ngx_http_helpdesk_portal_chat.c: the tenant's website chat on its
 * portal's page (boot's "chat": true): the loader's URL and the tenant in
 * "chat", and the page's policy opened to the provider's host when the
 * widget is served there; "chat": false where it is served nowhere.
 */
ngx_int_t ngx_http_helpdesk_portal_chat(ngx_http_helpdesk_portal_ctx_t *ctx,
    json_t *boot);


#endif /* _NGX_HTTP_HELPDESK_PORTAL_H_INCLUDED_ */
