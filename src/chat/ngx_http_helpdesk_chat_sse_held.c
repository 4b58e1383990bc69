/*
 * The chat's event stream where the connection is not the request's own:
 * an HTTP/2 (or HTTP/3) connection carries other streams, so it cannot be
 * taken over as on HTTP/1 (ngx_http_helpdesk_ws_handshake.c).  The request
 * is held open (r->main->count), its head sent by ngx_http_send_header(),
 * every event a flushed buf through ngx_http_output_filter().  To the
 * conversations layer it is the same peer as the taken-over stream: the
 * same output cap, pings as comments, "id:" lines, the close as an
 * "event: close", 1001 on reload.
 *
 * Memory: the stream's state and the peer's strings are in a small pool of
 * their own; every event is one ngx_alloc'd block with its buf and chain
 * link, so the request's pool gets nothing per event.  nginx's HTTP/2
 * output keeps a buf in its DATA frames until the frame is on the socket,
 * and only then moves the buf's pos: a block is freed once its buf is
 * consumed, and what is left when the request goes (a stream reset with
 * frames queued) by the request pool's cleanup, which runs after the
 * HTTP/2 filter's own (added later, it unlinks the stream's frames).
 *
 * What the filters hold is being written; later events wait in our queue
 * and go together once it is written.  Past NGX_HTTP_HELPDESK_WS_OUT_MAX
 * waiting, what waits is dropped and the close (1008) follows what is
 * being written, whole.  No progress for send_timeout ends the request.
 *
 * The client leaving ends the request by nginx; our close written, the
 * last buf goes.  Either way gone() is called once, from the request's
 * cleanup at the latest.  A graceful shutdown does not reach the streams
 * of an HTTP/2 connection (nginx sends a GOAWAY and waits for them): a
 * timer per worker, not cancelable, looks every second while streams are
 * held, and ends them all with 1001, so that old workers exit at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "ngx_http_helpdesk_chat_http.h"
#include "ngx_http_helpdesk_ws_int.h"
#include "ngx_http_helpdesk_chat_sse_held.h"


/* how often a worker looks for a shutdown while it holds streams */
#define NGX_HTTP_HELPDESK_SSE_WATCH  1000


static ngx_http_helpdesk_sse_ev_t *ngx_http_helpdesk_sse_held_out(
    ngx_http_helpdesk_sse_held_t *s, size_t len, ngx_flag_t capped);
static ngx_int_t ngx_http_helpdesk_sse_held_raw(
    ngx_http_helpdesk_sse_held_t *s, u_char *text, size_t len,
    ngx_flag_t capped);
static void ngx_http_helpdesk_sse_held_close(ngx_http_helpdesk_sse_held_t *s,
    ngx_uint_t code, const char *reason);
static void ngx_http_helpdesk_sse_held_reap(ngx_http_helpdesk_sse_held_t *s);
static ngx_int_t ngx_http_helpdesk_sse_held_flush(
    ngx_http_helpdesk_sse_held_t *s);
static void ngx_http_helpdesk_sse_held_after(ngx_http_helpdesk_sse_held_t *s);
static void ngx_http_helpdesk_sse_held_finish(ngx_http_helpdesk_sse_held_t *s,
    ngx_int_t rc);
static void ngx_http_helpdesk_sse_held_stop(ngx_http_helpdesk_sse_held_t *s);
static void ngx_http_helpdesk_sse_held_cleanup(void *data);
static void ngx_http_helpdesk_sse_held_free(void *data);
static void ngx_http_helpdesk_sse_held_writer(ngx_http_request_t *r);
static void ngx_http_helpdesk_sse_held_ping(ngx_event_t *ev);
static void ngx_http_helpdesk_sse_held_end(ngx_event_t *ev);
static void ngx_http_helpdesk_sse_held_watch(ngx_event_t *ev);
static void ngx_http_helpdesk_sse_held_post(ngx_http_helpdesk_sse_held_t *s);
static ngx_int_t ngx_http_helpdesk_sse_held_send(
    ngx_http_helpdesk_chat_peer_t *peer, u_char *data, size_t len);
