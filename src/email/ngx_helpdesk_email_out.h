/*
 * The email runner: sends the outbox's mails by SMTP.
 */

#ifndef _NGX_HELPDESK_EMAIL_OUT_H_INCLUDED_
#define _NGX_HELPDESK_EMAIL_OUT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_thread_pool.h>

#include "jobs/ngx_helpdesk_outbox.h"


typedef struct {
    /* the provider's relay (helpdesk_smtp); url.len == 0: none */
    ngx_str_t                    url;
    ngx_str_t                    user;
    ngx_str_t                    password;
    ngx_str_t                    from;      /* for tenants without one */
    ngx_str_t                    ca_file;   /* its CA, if not a public one */
    ngx_flag_t                   set;

    /* a Microsoft 365 or Gmail mailbox's SMTP: helpdesk_email_fetch's CA */
    ngx_str_t                    oauth_ca_file;

    ngx_str_t                    thread_pool;
    ngx_helpdesk_outbox_conf_t  *outbox;    /* timing, proof, secrets */
} ngx_helpdesk_email_conf_t;


char *ngx_helpdesk_email_smtp_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_email_conf_t *conf);
ngx_int_t ngx_helpdesk_email_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_email_conf_t *conf);
void ngx_helpdesk_email_exit_worker(void);


#endif /* _NGX_HELPDESK_EMAIL_OUT_H_INCLUDED_ */
