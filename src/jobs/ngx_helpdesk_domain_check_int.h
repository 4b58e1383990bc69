/*
 * The DNS check of tenants' own domains: its batch and one name's check,
 * shared by the job (ngx_helpdesk_domain_check.c) and the rules of its
 * gates (ngx_helpdesk_domain_check_gates.c).
 */

#ifndef _NGX_HELPDESK_DOMAIN_CHECK_INT_H_INCLUDED_
#define _NGX_HELPDESK_DOMAIN_CHECK_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_domain_check.h"
#include "event/ngx_helpdesk_pg.h"
#include "event/ngx_helpdesk_dns_client.h"


#define NGX_HELPDESK_DC_A       0
#define NGX_HELPDESK_DC_AAAA    1
#define NGX_HELPDESK_DC_TXT     2
#define NGX_HELPDESK_DC_CAA     3
#define NGX_HELPDESK_DC_GATES   4

/* the CAA levels a lease is sized for (a deeper walk may outlive it) */
#define NGX_HELPDESK_DC_LEVELS  6


typedef struct ngx_helpdesk_dc_s  ngx_helpdesk_dc_t;

typedef struct {
    ngx_helpdesk_dc_t         *job;
    ngx_str_t                  tenant;
    ngx_str_t                  host;
    ngx_str_t                  target;      /* t-<tenant>.<zone> */
    ngx_str_t                  txt_name;
    ngx_str_t                  txt_value;
    ngx_str_t                  lease;

    ngx_helpdesk_dns_query_t  *q[NGX_HELPDESK_DC_GATES];
    ngx_str_t                  error[NGX_HELPDESK_DC_GATES];
    ngx_uint_t                 pending;     /* questions not answered */

    ngx_uint_t                 addresses;
    ngx_str_t                  elsewhere;   /* the first address not ours */
    ngx_str_t                  caa_name;    /* the level asked */
    ngx_str_t                  caa_forbids;

    ngx_helpdesk_pg_query_t    query;
    unsigned                   proven:1;
    unsigned                   writing:1;
} ngx_helpdesk_dc_check_t;


struct ngx_helpdesk_dc_s {
    ngx_helpdesk_domain_check_conf_t  *conf;
    ngx_log_t                         *log;
    ngx_event_t                        tick;
    ngx_pool_t                        *pool;        /* of the batch */
    ngx_helpdesk_pg_query_t            query;       /* the claim */
    ngx_helpdesk_dc_check_t            checks[NGX_HELPDESK_DOMAIN_CHECK_BATCH];
    ngx_uint_t                         nchecks;
    ngx_uint_t                         running;     /* not yet written */
    ngx_uint_t                         limit;       /* of the claim */
    ngx_array_t                       *caa;         /* of the batch */
    unsigned                           claiming:1;
};


/* ngx_helpdesk_domain_check_gates.c */
void ngx_helpdesk_dc_addresses(ngx_helpdesk_dc_check_t *c,
    ngx_helpdesk_dns_answer_t *ans);
ngx_int_t ngx_helpdesk_dc_caa(ngx_helpdesk_dc_check_t *c,
    ngx_helpdesk_dns_answer_t *ans);


#endif /* _NGX_HELPDESK_DOMAIN_CHECK_INT_H_INCLUDED_ */
