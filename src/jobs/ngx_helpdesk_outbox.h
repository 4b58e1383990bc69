/*
 * The outbox runner: delivers what the helpdesk must send to the world.
 */

#ifndef _NGX_HELPDESK_OUTBOX_H_INCLUDED_
#define _NGX_HELPDESK_OUTBOX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "lib/ngx_helpdesk_secret.h"


typedef struct {
    ngx_msec_t      interval;       /* how often a worker looks for work */
    ngx_uint_t      batch;          /* deliveries in flight per worker */
    ngx_msec_t      timeout;        /* one delivery attempt */
    ngx_uint_t      attempts;       /* then the delivery is dead */
    ngx_msec_t      backoff;        /* first retry delay, doubled each time */
    ngx_msec_t      max_backoff;
    ngx_uint_t      disable_after;  /* consecutive failures of an endpoint */
    ngx_msec_t      health;         /* how often connections are checked */

    /*
     * The runner's proof to the database, "\\x" and the hex SHA-256 of the
     * provider key (see rest.module_proof): the outbox's entry points
     * hand out every tenant's secrets and refuse a caller without it.
     * Empty: no provider key is configured, and the runner does not start.
     */
    u_char          proof[2 + 64 + 1];

    /* the hosts a provider's media URLs may name (ngx_str_t) */
    ngx_array_t    *media_hosts;
    ngx_helpdesk_secret_ring_t  *secrets;   /* NULL: none configured */
} ngx_helpdesk_outbox_conf_t;


ngx_int_t ngx_helpdesk_outbox_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_outbox_conf_t *conf);
void ngx_helpdesk_outbox_exit_worker(void);

char *ngx_helpdesk_outbox_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_outbox_conf_t *conf);
void ngx_helpdesk_outbox_defaults(ngx_helpdesk_outbox_conf_t *conf);


#endif /* _NGX_HELPDESK_OUTBOX_H_INCLUDED_ */
