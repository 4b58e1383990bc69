/*
 * The WebSocket server's connection, shared by its two files: the
 * handshake (ngx_http_helpdesk_ws_handshake.c) and the connection's life
 * (ngx_http_helpdesk_ws.c).
 */

#ifndef _NGX_HTTP_HELPDESK_WS_INT_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_WS_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_ws.h"
#include "lib/ngx_helpdesk_utf8.h"


#define NGX_HTTP_HELPDESK_WS_CONT    0x0
#define NGX_HTTP_HELPDESK_WS_TEXT    0x1
#define NGX_HTTP_HELPDESK_WS_BINARY  0x2
#define NGX_HTTP_HELPDESK_WS_CLOSE   0x8
#define NGX_HTTP_HELPDESK_WS_PING    0x9
#define NGX_HTTP_HELPDESK_WS_PONG    0xa

/* a read takes this much, allocated for the read and freed once drained */
#define NGX_HTTP_HELPDESK_WS_READ_SIZE   4096

/* what may wait for a client that does not read; past it: 1008 */
#define NGX_HTTP_HELPDESK_WS_OUT_MAX     (256 * 1024)

/* after our close frame: how long the client has to send its own */
#define NGX_HTTP_HELPDESK_WS_LINGER      5000

/* a frame or a fragmented message, once begun, must end within this */
#define NGX_HTTP_HELPDESK_WS_MESSAGE_TIMEOUT  60000

/* the peer's pool: the peer's strings, and the connection's struct */
#define NGX_HTTP_HELPDESK_WS_POOL_SIZE   1024


/* a frame to send, in one allocation with its header */
typedef struct ngx_http_helpdesk_ws_out_s  ngx_http_helpdesk_ws_out_t;

struct ngx_http_helpdesk_ws_out_s {
    ngx_http_helpdesk_ws_out_t    *next;
    size_t                         len;
    size_t                         sent;
    u_char                         data[1];
};


struct ngx_http_helpdesk_ws_s {
    ngx_http_helpdesk_chat_peer_t  peer;
    ngx_connection_t              *connection;
    ngx_pool_t                    *pool;

    ngx_msec_t                     ping_interval;
    ngx_msec_t                     send_timeout;
    ngx_event_t                    ping;
    ngx_event_t                    end;        /* posted: teardown */
    ngx_event_t                    drain;      /* posted: drained() */

    /* input: the read buffer, while it holds bytes */
    u_char                        *in;
    u_char                        *in_pos;
    u_char                        *in_last;

    /* the frame being read */
    u_char                         hdr[14];
    ngx_uint_t                     hdr_len;
    ngx_uint_t                     hdr_need;
    uint64_t                       remaining;
    u_char                         mask[4];
    ngx_uint_t                     mask_i;
    ngx_uint_t                     opcode;

    /* the text message being put together, across fragments */
    u_char                        *msg;
    size_t                         msg_len;
    size_t                         msg_size;
    ngx_helpdesk_utf8_t            utf8;

    /* a control frame's payload */
    u_char                         ctl[125];
    size_t                         ctl_len;

    /* output */
    ngx_http_helpdesk_ws_out_t    *out;
    ngx_http_helpdesk_ws_out_t    *out_last;
    size_t                         out_bytes;

    unsigned                       sse:1;         /* the fallback */
    unsigned                       fin:1;
    unsigned                       in_message:1;
    unsigned                       opened:1;      /* open() said yes */
    unsigned                       gone:1;        /* gone() was called */
    unsigned                       close_sent:1;  /* queued, at least */
    unsigned                       close_received:1;
    unsigned                       discard:1;     /* input: dropped */
    unsigned                       lingering:1;
    unsigned                       ping_wait:1;
    unsigned                       reading:1;     /* in the read loop */
    unsigned                       ending:1;
};


/* ngx_http_helpdesk_ws.c: the connection */
void ngx_http_helpdesk_ws_start(ngx_http_helpdesk_ws_t *ws);
ngx_http_helpdesk_ws_out_t *ngx_http_helpdesk_ws_out(
    ngx_http_helpdesk_ws_t *ws, size_t len, ngx_flag_t capped);
ngx_int_t ngx_http_helpdesk_ws_frame(ngx_http_helpdesk_ws_t *ws,
    ngx_uint_t opcode, u_char *data, size_t len, ngx_flag_t capped);
void ngx_http_helpdesk_ws_close(ngx_http_helpdesk_ws_t *ws, ngx_uint_t code,
    const char *reason);

/* ngx_http_helpdesk_ws_read.c: frames in */
ngx_int_t ngx_http_helpdesk_ws_parse(ngx_http_helpdesk_ws_t *ws);

/* ngx_http_helpdesk_chat_sse.c: the same connection as an event stream */
ngx_int_t ngx_http_helpdesk_ws_sse_write(ngx_http_helpdesk_ws_t *ws,
    ngx_str_t *id, u_char *data, size_t len, ngx_flag_t capped);
ngx_int_t ngx_http_helpdesk_ws_sse_raw(ngx_http_helpdesk_ws_t *ws,
    u_char *text, size_t len, ngx_flag_t capped);
ngx_int_t ngx_http_helpdesk_ws_sse_send(ngx_http_helpdesk_ws_t *ws,
    u_char *data, size_t len);
ngx_int_t ngx_http_helpdesk_ws_sse_close(ngx_http_helpdesk_ws_t *ws,
    ngx_uint_t code, const char *reason);


#endif /* _NGX_HTTP_HELPDESK_WS_INT_H_INCLUDED_ */
