/*
 * A chat WebSocket after the upgrade (RFC 6455): frames in, frames out,
 * the close handshake, pings, and the end of the connection.
 *
 * Reading is a state machine that stops wherever a read ends -- inside a
 * frame's header, inside its payload, between the fragments of a message
 * -- and goes on with the next read.  What it holds between reads is a
 * few bytes of header, the text message being put together (at most the
 * tenant's maximum, checked on each frame's header before its payload is
 * read), and the UTF-8 validator's state, so that a message is refused
 * (1007) at the first byte that cannot be UTF-8, wherever the fragments
 * and the reads split it.  The read buffer exists only while it holds
 * bytes: it is allocated for a read and freed when drained.
 *
 * What the client may not do, and the close code it gets: a frame that is
 * not masked, reserved bits, an unknown opcode, a control frame over 125
 * bytes or fragmented, a continuation with no message begun or a new
 * message inside a fragmented one, a bad close code or a close payload of
 * one byte (1002); a binary message (1003); text that is not UTF-8, in a
 * message or a close reason (1007); a message over the tenant's maximum
 * (1009).  A message begun must end within
 * NGX_HTTP_HELPDESK_WS_MESSAGE_TIMEOUT.
 *
 * Writing: every frame is one ngx_alloc'd block, freed once sent.  At
 * most NGX_HTTP_HELPDESK_WS_OUT_MAX bytes may wait; a client that lets
 * more pile up is closed with 1008: what waits after the frame being
 * written is dropped and the close frame follows it.  What waits without
 * moving for send_timeout ends the connection.
 *
 * Closing: our close frame is sent once (1005, 1006 and 1015 never are);
 * after it the client has NGX_HTTP_HELPDESK_WS_LINGER to answer with its
 * own, and then the connection is closed.  A close from the client is
 * echoed with its code, and the connection closed once the echo is sent.
 *
 * Between messages, with nothing to send, the connection is idle
 * (c->idle): a graceful shutdown or a reload (ngx_close_idle_connections)
 * reaches it through c->close, and every client gets 1001 and reconnects
 * to the new workers.  One that is busy gets its 1001 as soon as its
 * message is in.  Pings go every "ping" interval; one still unanswered at
 * the next is a dead client (1008).  The ping timer is cancelable, so it
 * never holds an exiting worker; the linger and send timers are not.
 *
 * The conversations layer hears of the connection's end through gone(),
 * once, and only from one of our own events: send() and close(), which it
 * calls, only queue and post.  A send() that leaves more than
 * NGX_HTTP_HELPDESK_CHAT_LOW_WATER waiting marks the peer "full"; once
 * writing brings it down to the mark, a posted event says drained().
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_ws_int.h"



/* reads in one go before others get their turn */
#define NGX_HTTP_HELPDESK_WS_READS   16


static void ngx_http_helpdesk_ws_read_handler(ngx_event_t *rev);
static void ngx_http_helpdesk_ws_write_handler(ngx_event_t *wev);
static void ngx_http_helpdesk_ws_ping_handler(ngx_event_t *ev);
static void ngx_http_helpdesk_ws_end_handler(ngx_event_t *ev);
static void ngx_http_helpdesk_ws_drain_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_helpdesk_ws_flush(ngx_http_helpdesk_ws_t *ws);
static void ngx_http_helpdesk_ws_after(ngx_http_helpdesk_ws_t *ws);
static void ngx_http_helpdesk_ws_finish(ngx_http_helpdesk_ws_t *ws);
static void ngx_http_helpdesk_ws_post_end(ngx_http_helpdesk_ws_t *ws);
static ngx_int_t ngx_http_helpdesk_ws_peer_send(
    ngx_http_helpdesk_chat_peer_t *peer, u_char *data, size_t len);
static void ngx_http_helpdesk_ws_peer_close(
    ngx_http_helpdesk_chat_peer_t *peer, ngx_uint_t code, const char *reason);


/* the connection is ours: open the peer, then talk */

