/*
 * PostgreSQL on the nginx event loop.
 *
 * Every worker keeps its own small pool of libpq connections in
 * non-blocking mode.  Each connection's socket is wrapped in an
 * ngx_connection_t whose read and write events drive one state machine:
 *
 *     CONNECTING --PQconnectPoll--> IDLE --send--> BUSY --results--> IDLE
 *
 * Events are level-triggered: the write event is armed only while libpq
 * has something to write (connect handshake, PQflush() returning 1), the
 * read event stays armed for the connection's life, so a server that goes
 * away is noticed even on an idle connection.
 *
 * A query that finds no idle connection starts a new one while the pool
 * is below "max", and waits in a bounded backlog; past the backlog it
 * fails at once (the caller answers 503).  After a failed connect the
 * pool is "down" for a backoff period that doubles up to a cap: requests
 * in that period fail fast instead of piling up, and the first request
 * after it tries again, so service comes back by itself.
 *
 * libpq owns the socket: PQfinish() closes it, we only free the nginx
 * connection record (never ngx_close_connection(), which would close the
 * descriptor twice).  PQsocket() is read again after every
 * PQconnectPoll(), because libpq may switch sockets while connecting.
 *
 * Each statement runs with a server-side statement_timeout equal to the
 * pool's timeout and a client-side timer a little longer, so the server's
 * own cancellation arrives as an error the caller can report; a
 * connection whose client timer fires is closed, never reused.
 *
 * A query belongs to whoever waits for it.  When that is a request, the
 * request's pool carries a cleanup that cancels the query: nginx may end
 * a request at any moment (the client left, a bad chunk, a timeout), and
 * from then on nothing may call into it.  A cancelled query that was
 * already sent stays on its connection until the server has answered;
 * the answer is dropped and the connection goes back to the pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_pg.h"
#include "ngx_helpdesk_pg_int.h"


static void ngx_helpdesk_pg_owner_gone(void *data);
static void ngx_helpdesk_pg_fail_posted(ngx_event_t *ev);
static void ngx_helpdesk_pg_wait_timeout(ngx_event_t *ev);


ngx_helpdesk_pg_pool_t  ngx_helpdesk_pg_pool;


ngx_int_t
ngx_helpdesk_pg_init_worker(ngx_cycle_t *cycle, ngx_helpdesk_pg_conf_t *conf)
{
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    ngx_memzero(pool, sizeof(ngx_helpdesk_pg_pool_t));

    pool->conf = conf;
    pool->log = cycle->log;
    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->backlog);

    ngx_snprintf((u_char *) pool->options, sizeof(pool->options) - 1,
                 "-c statement_timeout=%Mms%Z", conf->timeout);

    pool->ready = 1;

    return NGX_OK;
}


void
ngx_helpdesk_pg_exit_worker(void)
{
    ngx_queue_t             *qu;
    ngx_helpdesk_pg_conn_t  *conn;
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    if (!pool->ready) {
        return;
    }

    while (!ngx_queue_empty(&pool->idle)) {
        qu = ngx_queue_head(&pool->idle);
        conn = ngx_queue_data(qu, ngx_helpdesk_pg_conn_t, queue);
        ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
    }

    pool->ready = 0;
}


/* libpq takes text parameters as C strings: copy unless terminated */

