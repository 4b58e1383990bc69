/*
 * A per-worker Redis client: hiredis' async API on nginx events.
 */

#ifndef _NGX_HELPDESK_REDIS_H_INCLUDED_
#define _NGX_HELPDESK_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HELPDESK_REDIS_MAX_ARGS  12


typedef enum {
    NGX_HELPDESK_REDIS_OK = 0,
    NGX_HELPDESK_REDIS_UNAVAILABLE,
    NGX_HELPDESK_REDIS_TIMEOUT
} ngx_helpdesk_redis_status_e;


typedef struct {
    ngx_str_t                   addr;       /* as written in the directive */
    ngx_str_t                   path;       /* unix socket path, or empty */
    ngx_str_t                   host;       /* IP address, null-terminated */
    ngx_uint_t                  port;
    ngx_msec_t                  timeout;
    ngx_flag_t                  set;
} ngx_helpdesk_redis_conf_t;


typedef struct ngx_helpdesk_redis_cmd_s  ngx_helpdesk_redis_cmd_t;

/*
 * Called exactly once per command, never from inside
 * ngx_helpdesk_redis_run().  "reply" is NULL unless cmd->status is
 * NGX_HELPDESK_REDIS_OK; it is freed after the handler returns.
 */
typedef void (*ngx_helpdesk_redis_handler_pt)(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);


struct ngx_helpdesk_redis_cmd_s {
    int                             argc;
    const char                     *argv[NGX_HELPDESK_REDIS_MAX_ARGS];
    size_t                          argvlen[NGX_HELPDESK_REDIS_MAX_ARGS];

    ngx_helpdesk_redis_handler_pt   handler;
    void                           *data;
    ngx_log_t                      *log;

    /*
     * The pool of whoever waits for the reply (a request's r->pool), or
     * NULL.  When that pool is destroyed first, the command is cancelled.
     */
    ngx_pool_t                     *owner;

    ngx_helpdesk_redis_status_e     status;

    /* client internals */
    ngx_event_t                     timer;
    void                           *slot;
    unsigned                        active:1;
    unsigned                        owned:1;
    unsigned                        overflow:1;
};


ngx_int_t ngx_helpdesk_redis_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_redis_conf_t *conf);
void ngx_helpdesk_redis_exit_worker(void);

/* Past NGX_HELPDESK_REDIS_MAX_ARGS the command fails when run. */
void ngx_helpdesk_redis_arg(ngx_helpdesk_redis_cmd_t *cmd, u_char *data,
    size_t len);
void ngx_helpdesk_redis_run(ngx_helpdesk_redis_cmd_t *cmd);

/*
 * Forgets cmd: its handler will not be called and its timer is gone; a
 * reply that still comes is dropped.  Safe at any time, also twice.
 */
void ngx_helpdesk_redis_cancel(ngx_helpdesk_redis_cmd_t *cmd);
ngx_uint_t ngx_helpdesk_redis_retry_after(void);
ngx_flag_t ngx_helpdesk_redis_configured(void);

char *ngx_helpdesk_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_redis_conf_t *conf);


#endif /* _NGX_HELPDESK_REDIS_H_INCLUDED_ */