void
ngx_http_helpdesk_ws_start(ngx_http_helpdesk_ws_t *ws)
{
    ngx_connection_t  *c = ws->connection;

    c->read->handler = ngx_http_helpdesk_ws_read_handler;
    c->write->handler = ngx_http_helpdesk_ws_write_handler;

    ws->ping.handler = ngx_http_helpdesk_ws_ping_handler;
    ws->ping.data = ws;
    ws->ping.log = c->log;
    ws->ping.cancelable = 1;

    ws->end.handler = ngx_http_helpdesk_ws_end_handler;
    ws->end.data = ws;
    ws->end.log = c->log;
    ws->drain.handler = ngx_http_helpdesk_ws_drain_handler;
    ws->drain.data = ws;
    ws->drain.log = c->log;

    ws->peer.send = ngx_http_helpdesk_ws_peer_send;
    ws->peer.close = ngx_http_helpdesk_ws_peer_close;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_helpdesk_ws_finish(ws);
        return;
    }

    if (ngx_exiting || ngx_terminate) {
        ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_GOING_AWAY,
                                   "server going away");

    } else if (ngx_http_helpdesk_chat_open(&ws->peer) != NGX_OK) {
        ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_INTERNAL,
                                   "internal error");

    } else {
        ws->opened = 1;

        if (ws->ping_interval) {
            ngx_add_timer(&ws->ping, ws->ping_interval);
        }
    }

    /* the 101 and whatever open() said; then what the client sent early */
    if (ngx_http_helpdesk_ws_flush(ws) == NGX_ERROR) {
        ngx_http_helpdesk_ws_finish(ws);
        return;
    }

    ngx_post_event(c->read, &ngx_posted_events);
}


static void
ngx_http_helpdesk_ws_read_handler(ngx_event_t *rev)
{
    ssize_t                  n;
    ngx_int_t                rc;
    ngx_uint_t               reads;
    ngx_connection_t        *c = rev->data;
    ngx_http_helpdesk_ws_t  *ws = c->data;

    if (rev->timedout) {
        rev->timedout = 0;

        if (ws->close_sent) {
            /* the client never answered our close */
            ngx_http_helpdesk_ws_finish(ws);
            return;
        }

        ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_POLICY,
                                   "message not completed in time");
        ngx_http_helpdesk_ws_after(ws);
        return;
    }

    if (c->close) {
        /* a graceful shutdown or a reload: reconnect to the new workers */
        c->close = 0;
        ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_GOING_AWAY,
                                   "server going away");
        ngx_http_helpdesk_ws_after(ws);
        return;
    }

    ws->reading = 1;

    for (reads = 0; reads < NGX_HTTP_HELPDESK_WS_READS; reads++) {

        if (ws->in == NULL) {
            ws->in = ngx_alloc(NGX_HTTP_HELPDESK_WS_READ_SIZE, c->log);
            if (ws->in == NULL) {
                ws->reading = 0;
                ngx_http_helpdesk_ws_finish(ws);
                return;
            }

            n = c->recv(c, ws->in, NGX_HTTP_HELPDESK_WS_READ_SIZE);

            if (n == NGX_AGAIN) {
                ngx_free(ws->in);
                ws->in = NULL;
                break;
            }

            if (n == NGX_ERROR || n == 0) {
                /* the client left: nothing more can be said to it */
                ws->reading = 0;
                c->error = 1;
                ngx_http_helpdesk_ws_finish(ws);
                return;
            }

            ws->in_pos = ws->in;
            ws->in_last = ws->in + n;
        }

        if (ws->discard) {
            ws->in_pos = ws->in_last;
            rc = NGX_OK;

        } else {
            rc = ngx_http_helpdesk_ws_parse(ws);
        }

        if (ws->in_pos == ws->in_last) {
            ngx_free(ws->in);
            ws->in = NULL;
        }

        if (rc == NGX_DONE || ws->ending) {
            /* the close handshake is complete */
            ws->reading = 0;
            ngx_http_helpdesk_ws_finish(ws);
            return;
        }
    }

    ws->reading = 0;

    if (reads == NGX_HTTP_HELPDESK_WS_READS) {
        /* more may be waiting: after the others */
        ngx_post_event(rev, &ngx_posted_events);

    } else if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_helpdesk_ws_finish(ws);
        return;
    }

    ngx_http_helpdesk_ws_after(ws);
}


