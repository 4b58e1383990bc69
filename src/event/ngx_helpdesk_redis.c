/*
 * Redis on the nginx event loop.
 *
 * hiredis' async context does the protocol, on nginx events
 * (ngx_helpdesk_redis_event.c); this file adds what hiredis lacks:
 *
 *  - a timeout on every command: the caller hears back on time even when
 *    the server hangs; a timed out command detaches from its caller (the
 *    reply, if it ever comes, is dropped) and the connection is dropped,
 *    since a server that misses one deadline is likely to miss the next;
 *  - reconnect with exponential backoff and jitter, on a cancelable timer,
 *    so that workers do not reconnect in step and shutdown never waits;
 *  - fail fast while disconnected: commands get UNAVAILABLE at once
 *    instead of queueing behind a dead server.
 *
 * hiredis' callbacks receive a small heap "slot" rather than the caller's
 * command, because a request that timed out may be gone when hiredis
 * finally calls back.  A command that belongs to a request is cancelled
 * by a cleanup of the request's pool: nginx may end a request before the
 * reply comes, and then the slot is emptied and the timer deleted, so
 * nothing ever reaches into the freed request.
 *
 * Addresses are IPs or unix sockets, checked at configuration time: hiredis
 * would resolve a name with a blocking getaddrinfo().
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_redis.h"
#include "ngx_helpdesk_redis_event.h"


typedef enum {
    NGX_HELPDESK_REDIS_DISCONNECTED = 0,
    NGX_HELPDESK_REDIS_CONNECTING,
    NGX_HELPDESK_REDIS_CONNECTED
} ngx_helpdesk_redis_state_e;


typedef struct {
    ngx_helpdesk_redis_cmd_t   *cmd;        /* NULL once detached */
} ngx_helpdesk_redis_slot_t;


typedef struct {
    ngx_helpdesk_redis_conf_t  *conf;
    ngx_log_t                  *log;
    redisAsyncContext          *ac;
    ngx_helpdesk_redis_state_e  state;
    ngx_event_t                 reconnect;
    ngx_msec_t                  backoff;
    ngx_msec_t                  retry_at;
    unsigned                    down:1;
    unsigned                    ready:1;
    unsigned                    dropping:1;
} ngx_helpdesk_redis_client_t;


static ngx_int_t ngx_helpdesk_redis_connect(void);
static void ngx_helpdesk_redis_drop(void);
static void ngx_helpdesk_redis_schedule(void);
static void ngx_helpdesk_redis_reconnect(ngx_event_t *ev);
static void ngx_helpdesk_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_helpdesk_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_helpdesk_redis_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_helpdesk_redis_timeout(ngx_event_t *ev);
static void ngx_helpdesk_redis_fail(ngx_helpdesk_redis_cmd_t *cmd);
static void ngx_helpdesk_redis_fail_posted(ngx_event_t *ev);
static void ngx_helpdesk_redis_done(ngx_helpdesk_redis_cmd_t *cmd,
    ngx_helpdesk_redis_status_e status, redisReply *reply);
static void ngx_helpdesk_redis_owner_gone(void *data);


static ngx_helpdesk_redis_client_t  ngx_helpdesk_redis_client;


ngx_int_t
ngx_helpdesk_redis_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_redis_conf_t *conf)
{
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    ngx_memzero(cl, sizeof(ngx_helpdesk_redis_client_t));

    cl->conf = conf;
    cl->log = cycle->log;
    cl->reconnect.handler = ngx_helpdesk_redis_reconnect;
    cl->reconnect.data = cl;
    cl->reconnect.log = cycle->log;
    cl->reconnect.cancelable = 1;
    cl->ready = 1;

    /* connect early so the first request does not pay for it */
    (void) ngx_helpdesk_redis_connect();

    return NGX_OK;
}


void
ngx_helpdesk_redis_exit_worker(void)
{
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    if (!cl->ready) {
        return;
    }

    cl->ready = 0;

    if (cl->reconnect.timer_set) {
        ngx_del_timer(&cl->reconnect);
    }

    ngx_helpdesk_redis_drop();
}