static void ngx_http_helpdesk_sse_held_peer_close(
    ngx_http_helpdesk_chat_peer_t *peer, ngx_uint_t code, const char *reason);


/* the worker's held streams, and the timer that ends them on exit */
static ngx_queue_t  ngx_http_helpdesk_sse_held_streams;
static ngx_event_t  ngx_http_helpdesk_sse_held_watch_ev;
static ngx_connection_t  ngx_http_helpdesk_sse_held_watch_conn;


ngx_flag_t
ngx_http_helpdesk_chat_sse_held_wanted(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream) {
        return 1;
    }
#endif

    return r->http_version > NGX_HTTP_VERSION_11;
}


void
ngx_http_helpdesk_chat_sse_held(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_str_t                      v;
    ngx_pool_t                    *pool;
    ngx_event_t                   *watch;
    ngx_pool_cleanup_t            *pcln;
    ngx_http_cleanup_t            *cln;
    ngx_http_request_t            *r = ctx->req.r;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_helpdesk_sse_held_t  *s;

    pool = ngx_create_pool(NGX_HTTP_HELPDESK_WS_POOL_SIZE, r->connection->log);
    if (pool == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /*
     * Added before the head is sent: it runs after the HTTP/2 filter's
     * own cleanup, which unlinks the frames that still point to our bufs.
     */
    s = ngx_pcalloc(pool, sizeof(ngx_http_helpdesk_sse_held_t));
    pcln = ngx_pool_cleanup_add(r->pool, 0);
    cln = ngx_http_cleanup_add(r, 0);

    if (s == NULL || pcln == NULL || cln == NULL) {
        ngx_destroy_pool(pool);
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    s->pool = pool;
    s->r = r;
    s->ctx = ctx;
    pcln->handler = ngx_http_helpdesk_sse_held_free;
    pcln->data = s;
    cln->handler = ngx_http_helpdesk_sse_held_cleanup;
    cln->data = s;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    s->send_timeout = clcf->send_timeout;
    s->send_lowat = clcf->send_lowat;
    s->ping_interval = ctx->req.hlcf->chat_ping;

    s->ping.handler = ngx_http_helpdesk_sse_held_ping;
    s->ping.data = s;
    s->ping.log = r->connection->log;
    s->ping.cancelable = 1;

    s->end.handler = ngx_http_helpdesk_sse_held_end;
    s->end.data = s;
    s->end.log = r->connection->log;

    s->peer.role = NGX_HTTP_HELPDESK_CHAT_VISITOR;
    s->peer.pool = pool;
    s->peer.log = r->connection->log;
    s->peer.send = ngx_http_helpdesk_sse_held_send;
    s->peer.close = ngx_http_helpdesk_sse_held_peer_close;
    s->peer.transport = s;
    ctx->peer = &s->peer;

    if (ngx_http_helpdesk_chat_peer_strings(ctx, &s->peer) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* whatever the client sends on the stream is dropped */
    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, rc);
        return;
    }

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);

    /* to the page's origin only, checked already */
    rc = ngx_http_helpdesk_chat_cors(ctx);

    ngx_str_set(&v, "no-store");
    if (rc == NGX_OK
        && ngx_helpdesk_http_header_out(r, "Cache-Control", &v) != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "no");
    if (rc == NGX_OK
        && ngx_helpdesk_http_header_out(r, "X-Accel-Buffering", &v) != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, rc);
        return;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, rc);
        return;
    }

    /* from here on the stream is ours; the client leaving ends it */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_helpdesk_sse_held_writer;

    if (ngx_http_helpdesk_sse_held_streams.next == NULL) {
        ngx_queue_init(&ngx_http_helpdesk_sse_held_streams);
    }

    ngx_queue_insert_tail(&ngx_http_helpdesk_sse_held_streams, &s->queue);
    s->listed = 1;

    watch = &ngx_http_helpdesk_sse_held_watch_ev;

    if (!watch->timer_set) {
        watch->handler = ngx_http_helpdesk_sse_held_watch;
        /* nginx's debug log reads a timer's data as a connection */
        ngx_http_helpdesk_sse_held_watch_conn.fd = (ngx_socket_t) -1;
        watch->data = &ngx_http_helpdesk_sse_held_watch_conn;
        watch->log = ngx_cycle->log;
        watch->cancelable = 0;
        ngx_add_timer(watch, NGX_HTTP_HELPDESK_SSE_WATCH);
    }

    /* reconnect after 3 s when the stream breaks */
    if (ngx_http_helpdesk_sse_held_raw(s, (u_char *) "retry: 3000", 11, 0)
        != NGX_OK)
    {
        s->ending = 1;

    } else if (ngx_exiting || ngx_terminate) {
        ngx_http_helpdesk_sse_held_close(s, NGX_HTTP_HELPDESK_CHAT_GOING_AWAY,
                                         "server going away");

    } else if (ngx_http_helpdesk_chat_open(&s->peer) != NGX_OK) {
        ngx_http_helpdesk_sse_held_close(s, NGX_HTTP_HELPDESK_CHAT_INTERNAL,
                                         "internal error");

    } else {
        s->opened = 1;

        if (s->ping_interval) {
            ngx_add_timer(&s->ping, s->ping_interval);
        }
    }

    ngx_http_helpdesk_sse_held_after(s);
}


