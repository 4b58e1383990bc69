/*
 * Between the email runner (ngx_helpdesk_email_out.c: the ticks and the
 * claim), one claimed mail (ngx_helpdesk_email_send.c: built, sent,
 * recorded) and the DKIM keys (ngx_helpdesk_email_dkim.c).
 */

#ifndef _NGX_HELPDESK_EMAIL_INT_H_INCLUDED_
#define _NGX_HELPDESK_EMAIL_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_helpdesk_email_out.h"
#include "event/ngx_helpdesk_pg.h"


/* api.email_claim()'s columns, read by number in ngx_helpdesk_email_start() */
enum {
    COL_TENANT = 0, COL_OUTBOX, COL_DELIVERY, COL_EVENT, COL_RCPT,
    COL_SUBJECT, COL_TEXT, COL_HTML, COL_FROM_NAME, COL_FROM, COL_REPLY_TO,
    COL_DKIM_SELECTOR, COL_DKIM_KEY, COL_DKIM_AAD, COL_SMTP_URL,
    COL_SMTP_USER, COL_SMTP_PASSWORD, COL_SMTP_AAD, COL_CC, COL_IN_REPLY_TO,
    COL_REFS, COL_HUMAN, COL_FILES, COL_BEARER, COL_N
};


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

/* a claimed mail (the claim's row "row") built, sent and recorded */
void ngx_helpdesk_email_start(PGresult *res, int row);


#endif /* _NGX_HELPDESK_EMAIL_INT_H_INCLUDED_ */
