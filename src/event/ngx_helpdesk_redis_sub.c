/*
 * The per-worker Redis subscriber.
 *
 * Pub/sub needs a connection of its own: once a connection has subscribed
 * it carries nothing but (un)subscriptions and the messages published on
 * them.  This is that connection, on nginx events
 * (ngx_helpdesk_redis_event.c) like the command client
 * (ngx_helpdesk_redis.c), with:
 *
 *  - a table of channels, each with one handler.  Subscriptions are made
 *    on demand (the first local listener of a conversation) and dropped
 *    when the last one leaves;
 *  - reconnect with exponential backoff and jitter, on a cancelable
 *    timer; after a reconnect every channel of the table is subscribed
 *    again, and its handler is told (READY) once the server confirms, so
 *    that it reads back from its last id what was published meanwhile:
 *    pub/sub does not keep messages, the streams do;
 *  - messages are dispatched by the channel name in the reply, never by a
 *    pointer given to hiredis, so nothing hiredis holds can outlive its
 *    owner: a message for a channel no longer in the table is dropped.
 *
 * hiredis 0.14 forgets a channel's callback when the reply of an
 * UNSUBSCRIBE arrives, even when the channel was subscribed again
 * meanwhile; such a channel is subscribed once more when that reply
 * comes (its handler hears READY again and catches up).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_redis_sub.h"
#include "ngx_helpdesk_redis_event.h"


typedef struct {
    ngx_str_node_t                      sn;     /* sn.str: the channel */
    ngx_helpdesk_redis_sub_handler_pt   handler;
    void                               *data;
    unsigned                            sent:1; /* SUBSCRIBE on this link */
} ngx_helpdesk_redis_sub_channel_t;


typedef struct {
    ngx_helpdesk_redis_conf_t  *conf;
    ngx_log_t                  *log;
    redisAsyncContext          *ac;
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_event_t                 reconnect;
    ngx_msec_t                  backoff;
    ngx_uint_t                  count;
    unsigned                    connected:1;
    unsigned                    down:1;
    unsigned                    ready:1;
} ngx_helpdesk_redis_sub_t;


static ngx_int_t ngx_helpdesk_redis_sub_connect(void);
static void ngx_helpdesk_redis_sub_schedule(void);
static void ngx_helpdesk_redis_sub_reconnect(ngx_event_t *ev);
static void ngx_helpdesk_redis_sub_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_helpdesk_redis_sub_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_helpdesk_redis_sub_send(ngx_helpdesk_redis_sub_channel_t *ch,
    const char *verb);
static void ngx_helpdesk_redis_sub_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_helpdesk_redis_sub_each(
    void (*visit)(ngx_helpdesk_redis_sub_channel_t *ch));
static void ngx_helpdesk_redis_sub_walk(ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel,
    void (*visit)(ngx_helpdesk_redis_sub_channel_t *ch));
static void ngx_helpdesk_redis_sub_resubscribe(
    ngx_helpdesk_redis_sub_channel_t *ch);
static void ngx_helpdesk_redis_sub_forget(ngx_helpdesk_redis_sub_channel_t *ch);
static void ngx_helpdesk_redis_sub_free(ngx_helpdesk_redis_sub_channel_t *ch);


static ngx_helpdesk_redis_sub_t  ngx_helpdesk_redis_sub;


ngx_int_t
ngx_helpdesk_redis_sub_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_redis_conf_t *conf)
{
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    ngx_memzero(s, sizeof(ngx_helpdesk_redis_sub_t));

    s->conf = conf;
    s->log = cycle->log;
    s->reconnect.handler = ngx_helpdesk_redis_sub_reconnect;
    s->reconnect.data = s;
    s->reconnect.log = cycle->log;
    s->reconnect.cancelable = 1;
    s->ready = 1;

    ngx_rbtree_init(&s->tree, &s->sentinel, ngx_str_rbtree_insert_value);

    /* connected lazily, by the first subscription */

    return NGX_OK;
}


void
ngx_helpdesk_redis_sub_exit_worker(void)
{
    redisAsyncContext         *ac;
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    if (!s->ready) {
        return;
    }

    s->ready = 0;

    if (s->reconnect.timer_set) {
        ngx_del_timer(&s->reconnect);
    }

    ac = s->ac;
    s->ac = NULL;
    s->connected = 0;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_helpdesk_redis_sub_each(ngx_helpdesk_redis_sub_free);

    ngx_rbtree_init(&s->tree, &s->sentinel, ngx_str_rbtree_insert_value);
}


