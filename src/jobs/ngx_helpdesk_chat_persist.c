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
 *  - a batch that PostgreSQL refuses for what it holds (a data error, not
 *    an outage) is written again entry by entry, so that one bad entry
 *    holds back no other; an entry refused alone is tried again each
 *    second while new entries go on, and after its fifth delivery
 *    (XPENDING's count) it moves to the dead-letter stream
 *    "hd:chat:persist:dead" with its error, logged once;
 *  - a batch is at most 500 entries and about 1 MiB (an entry carries the
 *    conversation's state, the visitor's page among it): past that it is
 *    cut, the rest read again at once, and the next reads ask for fewer;
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
#define NGX_HELPDESK_CHAT_PERSIST_BATCH     500
#define NGX_HELPDESK_CHAT_PERSIST_BYTES     (1024 * 1024)
#define NGX_HELPDESK_CHAT_PERSIST_DEAD      "hd:chat:persist:dead"
#define NGX_HELPDESK_CHAT_PERSIST_TRIES     "5"      /* deliveries, then dead */
#define NGX_HELPDESK_CHAT_PERSIST_RETRY     1000
#define NGX_HELPDESK_CHAT_PERSIST_IDLE      "30000"     /* a dead consumer */
#define NGX_HELPDESK_CHAT_PERSIST_CLAIM     5000        /* how often */


typedef enum {
    NGX_HELPDESK_CHAT_PERSIST_IDLE_STATE = 0,
    NGX_HELPDESK_CHAT_PERSIST_GROUP_STATE,
    NGX_HELPDESK_CHAT_PERSIST_READ,
    NGX_HELPDESK_CHAT_PERSIST_WRITE,
    NGX_HELPDESK_CHAT_PERSIST_ACK,
    NGX_HELPDESK_CHAT_PERSIST_DEAD_STATE
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
    ngx_msec_t                          failed_at;
    ngx_uint_t                          count;
    ngx_uint_t                          limit;      /* entries per read */
    u_char                              limit_str[NGX_INT_T_LEN];
    size_t                              limit_len;
    u_char                              consumer[NGX_MAXHOSTNAMELEN + 32];
    size_t                              consumer_len;
    /* writing one by one: the entry, and the last one done */
    u_char                              entry[48];
    size_t                              entry_len;
    u_char                              cursor[48];
    size_t                              cursor_len;
    u_char                              what[80];   /* tenant/conversation */
    size_t                              what_len;
    ngx_str_t                           error;      /* in pool */
    unsigned                            group:1;
    unsigned                            pending:1;  /* read own first */
    unsigned                            claiming:1;
    unsigned                            ready:1;
    unsigned                            isolate:1;  /* one entry at a time */
    unsigned                            failed:1;   /* one left pending */
    unsigned                            cut:1;      /* the batch was cut */
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
static void ngx_helpdesk_chat_persist_refused(PGresult *res);
static void ngx_helpdesk_chat_persist_buried(ngx_helpdesk_redis_cmd_t *cmd,
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


/*
 * An entry refused alone: to the dead-letter stream with its error once
 * delivered often enough (its fields, "o" its id, "e" the error), else
 * left pending.  Answers its delivery count when it moved, else 0.
 */
static const char  ngx_helpdesk_chat_persist_dead_lua[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[2], ARGV[1], ARGV[1], 1) "
    "if not p[1] or tonumber(p[1][4]) < tonumber(ARGV[3]) then return 0 end "
    "local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) "
    "local f = e[1] and e[1][2] or {} "
    "f[#f + 1] = 'o' f[#f + 1] = ARGV[1] f[#f + 1] = 'e' f[#f + 1] = ARGV[4] "
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', '10000', '*', unpack(f)) "
    "redis.call('XACK', KEYS[1], ARGV[2], ARGV[1]) "
    "redis.call('XDEL', KEYS[1], ARGV[1]) "
    "return tonumber(p[1][4])";


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
    cp->limit = NGX_HELPDESK_CHAT_PERSIST_BATCH;

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

    ngx_str_null(&cp->error);
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
 * Own pending entries first (a batch that failed, the rest of one cut),
 * one at a time after the cursor while isolating a refused batch; then
 * entries of dead consumers now and then, then new ones.
 */

static void
ngx_helpdesk_chat_persist_read(void)
{
    u_char                       *p;
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    cp->state = NGX_HELPDESK_CHAT_PERSIST_READ;
    ngx_helpdesk_chat_persist_cmd(ngx_helpdesk_chat_persist_got);
    cp->claiming = 0;

    if (!cp->pending && cp->failed
        && ngx_current_msec - cp->failed_at >= NGX_HELPDESK_CHAT_PERSIST_RETRY)
    {
        /* the entries refused alone: each tried alone again */
        cp->failed = 0;
        cp->pending = 1;
        cp->isolate = 1;
        cp->cursor_len = 0;
    }

    p = ngx_sprintf(cp->limit_str, "%ui", cp->isolate ? 1 : cp->limit);
    cp->limit_len = p - cp->limit_str;

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
        ngx_helpdesk_redis_arg(&cp->cmd, cp->limit_str, cp->limit_len);

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
    ngx_helpdesk_redis_arg(&cp->cmd, cp->limit_str, cp->limit_len);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "STREAMS", 7);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_STREAM,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_STREAM) - 1);

    if (!cp->pending) {
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) ">", 1);

    } else if (cp->isolate && cp->cursor_len) {
        /* own pending entries after the last one written alone */
        ngx_helpdesk_redis_arg(&cp->cmd, cp->cursor, cp->cursor_len);

    } else {
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "0", 1);
    }

    ngx_helpdesk_redis_run(&cp->cmd);
}