/*
 * A block of len bytes queued for the client, for the caller to fill.
 * "capped": refused past NGX_HTTP_HELPDESK_WS_OUT_MAX, and the client,
 * too slow a reader, is closed with 1008.
 */

ngx_http_helpdesk_ws_out_t *
ngx_http_helpdesk_ws_out(ngx_http_helpdesk_ws_t *ws, size_t len,
    ngx_flag_t capped)
{
    ngx_http_helpdesk_ws_out_t  *out, *next;

    if (capped && ws->out_bytes + len > NGX_HTTP_HELPDESK_WS_OUT_MAX) {

        /* keep the frame being written, whole; drop what waits after it */
        out = ws->out;

        if (out) {
            for (next = out->next; next; /* void */) {
                out = next;
                next = next->next;
                ws->out_bytes -= out->len;
                ngx_free(out);
            }

            ws->out->next = NULL;
            ws->out_last = ws->out;
        }

        ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_POLICY,
                                   "too slow a reader");
        return NULL;
    }

    out = ngx_alloc(sizeof(ngx_http_helpdesk_ws_out_t) + len,
                    ws->connection->log);
    if (out == NULL) {
        return NULL;
    }

    out->next = NULL;
    out->len = len;
    out->sent = 0;

    if (ws->out_last) {
        ws->out_last->next = out;

    } else {
        ws->out = out;
    }

    ws->out_last = out;
    ws->out_bytes += len;

    return out;
}


/* a frame (server frames are never masked) */

ngx_int_t
ngx_http_helpdesk_ws_frame(ngx_http_helpdesk_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len, ngx_flag_t capped)
{
    u_char                      *p;
    size_t                       hlen;
    ngx_http_helpdesk_ws_out_t  *out;

    hlen = len < 126 ? 2 : len < 65536 ? 4 : 10;

    out = ngx_http_helpdesk_ws_out(ws, hlen + len, capped);
    if (out == NULL) {
        return NGX_ERROR;
    }

    p = out->data;
    *p++ = (u_char) (0x80 | opcode);

    if (len < 126) {
        *p++ = (u_char) len;

    } else if (len < 65536) {
        *p++ = 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        *p++ = 127;
        *p++ = 0;
        *p++ = 0;
        *p++ = 0;
        *p++ = 0;
        *p++ = (u_char) (len >> 24);
        *p++ = (u_char) (len >> 16);
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;
    }

    if (len) {
        ngx_memcpy(p, data, len);
    }

    return NGX_OK;
}


/*
 * Our close frame, once: code 0 sends none (the answer to a close without
 * a code).  No more messages go to the conversations layer after it.
 */

