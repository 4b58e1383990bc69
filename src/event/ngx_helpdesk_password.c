/*
 * Password hashing in an nginx thread pool.
 *
 * The hashes themselves (their stored form, scrypt, the comparison) are
 * lib/ngx_helpdesk_scrypt.c's.  With ln=15 and r=8 one hash needs 32 MiB
 * and about a tenth of a second of CPU: far too slow for an event loop,
 * which is why the work is posted to a thread pool and its result handed
 * back to the loop as an event.  The caller keeps its request (and so the
 * pool the task lives in) alive until the handler has run.
 *
 * Each worker counts its tasks queued or running: past the queue's size
 * a new one is refused (NGX_BUSY, the caller answers 503), and anything
 * but a login's check gets half of the places at most, so that the other
 * half is always there for people logging in.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_helpdesk_password.h"
#include "lib/ngx_helpdesk_scrypt.h"


typedef struct {
    /* in */
    u_char                          password[NGX_HELPDESK_PASSWORD_MAX];
    size_t                          password_len;
    ngx_helpdesk_scrypt_t           scrypt;
    ngx_flag_t                      check;
    ngx_flag_t                      dummy;

    /* out */
    ngx_int_t                       rc;

    ngx_pool_t                     *pool;
    ngx_thread_task_t              *task;
    ngx_helpdesk_password_class_e   cls;
    ngx_helpdesk_password_done_pt   done;
    void                           *data;
} ngx_helpdesk_password_ctx_t;


static void ngx_helpdesk_password_thread(void *data, ngx_log_t *log);
static void ngx_helpdesk_password_event(ngx_event_t *ev);
static ngx_int_t ngx_helpdesk_password_alloc(ngx_pool_t *pool, ngx_log_t *log,
    ngx_helpdesk_password_ctx_t **out, ngx_helpdesk_password_class_e cls,
    ngx_helpdesk_password_done_pt done, void *data);
static ngx_int_t ngx_helpdesk_password_post(ngx_helpdesk_password_ctx_t *pc);


static ngx_str_t           ngx_helpdesk_password_pool_name;
static ngx_thread_pool_t  *ngx_helpdesk_password_tp;
static ngx_uint_t          ngx_helpdesk_password_queue =
                               NGX_HELPDESK_PASSWORD_QUEUE;

/* this worker's tasks queued or running, by class */
static ngx_uint_t          ngx_helpdesk_password_busy[2];


