/*
 * hiredis' async API on nginx events.
 *
 * hiredis does the protocol and leaves the event loop to its user through
 * five hooks (the ones it ships for libevent and libev): add and delete
 * read interest, add and delete write interest, and cleanup, called right
 * before hiredis closes the descriptor.  Here the descriptor gets an nginx
 * connection record whose read and write events hand over to hiredis; the
 * record is freed, never closed, by the cleanup hook, since the socket is
 * hiredis'.
 *
 * Both Redis clients of a worker, the command client
 * (ngx_helpdesk_redis.c) and the subscriber (ngx_helpdesk_redis_sub.c),
 * connect through here and pace their reconnects with the same backoff.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_redis_event.h"


static void ngx_helpdesk_redis_event_add_read(void *data);
static void ngx_helpdesk_redis_event_del_read(void *data);
static void ngx_helpdesk_redis_event_add_write(void *data);
static void ngx_helpdesk_redis_event_del_write(void *data);
static void ngx_helpdesk_redis_event_cleanup(void *data);
static void ngx_helpdesk_redis_event_read_handler(ngx_event_t *ev);
static void ngx_helpdesk_redis_event_write_handler(ngx_event_t *ev);


redisAsyncContext *
ngx_helpdesk_redis_event_connect(ngx_helpdesk_redis_conf_t *conf,
    ngx_log_t *log, const char *who, redisConnectCallback *on_connect,
    redisDisconnectCallback *on_disconnect)
{
    redisAsyncContext  *ac;
    ngx_connection_t   *c;

    if (conf->path.len) {
        ac = redisAsyncConnectUnix((const char *) conf->path.data);

    } else {
        ac = redisAsyncConnect((const char *) conf->host.data,
                               (int) conf->port);
    }

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "%s: connect to \"%V\" failed: %s", who, &conf->addr,
                      ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        return NULL;
    }

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        redisAsyncFree(ac);
        return NULL;
    }

    c->data = ac;
    c->read->handler = ngx_helpdesk_redis_event_read_handler;
    c->write->handler = ngx_helpdesk_redis_event_write_handler;
    c->read->log = log;
    c->write->log = log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_helpdesk_redis_event_add_read;
    ac->ev.delRead = ngx_helpdesk_redis_event_del_read;
    ac->ev.addWrite = ngx_helpdesk_redis_event_add_write;
    ac->ev.delWrite = ngx_helpdesk_redis_event_del_write;
    ac->ev.cleanup = ngx_helpdesk_redis_event_cleanup;

    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);

    /* the connect completes on the first write event */
    ngx_helpdesk_redis_event_add_write(c);

    return ac;
}


ngx_msec_t
ngx_helpdesk_redis_event_backoff(ngx_msec_t *backoff)
{
    if (*backoff == 0) {
        *backoff = NGX_HELPDESK_REDIS_BACKOFF_MIN;

    } else {
        *backoff = ngx_min(*backoff * 2, NGX_HELPDESK_REDIS_BACKOFF_MAX);
    }

    return *backoff + (ngx_msec_t) ngx_random() % (*backoff / 5 + 1);
}


static void
ngx_helpdesk_redis_event_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_helpdesk_redis_event_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_helpdesk_redis_event_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_helpdesk_redis_event_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis closes the descriptor itself right after this. */

static void
ngx_helpdesk_redis_event_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


/* Either handler may free the context: nothing is touched after it. */

static void
ngx_helpdesk_redis_event_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_helpdesk_redis_event_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}