ngx_flag_t
ngx_helpdesk_redis_sub_connected(void)
{
    return ngx_helpdesk_redis_sub.connected;
}


ngx_int_t
ngx_helpdesk_redis_sub_subscribe(ngx_str_t *channel,
    ngx_helpdesk_redis_sub_handler_pt handler, void *data)
{
    uint32_t                           hash;
    ngx_helpdesk_redis_sub_t          *s = &ngx_helpdesk_redis_sub;
    ngx_helpdesk_redis_sub_channel_t  *ch;

    if (!s->ready) {
        return NGX_ERROR;
    }

    hash = ngx_crc32_long(channel->data, channel->len);

    if (ngx_str_rbtree_lookup(&s->tree, channel, hash) != NULL) {
        return NGX_DECLINED;
    }

    ch = ngx_alloc(sizeof(ngx_helpdesk_redis_sub_channel_t) + channel->len
                   + 1, s->log);
    if (ch == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(ch, sizeof(ngx_helpdesk_redis_sub_channel_t));

    ch->sn.str.data = (u_char *) (ch + 1);
    ch->sn.str.len = channel->len;
    *ngx_cpymem(ch->sn.str.data, channel->data, channel->len) = '\0';
    ch->sn.node.key = hash;
    ch->handler = handler;
    ch->data = data;

    ngx_rbtree_insert(&s->tree, &ch->sn.node);
    s->count++;

    if (s->connected) {
        ngx_helpdesk_redis_sub_send(ch, "SUBSCRIBE");

    } else if (s->ac == NULL && !s->reconnect.timer_set) {
        (void) ngx_helpdesk_redis_sub_connect();
    }

    return NGX_OK;
}


void
ngx_helpdesk_redis_sub_unsubscribe(ngx_str_t *channel)
{
    ngx_str_node_t                    *sn;
    ngx_helpdesk_redis_sub_t          *s = &ngx_helpdesk_redis_sub;
    ngx_helpdesk_redis_sub_channel_t  *ch;

    if (!s->ready) {
        return;
    }

    sn = ngx_str_rbtree_lookup(&s->tree, channel,
                               ngx_crc32_long(channel->data, channel->len));
    if (sn == NULL) {
        return;
    }

    ch = (ngx_helpdesk_redis_sub_channel_t *) sn;

    ngx_rbtree_delete(&s->tree, &ch->sn.node);
    s->count--;

    if (s->connected && ch->sent) {
        ngx_helpdesk_redis_sub_send(ch, "UNSUBSCRIBE");
    }

    ngx_free(ch);
}


static void
ngx_helpdesk_redis_sub_send(ngx_helpdesk_redis_sub_channel_t *ch,
    const char *verb)
{
    const char                *argv[2];
    size_t                     argvlen[2];
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    argv[0] = verb;
    argvlen[0] = ngx_strlen(verb);
    argv[1] = (const char *) ch->sn.str.data;
    argvlen[1] = ch->sn.str.len;

    if (redisAsyncCommandArgv(s->ac, ngx_helpdesk_redis_sub_reply, NULL, 2,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "helpdesk redis subscriber: %s \"%V\" failed",
                      verb, &ch->sn.str);
        return;
    }

    ch->sent = (verb[0] == 'S');
}


/*
 * Every reply of the connection comes here: ["subscribe", ch, n],
 * ["unsubscribe", ch, n] or ["message", ch, payload]; NULL when the
 * connection is going away.
 */

static void
ngx_helpdesk_redis_sub_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                        *reply = r;
    ngx_str_t                          kind, name;
    ngx_str_node_t                    *sn;
    ngx_helpdesk_redis_sub_t          *s = &ngx_helpdesk_redis_sub;
    ngx_helpdesk_redis_sub_channel_t  *ch;

    if (reply == NULL || ac != s->ac) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "helpdesk redis subscriber: %*s",
                          (size_t) reply->len, reply->str);
        }

        return;
    }

    kind.data = (u_char *) reply->element[0]->str;
    kind.len = reply->element[0]->len;
    name.data = (u_char *) reply->element[1]->str;
    name.len = reply->element[1]->len;

    sn = ngx_str_rbtree_lookup(&s->tree, &name,
                               ngx_crc32_long(name.data, name.len));
    ch = (ngx_helpdesk_redis_sub_channel_t *) sn;

    if (kind.len == 7 && ngx_strncmp(kind.data, "message", 7) == 0) {

        if (ch && reply->element[2]->type == REDIS_REPLY_STRING) {
            ch->handler(ch->data, NGX_HELPDESK_REDIS_SUB_MESSAGE,
                        (u_char *) reply->element[2]->str,
                        reply->element[2]->len);
        }

        return;
    }

    if (kind.len == 9 && ngx_strncmp(kind.data, "subscribe", 9) == 0) {

        if (ch) {
            ch->handler(ch->data, NGX_HELPDESK_REDIS_SUB_READY, NULL, 0);
        }

        return;
    }

    if (kind.len == 11 && ngx_strncmp(kind.data, "unsubscribe", 11) == 0) {

        if (ch && s->connected) {
            /* subscribed again while the UNSUBSCRIBE was in flight */
            ngx_helpdesk_redis_sub_send(ch, "SUBSCRIBE");
        }
    }
}