ngx_flag_t
ngx_helpdesk_redis_configured(void)
{
    return ngx_helpdesk_redis_client.ready;
}


ngx_uint_t
ngx_helpdesk_redis_retry_after(void)
{
    ngx_msec_int_t                left;
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    left = (ngx_msec_int_t) (cl->retry_at - ngx_current_msec);

    return (!cl->down || left <= 1000) ? 1 : (ngx_uint_t) (left + 999) / 1000;
}


void
ngx_helpdesk_redis_arg(ngx_helpdesk_redis_cmd_t *cmd, u_char *data,
    size_t len)
{
    if (cmd->argc >= NGX_HELPDESK_REDIS_MAX_ARGS) {
        cmd->overflow = 1;
        return;
    }

    cmd->argv[cmd->argc] = (const char *) data;
    cmd->argvlen[cmd->argc] = len;
    cmd->argc++;
}


void
ngx_helpdesk_redis_run(ngx_helpdesk_redis_cmd_t *cmd)
{
    ngx_pool_cleanup_t           *cln;
    ngx_helpdesk_redis_slot_t    *slot;
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    cmd->status = NGX_HELPDESK_REDIS_OK;
    cmd->slot = NULL;
    cmd->active = 1;

    ngx_log_debug4(NGX_LOG_DEBUG_EVENT, cmd->log, 0,
                   "helpdesk redis: run cmd:%p argc:%d \"%*s\"", cmd,
                   cmd->argc, cmd->argc ? cmd->argvlen[0] : 0,
                   cmd->argc ? cmd->argv[0] : "");

    if (cmd->owner && !cmd->owned) {
        cln = ngx_pool_cleanup_add(cmd->owner, 0);
        if (cln == NULL) {
            ngx_helpdesk_redis_fail(cmd);
            return;
        }

        cln->handler = ngx_helpdesk_redis_owner_gone;
        cln->data = cmd;
        cmd->owned = 1;
    }

    if (cmd->overflow) {
        ngx_log_error(NGX_LOG_ALERT, cmd->log, 0,
                      "helpdesk redis: more than %d arguments",
                      NGX_HELPDESK_REDIS_MAX_ARGS);
        ngx_helpdesk_redis_fail(cmd);
        return;
    }

    if (!cl->ready || ngx_exiting || cl->dropping) {
        ngx_helpdesk_redis_fail(cmd);
        return;
    }

    if (cl->state == NGX_HELPDESK_REDIS_DISCONNECTED) {

        if (cl->down
            && (ngx_msec_int_t) (cl->retry_at - ngx_current_msec) > 0)
        {
            ngx_helpdesk_redis_fail(cmd);
            return;
        }

        if (ngx_helpdesk_redis_connect() != NGX_OK) {
            ngx_helpdesk_redis_fail(cmd);
            return;
        }
    }

    slot = ngx_alloc(sizeof(ngx_helpdesk_redis_slot_t), cmd->log);
    if (slot == NULL) {
        ngx_helpdesk_redis_fail(cmd);
        return;
    }

    slot->cmd = cmd;

    if (redisAsyncCommandArgv(cl->ac, ngx_helpdesk_redis_reply, slot,
                              cmd->argc, cmd->argv, cmd->argvlen)
        != REDIS_OK)
    {
        ngx_free(slot);
        ngx_helpdesk_redis_fail(cmd);
        return;
    }

    cmd->slot = slot;

    ngx_memzero(&cmd->timer, sizeof(ngx_event_t));
    cmd->timer.handler = ngx_helpdesk_redis_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = cmd->log;
    ngx_add_timer(&cmd->timer, cl->conf->timeout);
}


void
ngx_helpdesk_redis_cancel(ngx_helpdesk_redis_cmd_t *cmd)
{
    ngx_helpdesk_redis_slot_t  *slot = cmd->slot;

    if (!cmd->active) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_helpdesk_redis_client.log, 0,
                   "helpdesk redis: cancel cmd:%p slot:%p", cmd, slot);

    cmd->active = 0;

    if (slot) {
        slot->cmd = NULL;       /* freed when hiredis calls back */
        cmd->slot = NULL;
    }

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->timer.posted) {
        ngx_delete_posted_event(&cmd->timer);
    }
}


