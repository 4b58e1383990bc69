/*
 * The chat's HTTP side (ngx_http_helpdesk_chat_http.c): the location's
 * request context and what its routes share.
 */

#ifndef _NGX_HTTP_HELPDESK_CHAT_HTTP_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_CHAT_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_http_helpdesk_request.h"
#include "http/ngx_http_helpdesk_session.h"
#include "ngx_http_helpdesk_chat.h"


typedef struct {
    ngx_http_helpdesk_req_t         req;        /* first: the core's */

    /* from the request */
    ngx_str_t                       slug;
    ngx_str_t                       visitor;
    ngx_str_t                       last;
    ngx_str_t                       origin;
    u_char                          skey[NGX_HTTP_HELPDESK_SESSION_KEY];

    /* from the database */
    u_char                          tenant[36];
    ngx_str_t                       settings;
    size_t                          max_message;
    ngx_str_t                       user;       /* an agent's id */
    ngx_str_t                       agent_name;

    ngx_helpdesk_pg_query_t         query;
    ngx_helpdesk_redis_cmd_t        rcmd;

    /* the fallback: which route, and a POST's oneshot peer */
    ngx_uint_t                      route;
    ngx_http_helpdesk_chat_peer_t  *peer;
    ngx_str_t                       reply;
    ngx_uint_t                      close_code;
    ngx_event_t                     answered;   /* posted */
    ngx_event_t                     timeout;

    /* files: a download's id, its link's expiry and signature */
    ngx_str_t                       file;
    ngx_str_t                       exp;
    ngx_str_t                       sig;
    /* what an agent's session and api.chat_agent() lead to */
    ngx_helpdesk_pg_handler_pt      agent_next;
    /* a visitor's: the widget's answer, and the portal's customer */
    ngx_helpdesk_pg_handler_pt      lookup_next;
    u_char                          customer[36];

    unsigned                        opened:1;
    unsigned                        gone:1;
    unsigned                        replied:1;
} ngx_http_helpdesk_chat_ctx_t;


ngx_int_t ngx_http_helpdesk_chat_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_helpdesk_chat_ws(ngx_http_helpdesk_chat_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_chat_tenant_arg(ngx_http_helpdesk_chat_ctx_t *ctx);
void ngx_http_helpdesk_chat_lookup(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_helpdesk_pg_handler_pt handler);
ngx_int_t ngx_http_helpdesk_chat_widget(ngx_http_helpdesk_chat_ctx_t *ctx,
    PGresult *res);
ngx_int_t ngx_http_helpdesk_chat_tuples(ngx_http_helpdesk_chat_ctx_t *ctx,
    PGresult *res);
ngx_int_t ngx_http_helpdesk_chat_peer_strings(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_http_helpdesk_chat_peer_t *peer);
ngx_http_helpdesk_chat_peer_t *ngx_http_helpdesk_chat_peer(
    ngx_http_helpdesk_chat_ctx_t *ctx, ngx_uint_t role);

/* ngx_http_helpdesk_chat_customer.c */
ngx_int_t ngx_http_helpdesk_chat_link_json(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_pool_t *pool, ngx_str_t *out);

void ngx_http_helpdesk_chat_agent_session(ngx_http_helpdesk_chat_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_chat_agent_found(ngx_http_helpdesk_chat_ctx_t *ctx,
    PGresult *res);

/* ngx_http_helpdesk_chat_sse.c: NGX_DECLINED for a path that is not its */
ngx_int_t ngx_http_helpdesk_chat_sse_route(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_str_t *path);
ngx_int_t ngx_http_helpdesk_chat_cors(ngx_http_helpdesk_chat_ctx_t *ctx);
ngx_int_t ngx_http_helpdesk_chat_token(ngx_str_t *v);

/* ngx_http_helpdesk_chat_files.c: uploads and downloads, or NGX_DECLINED */
ngx_int_t ngx_http_helpdesk_chat_files_route(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_str_t *path);

/* ngx_http_helpdesk_chat_link.c */
ngx_int_t ngx_http_helpdesk_chat_link_check(u_char *tenant, u_char *file,
    time_t exp, ngx_str_t *sig);

/* ngx_http_helpdesk_chat_sse_form.c: an event's form */
#define NGX_HTTP_HELPDESK_CHAT_SSE_ID     64   /* an id's buffer */
#define NGX_HTTP_HELPDESK_CHAT_SSE_CLOSE  256  /* the close's */

size_t ngx_http_helpdesk_chat_sse_size(ngx_str_t *id, u_char *data,
    size_t len);
u_char *ngx_http_helpdesk_chat_sse_format(u_char *p, ngx_str_t *id,
    u_char *data, size_t len);
ngx_str_t *ngx_http_helpdesk_chat_sse_id(u_char *data, size_t len,
    ngx_str_t *id, u_char *buf);
size_t ngx_http_helpdesk_chat_sse_close_text(u_char *buf, ngx_uint_t code,
    const char *reason);

/*
 * ngx_http_helpdesk_chat_sse_held.c: the event stream where the
 * connection is not the request's own (HTTP/2, HTTP/3): a request held
 * open.  From the completion that found the tenant (r->main->count held).
 */
ngx_flag_t ngx_http_helpdesk_chat_sse_held_wanted(ngx_http_request_t *r);
void ngx_http_helpdesk_chat_sse_held(ngx_http_helpdesk_chat_ctx_t *ctx);


#endif /* _NGX_HTTP_HELPDESK_CHAT_HTTP_H_INCLUDED_ */