ngx_int_t
ngx_helpdesk_pg_value(ngx_pool_t *pool, PGresult *res, int row, int col,
    ngx_str_t *to)
{
    to->len = PQgetlength(res, row, col);
    to->data = ngx_pnalloc(pool, to->len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, PQgetvalue(res, row, col), to->len);
    to->data[to->len] = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_pg_param(ngx_helpdesk_pg_query_t *q, ngx_pool_t *pool,
    ngx_str_t *value)
{
    u_char  *p;

    if (q->nparams >= NGX_HELPDESK_PG_MAX_PARAMS) {
        q->broken = 1;
        return NGX_ERROR;
    }

    if (value == NULL || value->data == NULL) {
        q->values[q->nparams] = NULL;
        q->lengths[q->nparams] = 0;
        q->nparams++;
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, value->len + 1);
    if (p == NULL) {
        q->broken = 1;
        return NGX_ERROR;
    }

    *ngx_cpymem(p, value->data, value->len) = '\0';

    q->values[q->nparams] = (const char *) p;
    q->lengths[q->nparams] = (int) value->len;
    q->nparams++;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_pg_param_binary(ngx_helpdesk_pg_query_t *q, u_char *data,
    size_t len)
{
    if (q->nparams >= NGX_HELPDESK_PG_MAX_PARAMS || len > NGX_MAX_INT32_VALUE)
    {
        q->broken = 1;
        return NGX_ERROR;
    }

    q->values[q->nparams] = (const char *) data;
    q->lengths[q->nparams] = (int) len;
    q->formats[q->nparams] = 1;
    q->nparams++;

    return NGX_OK;
}


void
ngx_helpdesk_pg_run(ngx_helpdesk_pg_query_t *q)
{
    ngx_queue_t             *qu;
    ngx_helpdesk_pg_conn_t  *conn;
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    ngx_pool_cleanup_t      *cln;

    q->status = NGX_HELPDESK_PG_OK;
    q->conn = NULL;
    q->active = 1;
    q->in_backlog = 0;
    q->sent = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, q->log, 0,
                   "helpdesk postgres: run q:%p params:%d \"%.48s\"",
                   q, q->nparams, q->sql);

    if (q->owner && !q->owned) {
        cln = ngx_pool_cleanup_add(q->owner, 0);
        if (cln == NULL) {
            ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
            return;
        }

        cln->handler = ngx_helpdesk_pg_owner_gone;
        cln->data = q;
        q->owned = 1;
    }

    if (q->broken) {
        ngx_log_error(NGX_LOG_ALERT, q->log, 0,
                      "helpdesk postgres: a parameter was lost (more than "
                      "%d, or out of memory)", NGX_HELPDESK_PG_MAX_PARAMS);
        ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
        return;
    }

    /* a shutting-down worker may still finish its work */
    if (!pool->ready) {
        ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
        return;
    }

    if (!ngx_queue_empty(&pool->idle)) {
        qu = ngx_queue_head(&pool->idle);
        conn = ngx_queue_data(qu, ngx_helpdesk_pg_conn_t, queue);
        ngx_queue_remove(qu);
        conn->in_idle = 0;
        ngx_helpdesk_pg_dispatch(conn, q);
        return;
    }

    if (pool->nconns < pool->conf->max) {

        if (pool->down && (ngx_msec_int_t) (pool->retry_at - ngx_current_msec)
                          > 0)
        {
            ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
            return;
        }

        if (ngx_helpdesk_pg_connect() != NGX_OK) {
            ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
            return;
        }

    } else if (pool->nbacklog >= pool->conf->backlog) {

        /* under overload a line per refusal would flood the log */
        pool->refused++;

        if (ngx_current_msec - pool->warned_at >= 1000
            || pool->warned_at == 0)
        {
            ngx_log_error(NGX_LOG_WARN, q->log, 0,
                          "helpdesk postgres: all %ui connections busy and "
                          "%ui requests waiting, %ui refused",
                          pool->nconns, pool->nbacklog, pool->refused);
            pool->warned_at = ngx_current_msec;
            pool->refused = 0;
        }

        ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_BUSY);
        return;
    }

    ngx_queue_insert_tail(&pool->backlog, &q->queue);
    pool->nbacklog++;
    q->in_backlog = 1;

    ngx_memzero(&q->wait, sizeof(ngx_event_t));
    q->wait.handler = ngx_helpdesk_pg_wait_timeout;
    q->wait.data = q;
    q->wait.log = q->log;
    ngx_add_timer(&q->wait, pool->conf->timeout);
}


void
ngx_helpdesk_pg_cancel(ngx_helpdesk_pg_query_t *q)
{
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    if (!q->active) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                   "helpdesk postgres: cancel q:%p conn:%p", q, q->conn);

    q->active = 0;

    if (q->wait.posted) {
        ngx_delete_posted_event(&q->wait);
    }

    if (q->wait.timer_set) {
        ngx_del_timer(&q->wait);
    }

    if (q->in_backlog) {
        ngx_queue_remove(&q->queue);
        pool->nbacklog--;
        q->in_backlog = 0;
    }

    if (q->conn) {
        /* the answer will be read and dropped (ngx_helpdesk_pg_read) */
        q->conn->query = NULL;
        q->conn = NULL;
    }
}


