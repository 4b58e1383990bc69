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

/* tasks a worker may have queued or running, by default */
#define NGX_HELPDESK_PASSWORD_QUEUE  32


/*
 * Who asks: checking a password at login may use every place of the
 * worker's queue; anything else (hashing for a sign-up, a reset or a new
 * password) half of them at most, so that a flood of anonymous sign-ups
 * cannot keep people from logging in.
 */
typedef enum {
    NGX_HELPDESK_PASSWORD_LOGIN = 0,
    NGX_HELPDESK_PASSWORD_OTHER
} ngx_helpdesk_password_class_e;


/*
 * Called on the event loop once the work is done.  For a hash, rc is
 * NGX_OK and "hash" the encoded result (in the caller's pool); for a
 * check, rc is NGX_OK when the password matches, NGX_DECLINED when it
 * does not; NGX_ERROR when the work could not be done.
 */
typedef void (*ngx_helpdesk_password_done_pt)(void *data, ngx_int_t rc,
    ngx_str_t *hash);


/*
 * Hashes "password" with a new random salt.  Both calls answer NGX_BUSY,
 * without posting anything, when the worker's queue has no place for the
 * class of the caller.
 */
ngx_int_t ngx_helpdesk_password_hash(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *password, ngx_helpdesk_password_class_e cls,
    ngx_helpdesk_password_done_pt done, void *data);

/*
 * Checks "password" against "stored"; with no stored hash (an unknown
 * account) the same work is done against a fixed one, so that the answer
 * takes as long either way, and the result is NGX_DECLINED.
 */
ngx_int_t ngx_helpdesk_password_check(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *password, ngx_str_t *stored, ngx_helpdesk_password_class_e cls,
    ngx_helpdesk_password_done_pt done, void *data);

/*
 * The thread pool to use, named by helpdesk_thread_pool (configuration),
 * and the places of each worker's queue (queue=).
 */
char *ngx_helpdesk_password_pool(ngx_conf_t *cf, ngx_str_t *name,
    ngx_uint_t queue);
ngx_int_t ngx_helpdesk_password_init_worker(ngx_cycle_t *cycle);

/*
 * The thread pool of helpdesk_thread_pool (NULL before a worker's start or
 * without one), for other work that must not run on the event loop: the
 * parsing of mail (src/email/).
 */
struct ngx_thread_pool_s *ngx_helpdesk_thread_pool(void);


#endif /* _NGX_HELPDESK_PASSWORD_H_INCLUDED_ */