static void
ngx_helpdesk_chat_persist_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    char                         *text, key[2];
    size_t                        i, k, size, bytes;
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
            if (cp->isolate) {
                /* each written alone: those refused are tried again */
                cp->isolate = 0;
                cp->failed_at = ngx_current_msec;
            }

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
    bytes = 0;
    cp->cut = 0;
    cp->count = 0;
    cp->entry_len = 0;
    cp->what_len = 0;

    for (i = 0; batch && ids && i < entries->elements; i++) {
        e = entries->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[0]->len >= sizeof(cp->entry))
        {
            continue;
        }

        f = e->element[1];

        /* at most about a megabyte: the rest is read again at once */
        size = 0;

        for (k = 0; f->type == REDIS_REPLY_ARRAY && k < f->elements; k++) {
            if (f->element[k]->type == REDIS_REPLY_STRING) {
                size += f->element[k]->len;
            }
        }

        if (cp->count && bytes + size > NGX_HELPDESK_CHAT_PERSIST_BYTES) {
            cp->cut = 1;
            break;
        }

        bytes += size;
        cp->count++;

        ngx_memcpy(cp->entry, e->element[0]->str, e->element[0]->len);
        cp->entry_len = e->element[0]->len;

        json_array_append_new(ids, json_stringn(e->element[0]->str,
                                                e->element[0]->len));

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
            cp->what_len = ngx_snprintf(cp->what, sizeof(cp->what),
                              "%s/%s",
                              json_string_value(json_object_get(row, "t"))
                              ? json_string_value(json_object_get(row, "t"))
                              : "-",
                              json_string_value(json_object_get(row, "c"))
                              ? json_string_value(json_object_get(row, "c"))
                              : "-")
                           - cp->what;
            json_array_append_new(batch, row);
        }
    }

    /* fewer per read while entries are large, more again when not */
    if (cp->cut) {
        cp->limit = ngx_max(cp->count, 1);

    } else if (!cp->isolate && cp->count == entries->elements
               && cp->limit < NGX_HELPDESK_CHAT_PERSIST_BATCH)
    {
        cp->limit = ngx_min(cp->limit * 2, NGX_HELPDESK_CHAT_PERSIST_BATCH);
    }

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
        ngx_helpdesk_chat_persist_refused(res);
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


/*
 * PostgreSQL did not take a batch.  An outage (no connection, a class of
 * SQLSTATE that says the server, not the data) leaves it pending, read
 * again in a second.  What the data is refused for (22 a data exception,
 * 23 a constraint, 54 a limit) is the batch's: its entries are written
 * one by one, and an entry refused alone goes to the dead-letter stream
 * once it was delivered often enough.
 */