static void
ngx_helpdesk_redis_owner_gone(void *data)
{
    ngx_helpdesk_redis_cmd_t  *cmd = data;

    ngx_helpdesk_redis_cancel(cmd);
    cmd->owned = 0;
}


/* The one place a caller hears back. */

static void
ngx_helpdesk_redis_done(ngx_helpdesk_redis_cmd_t *cmd,
    ngx_helpdesk_redis_status_e status, redisReply *reply)
{
    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, cmd->log, 0,
                   "helpdesk redis: done cmd:%p status:%d reply:%p",
                   cmd, status, reply);

    cmd->active = 0;
    cmd->status = status;
    cmd->handler(cmd, reply);
}


static ngx_int_t
ngx_helpdesk_redis_connect(void)
{
    redisAsyncContext            *ac;
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    ac = ngx_helpdesk_redis_event_connect(cl->conf, cl->log, "helpdesk redis",
                                          ngx_helpdesk_redis_on_connect,
                                          ngx_helpdesk_redis_on_disconnect);
    if (ac == NULL) {
        ngx_helpdesk_redis_schedule();
        return NGX_ERROR;
    }

    cl->ac = ac;
    cl->state = NGX_HELPDESK_REDIS_CONNECTING;

    return NGX_OK;
}


/* Frees the context; hiredis calls every pending callback with NULL. */

static void
ngx_helpdesk_redis_drop(void)
{
    redisAsyncContext            *ac;
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    ac = cl->ac;
    cl->ac = NULL;
    cl->state = NGX_HELPDESK_REDIS_DISCONNECTED;

    if (ac) {
        /*
         * hiredis calls every pending callback from inside the free; a
         * caller that sends again from there is failed, not given a new
         * connection the rest of this drop would lose
         */
        cl->dropping = 1;
        redisAsyncFree(ac);
        cl->dropping = 0;
    }
}


static void
ngx_helpdesk_redis_schedule(void)
{
    ngx_msec_t                    delay;
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    cl->state = NGX_HELPDESK_REDIS_DISCONNECTED;
    cl->ac = NULL;

    if (!cl->ready || ngx_exiting) {
        return;
    }

    delay = ngx_helpdesk_redis_event_backoff(&cl->backoff);

    cl->down = 1;
    cl->retry_at = ngx_current_msec + delay;

    if (!cl->reconnect.timer_set) {
        ngx_add_timer(&cl->reconnect, delay);
    }
}


static void
ngx_helpdesk_redis_reconnect(ngx_event_t *ev)
{
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    if (ngx_exiting || !cl->ready
        || cl->state != NGX_HELPDESK_REDIS_DISCONNECTED)
    {
        return;
    }

    (void) ngx_helpdesk_redis_connect();
}


static void
ngx_helpdesk_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    if (cl->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "helpdesk redis: connect to \"%V\" failed: %s",
                      &cl->conf->addr, ac->errstr);

        /* hiredis frees the context after this callback */
        ngx_helpdesk_redis_schedule();
        return;
    }

    if (cl->down) {
        ngx_log_error(NGX_LOG_NOTICE, cl->log, 0,
                      "helpdesk redis: connection restored");
    }

    cl->state = NGX_HELPDESK_REDIS_CONNECTED;
    cl->down = 0;
    cl->backoff = 0;
}


static void
ngx_helpdesk_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    if (cl->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "helpdesk redis: connection lost: %s", ac->errstr);
    }

    ngx_helpdesk_redis_schedule();
}


static void
ngx_helpdesk_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    ngx_helpdesk_redis_slot_t  *slot = data;
    ngx_helpdesk_redis_cmd_t   *cmd;

    cmd = slot->cmd;
    ngx_free(slot);

    if (cmd == NULL) {
        return;     /* the caller has given up on this one */
    }

    cmd->slot = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    ngx_helpdesk_redis_done(cmd, r ? NGX_HELPDESK_REDIS_OK
                                   : NGX_HELPDESK_REDIS_UNAVAILABLE, r);
}