/*
 * A block of len bytes queued for the client, for the caller to fill
 * (buf.last).  "capped": refused past NGX_HTTP_HELPDESK_WS_OUT_MAX, and
 * the client, too slow a reader, is closed with 1008.
 */

static ngx_http_helpdesk_sse_ev_t *
ngx_http_helpdesk_sse_held_out(ngx_http_helpdesk_sse_held_t *s, size_t len,
    ngx_flag_t capped)
{
    ngx_http_helpdesk_sse_ev_t  *ev, *next;

    if (capped && s->out_bytes + len > NGX_HTTP_HELPDESK_WS_OUT_MAX) {

        /* what is being written stays whole; what waits after it goes */
        ev = s->handed ? s->handed->next : s->out;

        while (ev) {
            next = ev->next;
            s->out_bytes -= ev->size;
            ngx_free(ev);
            ev = next;
        }

        if (s->handed) {
            s->handed->next = NULL;
            s->out_last = s->handed;

        } else {
            s->out = NULL;
            s->out_last = NULL;
        }

        ngx_http_helpdesk_sse_held_close(s, NGX_HTTP_HELPDESK_CHAT_POLICY,
                                         "too slow a reader");
        return NULL;
    }

    ev = ngx_alloc(sizeof(ngx_http_helpdesk_sse_ev_t) + len, s->peer.log);
    if (ev == NULL) {
        return NULL;
    }

    ngx_memzero(&ev->buf, sizeof(ngx_buf_t));
    ev->buf.start = ev->data;
    ev->buf.pos = ev->data;
    ev->buf.last = ev->data;
    ev->buf.end = ev->data + len;
    ev->buf.temporary = 1;
    ev->buf.flush = 1;
    ev->buf.tag = (ngx_buf_tag_t) &ngx_http_helpdesk_chat_sse_held;

    ev->cl.buf = &ev->buf;
    ev->cl.next = NULL;
    ev->next = NULL;
    ev->size = len;

    if (s->out_last) {
        s->out_last->next = ev;

    } else {
        s->out = ev;
    }

    s->out_last = ev;
    s->out_bytes += len;

    return ev;
}


/* text already in the stream's form (a comment, an event): a blank line */

static ngx_int_t
ngx_http_helpdesk_sse_held_raw(ngx_http_helpdesk_sse_held_t *s, u_char *text,
    size_t len, ngx_flag_t capped)
{
    ngx_http_helpdesk_sse_ev_t  *ev;

    ev = ngx_http_helpdesk_sse_held_out(s, len + 2, capped);
    if (ev == NULL) {
        return NGX_ERROR;
    }

    ev->buf.last = ngx_cpymem(ev->buf.pos, text, len);
    *ev->buf.last++ = '\n';
    *ev->buf.last++ = '\n';

    return NGX_OK;
}


