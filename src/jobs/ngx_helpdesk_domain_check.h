/*
 * The DNS check of tenants' own domains: every worker claims a few
 * domains that are due (a lease in PostgreSQL, SKIP LOCKED), asks DNS
 * whether each passes the gates before a certificate may be ordered (the
 * proof, the name reaching the provider's edge, CAA) and writes what it
 * found.  See ngx_helpdesk_domain_check.c.
 */

#ifndef _NGX_HELPDESK_DOMAIN_CHECK_H_INCLUDED_
#define _NGX_HELPDESK_DOMAIN_CHECK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* domains one worker checks at once (each asks at most 4 questions) */
#define NGX_HELPDESK_DOMAIN_CHECK_BATCH  8


typedef struct {
    ngx_array_t     *edge4;         /* of in_addr_t: the edge's addresses */
    ngx_array_t     *edge6;         /* of struct in6_addr */
    ngx_array_t     *servers;       /* of ngx_addr_t: the resolvers */
    ngx_array_t     *caa;           /* of ngx_str_t: CA identities, lower case */
    ngx_flag_t       caa_default;   /* no caa=: the ACME directories' own
                                       identities when they publish any */
    ngx_msec_t       timeout;       /* of one try */
    ngx_msec_t       interval;      /* the tick */

    /* set by the worker: "\\x" and the provider key's hash, or empty */
    u_char          *proof;
    ngx_flag_t       enabled;       /* edge= given */
} ngx_helpdesk_domain_check_conf_t;


ngx_int_t ngx_helpdesk_domain_check_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_domain_check_conf_t *conf);
void ngx_helpdesk_domain_check_exit_worker(void);


#endif /* _NGX_HELPDESK_DOMAIN_CHECK_H_INCLUDED_ */