static void
ngx_helpdesk_redis_timeout(ngx_event_t *ev)
{
    ngx_helpdesk_redis_cmd_t     *cmd = ev->data;
    ngx_helpdesk_redis_slot_t    *slot = cmd->slot;
    ngx_helpdesk_redis_client_t  *cl = &ngx_helpdesk_redis_client;

    if (slot) {
        slot->cmd = NULL;
        cmd->slot = NULL;
    }

    ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                  "helpdesk redis: command timed out after %Mms",
                  cl->conf->timeout);

    ngx_helpdesk_redis_done(cmd, NGX_HELPDESK_REDIS_TIMEOUT, NULL);

    if (cl->ac) {
        ngx_helpdesk_redis_drop();
        ngx_helpdesk_redis_schedule();
    }
}


static void
ngx_helpdesk_redis_fail(ngx_helpdesk_redis_cmd_t *cmd)
{
    cmd->status = NGX_HELPDESK_REDIS_UNAVAILABLE;

    ngx_memzero(&cmd->timer, sizeof(ngx_event_t));
    cmd->timer.handler = ngx_helpdesk_redis_fail_posted;
    cmd->timer.data = cmd;
    cmd->timer.log = cmd->log;

    ngx_post_event(&cmd->timer, &ngx_posted_events);
}


static void
ngx_helpdesk_redis_fail_posted(ngx_event_t *ev)
{
    ngx_helpdesk_redis_cmd_t  *cmd = ev->data;

    ngx_helpdesk_redis_done(cmd, cmd->status, NULL);
}


char *
ngx_helpdesk_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_redis_conf_t *conf)
{
    u_char     *p, *last;
    ngx_int_t   port;
    ngx_str_t   host;
    u_char      buf[NGX_SOCKADDR_STRLEN];

    conf->addr = *value;

    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        conf->path.len = value->len - 5;
        conf->path.data = value->data + 5;

        if (ngx_conf_full_name(cf->cycle, &conf->path, 0) != NGX_OK) {
            return "has an invalid unix socket path";
        }

        /* ngx_conf_full_name() keeps the terminating zero of the value */
        p = ngx_pnalloc(cf->pool, conf->path.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        *ngx_cpymem(p, conf->path.data, conf->path.len) = '\0';
        conf->path.data = p;

        return NGX_CONF_OK;
    }

    last = value->data + value->len;
    p = ngx_strlchr(value->data, last, ']');
    p = ngx_strlchr(p ? p : value->data, last, ':');

    if (p == NULL) {
        return "needs \"unix:/path\" or \"address:port\"";
    }

    host.data = value->data;
    host.len = p - value->data;

    if (host.len > 2 && host.data[0] == '[' && host.data[host.len - 1] == ']')
    {
        host.data++;
        host.len -= 2;
    }

    port = ngx_atoi(p + 1, last - p - 1);
    if (port < 1 || port > 65535) {
        return "has an invalid port";
    }

    if (host.len == 0 || host.len >= sizeof(buf)) {
        return "has an invalid address";
    }

    *ngx_cpymem(buf, host.data, host.len) = '\0';

    if (ngx_inet_addr(buf, host.len) == INADDR_NONE
#if (NGX_HAVE_INET6)
        && ngx_inet6_addr(buf, host.len, (u_char *) &(struct in6_addr) {{{0}}})
           != NGX_OK
#endif
        )
    {
        /* hiredis would resolve a name with a blocking getaddrinfo() */
        return "needs an IP address, not a host name";
    }

    conf->host.data = ngx_pnalloc(cf->pool, host.len + 1);
    if (conf->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(conf->host.data, host.data, host.len) = '\0';
    conf->host.len = host.len;
    conf->port = (ngx_uint_t) port;

    return NGX_CONF_OK;
}
