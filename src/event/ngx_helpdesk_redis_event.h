/*
 * hiredis' async contexts on nginx events: what the command client and
 * the subscriber share.  Not for use outside src/event/ngx_helpdesk_redis*.c.
 */

#ifndef _NGX_HELPDESK_REDIS_EVENT_H_INCLUDED_
#define _NGX_HELPDESK_REDIS_EVENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_redis.h"


#define NGX_HELPDESK_REDIS_BACKOFF_MIN  100
#define NGX_HELPDESK_REDIS_BACKOFF_MAX  5000


/*
 * A context connecting to conf's address, its socket on nginx events
 * (the connect completes on the first write event, then on_connect is
 * called), or NULL: the failure is logged as "who"'s and the caller
 * schedules the next attempt.
 */
redisAsyncContext *ngx_helpdesk_redis_event_connect(
    ngx_helpdesk_redis_conf_t *conf, ngx_log_t *log, const char *who,
    redisConnectCallback *on_connect, redisDisconnectCallback *on_disconnect);

/*
 * How long to wait before the next attempt: *backoff doubles from
 * NGX_HELPDESK_REDIS_BACKOFF_MIN up to _MAX (0 starts it again), plus a
 * jitter of up to a fifth of it, so that workers do not reconnect in step.
 */
ngx_msec_t ngx_helpdesk_redis_event_backoff(ngx_msec_t *backoff);


#endif /* _NGX_HELPDESK_REDIS_EVENT_H_INCLUDED_ */
