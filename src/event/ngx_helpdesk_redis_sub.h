/*
 * A per-worker Redis subscriber: one connection in subscribe mode.
 */

#ifndef _NGX_HELPDESK_REDIS_SUB_H_INCLUDED_
#define _NGX_HELPDESK_REDIS_SUB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_redis.h"


#define NGX_HELPDESK_REDIS_SUB_READY    1   /* subscribed (again): catch up */
#define NGX_HELPDESK_REDIS_SUB_MESSAGE  2   /* a message was published */


/*
 * Called with READY each time the channel's subscription is confirmed
 * (the first time, and after every reconnect: what was published while
 * the connection was down is lost, so a subscriber reads it back from
 * where it was), and with MESSAGE for each message.  Never called from
 * inside ngx_helpdesk_redis_sub_subscribe() or _unsubscribe().
 */
typedef void (*ngx_helpdesk_redis_sub_handler_pt)(void *data,
    ngx_uint_t event, u_char *msg, size_t len);


ngx_int_t ngx_helpdesk_redis_sub_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_redis_conf_t *conf);
void ngx_helpdesk_redis_sub_exit_worker(void);

/*
 * One handler per channel: NGX_OK, NGX_DECLINED when the channel already
 * has a handler, NGX_ERROR (no memory, or no Redis configured).  The
 * subscription is kept across reconnects until unsubscribed.
 */
ngx_int_t ngx_helpdesk_redis_sub_subscribe(ngx_str_t *channel,
    ngx_helpdesk_redis_sub_handler_pt handler, void *data);

/* The handler is never called again for this channel. */
void ngx_helpdesk_redis_sub_unsubscribe(ngx_str_t *channel);

/* Whether the connection is up (a message published now reaches us). */
ngx_flag_t ngx_helpdesk_redis_sub_connected(void);


#endif /* _NGX_HELPDESK_REDIS_SUB_H_INCLUDED_ */
