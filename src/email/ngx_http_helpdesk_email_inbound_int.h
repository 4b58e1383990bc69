/*
 * Between the inbound location's two halves: the request and its parse
 * (ngx_http_helpdesk_email_inbound.c) and the parsed mail's way into
 * PostgreSQL (ngx_http_helpdesk_email_store.c).
 */

#ifndef _NGX_HTTP_HELPDESK_EMAIL_INBOUND_INT_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_EMAIL_INBOUND_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_http_helpdesk_request.h"
#include "ngx_helpdesk_mime.h"


typedef struct {
    ngx_http_helpdesk_req_t         req;        /* first: the core's */
    ngx_str_t                       token;
    ngx_str_t                       token_hash;
    ngx_helpdesk_mime_t             mime;
    ngx_int_t                       rc;         /* of the task */
    ngx_thread_task_t              *task;
    ngx_flag_t                      parsing;    /* counted in the budget */
    ngx_event_t                     guard;      /* see ..._email_guard() */
    ngx_str_t                       meta;

    /* the blob on its way to PostgreSQL */
    ngx_str_t                       upload;     /* a uuid */
    u_char                         *chunk;      /* ngx_alloc() */
    size_t                          chunk_len;
    size_t                          sent;
    size_t                          total;
    ngx_uint_t                      seq;
    ngx_str_t                       seq_text;

    ngx_helpdesk_pg_query_t         query;
} ngx_http_helpdesk_email_ctx_t;


typedef void (*ngx_http_helpdesk_email_task_pt)(void *data, ngx_log_t *log);


/*
 * A task in the thread pool, "done" on the event loop after it; the
 * request is blocked meanwhile.
 */
ngx_int_t ngx_http_helpdesk_email_post(ngx_http_helpdesk_email_ctx_t *ctx,
    ngx_http_helpdesk_email_task_pt handler, ngx_event_handler_pt done);

/* what the request holds of the mail (its parse, its piece), freed */
void ngx_http_helpdesk_email_cleanup(void *data);

/* the parsed mail ("meta" dumped) stored, and the request answered */
void ngx_http_helpdesk_email_store(ngx_http_helpdesk_email_ctx_t *ctx);


#endif /* _NGX_HTTP_HELPDESK_EMAIL_INBOUND_INT_H_INCLUDED_ */
