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


#define NGX_HELPDESK_PG_BACKOFF_MIN  250
#define NGX_HELPDESK_PG_BACKOFF_MAX  5000


typedef enum {
    NGX_HELPDESK_PG_S_CONNECTING = 0,
    NGX_HELPDESK_PG_S_IDLE,
    NGX_HELPDESK_PG_S_BUSY
} ngx_helpdesk_pg_state_e;


struct ngx_helpdesk_pg_conn_s {
    ngx_queue_t                 queue;      /* in pool.idle while idle */
    PGconn                     *pg;
    ngx_connection_t           *c;
    int                         fd;
    ino_t                       ino;        /* which socket fd names */
    ngx_helpdesk_pg_state_e     state;
    ngx_helpdesk_pg_query_t    *query;
    PGresult                   *last;
    unsigned                    in_idle:1;
};


typedef struct {
    ngx_helpdesk_pg_conf_t     *conf;
    ngx_log_t                  *log;
    ngx_queue_t                 idle;
    ngx_queue_t                 backlog;
    ngx_uint_t                  nconns;
    ngx_uint_t                  nbacklog;
    ngx_msec_t                  backoff;
    ngx_msec_t                  retry_at;
    ngx_msec_t                  warned_at;  /* "all busy", once a second */
    ngx_uint_t                  refused;    /* ... and how many since */
    char                        options[64];
    unsigned                    down:1;
    unsigned                    ready:1;
} ngx_helpdesk_pg_pool_t;