/* the close, once: an event says why, and the stream ends once it is sent */

static void
ngx_http_helpdesk_sse_held_close(ngx_http_helpdesk_sse_held_t *s,
    ngx_uint_t code, const char *reason)
{
    size_t  len;
    u_char  buf[NGX_HTTP_HELPDESK_CHAT_SSE_CLOSE];

    if (s->close_sent) {
        return;
    }

    s->close_sent = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->peer.log, 0,
                   "chat sse: close %ui \"%s\"", code, reason ? reason : "");

    len = ngx_http_helpdesk_chat_sse_close_text(buf, code, reason);

    if (ngx_http_helpdesk_sse_held_raw(s, buf, len, 0) != NGX_OK) {
        s->ending = 1;
    }
}


/* the events the filters have written, freed */

static void
ngx_http_helpdesk_sse_held_reap(ngx_http_helpdesk_sse_held_t *s)
{
    ngx_http_helpdesk_sse_ev_t  *ev;

    while (s->handed && ngx_buf_size(&s->out->buf) == 0) {
        ev = s->out;
        s->out = ev->next;

        if (ev == s->handed) {
            s->handed = NULL;
        }

        s->out_bytes -= ev->size;
        ngx_free(ev);
    }

    if (s->out == NULL) {
        s->out_last = NULL;
    }

    if (s->peer.full && s->out_bytes <= NGX_HTTP_HELPDESK_CHAT_LOW_WATER
        && !s->gone && !s->close_sent)
    {
        ngx_http_helpdesk_sse_held_post(s);     /* drained() from there */
    }
}


/*
 * Hands what waits to the filters once what they have is written:
 * NGX_OK (all written), NGX_AGAIN (the rest when the client takes it),
 * NGX_ERROR (the client is gone).  Never ends the request itself.
 */

