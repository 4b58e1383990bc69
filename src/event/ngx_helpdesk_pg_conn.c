/*
 * PostgreSQL connections of the per-worker pool: connecting (libpq's
 * PQconnectPoll() on the socket's events), sending a statement, reading
 * its results, and closing.  The pool and the queries that use it are in
 * ngx_helpdesk_pg.c, whose opening comment describes the model.
 *
 * libpq owns the socket: PQfinish() closes it, we only free the nginx
 * connection record (never ngx_close_connection(), which would close the
 * descriptor twice).  Whether libpq switched sockets while connecting is
 * checked after every PQconnectPoll() (ngx_helpdesk_pg_same_socket()).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_pg.h"
#include "ngx_helpdesk_pg_int.h"


static void ngx_helpdesk_pg_event(ngx_event_t *ev);
static void ngx_helpdesk_pg_poll(ngx_helpdesk_pg_conn_t *conn);
static ngx_int_t ngx_helpdesk_pg_attach(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_detach(ngx_helpdesk_pg_conn_t *conn);
static ngx_int_t ngx_helpdesk_pg_same_socket(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_want_write(ngx_helpdesk_pg_conn_t *conn,
    ngx_uint_t on);
static ngx_int_t ngx_helpdesk_pg_flush(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_read(ngx_helpdesk_pg_conn_t *conn);
static void ngx_helpdesk_pg_connect_failed(ngx_helpdesk_pg_conn_t *conn);
static ngx_uint_t ngx_helpdesk_pg_large_params(ngx_helpdesk_pg_query_t *q);
static ngx_uint_t ngx_helpdesk_pg_large_result(PGresult *res);


/*
 * libpq grows a connection's buffers to the largest statement sent or
 * answer read on it, and never gives that memory back: a connection that
 * carried more than this (a 25 MB attachment, up or down) is closed once
 * answered, and the pool opens another when it needs one, rather than
 * keeping the memory for the worker's lifetime.
 */
#define NGX_HELPDESK_PG_RETIRE  (4 * 1024 * 1024)


ngx_int_t
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


void
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


void
ngx_helpdesk_pg_dispatch(ngx_helpdesk_pg_conn_t *conn,
    ngx_helpdesk_pg_query_t *q)
{
    ngx_helpdesk_pg_pool_t  *pool = &ngx_helpdesk_pg_pool;

    conn->c->idle = 0;
    conn->state = NGX_HELPDESK_PG_S_BUSY;
    conn->query = q;
    q->conn = conn;

    if (ngx_helpdesk_pg_large_params(q)) {
        conn->retire = 1;
    }

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

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, q->log, 0,
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

        ngx_log_debug3(NGX_LOG_DEBUG_EVENT,
                       q ? q->log : ngx_helpdesk_pg_pool.log, 0,
                       "helpdesk postgres: answer on conn:%p for q:%p "
                       "res:%p", conn, q, res);

        if (res && ngx_helpdesk_pg_large_result(res)) {
            conn->retire = 1;
        }

        if (PQtransactionStatus(conn->pg) == PQTRANS_IDLE && !conn->retire) {
            ngx_helpdesk_pg_ready(conn);

        } else {
            if (conn->retire) {
                ngx_log_debug1(NGX_LOG_DEBUG_EVENT, ngx_helpdesk_pg_pool.log,
                               0, "helpdesk postgres: conn:%p retired after "
                               "a large statement", conn);
            }

            /* (the result outlives the connection: PQfinish() leaves it) */
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


void
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


static ngx_uint_t
ngx_helpdesk_pg_large_params(ngx_helpdesk_pg_query_t *q)
{
    int     i;
    size_t  n;

    n = ngx_strlen(q->sql);

    for (i = 0; i < q->nparams; i++) {
        n += q->lengths[i];
    }

    return n > NGX_HELPDESK_PG_RETIRE;
}


static ngx_uint_t
ngx_helpdesk_pg_large_result(PGresult *res)
{
    int     i, j, rows, cols;
    size_t  n;

    rows = PQntuples(res);
    cols = PQnfields(res);
    n = 0;

    for (i = 0; i < rows; i++) {
        for (j = 0; j < cols; j++) {
            n += PQgetlength(res, i, j);
        }

        if (n > NGX_HELPDESK_PG_RETIRE) {
            return 1;
        }
    }

    return 0;
}