static ngx_int_t ngx_helpdesk_pg_connect(void);
static void ngx_helpdesk_pg_event(ngx_event_t *ev);
static void ngx_helpdesk_pg_poll(ngx_helpdesk_pg_conn_t *conn);
static ngx_int_t ngx_helpdesk_pg_attach(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_detach(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_want_write(ngx_helpdesk_pg_conn_t *conn,
    ngx_uint_t on);
static void ngx_helpdesk_pg_ready(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_dispatch(ngx_helpdesk_pg_conn_t *conn,
    ngx_helpdesk_pg_query_t *q);
static ngx_int_t ngx_helpdesk_pg_flush(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_read(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_close(ngx_helpdesk_pg_conn_t *conn,
    ngx_helpdesk_pg_status_e status);
static void ngx_helpdesk_pg_connect_failed(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_fail(ngx_helpdesk_pg_query_t *q,
    ngx_helpdesk_pg_status_e status);
static void ngx_helpdesk_pg_done(ngx_helpdesk_pg_query_t *q,
    ngx_helpdesk_pg_status_e status, PGresult *res);
static void ngx_helpdesk_pg_owner_gone(void *data);
static ngx_int_t ngx_helpdesk_pg_same_socket(ngx_helpdesk_pg_conn_t *conn);
static ngx_msec_t ngx_helpdesk_pg_client_timeout(void);
static char *ngx_helpdesk_pg_conninfo_hosts(PQconninfoOption *opts);
static void ngx_helpdesk_pg_fail_posted(ngx_event_t *ev);
static void ngx_helpdesk_pg_wait_timeout(ngx_event_t *ev);
static void ngx_helpdesk_pg_fail_backlog(void);
static ngx_helpdesk_pg_query_t *ngx_helpdesk_pg_backlog_pop(void);


static ngx_helpdesk_pg_pool_t  ngx_helpdesk_pg_pool;


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
ngx_helpdesk_pg_param(ngx_helpdesk_pg_query_t *q, ngx_pool_t *pool,
    ngx_str_t *value)
{
    u_char  *p;

    if (q->nparams >= NGX_HELPDESK_PG_MAX_PARAMS) {
        q->overflow = 1;
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
        q->overflow = 1;
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

    if (q->overflow) {
        ngx_log_error(NGX_LOG_ALERT, q->log, 0,
                      "helpdesk postgres: more than %d parameters",
                      NGX_HELPDESK_PG_MAX_PARAMS);
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

static void
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


static ngx_msec_t
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


static ngx_int_t
ngx_helpdesk_pg_connect(void)
{
    PGconn                  *pg;
    ngx_helpdesk_pg_conn_t  *conn;
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    /*
     * Our defaults come before "dbname", which carries the configured
     * conninfo and is expanded in place: its keywords override ours.
     */
    /*
     * No connect_timeout: libpq does not enforce it on a non-blocking
     * connect; the pool's own timer bounds the whole attempt.
     */
    const char *keywords[] = {
        "options", "fallback_application_name", "keepalives",
        "dbname", NULL
    };
    const char *values[] = {
        pool->options, "nginx-helpdesk", "1",
        (const char *) pool->conf->conninfo.data, NULL
    };

    pg = PQconnectStartParams(keywords, values, 1);
    if (pg == NULL) {
        ngx_log_error(NGX_LOG_ALERT, pool->log, 0,
                      "helpdesk postgres: out of memory");
        return NGX_ERROR;
    }

    if (PQstatus(pg) == CONNECTION_BAD) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "helpdesk postgres: connect failed: %s",
                      PQerrorMessage(pg));
        PQfinish(pg);
        goto failed;
    }

    if (PQsetnonblocking(pg, 1) != 0) {
        PQfinish(pg);
        goto failed;
    }

    conn = ngx_calloc(sizeof(ngx_helpdesk_pg_conn_t), pool->log);
    if (conn == NULL) {
        PQfinish(pg);
        return NGX_ERROR;
    }

    conn->pg = pg;
    conn->fd = -1;
    conn->state = NGX_HELPDESK_PG_S_CONNECTING;
    pool->nconns++;

    if (ngx_helpdesk_pg_attach(conn) != NGX_OK) {
        ngx_helpdesk_pg_connect_failed(conn);
        return NGX_ERROR;
    }

    ngx_helpdesk_pg_want_write(conn, 1);
    ngx_add_timer(conn->c->read, pool->conf->timeout);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                   "helpdesk postgres: connecting conn:%p fd:%d",
                   conn, conn->fd);

    return NGX_OK;

failed:

    pool->down = 1;
    pool->backoff = NGX_HELPDESK_PG_BACKOFF_MIN;
    pool->retry_at = ngx_current_msec + pool->backoff;

    return NGX_ERROR;
}


static ngx_int_t
ngx_helpdesk_pg_attach(ngx_helpdesk_pg_conn_t *conn)
{
    int                      fd;
    ngx_connection_t        *c;
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    fd = PQsocket(conn->pg);
    if (fd == -1) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = conn;
    c->read->handler = ngx_helpdesk_pg_event;
    c->write->handler = ngx_helpdesk_pg_event;
    c->read->log = pool->log;
    c->write->log = pool->log;

    conn->c = c;
    conn->fd = fd;
    conn->ino = 0;
    (void) ngx_helpdesk_pg_same_socket(conn);

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_helpdesk_pg_detach(conn);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Forgets the nginx side of the socket.  The descriptor itself belongs to
 * libpq and is either already closed (it switched sockets) or about to be
 * closed by PQfinish(); closing removes it from epoll, hence
 * NGX_CLOSE_EVENT: no system call, just the bookkeeping.
 */

static void
ngx_helpdesk_pg_detach(ngx_helpdesk_pg_conn_t *conn)
{
    ngx_connection_t  *c = conn->c;

    if (c == NULL) {
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);

    conn->c = NULL;
    conn->fd = -1;
}


/*
 * Whether PQsocket() still names the socket we registered.  libpq may
 * close its socket and open another while connecting (the next host, or
 * a retry without SSL or GSS encryption), and the new one often gets the
 * same descriptor number; the kernel forgot the old registration when the
 * old socket closed, so the number alone would leave us waiting on events
 * that never come.  A socket's inode tells the two apart.  Records the
 * inode when there was none yet.
 */

static ngx_int_t
ngx_helpdesk_pg_same_socket(ngx_helpdesk_pg_conn_t *conn)
{
    int          fd;
    struct stat  st;

    fd = PQsocket(conn->pg);

    if (fd != conn->fd || fd == -1) {
        return 0;
    }

    if (fstat(fd, &st) == -1) {
        return 0;
    }

    if (conn->ino == 0) {
        conn->ino = st.st_ino;
        return 1;
    }

    return st.st_ino == conn->ino;
}


static void
ngx_helpdesk_pg_want_write(ngx_helpdesk_pg_conn_t *conn, ngx_uint_t on)
{
    ngx_event_t  *wev = conn->c->write;

    if (on && !wev->active) {
        (void) ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);

    } else if (!on && wev->active) {
        (void) ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_helpdesk_pg_event(ngx_event_t *ev)
{
    ngx_connection_t        *c = ev->data;
    ngx_helpdesk_pg_conn_t  *conn = c->data;

    if (ev->timedout) {
        ev->timedout = 0;

        if (conn->state == NGX_HELPDESK_PG_S_CONNECTING) {
            ngx_log_error(NGX_LOG_ERR, ngx_helpdesk_pg_pool.log, 0,
                          "helpdesk postgres: connect timed out");
            ngx_helpdesk_pg_connect_failed(conn);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ngx_helpdesk_pg_pool.log, 0,
                      "helpdesk postgres: query timed out");
        ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_TIMEOUT);
        return;
    }

    switch (conn->state) {

    case NGX_HELPDESK_PG_S_CONNECTING:
        ngx_helpdesk_pg_poll(conn);
        return;

    case NGX_HELPDESK_PG_S_BUSY:
        if (ev->write) {
            if (ngx_helpdesk_pg_flush(conn) != NGX_OK) {
                ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
            }

        } else {
            ngx_helpdesk_pg_read(conn);
        }
        return;

    case NGX_HELPDESK_PG_S_IDLE:

        if (c->close) {
            /* graceful shutdown closes idle connections */
            ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
            return;
        }

        if (ev->write) {
            ngx_helpdesk_pg_want_write(conn, 0);
            return;
        }

        /* an idle connection has nothing to read but notices and errors */

        if (!PQconsumeInput(conn->pg) || PQstatus(conn->pg) == CONNECTION_BAD)
        {
            ngx_log_error(NGX_LOG_WARN, ngx_helpdesk_pg_pool.log, 0,
                          "helpdesk postgres: idle connection lost: %s",
                          PQerrorMessage(conn->pg));
            ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
        }

        return;
    }
}


static void
ngx_helpdesk_pg_poll(ngx_helpdesk_pg_conn_t *conn)
{
    PostgresPollingStatusType  st;
    ngx_helpdesk_pg_pool_t    *pool = &ngx_helpdesk_pg_pool;

    st = PQconnectPoll(conn->pg);

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                   "helpdesk postgres: poll conn:%p fd:%d -> %d",
                   conn, PQsocket(conn->pg), (int) st);

    if (st != PGRES_POLLING_FAILED && !ngx_helpdesk_pg_same_socket(conn)) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                       "helpdesk postgres: conn:%p switched sockets", conn);

        ngx_helpdesk_pg_detach(conn);

        if (ngx_helpdesk_pg_attach(conn) != NGX_OK) {
            ngx_helpdesk_pg_connect_failed(conn);
            return;
        }

        ngx_add_timer(conn->c->read, pool->conf->timeout);
    }

    switch (st) {

    case PGRES_POLLING_READING:
        ngx_helpdesk_pg_want_write(conn, 0);
        return;

    case PGRES_POLLING_WRITING:
        ngx_helpdesk_pg_want_write(conn, 1);
        return;

    case PGRES_POLLING_OK:
        if (conn->c->read->timer_set) {
            ngx_del_timer(conn->c->read);
        }

        ngx_helpdesk_pg_want_write(conn, 0);

        if (pool->down) {
            ngx_log_error(NGX_LOG_NOTICE, pool->log, 0,
                          "helpdesk postgres: connection restored");
        }

        pool->down = 0;
        pool->backoff = 0;
        conn->state = NGX_HELPDESK_PG_S_IDLE;

        ngx_helpdesk_pg_ready(conn);
        return;

    default:
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "helpdesk postgres: connect failed: %s",
                      PQerrorMessage(conn->pg));
        ngx_helpdesk_pg_connect_failed(conn);
        return;
    }
}


static void
ngx_helpdesk_pg_connect_failed(ngx_helpdesk_pg_conn_t *conn)
{
    ngx_msec_t               jitter;
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    if (pool->backoff == 0) {
        pool->backoff = NGX_HELPDESK_PG_BACKOFF_MIN;

    } else {
        pool->backoff = ngx_min(pool->backoff * 2, NGX_HELPDESK_PG_BACKOFF_MAX);
    }

    /* up to 20% jitter, so that workers do not reconnect in step */
    jitter = (ngx_msec_t) ngx_random() % (pool->backoff / 5 + 1);

    pool->down = 1;
    pool->retry_at = ngx_current_msec + pool->backoff + jitter;

    ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
}


/*
 * A connection with nothing to do: give it to the oldest waiter, or keep
 * it for the next query.
 */

static ngx_helpdesk_pg_query_t *
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


static void
ngx_helpdesk_pg_ready(ngx_helpdesk_pg_conn_t *conn)
{
    ngx_helpdesk_pg_query_t  *q;
    ngx_helpdesk_pg_pool_t   *pool = &ngx_helpdesk_pg_pool;

    q = ngx_helpdesk_pg_backlog_pop();

    if (q) {
        ngx_helpdesk_pg_dispatch(conn, q);
        return;
    }

    if (ngx_exiting || !pool->ready) {
        ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
        return;
    }

    conn->c->idle = 1;
    conn->in_idle = 1;
    ngx_queue_insert_head(&pool->idle, &conn->queue);
}


static void
ngx_helpdesk_pg_dispatch(ngx_helpdesk_pg_conn_t *conn,
    ngx_helpdesk_pg_query_t *q)
{
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    conn->c->idle = 0;
    conn->state = NGX_HELPDESK_PG_S_BUSY;
    conn->query = q;
    q->conn = conn;

    if (!PQsendQueryParams(conn->pg, q->sql, q->nparams, NULL, q->values,
                           q->lengths, q->formats, q->result_format))
    {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "helpdesk postgres: send failed: %s",
                      PQerrorMessage(conn->pg));

        /* the statement never left: the caller may be told at once */
        conn->query = NULL;
        q->conn = NULL;
        ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
        ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
        return;
    }

    q->sent = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, pool->log, 0,
                   "helpdesk postgres: sent q:%p on conn:%p fd:%d",
                   q, conn, conn->fd);

    ngx_add_timer(conn->c->read, ngx_helpdesk_pg_client_timeout());

    /*
     * dispatch may run inside ngx_helpdesk_pg_run(): a failed first flush
     * is reported from the event loop, like every other failure there
     */
    if (ngx_helpdesk_pg_flush(conn) != NGX_OK) {
        /* the statement did not leave whole: nothing can have run */
        q->sent = 0;
        conn->query = NULL;
        q->conn = NULL;
        ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
        ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
    }
}


static ngx_int_t
ngx_helpdesk_pg_flush(ngx_helpdesk_pg_conn_t *conn)
{
    switch (PQflush(conn->pg)) {

    case 0:
        ngx_helpdesk_pg_want_write(conn, 0);
        return NGX_OK;

    case 1:
        ngx_helpdesk_pg_want_write(conn, 1);
        return NGX_OK;

    default:
        ngx_log_error(NGX_LOG_ERR, ngx_helpdesk_pg_pool.log, 0,
                      "helpdesk postgres: write failed: %s",
                      PQerrorMessage(conn->pg));
        return NGX_ERROR;
    }
}


static void
ngx_helpdesk_pg_read(ngx_helpdesk_pg_conn_t *conn)
{
    PGresult                 *res;
    ngx_helpdesk_pg_query_t  *q;

    if (!PQconsumeInput(conn->pg)) {
        ngx_log_error(NGX_LOG_ERR, ngx_helpdesk_pg_pool.log, 0,
                      "helpdesk postgres: read failed: %s",
                      PQerrorMessage(conn->pg));
        ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
        return;
    }

    while (!PQisBusy(conn->pg)) {

        res = PQgetResult(conn->pg);

        if (res != NULL) {
            if (conn->last) {
                PQclear(conn->last);
            }

            conn->last = res;
            continue;
        }

        /* all results are in: the connection may be reused */

        if (conn->c->read->timer_set) {
            ngx_del_timer(conn->c->read);
        }

        q = conn->query;
        res = conn->last;
        conn->query = NULL;
        conn->last = NULL;
        conn->state = NGX_HELPDESK_PG_S_IDLE;

        ngx_log_debug3(NGX_LOG_DEBUG_EVENT, ngx_helpdesk_pg_pool.log, 0,
                       "helpdesk postgres: answer on conn:%p for q:%p "
                       "res:%p", conn, q, res);

        if (PQtransactionStatus(conn->pg) == PQTRANS_IDLE) {
            ngx_helpdesk_pg_ready(conn);

        } else {
            ngx_helpdesk_pg_close(conn, NGX_HELPDESK_PG_UNAVAILABLE);
        }

        if (q == NULL) {
            /* its caller is gone (ngx_helpdesk_pg_cancel) */
            if (res) {
                PQclear(res);
            }

            return;
        }

        if (res == NULL) {
            ngx_helpdesk_pg_done(q, NGX_HELPDESK_PG_UNAVAILABLE, NULL);
            return;
        }

        ngx_helpdesk_pg_done(q, NGX_HELPDESK_PG_OK, res);
        PQclear(res);

        return;
    }
}


static void
ngx_helpdesk_pg_close(ngx_helpdesk_pg_conn_t *conn,
    ngx_helpdesk_pg_status_e status)
{
    ngx_helpdesk_pg_query_t  *q;
    ngx_helpdesk_pg_pool_t   *pool = &ngx_helpdesk_pg_pool;

    if (conn->in_idle) {
        ngx_queue_remove(&conn->queue);
        conn->in_idle = 0;
    }

    q = conn->query;
    conn->query = NULL;

    ngx_helpdesk_pg_detach(conn);

    if (conn->last) {
        PQclear(conn->last);
    }

    PQfinish(conn->pg);
    ngx_free(conn);
    pool->nconns--;

    if (q) {
        ngx_helpdesk_pg_done(q, status, NULL);
    }

    if (!ngx_queue_empty(&pool->backlog) && pool->nconns == 0) {

        if (pool->down || !pool->ready) {
            ngx_helpdesk_pg_fail_backlog();

        } else if (ngx_helpdesk_pg_connect() != NGX_OK) {
            ngx_helpdesk_pg_fail_backlog();
        }
    }
}


static void
ngx_helpdesk_pg_fail_backlog(void)
{
    ngx_helpdesk_pg_query_t  *q;

    while ((q = ngx_helpdesk_pg_backlog_pop()) != NULL) {
        ngx_helpdesk_pg_fail(q, NGX_HELPDESK_PG_UNAVAILABLE);
    }
}


/* Failures are reported from the event loop, never from inside a call. */

static void
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


/*
 * Parses a conninfo string at configuration time, so that "nginx -t"
 * names a bad keyword instead of the first request failing.
 */

char *
ngx_helpdesk_pg_conninfo_check(ngx_pool_t *pool, ngx_str_t *conninfo)
{
    char             *err, *msg;
    size_t            len;
    PQconninfoOption *opts;

    err = NULL;
    opts = PQconninfoParse((const char *) conninfo->data, &err);

    if (opts == NULL) {
        if (err == NULL) {
            return "out of memory";
        }

        len = ngx_strlen(err);
        msg = ngx_pnalloc(pool, len + 1);
        if (msg != NULL) {
            ngx_memcpy(msg, err, len + 1);

            while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
                msg[--len] = '\0';
            }
        }

        PQfreemem(err);
        return msg ? msg : "invalid conninfo";
    }

    msg = ngx_helpdesk_pg_conninfo_hosts(opts);
    PQconninfoFree(opts);

    return msg;
}


