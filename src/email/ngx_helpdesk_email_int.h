/*
 * Between the email runner (ngx_helpdesk_email_out.c) and its DKIM keys
 * (ngx_helpdesk_email_dkim.c).
 */

#ifndef _NGX_HELPDESK_EMAIL_INT_H_INCLUDED_
#define _NGX_HELPDESK_EMAIL_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_helpdesk_email_out.h"
#include "event/ngx_helpdesk_pg.h"


typedef struct {
    ngx_helpdesk_email_conf_t  *conf;
    ngx_log_t                  *log;
    ngx_event_t                 tick;
    ngx_thread_pool_t          *tp;
    ngx_pool_t                 *pool;
    ngx_helpdesk_pg_query_t     claim;
    ngx_helpdesk_pg_query_t     wanted;
    ngx_uint_t                  inflight;
    ngx_uint_t                  asked;
    ngx_uint_t                  ticks;
    ngx_uint_t                  keys;       /* generating */
    size_t                      files;      /* in flight: see _FILES_MAX */
    unsigned                    claiming:1;
    unsigned                    wanting:1;
    unsigned                    ready:1;
} ngx_helpdesk_email_runner_t;


extern ngx_helpdesk_email_runner_t  ngx_helpdesk_email_runner;

/* the first parameter of every statement of the runner: its proof */
void ngx_helpdesk_email_proof(ngx_helpdesk_pg_query_t *q);

/* looks for tenants that need a DKIM key, and makes theirs */
void ngx_helpdesk_email_want_keys(void);


#endif /* _NGX_HELPDESK_EMAIL_INT_H_INCLUDED_ */
