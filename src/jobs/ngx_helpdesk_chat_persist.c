/*
 * The chat's record.
 *
 * Every change of a conversation is appended, by the same Redis script
 * that makes it, to one persistence stream ("hd:chat:persist": the
 * tenant, the conversation, the event's stream id and JSON, and the
 * conversation's state).  Every worker of every node reads that stream
 * as a member of the consumer group "persist", in batches, on a
 * cancelable timer, and writes each batch in one statement
 * (api.chat_persist(), idempotent by tenant, conversation and message
 * id); only then are the entries acknowledged and deleted.  So:
 *
 *  - an entry is in PostgreSQL within about one interval (200 ms) plus
 *    the statement's time while both are up;
 *  - a batch that fails stays pending with its consumer, which reads its
 *    own pending entries again first on the next tick;
 *  - entries of a consumer that died (a worker killed, a node gone) are
 *    taken over by the others after 30 s (XAUTOCLAIM);
 *  - a batch written twice (taken over while it was being written)
 *    changes nothing the second time.
 *
 * Nothing here blocks: XREADGROUP is sent without BLOCK.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>

#include "ngx_helpdesk_chat_persist.h"
#include "event/ngx_helpdesk_pg.h"
#include "event/ngx_helpdesk_redis.h"


#define NGX_HELPDESK_CHAT_PERSIST_STREAM    "hd:chat:persist"
#define NGX_HELPDESK_CHAT_PERSIST_GROUP     "persist"
#define NGX_HELPDESK_CHAT_PERSIST_INTERVAL  200
#define NGX_HELPDESK_CHAT_PERSIST_BATCH     "500"
#define NGX_HELPDESK_CHAT_PERSIST_IDLE      "30000"     /* a dead consumer */
#define NGX_HELPDESK_CHAT_PERSIST_CLAIM     5000        /* how often */


typedef enum {
    NGX_HELPDESK_CHAT_PERSIST_IDLE_STATE = 0,
    NGX_HELPDESK_CHAT_PERSIST_GROUP_STATE,
    NGX_HELPDESK_CHAT_PERSIST_READ,
    NGX_HELPDESK_CHAT_PERSIST_WRITE,
    NGX_HELPDESK_CHAT_PERSIST_ACK
} ngx_helpdesk_chat_persist_state_e;


typedef struct {
    ngx_event_t                         tick;
    ngx_log_t                          *log;
    u_char                             *proof;
    ngx_helpdesk_redis_cmd_t            cmd;
    ngx_helpdesk_pg_query_t             q;
    ngx_pool_t                         *pool;
    char                               *ids;       /* JSON list to ack */
    ngx_helpdesk_chat_persist_state_e   state;
    ngx_msec_t                          claimed;
    ngx_uint_t                          count;
    u_char                              consumer[NGX_MAXHOSTNAMELEN + 32];
    size_t                              consumer_len;
    unsigned                            group:1;
    unsigned                            pending:1;  /* read own first */
    unsigned                            claiming:1;
    unsigned                            ready:1;
} ngx_helpdesk_chat_persist_t;


