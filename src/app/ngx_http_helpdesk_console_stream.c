/*
 * The console's live updates: GET <console>/_/api/stream is a
 * server-sent-events stream that says "this ticket changed" to every agent
 * of the ticket's tenant, within about a second, on every node.
 *
 * Where the changes come from: each worker that has streams open asks
 * PostgreSQL every NGX_HTTP_HELPDESK_STREAM_POLL ms for the tickets that
 * got new events since the last answer (ticket_events only grows, and its
 * event_id is a sequence), one statement per worker whatever the number
 * of agents.  LISTEN/NOTIFY was the obvious tool and was set aside:
 * PostgreSQL serializes the commits of every transaction that notifies
 * (a lock held across the commit's flush), which would cost the ticket
 * writes on every channel their group commit.  A worker with no stream
 * open sends nothing.
 *
 * A stream is a request held open: headers, then "event: ticket" messages
 * and a comment line every 20 s so that proxies keep it; the browser's
 * EventSource reconnects by itself.  A client that does not read is
 * dropped: when more than NGX_HTTP_HELPDESK_STREAM_BACKLOG bytes wait for
 * it, or when what waits has not moved for the location's send_timeout.
 * On a
 * reload or shutdown every stream is ended, so old workers exit at once,
 * and the browsers reconnect to the new ones.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "ngx_http_helpdesk_portal.h"


#define NGX_HTTP_HELPDESK_STREAM_POLL     1000
#define NGX_HTTP_HELPDESK_STREAM_PING     20000
#define NGX_HTTP_HELPDESK_STREAM_BACKLOG  (256 * 1024)


typedef struct {
    ngx_queue_t          queue;
    ngx_http_request_t  *r;
    u_char               tenant[36];
    ngx_msec_t           last_write;
} ngx_http_helpdesk_stream_t;


typedef struct {
    ngx_queue_t              streams;
    ngx_uint_t               n;
    ngx_event_t              tick;
    ngx_helpdesk_pg_query_t  query;
    ngx_flag_t               polling;
    ngx_flag_t               started;
    u_char                   since[NGX_INT64_LEN + 1];  /* "" = from now */
    ngx_pool_t              *pool;
} ngx_http_helpdesk_streams_t;


static ngx_int_t ngx_http_helpdesk_stream_pending(ngx_http_request_t *r);
static void ngx_http_helpdesk_stream_opened(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res);
static void ngx_http_helpdesk_stream_cleanup(void *data);
static void ngx_http_helpdesk_stream_tick(ngx_event_t *ev);
static void ngx_http_helpdesk_stream_polled(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_http_helpdesk_stream_write(ngx_http_helpdesk_stream_t *s,
    u_char *data, size_t len);
static void ngx_http_helpdesk_stream_end(ngx_http_helpdesk_stream_t *s);
static void ngx_http_helpdesk_stream_writer(ngx_http_request_t *r);


static ngx_http_helpdesk_streams_t  ngx_http_helpdesk_streams;

/* reconnect after 3 s when the stream breaks; a first message at once */
static const char  ngx_http_helpdesk_stream_hello[] = "retry: 3000\nevent: hello\ndata: {}\n\n";

static const char  ngx_http_helpdesk_stream_sql[] =
    "SELECT tenant_id, ticket_id, event_id, high"
    " FROM api.events_since($1::bigint)";


/* GET /_/api/stream: who the agent is, then the stream */
void
ngx_http_helpdesk_stream_open(ngx_http_helpdesk_portal_ctx_t *ctx)
{
    ngx_http_helpdesk_portal_call(ctx, "stream.open", ctx->args,
                                  ngx_http_helpdesk_stream_opened);
}


static void
ngx_http_helpdesk_stream_opened(ngx_http_helpdesk_portal_ctx_t *ctx,
    PGresult *res)
{
    json_t                       *body;
    ngx_str_t                     v;
    ngx_int_t                     rc;
    json_int_t                    since;
    const char                   *tenant;
    json_error_t                  err;
    ngx_http_cleanup_t           *cln;
    ngx_http_request_t           *r = ctx->req.r;
    ngx_http_helpdesk_stream_t   *s;
    ngx_http_helpdesk_streams_t  *all = &ngx_http_helpdesk_streams;

    /* {"tenant": id, "since": the last event when the stream opened} */
    body = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, &err);
    tenant = json_string_value(json_object_get(body, "tenant"));
    since = json_integer_value(json_object_get(body, "since"));

    if (tenant == NULL || ngx_strlen(tenant) != 36 || ngx_exiting || ngx_terminate)
    {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    s = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_stream_t));
    cln = ngx_http_cleanup_add(r, 0);
    if (s == NULL || cln == NULL) {
        json_decref(body);
        ngx_http_helpdesk_portal_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(s->tenant, tenant, 36);
    json_decref(body);
    s->r = r;

    /*
     * The first stream of the worker starts the polling from this moment:
     * whatever happens after the stream opened is sent.
     */
    if (all->n == 0 && !all->polling) {
        ngx_sprintf(all->since, "%L%Z", (int64_t) since);
    }

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = -1;
    ngx_str_set(&v, "no-store");
    (void) ngx_helpdesk_http_header_out(r, "Cache-Control", &v);
    ngx_str_set(&v, "no");
    (void) ngx_helpdesk_http_header_out(r, "X-Accel-Buffering", &v);

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK) {
        ngx_http_helpdesk_portal_finalize(ctx, rc);
        return;
    }

    /* from here on the stream is ours; the client closing it ends it */
    cln->handler = ngx_http_helpdesk_stream_cleanup;
    cln->data = s;
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_helpdesk_stream_writer;

    if (!all->started) {
        ngx_queue_init(&all->streams);
        all->tick.handler = ngx_http_helpdesk_stream_tick;
        all->tick.data = all;
        all->tick.log = ngx_cycle->log;

        /*
         * Not cancelable: a worker that is shutting down waits for the
         * next tick, which ends the streams it still holds.
         */
        all->tick.cancelable = 0;
        all->started = 1;
    }

    ngx_queue_insert_tail(&all->streams, &s->queue);
    all->n++;

    if (ngx_http_helpdesk_stream_write(s, (u_char *) ngx_http_helpdesk_stream_hello,
                                       sizeof(ngx_http_helpdesk_stream_hello) - 1)
        != NGX_OK)
    {
        ngx_http_helpdesk_portal_finalize(ctx, NGX_ERROR);
        return;
    }

    if (!all->tick.timer_set && !all->polling) {
        ngx_add_timer(&all->tick, NGX_HTTP_HELPDESK_STREAM_POLL);
    }

    /* the request stays open: its count is released when the stream ends */
}