static ngx_int_t
ngx_http_helpdesk_sse_held_flush(ngx_http_helpdesk_sse_held_t *s)
{
    ngx_chain_t                 *in;
    ngx_event_t                 *wev;
    ngx_connection_t            *c;
    ngx_http_helpdesk_sse_ev_t  *ev;

    c = s->r->connection;
    wev = c->write;

    if (c->error) {
        return NGX_ERROR;
    }

    for ( ;; ) {
        ngx_http_helpdesk_sse_held_reap(s);

        if (s->handed) {
            /* being written: on with it */
            in = NULL;

        } else if (s->out) {
            for (ev = s->out; ev->next; ev = ev->next) {
                ev->cl.next = &ev->next->cl;
            }

            ev->cl.next = NULL;
            s->handed = ev;
            in = &s->out->cl;

        } else {
            break;
        }

        if (ngx_http_output_filter(s->r, in) == NGX_ERROR) {
            return NGX_ERROR;
        }

        ngx_http_helpdesk_sse_held_reap(s);

        if (s->handed) {
            break;
        }
    }

    if (s->handed == NULL) {
        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        return NGX_OK;
    }

    /* send_timeout runs from when the client stopped taking bytes */
    if (!wev->timer_set) {
        ngx_add_timer(wev, s->send_timeout);
    }

    if (ngx_handle_write_event(wev, s->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* after an event of ours: send what waits, then end if it is time */

static void
ngx_http_helpdesk_sse_held_after(ngx_http_helpdesk_sse_held_t *s)
{
    ngx_int_t  rc;

    if (s->stopped) {
        return;
    }

    if (s->ending) {
        ngx_http_helpdesk_sse_held_finish(s, NGX_ERROR);
        return;
    }

    if (!s->close_sent && (ngx_exiting || ngx_terminate)) {
        ngx_http_helpdesk_sse_held_close(s, NGX_HTTP_HELPDESK_CHAT_GOING_AWAY,
                                         "server going away");
    }

    rc = ngx_http_helpdesk_sse_held_flush(s);

    if (rc == NGX_ERROR || s->ending) {
        ngx_http_helpdesk_sse_held_finish(s, NGX_ERROR);
        return;
    }

    if (s->close_sent && rc == NGX_OK) {
        /* the close is written: the stream's end */
        ngx_http_helpdesk_sse_held_finish(s, NGX_OK);
    }
}


/*
 * The end of the stream from our side: the conversations layer told, then
 * the request finalized (NGX_OK: after the last buf).  Nothing of s or r
 * is used after this.
 */

static void
ngx_http_helpdesk_sse_held_finish(ngx_http_helpdesk_sse_held_t *s,
    ngx_int_t rc)
{
    ngx_http_request_t  *r = s->r;

    ngx_http_helpdesk_sse_held_stop(s);

    /* from a timer or a posted event: nginx's posted requests run after */
    ngx_http_helpdesk_req_wake(&s->ctx->req);

    if (rc == NGX_OK) {
        rc = ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    ngx_http_finalize_request(r, rc);
}


/* once: gone(), and none of our events left */

static void
ngx_http_helpdesk_sse_held_stop(ngx_http_helpdesk_sse_held_t *s)
{
    ngx_event_t  *watch;

    if (s->stopped) {
        return;
    }

    s->stopped = 1;

    if (s->opened && !s->gone) {
        s->gone = 1;
        ngx_http_helpdesk_chat_gone(&s->peer);
    }

    if (s->ping.timer_set) {
        ngx_del_timer(&s->ping);
    }

    if (s->end.posted) {
        ngx_delete_posted_event(&s->end);
    }

    if (s->listed) {
        s->listed = 0;
        ngx_queue_remove(&s->queue);

        watch = &ngx_http_helpdesk_sse_held_watch_ev;

        if (ngx_queue_empty(&ngx_http_helpdesk_sse_held_streams)
            && watch->timer_set)
        {
            ngx_del_timer(watch);
        }
    }
}


/* the request ends (nginx's cleanup: the client left, or it is freed) */

static void
ngx_http_helpdesk_sse_held_cleanup(void *data)
{
    ngx_http_helpdesk_sse_held_t  *s = data;

    ngx_http_helpdesk_sse_held_stop(s);
}


/* the request's pool goes: no frame of nginx points to our bufs any more */

static void
ngx_http_helpdesk_sse_held_free(void *data)
{
    ngx_http_helpdesk_sse_held_t  *s = data;

    ngx_http_helpdesk_sse_ev_t  *ev, *next;

    ngx_http_helpdesk_sse_held_stop(s);

    for (ev = s->out; ev; ev = next) {
        next = ev->next;
        ngx_free(ev);
    }

    s->out = NULL;

    ngx_destroy_pool(s->pool);
}


static void
ngx_http_helpdesk_sse_held_writer(ngx_http_request_t *r)
{
    ngx_event_t                   *wev;
    ngx_connection_t              *c;
    ngx_http_helpdesk_chat_ctx_t  *ctx;
    ngx_http_helpdesk_sse_held_t  *s;

    ctx = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);
    s = ctx->peer->transport;
    c = r->connection;
    wev = c->write;

    if (s->stopped) {
        return;
    }

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "chat client timed out while reading");
        c->timedout = 1;
        ngx_http_helpdesk_sse_held_finish(s, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (c->error) {
        ngx_http_helpdesk_sse_held_finish(s, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        return;
    }

    if (wev->timer_set) {
        /* it moved: the timer starts over if something still waits */
        ngx_del_timer(wev);
    }

    ngx_http_helpdesk_sse_held_after(s);
}


static void
ngx_http_helpdesk_sse_held_ping(ngx_event_t *ev)
{
    ngx_http_helpdesk_sse_held_t  *s = ev->data;

    if (s->stopped || s->close_sent) {
        return;
    }

    /* a comment keeps proxies from timing the stream out */
    (void) ngx_http_helpdesk_sse_held_raw(s, (u_char *) ": ping", 6, 1);

    ngx_add_timer(&s->ping, s->ping_interval);

    ngx_http_helpdesk_sse_held_after(s);
}


/* posted by send(), close(), and writing down to the low-water mark */

static void
ngx_http_helpdesk_sse_held_end(ngx_event_t *ev)
{
    ngx_http_helpdesk_sse_held_t  *s = ev->data;

    if (s->peer.full && s->out_bytes <= NGX_HTTP_HELPDESK_CHAT_LOW_WATER) {
        s->peer.full = 0;

        if (s->peer.drained && !s->gone && !s->close_sent) {
            s->peer.drained(&s->peer);
        }
    }

    ngx_http_helpdesk_sse_held_after(s);
}


static void
ngx_http_helpdesk_sse_held_post(ngx_http_helpdesk_sse_held_t *s)
{
    if (!s->stopped && !s->end.posted) {
        ngx_post_event(&s->end, &ngx_posted_events);
    }
}


/*
 * Every second while the worker holds streams: on a reload or a shutdown,
 * each gets its 1001 and ends once that is written.
 */

static void
ngx_http_helpdesk_sse_held_watch(ngx_event_t *ev)
{
    ngx_queue_t                   *q, *next;
    ngx_http_helpdesk_sse_held_t  *s;

    if (ngx_exiting || ngx_terminate) {
        for (q = ngx_queue_head(&ngx_http_helpdesk_sse_held_streams);
             q != ngx_queue_sentinel(&ngx_http_helpdesk_sse_held_streams);
             q = next)
        {
            next = ngx_queue_next(q);
            s = ngx_queue_data(q, ngx_http_helpdesk_sse_held_t, queue);

            /* it stays listed while the 1001 waits (send_timeout holds) */
            ngx_http_helpdesk_sse_held_after(s);
        }

        return;
    }

    if (!ngx_queue_empty(&ngx_http_helpdesk_sse_held_streams)) {
        ngx_add_timer(ev, NGX_HTTP_HELPDESK_SSE_WATCH);
    }
}


/* the conversations layer's calls: they queue, and never call it back */

static ngx_int_t
ngx_http_helpdesk_sse_held_send(ngx_http_helpdesk_chat_peer_t *peer,
    u_char *data, size_t len)
{
    size_t                         n;
    ngx_str_t                      id, *idp;
    ngx_http_helpdesk_sse_ev_t    *ev;
    ngx_http_helpdesk_sse_held_t  *s = peer->transport;
    u_char                         buf[NGX_HTTP_HELPDESK_CHAT_SSE_ID];

    if (s->close_sent || s->stopped) {
        return NGX_ERROR;
    }

    idp = ngx_http_helpdesk_chat_sse_id(data, len, &id, buf);
    n = ngx_http_helpdesk_chat_sse_size(idp, data, len);

    ev = ngx_http_helpdesk_sse_held_out(s, n, 1);

    if (ev == NULL) {
        if (!s->close_sent) {
            s->ending = 1;
        }

        ngx_http_helpdesk_sse_held_post(s);
        return NGX_ERROR;
    }

    ev->buf.last = ngx_http_helpdesk_chat_sse_format(ev->buf.pos, idp, data,
                                                     len);
    s->out_bytes -= n - (ev->buf.last - ev->buf.pos);
    ev->size = ev->buf.last - ev->buf.pos;

    if (s->out_bytes > NGX_HTTP_HELPDESK_CHAT_LOW_WATER) {
        s->peer.full = 1;
    }

    ngx_http_helpdesk_sse_held_post(s);

    return NGX_OK;
}


static void
ngx_http_helpdesk_sse_held_peer_close(ngx_http_helpdesk_chat_peer_t *peer,
    ngx_uint_t code, const char *reason)
{
    ngx_http_helpdesk_sse_held_t  *s = peer->transport;

    if (s->stopped) {
        return;
    }

    if (code < 1000 || code == 1005 || code == 1006 || code == 1015
        || code > 4999)
    {
        code = NGX_HTTP_HELPDESK_CHAT_INTERNAL;
    }

    ngx_http_helpdesk_sse_held_close(s, code, reason);
    ngx_http_helpdesk_sse_held_post(s);
}
