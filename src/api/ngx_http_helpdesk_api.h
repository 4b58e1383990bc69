/*
 * The REST API channel: routing, authentication, request bodies,
 * idempotency and the translation between HTTP and the ticket service.
 */

#ifndef _NGX_HTTP_HELPDESK_API_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_helpdesk_module.h"
#include "lib/ngx_helpdesk_json.h"
#include "http/ngx_http_helpdesk_request.h"


#define NGX_HTTP_HELPDESK_API_MAX_PARAMS  4

/* the visible part of a tenant key ("hdk_" and 8 more), kept with it */
#define NGX_HTTP_HELPDESK_KEY_PREFIX      12


typedef enum {
    NGX_HTTP_HELPDESK_AUTH_NONE = 0,
    NGX_HTTP_HELPDESK_AUTH_TENANT,
    NGX_HTTP_HELPDESK_AUTH_PROVIDER
} ngx_http_helpdesk_auth_e;


typedef struct ngx_http_helpdesk_api_ctx_s  ngx_http_helpdesk_api_ctx_t;

/*
 * Turns the request (path parameters, query, body) into ctx->args,
 * appending to ctx->errors whatever is wrong with it.  Returns NGX_OK, or
 * NGX_ERROR for an internal failure.
 */
typedef ngx_int_t (*ngx_http_helpdesk_api_prepare_pt)(
    ngx_http_helpdesk_api_ctx_t *ctx);

/* Rewrites a successful response body (e.g. to add a one-time secret). */
typedef ngx_int_t (*ngx_http_helpdesk_api_finish_pt)(
    ngx_http_helpdesk_api_ctx_t *ctx);


/* Answers from a statement of the operation's own (e.g. a file). */
typedef ngx_int_t (*ngx_http_helpdesk_api_result_pt)(
    ngx_http_helpdesk_api_ctx_t *ctx, PGresult *res);


typedef struct {
    ngx_uint_t                          method;
    ngx_uint_t                          status;     /* on success */
    const char                         *op;
    const char                         *scope;
    ngx_http_helpdesk_auth_e            auth;
    ngx_http_helpdesk_api_prepare_pt    prepare;
    ngx_http_helpdesk_api_finish_pt     finish;

    /*
     * A statement of its own, taking ($key_hash, $scope, $ip, $args) and
     * answering in binary, with the handler that turns it into a response.
     */
    const char                         *sql;
    ngx_http_helpdesk_api_result_pt     result;

    /* a member of the response shown once (never kept for a replay) */
    const char                         *once;

    /*
     * The body is a file, not JSON: read up to helpdesk_upload_max_size
     * (ngx_http_helpdesk_api_uploads.c) and passed to "sql" in binary
     * after its arguments ($5); the statement answers (body, location).
     */
    unsigned                            file:1;
} ngx_http_helpdesk_api_op_t;


typedef struct {
    const char                         *pattern;    /* '*' is one segment */
    const ngx_http_helpdesk_api_op_t   *ops;
} ngx_http_helpdesk_api_route_t;


struct ngx_http_helpdesk_api_ctx_s {
    ngx_http_helpdesk_req_t             req;        /* first: the core's */
    const ngx_http_helpdesk_api_op_t   *op;

    ngx_str_t                           params[NGX_HTTP_HELPDESK_API_MAX_PARAMS];
    ngx_uint_t                          nparams;

    json_t                             *body;
    json_t                             *args;
    json_t                             *errors;

    u_char                              key_hash[NGX_HELPDESK_SHA256_LEN];
    ngx_str_t                           key_hash_param;
    ngx_str_t                           agent_token;    /* console session */
    unsigned                            agent_checked:1;
    unsigned                            admitted:1;     /* a file's caller */
    ngx_str_t                           args_text;
    ngx_str_t                           raw_body;

    /* Idempotency-Key */
    ngx_str_t                           idem_key;
    ngx_str_t                           idem_redis_key;
    u_char                              body_hash[2 * NGX_HELPDESK_SHA256_LEN];
    ngx_str_t                           idem_value;

    ngx_helpdesk_pg_query_t             query;
    ngx_helpdesk_redis_cmd_t            rcmd;

    /* the response */
    ngx_uint_t                          status;
    ngx_str_t                           out;
    ngx_str_t                           location;
    ngx_str_t                           secret;     /* key.create only */
    ngx_int_t                           final_rc;
    unsigned                            replayed:1;
    unsigned                            health_pg:1;
    unsigned                            outcome_unknown:1;
};