static void ngx_helpdesk_chat_persist_tick(ngx_event_t *ev);
static void ngx_helpdesk_chat_persist_next(ngx_msec_t delay);
static void ngx_helpdesk_chat_persist_grouped(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_helpdesk_chat_persist_read(void);
static void ngx_helpdesk_chat_persist_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_helpdesk_chat_persist_written(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_chat_persist_acked(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_helpdesk_chat_persist_reset(void);


static ngx_helpdesk_chat_persist_t  ngx_helpdesk_chat_persist;


/* acknowledges and deletes the entries written, in one command */
static const char  ngx_helpdesk_chat_persist_ack_lua[] =
    "local ids = cjson.decode(ARGV[1]) "
    "for i = 1, #ids, 500 do "
    "  local part = {unpack(ids, i, math.min(i + 499, #ids))} "
    "  redis.call('XACK', KEYS[1], ARGV[2], unpack(part)) "
    "  redis.call('XDEL', KEYS[1], unpack(part)) "
    "end "
    "return #ids";


ngx_int_t
ngx_helpdesk_chat_persist_init_worker(ngx_cycle_t *cycle, u_char *proof)
{
    u_char                       *p;
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    ngx_memzero(cp, sizeof(ngx_helpdesk_chat_persist_t));

    cp->log = cycle->log;
    cp->proof = proof;
    cp->tick.handler = ngx_helpdesk_chat_persist_tick;
    cp->tick.log = cycle->log;
    cp->tick.cancelable = 1;
    cp->pending = 1;
    cp->ready = 1;

    p = ngx_snprintf(cp->consumer, sizeof(cp->consumer), "%V:%P",
                     &cycle->hostname, ngx_pid);
    cp->consumer_len = p - cp->consumer;

    ngx_add_timer(&cp->tick, NGX_HELPDESK_CHAT_PERSIST_INTERVAL
                             + (ngx_msec_t) ngx_random()
                               % NGX_HELPDESK_CHAT_PERSIST_INTERVAL);

    return NGX_OK;
}


void
ngx_helpdesk_chat_persist_exit_worker(void)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    if (!cp->ready) {
        return;
    }

    cp->ready = 0;

    if (cp->tick.timer_set) {
        ngx_del_timer(&cp->tick);
    }

    if (cp->tick.posted) {
        ngx_delete_posted_event(&cp->tick);
    }

    /* a batch in flight stays pending: another consumer takes it over */
    ngx_helpdesk_redis_cancel(&cp->cmd);
    ngx_helpdesk_pg_cancel(&cp->q);
    ngx_helpdesk_chat_persist_reset();
}


static void
ngx_helpdesk_chat_persist_reset(void)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    if (cp->pool) {
        ngx_destroy_pool(cp->pool);
        cp->pool = NULL;
    }

    if (cp->ids) {
        free(cp->ids);
        cp->ids = NULL;
    }

    cp->state = NGX_HELPDESK_CHAT_PERSIST_IDLE_STATE;
}


static void
ngx_helpdesk_chat_persist_next(ngx_msec_t delay)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    ngx_helpdesk_chat_persist_reset();

    if (!cp->ready || cp->tick.timer_set) {
        return;
    }

    if (delay == 0) {
        ngx_post_event(&cp->tick, &ngx_posted_events);
        return;
    }

    ngx_add_timer(&cp->tick, delay);
}


static void
ngx_helpdesk_chat_persist_cmd(ngx_helpdesk_redis_handler_pt handler)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    ngx_memzero(&cp->cmd, sizeof(ngx_helpdesk_redis_cmd_t));
    cp->cmd.handler = handler;
    cp->cmd.log = cp->log;
}


static void
ngx_helpdesk_chat_persist_tick(ngx_event_t *ev)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    if (!cp->ready || cp->state != NGX_HELPDESK_CHAT_PERSIST_IDLE_STATE) {
        return;
    }

    if (ngx_exiting && !cp->pending) {
        /* a worker that is shutting down takes no new entries */
        return;
    }

    if (!cp->group) {
        cp->state = NGX_HELPDESK_CHAT_PERSIST_GROUP_STATE;
        ngx_helpdesk_chat_persist_cmd(ngx_helpdesk_chat_persist_grouped);

        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "XGROUP", 6);
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "CREATE", 6);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_STREAM,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_STREAM) - 1);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_GROUP,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_GROUP) - 1);
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "0", 1);
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "MKSTREAM", 8);

        ngx_helpdesk_redis_run(&cp->cmd);
        return;
    }

    ngx_helpdesk_chat_persist_read();
}


static void
ngx_helpdesk_chat_persist_grouped(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    cp->state = NGX_HELPDESK_CHAT_PERSIST_IDLE_STATE;

    if (reply == NULL) {
        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "BUSYGROUP", 9) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, cp->log, 0,
                      "helpdesk chat persist: %*s", (size_t) reply->len,
                      reply->str);
        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    cp->group = 1;
    ngx_helpdesk_chat_persist_next(0);
}


/*
 * Own pending entries first (a batch that failed), then entries of dead
 * consumers now and then, then new ones.
 */

static void
ngx_helpdesk_chat_persist_read(void)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    cp->state = NGX_HELPDESK_CHAT_PERSIST_READ;
    ngx_helpdesk_chat_persist_cmd(ngx_helpdesk_chat_persist_got);
    cp->claiming = 0;

    if (!cp->pending
        && ngx_current_msec - cp->claimed >= NGX_HELPDESK_CHAT_PERSIST_CLAIM)
    {
        cp->claimed = ngx_current_msec;
        cp->claiming = 1;

        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "XAUTOCLAIM", 10);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_STREAM,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_STREAM) - 1);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_GROUP,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_GROUP) - 1);
        ngx_helpdesk_redis_arg(&cp->cmd, cp->consumer, cp->consumer_len);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_IDLE,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_IDLE) - 1);
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "0-0", 3);
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "COUNT", 5);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_BATCH,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_BATCH) - 1);

        ngx_helpdesk_redis_run(&cp->cmd);
        return;
    }

    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "XREADGROUP", 10);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "GROUP", 5);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_GROUP,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_GROUP) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, cp->consumer, cp->consumer_len);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "COUNT", 5);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_BATCH,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_BATCH) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "STREAMS", 7);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_STREAM,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_STREAM) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) (cp->pending ? "0" : ">"), 1);

    ngx_helpdesk_redis_run(&cp->cmd);
}