void
ngx_http_helpdesk_ws_close(ngx_http_helpdesk_ws_t *ws, ngx_uint_t code,
    const char *reason)
{
    size_t  len;
    u_char  buf[125];

    if (ws->close_sent) {
        return;
    }

    ws->close_sent = 1;

    if (ws->sse) {
        /* an event says why; the stream ends once it is written */
        ws->close_received = 1;

        if (ngx_http_helpdesk_ws_sse_close(ws, code, reason) != NGX_OK) {
            ws->ending = 1;
        }

        return;
    }

    len = 0;

    if (code) {
        buf[0] = (u_char) (code >> 8);
        buf[1] = (u_char) code;
        len = 2;

        if (reason) {
            len += ngx_min(ngx_strlen(reason), sizeof(buf) - 2);
            ngx_memcpy(buf + 2, reason, len - 2);
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "chat ws: close %ui \"%s\"", code, reason ? reason : "");

    if (ngx_http_helpdesk_ws_frame(ws, NGX_HTTP_HELPDESK_WS_CLOSE, buf, len, 0)
        != NGX_OK)
    {
        ws->ending = 1;
    }
}


/*
 * Writes what waits: NGX_OK (all sent), NGX_AGAIN (the rest when the
 * socket takes it), NGX_ERROR (the client is gone).  Never ends the
 * connection itself.
 */

static ngx_int_t
ngx_http_helpdesk_ws_flush(ngx_http_helpdesk_ws_t *ws)
{
    ssize_t                      n;
    ngx_connection_t            *c = ws->connection;
    ngx_http_helpdesk_ws_out_t  *out;

    if (c->error) {
        return NGX_ERROR;
    }

    while (ws->out) {
        out = ws->out;

        n = c->send(c, out->data + out->sent, out->len - out->sent);

        if (n == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN || n == 0) {
            break;
        }

        out->sent += n;

        if (out->sent < out->len) {
            continue;
        }

        ws->out = out->next;
        ws->out_bytes -= out->len;
        ngx_free(out);
    }

    if (ws->peer.full && ws->out_bytes <= NGX_HTTP_HELPDESK_CHAT_LOW_WATER
        && !ws->drain.posted && !ws->gone && !ws->close_sent)
    {
        ngx_post_event(&ws->drain, &ngx_posted_events);
    }

    if (ws->out == NULL) {
        ws->out_last = NULL;

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }

        return NGX_OK;
    }

    /* send_timeout runs from when the client stopped taking bytes */
    if (!c->write->timer_set) {
        ngx_add_timer(c->write, ws->send_timeout);
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        c->error = 1;
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static void
ngx_http_helpdesk_ws_write_handler(ngx_event_t *wev)
{
    ngx_connection_t        *c = wev->data;
    ngx_http_helpdesk_ws_t  *ws = c->data;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "chat client timed out while reading");
        c->timedout = 1;
        ngx_http_helpdesk_ws_finish(ws);
        return;
    }

    if (ngx_http_helpdesk_ws_flush(ws) == NGX_ERROR) {
        ngx_http_helpdesk_ws_finish(ws);
        return;
    }

    ngx_http_helpdesk_ws_after(ws);
}


/*
 * After an event of ours: send what waits, then see where the connection
 * stands -- closed, closing, busy or idle -- and keep its timers so.
 */

static void
ngx_http_helpdesk_ws_after(ngx_http_helpdesk_ws_t *ws)
{
    ngx_int_t          rc;
    ngx_connection_t  *c = ws->connection;

    if (ws->ending) {
        ngx_http_helpdesk_ws_finish(ws);
        return;
    }

    rc = ngx_http_helpdesk_ws_flush(ws);

    if (rc == NGX_ERROR) {
        ngx_http_helpdesk_ws_finish(ws);
        return;
    }

    if (ws->close_sent) {
        c->idle = 0;

        if (rc == NGX_AGAIN) {
            return;
        }

        if (ws->close_received) {
            /* the handshake is complete: ours is sent, theirs was read */
            ngx_http_helpdesk_ws_finish(ws);
            return;
        }

        if (!ws->lingering) {
            ws->lingering = 1;

            if (ws->ping.timer_set) {
                ngx_del_timer(&ws->ping);
            }

            ngx_add_timer(c->read, NGX_HTTP_HELPDESK_WS_LINGER);
        }

        return;
    }

    if (ws->hdr_len || ws->in_message) {
        c->idle = 0;

        if (!c->read->timer_set) {
            ngx_add_timer(c->read, NGX_HTTP_HELPDESK_WS_MESSAGE_TIMEOUT);
        }

        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (rc == NGX_AGAIN) {
        c->idle = 0;
        return;
    }

    if (ngx_exiting || ngx_terminate) {
        /* busy when the shutdown began: told now */
        ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_GOING_AWAY,
                                   "server going away");
        ngx_http_helpdesk_ws_after(ws);
        return;
    }

    c->idle = 1;
}


static void
ngx_http_helpdesk_ws_ping_handler(ngx_event_t *ev)
{
    ngx_http_helpdesk_ws_t  *ws = ev->data;

    if (ws->close_sent) {
        return;
    }

    if (ws->ping_wait) {
        ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_POLICY,
                                   "no answer to ping");
        ngx_http_helpdesk_ws_after(ws);
        return;
    }

    if (ws->sse) {
        /* a comment keeps proxies from timing the stream out */
        (void) ngx_http_helpdesk_ws_sse_raw(ws, (u_char *) ": ping", 6, 1);

    } else {
        ws->ping_wait = 1;
        (void) ngx_http_helpdesk_ws_frame(ws, NGX_HTTP_HELPDESK_WS_PING, NULL,
                                          0, 1);
    }

    ngx_add_timer(&ws->ping, ws->ping_interval);

    ngx_http_helpdesk_ws_after(ws);
}


