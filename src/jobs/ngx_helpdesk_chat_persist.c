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
 *  - Redis is never held long for the record: a batch is read 100 entries
 *    a command at most, and acknowledged and deleted 100 a command, other
 *    clients' commands running in between;
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
#include "ngx_helpdesk_chat_persist_int.h"


static void ngx_helpdesk_chat_persist_tick(ngx_event_t *ev);
static void ngx_helpdesk_chat_persist_grouped(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_helpdesk_chat_persist_ack(void);
static void ngx_helpdesk_chat_persist_written(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_chat_persist_acked(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_helpdesk_chat_persist_done(void);
static void ngx_helpdesk_chat_persist_refused(PGresult *res);
static void ngx_helpdesk_chat_persist_buried(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_helpdesk_chat_persist_reset(void);


ngx_helpdesk_chat_persist_t  ngx_helpdesk_chat_persist;


/* acknowledges and deletes entries written (a chunk of a batch's ids) */
static const char  ngx_helpdesk_chat_persist_ack_lua[] =
    "local ids = cjson.decode(ARGV[1]) "
    "redis.call('XACK', KEYS[1], ARGV[2], unpack(ids)) "
    "redis.call('XDEL', KEYS[1], unpack(ids)) "
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
    cp->tick.data = cp;
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

    if (cp->batch) {
        json_decref(cp->batch);
        cp->batch = NULL;
    }

    if (cp->ids) {
        json_decref(cp->ids);
        cp->ids = NULL;
    }

    ngx_str_null(&cp->error);
    cp->more = 0;
    cp->state = NGX_HELPDESK_CHAT_PERSIST_IDLE_STATE;
}


void
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


/* the batch's next read or acknowledgement, once this handler returned */
void
ngx_helpdesk_chat_persist_again(void)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    cp->more = 1;

    if (!cp->tick.posted) {
        ngx_post_event(&cp->tick, &ngx_posted_events);
    }
}


void
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

    if (!cp->ready) {
        return;
    }

    if (cp->more) {
        cp->more = 0;

        if (cp->state == NGX_HELPDESK_CHAT_PERSIST_READ) {
            ngx_helpdesk_chat_persist_read();

        } else if (cp->state == NGX_HELPDESK_CHAT_PERSIST_ACK) {
            ngx_helpdesk_chat_persist_ack();
        }

        return;
    }

    if (cp->state != NGX_HELPDESK_CHAT_PERSIST_IDLE_STATE) {
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


/* the batch read, in one statement */

void
ngx_helpdesk_chat_persist_write(void)
{
    char                         *text;
    ngx_str_t                     v;
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    /* fewer per batch while entries are large, more again when not */
    if (cp->cut) {
        cp->limit = ngx_max(cp->count, 1);

    } else if (!cp->isolate && cp->limit < NGX_HELPDESK_CHAT_PERSIST_BATCH) {
        cp->limit = ngx_min(cp->limit * 2, NGX_HELPDESK_CHAT_PERSIST_BATCH);
    }

    text = json_dumps(cp->batch, JSON_COMPACT);
    json_decref(cp->batch);
    cp->batch = NULL;

    cp->pool = ngx_create_pool(4096, cp->log);

    if (text == NULL || cp->pool == NULL) {
        free(text);
        cp->pending = 1;
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
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_helpdesk_chat_persist_refused(res);
        return;
    }

    ngx_helpdesk_chat_persist_ack();
}


/* the batch's ids acknowledged and deleted, a chunk a command */

static void
ngx_helpdesk_chat_persist_ack(void)
{
    char                         *text;
    size_t                        i, n;
    json_t                       *part;
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    n = json_array_size(cp->ids);

    if (cp->acked >= n) {
        /* nothing read that could be written (an isolated read that found
         * none, or entries deleted meanwhile are still acknowledged) */
        ngx_helpdesk_chat_persist_done();
        return;
    }

    part = json_array();

    for (i = cp->acked;
         part && i < n && i < cp->acked + NGX_HELPDESK_CHAT_PERSIST_CHUNK;
         i++)
    {
        json_array_append(part, json_array_get(cp->ids, i));
    }

    text = part ? json_dumps(part, JSON_COMPACT) : NULL;
    json_decref(part);

    if (text == NULL) {
        /* written, not acknowledged: read and written again, harmlessly */
        cp->isolate = 0;
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
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) text, ngx_strlen(text));
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_GROUP,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_GROUP) - 1);

    /* the command copies its arguments when it is run */
    ngx_helpdesk_redis_run(&cp->cmd);
    free(text);
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

    cp->acked += NGX_HELPDESK_CHAT_PERSIST_CHUNK;

    if (cp->acked < json_array_size(cp->ids)) {
        ngx_helpdesk_chat_persist_again();
        return;
    }

    ngx_helpdesk_chat_persist_done();
}


/* a batch written and acknowledged: what next */

static void
ngx_helpdesk_chat_persist_done(void)
{
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

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