static void
ngx_helpdesk_pg_owner_gone(void *data)
{
    ngx_helpdesk_pg_query_t  *q = data;

    ngx_helpdesk_pg_cancel(q);
    q->owned = 0;
}


/* The one place a caller hears back. */

void
ngx_helpdesk_pg_done(ngx_helpdesk_pg_query_t *q,
    ngx_helpdesk_pg_status_e status, PGresult *res)
{
    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, q->log, 0,
                   "helpdesk postgres: done q:%p status:%d res:%p",
                   q, status, res);

    q->active = 0;
    q->conn = NULL;
    q->status = status;
    q->handler(q, res);
}


ngx_msec_t
ngx_helpdesk_pg_client_timeout(void)
{
    ngx_msec_t  t = ngx_helpdesk_pg_pool.conf->timeout;

    /* room for the server's own statement_timeout error to arrive */
    return t + ngx_max(t / 4, 1000);
}


ngx_uint_t
ngx_helpdesk_pg_retry_after(void)
{
    ngx_msec_int_t           left;
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    if (!pool->down) {
        return 1;
    }

    left = (ngx_msec_int_t) (pool->retry_at - ngx_current_msec);

    return left <= 1000 ? 1 : (ngx_uint_t) (left + 999) / 1000;
}


/*
 * A connection with nothing to do: give it to the oldest waiter, or keep
 * it for the next query.
 */

ngx_helpdesk_pg_query_t *
ngx_helpdesk_pg_backlog_pop(void)
{
    ngx_queue_t              *qu;
    ngx_helpdesk_pg_query_t  *q;
    ngx_helpdesk_pg_pool_t   *pool = &ngx_helpdesk_pg_pool;

    if (ngx_queue_empty(&pool->backlog)) {
        return NULL;
    }

    qu = ngx_queue_head(&pool->backlog);
    q = ngx_queue_data(qu, ngx_helpdesk_pg_query_t, queue);
    ngx_queue_remove(qu);
    pool->nbacklog--;
    q->in_backlog = 0;

    if (q->wait.timer_set) {
        ngx_del_timer(&q->wait);
    }

    return q;
}


void
ngx_helpdesk_pg_fail_backlog(void)
{
    ngx_helpdesk_pg_query_t  *q;

    while ((q = ngx_helpdesk_pg_backlog_pop()) != NULL) {
        ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
    }
}


/* Failures are reported from the event loop, never from inside a call. */

void
ngx_helpdesk_pg_fail(ngx_helpdesk_pg_query_t *q,
    ngx_helpdesk_pg_status_e status)
{
    q->status = status;
    q->in_backlog = 0;

    ngx_memzero(&q->wait, sizeof(ngx_event_t));
    q->wait.handler = ngx_helpdesk_pg_fail_posted;
    q->wait.data = q;
    q->wait.log = q->log;

    ngx_post_event(&q->wait, &ngx_posted_events);
}


static void
ngx_helpdesk_pg_fail_posted(ngx_event_t *ev)
{
    ngx_helpdesk_pg_query_t  *q = ev->data;

    ngx_helpdesk_pg_done(q, q->status, NULL);
}


static void
ngx_helpdesk_pg_wait_timeout(ngx_event_t *ev)
{
    ngx_helpdesk_pg_query_t  *q = ev->data;
    ngx_helpdesk_pg_pool_t   *pool = &ngx_helpdesk_pg_pool;

    ngx_queue_remove(&q->queue);
    pool->nbacklog--;
    q->in_backlog = 0;

    ngx_log_error(NGX_LOG_WARN, q->log, 0,
                  "helpdesk postgres: no connection within %Mms",
                  pool->conf->timeout);

    ngx_helpdesk_pg_done(q, NGX_HELPDESK_PG_BUSY, NULL);
}