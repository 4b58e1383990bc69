/*
 * What the files of the PostgreSQL pool share: the pool, its connections,
 * and the steps one file calls in the other.  Not for use outside
 * src/event/ngx_helpdesk_pg*.c.
 */

#ifndef _NGX_HELPDESK_PG_INT_H_INCLUDED_
#define _NGX_HELPDESK_PG_INT_H_INCLUDED_


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
    unsigned                    retire:1;   /* closed once answered */
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


extern ngx_helpdesk_pg_pool_t  ngx_helpdesk_pg_pool;


/* ngx_helpdesk_pg_conn.c */
ngx_int_t ngx_helpdesk_pg_connect(void);
void ngx_helpdesk_pg_ready(ngx_helpdesk_pg_conn_t *conn);
void ngx_helpdesk_pg_dispatch(ngx_helpdesk_pg_conn_t *conn,
    ngx_helpdesk_pg_query_t *q);
void ngx_helpdesk_pg_close(ngx_helpdesk_pg_conn_t *conn,
    ngx_helpdesk_pg_status_e status);

/* ngx_helpdesk_pg.c */
ngx_msec_t ngx_helpdesk_pg_client_timeout(void);
void ngx_helpdesk_pg_done(ngx_helpdesk_pg_query_t *q,
    ngx_helpdesk_pg_status_e status, PGresult *res);
void ngx_helpdesk_pg_fail(ngx_helpdesk_pg_query_t *q,
    ngx_helpdesk_pg_status_e status);
ngx_helpdesk_pg_query_t *ngx_helpdesk_pg_backlog_pop(void);
void ngx_helpdesk_pg_fail_backlog(void);


#endif /* _NGX_HELPDESK_PG_INT_H_INCLUDED_ */