/* posted by send() and close() when the connection must end */

static void
ngx_http_helpdesk_ws_end_handler(ngx_event_t *ev)
{
    ngx_http_helpdesk_ws_t  *ws = ev->data;

    ngx_http_helpdesk_ws_after(ws);
}


/* Posted: the output is down to the low-water mark again. */

static void
ngx_http_helpdesk_ws_drain_handler(ngx_event_t *ev)
{
    ngx_http_helpdesk_ws_t  *ws = ev->data;

    if (ws->gone || ws->close_sent || !ws->peer.full
        || ws->out_bytes > NGX_HTTP_HELPDESK_CHAT_LOW_WATER)
    {
        return;
    }

    ws->peer.full = 0;

    if (ws->peer.drained) {
        ws->peer.drained(&ws->peer);
    }
}


static void
ngx_http_helpdesk_ws_post_end(ngx_http_helpdesk_ws_t *ws)
{
    if (!ws->end.posted) {
        ngx_post_event(&ws->end, &ngx_posted_events);
    }
}


/* the end: the conversations layer told once, everything freed */

static void
ngx_http_helpdesk_ws_finish(ngx_http_helpdesk_ws_t *ws)
{
    ngx_pool_t                  *pool;
    ngx_connection_t            *c;
    ngx_http_helpdesk_ws_out_t  *out, *next;

    if (ws->reading) {
        /* from inside the read loop: it ends the connection itself */
        ws->ending = 1;
        return;
    }

    if (ws->opened && !ws->gone) {
        ws->gone = 1;
        ngx_http_helpdesk_chat_gone(&ws->peer);
    }

    if (ws->ping.timer_set) {
        ngx_del_timer(&ws->ping);
    }

    if (ws->end.posted) {
        ngx_delete_posted_event(&ws->end);
    }

    if (ws->drain.posted) {
        ngx_delete_posted_event(&ws->drain);
    }

    for (out = ws->out; out; out = next) {
        next = out->next;
        ngx_free(out);
    }

    if (ws->in) {
        ngx_free(ws->in);
    }

    if (ws->msg) {
        ngx_free(ws->msg);
    }

    c = ws->connection;
    pool = ws->pool;

    /* first: the pool logs to the connection's log, in the connection */
    ngx_destroy_pool(pool);
    ngx_http_close_connection(c);
}


/* the conversations layer's calls: they queue, and never call it back */

static ngx_int_t
ngx_http_helpdesk_ws_peer_send(ngx_http_helpdesk_chat_peer_t *peer,
    u_char *data, size_t len)
{
    ngx_http_helpdesk_ws_t  *ws = peer->transport;

    if (ws->close_sent || ws->gone) {
        return NGX_ERROR;
    }

    if ((ws->sse ? ngx_http_helpdesk_ws_sse_send(ws, data, len)
                 : ngx_http_helpdesk_ws_frame(ws, NGX_HTTP_HELPDESK_WS_TEXT,
                                              data, len, 1))
        != NGX_OK)
    {
        if (!ws->close_sent) {
            ws->ending = 1;
        }

        ngx_http_helpdesk_ws_post_end(ws);
        return NGX_ERROR;
    }

    if (ws->out_bytes > NGX_HTTP_HELPDESK_CHAT_LOW_WATER) {
        ws->peer.full = 1;
    }

    if (!ws->reading) {
        ngx_http_helpdesk_ws_post_end(ws);
    }

    return NGX_OK;
}


static void
ngx_http_helpdesk_ws_peer_close(ngx_http_helpdesk_chat_peer_t *peer,
    ngx_uint_t code, const char *reason)
{
    ngx_http_helpdesk_ws_t  *ws = peer->transport;

    if (code < 1000 || code == 1005 || code == 1006 || code == 1015
        || code > 4999)
    {
        code = NGX_HTTP_HELPDESK_CHAT_INTERNAL;
    }

    ngx_http_helpdesk_ws_close(ws, code, reason);

    if (!ws->reading) {
        ngx_http_helpdesk_ws_post_end(ws);
    }
}