static void
ngx_http_helpdesk_stream_cleanup(void *data)
{
    ngx_http_helpdesk_stream_t   *s = data;
    ngx_http_helpdesk_streams_t  *all = &ngx_http_helpdesk_streams;

    if (s->r == NULL) {
        return;
    }

    ngx_queue_remove(&s->queue);
    all->n--;
    s->r = NULL;

    if (all->n == 0) {
        /* nobody listens: no more polling, and start afresh next time */
        if (all->tick.timer_set) {
            ngx_del_timer(&all->tick);
        }

        all->since[0] = '\0';
    }
}


static ngx_int_t
ngx_http_helpdesk_stream_write(ngx_http_helpdesk_stream_t *s, u_char *data,
    size_t len)
{
    off_t                waiting;
    ngx_buf_t           *b;
    ngx_chain_t          out, *cl;
    ngx_http_request_t  *r = s->r;

    /* a client that does not read is not worth the memory */
    waiting = 0;

    for (cl = r->out; cl; cl = cl->next) {
        waiting += ngx_buf_size(cl->buf);
    }

    if (waiting > NGX_HTTP_HELPDESK_STREAM_BACKLOG) {
        return NGX_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, data, len);
    b->flush = 1;

    out.buf = b;
    out.next = NULL;

    s->last_write = ngx_current_msec;

    if (ngx_http_output_filter(r, &out) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_stream_pending(r);
}


/*
 * What could not be sent now goes when the socket is writable, within
 * send_timeout; nothing waiting, no timer.
 */

static ngx_int_t
ngx_http_helpdesk_stream_pending(ngx_http_request_t *r)
{
    ngx_event_t               *wev = r->connection->write;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->out || (r->connection->buffered & NGX_HTTP_LOWLEVEL_BUFFERED)) {
        if (!wev->timer_set) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

    } else if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_helpdesk_stream_writer(ngx_http_request_t *r)
{
    ngx_event_t  *wev = r->connection->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "helpdesk: event stream client timed out");
        r->connection->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (wev->timer_set) {
        /* it moved: the timer starts over if something still waits */
        ngx_del_timer(wev);
    }

    if (ngx_http_output_filter(r, NULL) == NGX_ERROR
        || ngx_http_helpdesk_stream_pending(r) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


static void
ngx_http_helpdesk_stream_end(ngx_http_helpdesk_stream_t *s)
{
    ngx_http_request_t       *r = s->r;
    ngx_http_helpdesk_req_t  *req;

    ngx_http_helpdesk_stream_cleanup(s);

    /* the last chunk, then the request goes (from a timer: see the core) */
    req = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);
    if (req) {
        ngx_http_helpdesk_req_wake(req);
    }

    ngx_http_finalize_request(r, ngx_http_send_special(r, NGX_HTTP_LAST));
}


/* every second while streams are open: poll, ping, and end on exit */
static void
ngx_http_helpdesk_stream_tick(ngx_event_t *ev)
{
    ngx_str_t                     since;
    ngx_queue_t                  *q, *next;
    ngx_http_helpdesk_stream_t   *s;
    ngx_http_helpdesk_streams_t  *all = &ngx_http_helpdesk_streams;

    if (ngx_exiting || ngx_terminate) {
        for (q = ngx_queue_head(&all->streams);
             q != ngx_queue_sentinel(&all->streams);
             q = next)
        {
            next = ngx_queue_next(q);
            ngx_http_helpdesk_stream_end(
                ngx_queue_data(q, ngx_http_helpdesk_stream_t, queue));
        }

        return;
    }

    for (q = ngx_queue_head(&all->streams);
         q != ngx_queue_sentinel(&all->streams);
         q = next)
    {
        next = ngx_queue_next(q);
        s = ngx_queue_data(q, ngx_http_helpdesk_stream_t, queue);

        if (ngx_current_msec - s->last_write >= NGX_HTTP_HELPDESK_STREAM_PING
            && ngx_http_helpdesk_stream_write(s, (u_char *) ": ping\n\n", 8)
               != NGX_OK)
        {
            ngx_http_helpdesk_stream_end(s);
        }
    }

    if (all->n == 0) {
        return;
    }

    /* one statement for all the worker's streams */
    ngx_memzero(&all->query, sizeof(ngx_helpdesk_pg_query_t));
    all->query.sql = ngx_http_helpdesk_stream_sql;
    all->query.handler = ngx_http_helpdesk_stream_polled;
    all->query.data = all;
    all->query.log = ngx_cycle->log;

    if (all->pool == NULL) {
        all->pool = ngx_create_pool(1024, ngx_cycle->log);
        if (all->pool == NULL) {
            ngx_add_timer(&all->tick, NGX_HTTP_HELPDESK_STREAM_POLL);
            return;
        }
    }

    since.data = all->since;
    since.len = ngx_strlen(all->since);

    if (ngx_helpdesk_pg_param(&all->query, all->pool, &since) != NGX_OK) {
        ngx_add_timer(&all->tick, NGX_HTTP_HELPDESK_STREAM_POLL);
        return;
    }

    if (since.len == 0) {
        all->query.values[0] = NULL;
    }

    all->polling = 1;
    ngx_helpdesk_pg_run(&all->query);
}


static void
ngx_http_helpdesk_stream_polled(ngx_helpdesk_pg_query_t *pq, PGresult *res)
{
    int                           i, n;
    u_char                       *p, *tenant;
    size_t                        len;
    ngx_queue_t                  *q, *next;
    ngx_http_helpdesk_stream_t   *s;
    ngx_http_helpdesk_streams_t  *all = &ngx_http_helpdesk_streams;
    u_char                        msg[160];

    all->polling = 0;

    /* the parameters were copied into the pool: start it afresh */
    if (all->pool) {
        ngx_destroy_pool(all->pool);
        all->pool = NULL;
    }

    if (pq->status == NGX_HELPDESK_PG_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "helpdesk console: the changes could not be read: %s",
                      PQresultErrorMessage(res));
    }

    if (pq->status == NGX_HELPDESK_PG_OK && PQresultStatus(res) == PGRES_TUPLES_OK) {
        n = PQntuples(res);

        for (i = 0; i < n; i++) {
            if (!PQgetisnull(res, i, 3)) {
                len = ngx_min((size_t) PQgetlength(res, i, 3), NGX_INT64_LEN);
                ngx_memcpy(all->since, PQgetvalue(res, i, 3), len);
                all->since[len] = '\0';
            }

            if (PQgetisnull(res, i, 0) || PQgetlength(res, i, 0) != 36) {
                continue;
            }

            tenant = (u_char *) PQgetvalue(res, i, 0);
            p = ngx_snprintf(msg, sizeof(msg),
                             "event: ticket\ndata: {\"id\":\"%s\",\"event_id\":%s}\n\n",
                             PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));

            for (q = ngx_queue_head(&all->streams);
                 q != ngx_queue_sentinel(&all->streams);
                 q = next)
            {
                next = ngx_queue_next(q);
                s = ngx_queue_data(q, ngx_http_helpdesk_stream_t, queue);

                if (ngx_strncmp(s->tenant, tenant, 36) == 0
                    && ngx_http_helpdesk_stream_write(s, msg, p - msg) != NGX_OK)
                {
                    ngx_http_helpdesk_stream_end(s);
                }
            }
        }
    }

    if (all->n && !all->tick.timer_set) {
        ngx_add_timer(&all->tick, NGX_HTTP_HELPDESK_STREAM_POLL);
    }
}