ngx_int_t ngx_http_helpdesk_api_handler(ngx_http_request_t *r);

/* request parts the operations use */
ngx_int_t ngx_http_helpdesk_api_body_object(ngx_http_helpdesk_api_ctx_t *ctx,
    const ngx_helpdesk_json_field_t *fields);
ngx_int_t ngx_http_helpdesk_api_query(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_int_t (*filter)(json_t *args, ngx_str_t *name, ngx_str_t *value,
    json_t *errors));
/* a custom domain's name and the module's zones (api_portal.c) */
ngx_int_t ngx_http_helpdesk_api_domain_input(ngx_http_helpdesk_api_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_api_param(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *name, ngx_uint_t n);

/* fields that become outbound requests: their URL, their headers */
void ngx_http_helpdesk_api_check_url(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *field);
void ngx_http_helpdesk_api_check_ctl(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *const *fields);


/* the request's steps, shared by the API's files */
void ngx_http_helpdesk_api_dispatch(ngx_http_helpdesk_api_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_api_session_found(ngx_http_helpdesk_api_ctx_t *ctx);
void ngx_http_helpdesk_api_session_check(ngx_http_helpdesk_api_ctx_t *ctx);
void ngx_http_helpdesk_api_idem_claim(ngx_http_helpdesk_api_ctx_t *ctx);
void ngx_http_helpdesk_api_idem_store(ngx_http_helpdesk_api_ctx_t *ctx);
void ngx_http_helpdesk_api_query_run(ngx_http_helpdesk_api_ctx_t *ctx);
void ngx_http_helpdesk_api_respond(ngx_http_helpdesk_api_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_api_unavailable(ngx_http_helpdesk_api_ctx_t *ctx,
    const char *what, ngx_uint_t retry);
void ngx_http_helpdesk_api_finalize(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_int_t rc);
ngx_msec_t ngx_http_helpdesk_api_pg_timeout(ngx_http_helpdesk_api_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_api_redis_cmd(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_helpdesk_redis_handler_pt handler);

extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_ticket_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_provider_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_webhook_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_email_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_whatsapp_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_portal_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_health_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_chat_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_group_routes[];
extern const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_upload_routes[];

/*
 * ngx_http_helpdesk_api_email_imap.c: a fetched mailbox's fields checked
 * (the URL against the outbound policy) and its password sealed to "row"
 * (NULL: a new mailbox, whose id is chosen here).
 */
ngx_int_t ngx_http_helpdesk_api_email_imap(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_str_t *row);

/*
 * ngx_http_helpdesk_api_uploads.c: a file operation's headers and query
 * checked before its body is read (NGX_OK, or what answered the request).
 */
ngx_int_t ngx_http_helpdesk_api_upload_start(ngx_http_helpdesk_api_ctx_t *ctx);

/*
 * Then the caller (the key and its scope, or the console's session) is
 * checked by one small statement before the body is read: NGX_DONE, or
 * what answered the request (413).  ngx_http_helpdesk_api_upload_check()
 * goes on after the console's session is found.
 */
ngx_int_t ngx_http_helpdesk_api_upload_admit(ngx_http_helpdesk_api_ctx_t *ctx);
void ngx_http_helpdesk_api_upload_check(ngx_http_helpdesk_api_ctx_t *ctx);

/* the body is in: on to the operation's steps */
void ngx_http_helpdesk_api_body_handler(ngx_http_request_t *r);

/*
 * ngx_http_helpdesk_api_email_oauth.c: a Microsoft 365 or Gmail mailbox's
 * client (its secret sealed to "row"; on create, the consent URL), a
 * consent again, and the provider's redirect back
 */
ngx_int_t ngx_http_helpdesk_api_email_oauth(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_str_t *row, ngx_flag_t create);
ngx_int_t ngx_http_helpdesk_api_email_authorize(
    ngx_http_helpdesk_api_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_api_email_callback(
    ngx_http_helpdesk_api_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_api_email_callback_result(
    ngx_http_helpdesk_api_ctx_t *ctx, PGresult *res);

/* ngx_http_helpdesk_api_health.c: PostgreSQL has answered; Redis, then 200 */
void ngx_http_helpdesk_api_health(ngx_http_helpdesk_api_ctx_t *ctx);


#endif /* _NGX_HTTP_HELPDESK_API_H_INCLUDED_ */