static void
ngx_helpdesk_chat_persist_refused(PGresult *res)
{
    char                         *state, *msg;
    u_char                       *p;
    size_t                        len;
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (state == NULL || ngx_strlen(state) != 5
        || !((state[0] == '2' && (state[1] == '2' || state[1] == '3'))
             || (state[0] == '5' && state[1] == '4')))
    {
        ngx_log_error(NGX_LOG_ERR, cp->log, 0,
                      "helpdesk chat persist: a batch of %ui was not "
                      "written: %s", cp->count,
                      res ? PQresultErrorMessage(res) : "no connection");

        /* the batch stays pending: read again, from our own entries */
        cp->isolate = 0;
        cp->pending = 1;
        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    if (!cp->isolate) {
        ngx_log_error(NGX_LOG_WARN, cp->log, 0,
                      "helpdesk chat persist: a batch of %ui was refused "
                      "(%s: %s), its entries are written one by one",
                      cp->count, state, msg ? msg : "");

        cp->isolate = 1;
        cp->pending = 1;
        cp->cursor_len = 0;
        ngx_helpdesk_chat_persist_next(0);
        return;
    }

    /* one entry refused: the next one goes on meanwhile */
    ngx_memcpy(cp->cursor, cp->entry, cp->entry_len);
    cp->cursor_len = cp->entry_len;

    len = sizeof("SQLSTATE 00000: ") - 1 + (msg ? ngx_strlen(msg) : 0);
    p = ngx_pnalloc(cp->pool, len);
    if (p == NULL) {
        cp->failed = 1;
        ngx_helpdesk_chat_persist_next(0);
        return;
    }

    cp->error.data = p;
    cp->error.len = ngx_snprintf(p, len, "SQLSTATE %s: %s", state,
                                 msg ? msg : "")
                    - p;

    cp->state = NGX_HELPDESK_CHAT_PERSIST_DEAD_STATE;
    ngx_helpdesk_chat_persist_cmd(ngx_helpdesk_chat_persist_buried);

    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "EVAL", 4);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) ngx_helpdesk_chat_persist_dead_lua,
                           sizeof(ngx_helpdesk_chat_persist_dead_lua) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "2", 1);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_STREAM,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_STREAM) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_DEAD,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_DEAD) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, cp->entry, cp->entry_len);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_GROUP,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_GROUP) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_TRIES,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_TRIES) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, cp->error.data, cp->error.len);

    ngx_helpdesk_redis_run(&cp->cmd);
}


static void
ngx_helpdesk_chat_persist_buried(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        /* logged once, when it leaves the stream */
        ngx_log_error(NGX_LOG_ERR, cp->log, 0,
                      "helpdesk chat persist: entry %*s (%*s) was refused "
                      "%i times (%V) and moved to "
                      NGX_HELPDESK_CHAT_PERSIST_DEAD,
                      cp->entry_len, cp->entry, cp->what_len, cp->what,
                      (ngx_int_t) reply->integer, &cp->error);

    } else {
        /* tried again in a second, after the entries after it */
        cp->failed = 1;
    }

    ngx_helpdesk_chat_persist_next(0);
}


static void
ngx_helpdesk_chat_persist_acked(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* written but not acknowledged: written again, harmlessly */
        cp->isolate = 0;
        cp->pending = 1;
        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    if (cp->isolate && cp->entry_len == 0) {
        /* nothing read that could be written alone: the next tick */
        cp->isolate = 0;
        cp->pending = 0;
        ngx_helpdesk_chat_persist_next(NGX_HELPDESK_CHAT_PERSIST_INTERVAL);
        return;
    }

    if (cp->isolate) {
        /* one by one: the next of our own pending entries */
        ngx_memcpy(cp->cursor, cp->entry, cp->entry_len);
        cp->cursor_len = cp->entry_len;
        ngx_helpdesk_chat_persist_next(0);
        return;
    }

    if (cp->cut) {
        /* the rest of what was read is ours, pending: at once */
        cp->pending = 1;
        ngx_helpdesk_chat_persist_next(0);
        return;
    }

    /* a full batch: there is likely more */
    ngx_helpdesk_chat_persist_next(cp->count >= cp->limit
                                   ? 0 : NGX_HELPDESK_CHAT_PERSIST_INTERVAL);
}
