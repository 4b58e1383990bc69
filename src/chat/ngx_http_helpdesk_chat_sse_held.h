/*
 * The state of an event stream held open on an HTTP/2 (or HTTP/3)
 * connection (ngx_http_helpdesk_chat_sse_held.c): its queue of events.
 */

#ifndef _NGX_HTTP_HELPDESK_CHAT_SSE_HELD_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_CHAT_SSE_HELD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_http.h"


typedef struct ngx_http_helpdesk_sse_ev_s  ngx_http_helpdesk_sse_ev_t;

/* an event to send, in one allocation with its buf and chain link */
struct ngx_http_helpdesk_sse_ev_s {
    ngx_http_helpdesk_sse_ev_t     *next;
    ngx_chain_t                     cl;
    ngx_buf_t                       buf;
    size_t                          size;
    u_char                          data[1];
};


typedef struct {
    ngx_http_helpdesk_chat_peer_t   peer;       /* first */
    ngx_http_request_t             *r;
    ngx_http_helpdesk_chat_ctx_t   *ctx;
    ngx_pool_t                     *pool;
    ngx_queue_t                     queue;      /* the worker's streams */

    ngx_msec_t                      ping_interval;
    ngx_msec_t                      send_timeout;
    size_t                          send_lowat;
    ngx_event_t                     ping;
    ngx_event_t                     end;        /* posted: send, or end */

    /* handed to the filters (up to "handed"), then waiting */
    ngx_http_helpdesk_sse_ev_t     *out;
    ngx_http_helpdesk_sse_ev_t     *out_last;
    ngx_http_helpdesk_sse_ev_t     *handed;
    size_t                          out_bytes;

    unsigned                        opened:1;   /* open() said yes */
    unsigned                        gone:1;     /* gone() was called */
    unsigned                        close_sent:1;
    unsigned                        ending:1;   /* no memory: end now */
    unsigned                        stopped:1;
    unsigned                        listed:1;
} ngx_http_helpdesk_sse_held_t;


#endif /* _NGX_HTTP_HELPDESK_CHAT_SSE_HELD_H_INCLUDED_ */