static void
ngx_helpdesk_chat_persist_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    char                         *text, key[2];
    size_t                        i, k;
    json_t                       *batch, *ids, *row;
    ngx_str_t                     v;
    redisReply                   *entries, *e, *f;
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    entries = NULL;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        if (ngx_strncmp(reply->str, "NOGROUP", 7) == 0) {
            cp->group = 0;      /* the stream is gone (Redis was emptied) */

        } else {
            ngx_log_error(NGX_LOG_ERR, cp->log, 0,
                          "helpdesk chat persist: %*s", (size_t) reply->len,
                          reply->str);
        }

        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    if (reply == NULL) {
        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    if (cp->claiming) {
        /* [cursor, entries, deleted ids] */
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
            entries = reply->element[1];
        }

    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1
               && reply->element[0]->type == REDIS_REPLY_ARRAY
               && reply->element[0]->elements == 2)
    {
        /* [[stream, entries]] */
        entries = reply->element[0]->element[1];
    }

    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY
        || entries->elements == 0)
    {
        if (cp->pending && !cp->claiming) {
            cp->pending = 0;
            ngx_helpdesk_chat_persist_next(0);
            return;
        }

        ngx_helpdesk_chat_persist_next(cp->claiming ? 0
                                       : NGX_HELPDESK_CHAT_PERSIST_INTERVAL);
        return;
    }

    batch = json_array();
    ids = json_array();

    for (i = 0; batch && ids && i < entries->elements; i++) {
        e = entries->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        json_array_append_new(ids, json_stringn(e->element[0]->str,
                                                e->element[0]->len));

        f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY) {
            continue;       /* deleted meanwhile: acknowledged only */
        }

        row = json_object();

        for (k = 0; row && k + 1 < f->elements; k += 2) {
            if (f->element[k]->type != REDIS_REPLY_STRING
                || f->element[k]->len != 1
                || f->element[k + 1]->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            key[0] = f->element[k]->str[0];
            key[1] = '\0';

            json_object_set_new(row, key,
                                json_stringn(f->element[k + 1]->str,
                                             f->element[k + 1]->len));
        }

        if (row) {
            json_array_append_new(batch, row);
        }
    }

    cp->count = entries->elements;

    text = batch ? json_dumps(batch, JSON_COMPACT) : NULL;
    cp->ids = ids ? json_dumps(ids, JSON_COMPACT) : NULL;
    json_decref(batch);
    json_decref(ids);

    cp->pool = ngx_create_pool(4096, cp->log);

    if (text == NULL || cp->ids == NULL || cp->pool == NULL) {
        free(text);
        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    cp->state = NGX_HELPDESK_CHAT_PERSIST_WRITE;

    ngx_memzero(&cp->q, sizeof(ngx_helpdesk_pg_query_t));
    cp->q.handler = ngx_helpdesk_chat_persist_written;
    cp->q.log = cp->log;
    cp->q.sql = "SELECT api.chat_persist($1::bytea, $2::jsonb)";

    v.data = cp->proof;
    v.len = ngx_strlen(cp->proof);
    (void) ngx_helpdesk_pg_param(&cp->q, cp->pool, &v);

    v.data = (u_char *) text;
    v.len = ngx_strlen(text);
    (void) ngx_helpdesk_pg_param(&cp->q, cp->pool, &v);
    free(text);

    ngx_helpdesk_pg_run(&cp->q);
}


static void
ngx_helpdesk_chat_persist_written(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_ERR, cp->log, 0,
                      "helpdesk chat persist: a batch of %ui was not "
                      "written: %s", cp->count,
                      res ? PQresultErrorMessage(res) : "no connection");

        /* the batch stays pending: read again, from our own entries */
        cp->pending = 1;
        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    cp->state = NGX_HELPDESK_CHAT_PERSIST_ACK;
    ngx_helpdesk_chat_persist_cmd(ngx_helpdesk_chat_persist_acked);

    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "EVAL", 4);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) ngx_helpdesk_chat_persist_ack_lua,
                           sizeof(ngx_helpdesk_chat_persist_ack_lua) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "1", 1);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_STREAM,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_STREAM) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) cp->ids, ngx_strlen(cp->ids));
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_GROUP,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_GROUP) - 1);

    ngx_helpdesk_redis_run(&cp->cmd);
}


static void
ngx_helpdesk_chat_persist_acked(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* written but not acknowledged: written again, harmlessly */
        cp->pending = 1;
        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    /* a full batch: there is likely more */
    ngx_helpdesk_chat_persist_next(cp->count >= 500
                                   ? 0 : NGX_HELPDESK_CHAT_PERSIST_INTERVAL);
}
