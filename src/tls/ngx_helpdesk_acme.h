/*
 * The module's ACME client (RFC 8555): its configuration (helpdesk_acme),
 * the order job's start and stop, and the plain-HTTP handler that answers
 * the CA's HTTP-01 requests and redirects served names to https.
 */

#ifndef _NGX_HELPDESK_ACME_H_INCLUDED_
#define _NGX_HELPDESK_ACME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "lib/ngx_helpdesk_secret.h"


typedef struct {
    ngx_flag_t                  set;
    ngx_str_t                   directory;      /* NUL-terminated */
    ngx_str_t                   contact;        /* an address, no mailto: */
    ngx_str_t                   ca_bundle;      /* NUL-terminated, or empty */
    ngx_msec_t                  interval;
    ngx_uint_t                  concurrency;    /* orders in flight/worker */
    ngx_uint_t                  orders;         /* new orders per ... */
    ngx_msec_t                  orders_period;
    ngx_uint_t                  name_failures;  /* failed authz per name */
    ngx_msec_t                  name_period;
    ngx_msec_t                  timeout;        /* one request to the CA */

    /* set at configuration's end */
    ngx_str_t                   proof;          /* rest.module_proof's */
    ngx_helpdesk_secret_ring_t *secrets;
    ngx_flag_t                  dns_checks;     /* the DNS check job runs */
} ngx_helpdesk_acme_conf_t;


/* "name=value" parameters of helpdesk_acme after directory= and contact= */
char *ngx_helpdesk_acme_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_acme_conf_t *conf);
void ngx_helpdesk_acme_defaults(ngx_helpdesk_acme_conf_t *conf);

ngx_int_t ngx_helpdesk_acme_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_acme_conf_t *conf);
void ngx_helpdesk_acme_exit_worker(void);

/* the content handler of helpdesk_acme_challenge (port 80) */
ngx_int_t ngx_http_helpdesk_acme_challenge_handler(ngx_http_request_t *r);

/* whether an HTTP-01 token has the form the module answers for */
ngx_flag_t ngx_helpdesk_acme_token_valid(u_char *p, size_t len);


#endif /* _NGX_HELPDESK_ACME_H_INCLUDED_ */