char *
ngx_helpdesk_password_pool(ngx_conf_t *cf, ngx_str_t *name, ngx_uint_t queue)
{
    if (ngx_thread_pool_add(cf, name) == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_helpdesk_password_pool_name = *name;
    ngx_helpdesk_password_queue = queue;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_helpdesk_password_init_worker(ngx_cycle_t *cycle)
{
    if (ngx_helpdesk_password_pool_name.len == 0) {
        return NGX_OK;
    }

    ngx_helpdesk_password_tp = ngx_thread_pool_get(cycle,
                                   &ngx_helpdesk_password_pool_name);
    if (ngx_helpdesk_password_tp == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "helpdesk: thread pool \"%V\" not found",
                      &ngx_helpdesk_password_pool_name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the same pool, for the module's other work that must leave the loop */
ngx_thread_pool_t *
ngx_helpdesk_thread_pool(void)
{
    return ngx_helpdesk_password_tp;
}


ngx_int_t
ngx_helpdesk_password_hash(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *password, ngx_helpdesk_password_class_e cls,
    ngx_helpdesk_password_done_pt done, void *data)
{
    ngx_int_t                     rc;
    ngx_helpdesk_password_ctx_t  *pc;

    if (password->len > NGX_HELPDESK_PASSWORD_MAX) {
        return NGX_DECLINED;
    }

    rc = ngx_helpdesk_password_alloc(pool, log, &pc, cls, done, data);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memcpy(pc->password, password->data, password->len);
    pc->password_len = password->len;

    if (ngx_helpdesk_scrypt_new(&pc->scrypt) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_helpdesk_password_post(pc);
}


ngx_int_t
ngx_helpdesk_password_check(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *password, ngx_str_t *stored, ngx_helpdesk_password_class_e cls,
    ngx_helpdesk_password_done_pt done, void *data)
{
    ngx_int_t                     rc;
    ngx_helpdesk_password_ctx_t  *pc;

    rc = ngx_helpdesk_password_alloc(pool, log, &pc, cls, done, data);
    if (rc != NGX_OK) {
        return rc;
    }

    pc->check = 1;
    pc->password_len = ngx_min(password->len, NGX_HELPDESK_PASSWORD_MAX);
    ngx_memcpy(pc->password, password->data, pc->password_len);

    /* the same work either way: an unknown account takes as long */
    if (stored == NULL || stored->len == 0
        || ngx_helpdesk_scrypt_parse(stored, &pc->scrypt) != NGX_OK)
    {
        pc->dummy = 1;
        ngx_helpdesk_scrypt_dummy(&pc->scrypt);
    }

    return ngx_helpdesk_password_post(pc);
}


static ngx_int_t
ngx_helpdesk_password_post(ngx_helpdesk_password_ctx_t *pc)
{
    if (ngx_thread_task_post(ngx_helpdesk_password_tp, pc->task) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_helpdesk_password_busy[pc->cls]++;

    return NGX_OK;
}


/* The task, in the caller's pool; its handler runs on the event loop. */
static ngx_int_t
ngx_helpdesk_password_alloc(ngx_pool_t *pool, ngx_log_t *log,
    ngx_helpdesk_password_ctx_t **out, ngx_helpdesk_password_class_e cls,
    ngx_helpdesk_password_done_pt done, void *data)
{
    ngx_uint_t                    busy;
    ngx_thread_task_t            *task;
    ngx_helpdesk_password_ctx_t  *pc;

    if (ngx_helpdesk_password_tp == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "helpdesk: no thread pool for password hashing");
        return NGX_ERROR;
    }

    busy = ngx_helpdesk_password_busy[NGX_HELPDESK_PASSWORD_LOGIN]
           + ngx_helpdesk_password_busy[NGX_HELPDESK_PASSWORD_OTHER];

    if (busy >= ngx_helpdesk_password_queue
        || (cls == NGX_HELPDESK_PASSWORD_OTHER
            && ngx_helpdesk_password_busy[cls]
               >= (ngx_helpdesk_password_queue + 1) / 2))
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "helpdesk: password queue full (%ui tasks)", busy);
        return NGX_BUSY;
    }

    task = ngx_thread_task_alloc(pool, sizeof(ngx_helpdesk_password_ctx_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    pc = task->ctx;
    ngx_memzero(pc, sizeof(ngx_helpdesk_password_ctx_t));
    pc->pool = pool;
    pc->cls = cls;
    pc->done = done;
    pc->data = data;
    pc->task = task;

    task->handler = ngx_helpdesk_password_thread;
    task->event.handler = ngx_helpdesk_password_event;
    task->event.data = task;
    task->event.log = log;

    *out = pc;

    return NGX_OK;
}


static void
ngx_helpdesk_password_thread(void *data, ngx_log_t *log)
{
    ngx_helpdesk_password_ctx_t  *pc = data;

    if (!pc->check) {
        pc->rc = ngx_helpdesk_scrypt_derive(&pc->scrypt, pc->password,
                                            pc->password_len, pc->scrypt.key);
        return;
    }

    pc->rc = ngx_helpdesk_scrypt_verify(&pc->scrypt, pc->password,
                                        pc->password_len);

    if (pc->rc == NGX_OK && pc->dummy) {
        pc->rc = NGX_DECLINED;
    }
}


static void
ngx_helpdesk_password_event(ngx_event_t *ev)
{
    ngx_str_t                     hash;
    ngx_thread_task_t            *task = ev->data;
    ngx_helpdesk_password_ctx_t  *pc = task->ctx;

    ngx_explicit_memzero(pc->password, sizeof(pc->password));
    ngx_helpdesk_password_busy[pc->cls]--;

    if (pc->rc != NGX_OK || pc->check) {
        pc->done(pc->data, pc->rc, NULL);
        return;
    }

    if (ngx_helpdesk_scrypt_format(pc->pool, &pc->scrypt, &hash) != NGX_OK) {
        pc->done(pc->data, NGX_ERROR, NULL);
        return;
    }

    pc->done(pc->data, NGX_OK, &hash);
}
