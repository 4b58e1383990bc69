/*
 * Password hashing with scrypt (memory-hard), computed in an nginx thread
 * pool so that a worker's event loop never waits for it.
 */

#ifndef _NGX_HELPDESK_PASSWORD_H_INCLUDED_
#define _NGX_HELPDESK_PASSWORD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HELPDESK_PASSWORD_MIN  8
#define NGX_HELPDESK_PASSWORD_MAX  1024


/*
 * Called on the event loop once the work is done.  For a hash, rc is
 * NGX_OK and "hash" the encoded result (in the caller's pool); for a
 * check, rc is NGX_OK when the password matches, NGX_DECLINED when it
 * does not; NGX_ERROR when the work could not be done.
 */
typedef void (*ngx_helpdesk_password_done_pt)(void *data, ngx_int_t rc,
    ngx_str_t *hash);


/* Hashes "password" with a new random salt. */
ngx_int_t ngx_helpdesk_password_hash(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *password, ngx_helpdesk_password_done_pt done, void *data);

/*
 * Checks "password" against "stored"; with no stored hash (an unknown
 * account) the same work is done against a fixed one, so that the answer
 * takes as long either way, and the result is NGX_DECLINED.
 */
ngx_int_t ngx_helpdesk_password_check(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *password, ngx_str_t *stored,
    ngx_helpdesk_password_done_pt done, void *data);

/* The thread pool to use, named by helpdesk_thread_pool (configuration). */
char *ngx_helpdesk_password_pool(ngx_conf_t *cf, ngx_str_t *name);
ngx_int_t ngx_helpdesk_password_init_worker(ngx_cycle_t *cycle);


#endif /* _NGX_HELPDESK_PASSWORD_H_INCLUDED_ */
