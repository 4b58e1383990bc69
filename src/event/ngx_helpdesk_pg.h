/*
 * A per-worker pool of non-blocking PostgreSQL connections driven by
 * nginx events.
 */

#ifndef _NGX_HELPDESK_PG_H_INCLUDED_
#define _NGX_HELPDESK_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <libpq-fe.h>


#define NGX_HELPDESK_PG_MAX_PARAMS  16


typedef enum {
    NGX_HELPDESK_PG_OK = 0,         /* the statement ran; see the result */
    NGX_HELPDESK_PG_UNAVAILABLE,    /* no connection could be had */
    NGX_HELPDESK_PG_BUSY,           /* pool and backlog are full */
    NGX_HELPDESK_PG_TIMEOUT         /* the statement did not finish in time */
} ngx_helpdesk_pg_status_e;


typedef struct {
    ngx_str_t                   conninfo;
    ngx_uint_t                  max;
    ngx_uint_t                  backlog;
    ngx_msec_t                  timeout;
    ngx_flag_t                  set;
} ngx_helpdesk_pg_conf_t;


typedef struct ngx_helpdesk_pg_query_s  ngx_helpdesk_pg_query_t;
typedef struct ngx_helpdesk_pg_conn_s   ngx_helpdesk_pg_conn_t;

/*
 * Called exactly once per query.  "res" is the statement's last result
 * (owned by the pool: copy what is needed, do not PQclear it), or NULL
 * when q->status is not NGX_HELPDESK_PG_OK.
 */
typedef void (*ngx_helpdesk_pg_handler_pt)(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


struct ngx_helpdesk_pg_query_s {
    const char                 *sql;
    int                         nparams;
    const char                 *values[NGX_HELPDESK_PG_MAX_PARAMS];
    int                         lengths[NGX_HELPDESK_PG_MAX_PARAMS];
    int                         formats[NGX_HELPDESK_PG_MAX_PARAMS];
    int                         result_format;  /* 1: binary results */

    ngx_helpdesk_pg_handler_pt  handler;
    void                       *data;
    ngx_log_t                  *log;

    /*
     * The pool of whoever waits for the answer (a request's r->pool), or
     * NULL for work that outlives requests.  When that pool is destroyed
     * first, the query is cancelled: its handler is never called and
     * nothing of the pool is touched again.
     */
    ngx_pool_t                 *owner;

    ngx_helpdesk_pg_status_e    status;

    /* pool internals */
    ngx_queue_t                 queue;
    ngx_event_t                 wait;
    ngx_helpdesk_pg_conn_t     *conn;
    unsigned                    active:1;       /* handler not yet called */
    unsigned                    sent:1;         /* reached a connection */
    unsigned                    in_backlog:1;
    unsigned                    owned:1;        /* cleanup registered */
    unsigned                    broken:1;       /* a parameter was lost */
};


ngx_int_t ngx_helpdesk_pg_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_pg_conf_t *conf);
void ngx_helpdesk_pg_exit_worker(void);

/*
 * Runs q on a pooled connection.  The handler is always called later,
 * never from inside this call.
 */
void ngx_helpdesk_pg_run(ngx_helpdesk_pg_query_t *q);

/*
 * Forgets q: its handler will not be called.  A statement already sent
 * still runs to its end on its connection, which is reused only once the
 * server is idle again.  Safe to call at any time, also twice.
 */
void ngx_helpdesk_pg_cancel(ngx_helpdesk_pg_query_t *q);

/*
 * Parameters: past NGX_HELPDESK_PG_MAX_PARAMS, or out of memory, they
 * return NGX_ERROR and the query fails when run, so a forgotten check can
 * neither write past the arrays nor send the others in the wrong places.
 */

/* A binary parameter (e.g. bytea), not copied: keep it alive. */
ngx_int_t ngx_helpdesk_pg_param_binary(ngx_helpdesk_pg_query_t *q, u_char *data,
    size_t len);

/* Seconds a client should wait before retrying after UNAVAILABLE. */
ngx_uint_t ngx_helpdesk_pg_retry_after(void);

ngx_int_t ngx_helpdesk_pg_param(ngx_helpdesk_pg_query_t *q, ngx_pool_t *pool,
    ngx_str_t *value);

/* The value at "row", "col" of "res" as a NUL-terminated copy from "pool". */
ngx_int_t ngx_helpdesk_pg_value(ngx_pool_t *pool, PGresult *res, int row,
    int col, ngx_str_t *to);

char *ngx_helpdesk_pg_conninfo_check(ngx_pool_t *pool, ngx_str_t *conninfo);


#endif /* _NGX_HELPDESK_PG_H_INCLUDED_ */