/*
 * libpq resolves a host name with a blocking getaddrinfo() inside
 * PQconnectStart(), which would stall the worker and every request on it.
 * So a host must be a unix socket directory or an IP address, or come with
 * hostaddr= (then libpq connects to the address and uses the name only to
 * check a certificate).  A service file could name hosts we cannot see.
 */

static char *
ngx_helpdesk_pg_conninfo_hosts(PQconninfoOption *opts)
{
    u_char            *p, *last, *comma;
    size_t             len;
    PQconninfoOption  *o;
    const char        *host, *hostaddr;
    u_char             addr[sizeof(struct in6_addr)];
    u_char             buf[NGX_SOCKADDR_STRLEN + 1];

    host = NULL;
    hostaddr = NULL;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "service") == 0) {
            return "\"service\" is not supported: name the server with "
                   "host= (a socket directory or an IP address)";
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;
        }
    }

    if (host == NULL || hostaddr != NULL) {
        return NULL;
    }

    p = (u_char *) host;
    last = p + ngx_strlen(host);

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        len = comma - p;

        if (len && *p != '/' && *p != '@') {

            if (len >= sizeof(buf)) {
                return "a host name would be resolved by a blocking call: "
                       "give an IP address or a unix socket directory in "
                       "host=, or add hostaddr=";
            }

            ngx_memcpy(buf, p, len);
            buf[len] = '\0';

            if (inet_pton(AF_INET, (char *) buf, addr) != 1
#if (NGX_HAVE_INET6)
                && inet_pton(AF_INET6, (char *) buf, addr) != 1
#endif
               )
            {
                return "a host name would be resolved by a blocking call: "
                       "give an IP address or a unix socket directory in "
                       "host=, or add hostaddr=";
            }
        }

        p = comma + 1;
    }

    return NULL;
}