static ngx_int_t
ngx_helpdesk_redis_sub_connect(void)
{
    redisAsyncContext         *ac;
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    ac = ngx_helpdesk_redis_event_connect(s->conf, s->log,
                                          "helpdesk redis subscriber",
                                          ngx_helpdesk_redis_sub_on_connect,
                                          ngx_helpdesk_redis_sub_on_disconnect);
    if (ac == NULL) {
        ngx_helpdesk_redis_sub_schedule();
        return NGX_ERROR;
    }

    s->ac = ac;

    return NGX_OK;
}


static void
ngx_helpdesk_redis_sub_schedule(void)
{
    ngx_msec_t                 delay;
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    s->ac = NULL;
    s->connected = 0;

    ngx_helpdesk_redis_sub_each(ngx_helpdesk_redis_sub_forget);

    if (!s->ready || ngx_exiting) {
        return;
    }

    delay = ngx_helpdesk_redis_event_backoff(&s->backoff);

    s->down = 1;

    if (!s->reconnect.timer_set) {
        ngx_add_timer(&s->reconnect, delay);
    }
}


static void
ngx_helpdesk_redis_sub_reconnect(ngx_event_t *ev)
{
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    if (ngx_exiting || !s->ready || s->ac) {
        return;
    }

    (void) ngx_helpdesk_redis_sub_connect();
}


static void
ngx_helpdesk_redis_sub_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    if (s->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "helpdesk redis subscriber: connect to \"%V\" "
                      "failed: %s", &s->conf->addr, ac->errstr);
        ngx_helpdesk_redis_sub_schedule();
        return;
    }

    if (s->down) {
        ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                      "helpdesk redis subscriber: connection restored, "
                      "%ui channels subscribed again", s->count);
    }

    s->connected = 1;
    s->down = 0;
    s->backoff = 0;

    ngx_helpdesk_redis_sub_each(ngx_helpdesk_redis_sub_resubscribe);
}


static void
ngx_helpdesk_redis_sub_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    if (s->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "helpdesk redis subscriber: connection lost: %s",
                      ac->errstr);
    }

    ngx_helpdesk_redis_sub_schedule();
}


/* Every channel of the table; each after its subtrees, so it may go. */

static void
ngx_helpdesk_redis_sub_each(void (*visit)(ngx_helpdesk_redis_sub_channel_t *ch))
{
    ngx_helpdesk_redis_sub_t  *s = &ngx_helpdesk_redis_sub;

    if (s->tree.root != s->tree.sentinel) {
        ngx_helpdesk_redis_sub_walk(s->tree.root, s->tree.sentinel, visit);
    }
}


static void
ngx_helpdesk_redis_sub_walk(ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel,
    void (*visit)(ngx_helpdesk_redis_sub_channel_t *ch))
{
    if (node->left != sentinel) {
        ngx_helpdesk_redis_sub_walk(node->left, sentinel, visit);
    }

    if (node->right != sentinel) {
        ngx_helpdesk_redis_sub_walk(node->right, sentinel, visit);
    }

    visit((ngx_helpdesk_redis_sub_channel_t *) node);
}


static void
ngx_helpdesk_redis_sub_resubscribe(ngx_helpdesk_redis_sub_channel_t *ch)
{
    ngx_helpdesk_redis_sub_send(ch, "SUBSCRIBE");
}


/* the connection is gone, and what was subscribed on it */

static void
ngx_helpdesk_redis_sub_forget(ngx_helpdesk_redis_sub_channel_t *ch)
{
    ch->sent = 0;
}


static void
ngx_helpdesk_redis_sub_free(ngx_helpdesk_redis_sub_channel_t *ch)
{
    ngx_free(ch);
}
