/*
 * Catching up: a member reads its conversation's stream back from the
 * last id it was sent (a resume's "last", or a reconnect to Redis), at
 * the pace at which its client reads.
 *
 * The stream is read in pages of NGX_HTTP_HELPDESK_CHAT_RANGE events
 * (XRANGE, exclusive of the last id sent, with COUNT).  The events of a
 * page are sent while the peer's output is not "full" (more than
 * NGX_HTTP_HELPDESK_CHAT_LOW_WATER waiting); once it is, the rest of the
 * page is dropped and the member waits ("paused") until the transport
 * says the output drained, then reads on from its last id.  So what a
 * catch-up queues stays near the low-water mark however much was missed,
 * and a client that reads catches up however far behind it was; one that
 * does not read stays where it is until the output cap or send_timeout
 * ends it.
 *
 * Events published while a member catches up (a read in flight, or
 * paused) are not sent live: they mark the member, and come through the
 * next page, once and in order.  What is held back so while the client
 * does not read counts as its output would: past
 * NGX_HTTP_HELPDESK_CHAT_HELD_MAX the client is closed as too slow a
 * reader (1008), as the transport's output cap would close it.
 *
 * A client's "last" past the newest event of the stream (no client of
 * ours sends one) would hide every event up to it: when a first read
 * finds nothing after it, the stream's newest id is asked for, and such
 * a "last" is taken as none: the conversation is sent from its start.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


static void ngx_http_helpdesk_chat_range(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_check_last(
    ngx_http_helpdesk_chat_member_t *m);
static void ngx_http_helpdesk_chat_newest(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);


void
ngx_http_helpdesk_chat_catch_up(ngx_http_helpdesk_chat_member_t *m)
{
    u_char                       *p, *from;
    size_t                        from_len;
    ngx_http_helpdesk_chat_op_t  *op;

    if (m->stale || m->s->gone) {
        return;
    }

    if (m->range) {
        m->missed = 1;
        return;
    }

    if (m->s->peer->full) {
        /* the client has enough to read: the next page once it drained */
        m->paused = 1;
        return;
    }

    op = ngx_http_helpdesk_chat_op(m->s, ngx_http_helpdesk_chat_range);
    if (op == NULL) {
        return;
    }

    from = (u_char *) "-";
    from_len = 1;

    if (m->last_len) {
        /* exclusive: "(" and the last id sent */
        op->pool = ngx_create_pool(256, m->s->peer->log);
        from = op->pool ? ngx_pnalloc(op->pool, m->last_len + 1) : NULL;

        if (from == NULL) {
            ngx_http_helpdesk_chat_op_free(op);
            return;
        }

        from[0] = '(';
        ngx_memcpy(from + 1, m->last, m->last_len);
        from_len = m->last_len + 1;
    }

    op->data = m;
    m->range = op;
    m->missed = 0;
    m->paused = 0;

    p = ngx_sprintf(op->cid, "%V:s", &m->conv->channel);

    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "XRANGE", 6);
    ngx_helpdesk_redis_arg(&op->cmd, op->cid, p - op->cid);
    ngx_helpdesk_redis_arg(&op->cmd, from, from_len);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "+", 1);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "COUNT", 5);
    ngx_helpdesk_redis_arg(&op->cmd,
                           (u_char *) ngx_value(NGX_HTTP_HELPDESK_CHAT_RANGE),
                           sizeof(ngx_value(NGX_HTTP_HELPDESK_CHAT_RANGE)) - 1);

    ngx_http_helpdesk_chat_command(op);
}


static void
ngx_http_helpdesk_chat_range(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_http_helpdesk_chat_member_t  *m = op->data;

    size_t       i, k;
    ngx_str_t    id, json, aud, f;
    redisReply  *e, *fields;

    m->range = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        /* Redis is away: the next READY reads again */
        return;
    }

    if (reply->elements == 0 && m->last_len && !m->checked) {
        ngx_http_helpdesk_chat_check_last(m);
        return;
    }

    /* something after "last": it is within the stream */
    m->checked = 1;

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || ngx_http_helpdesk_chat_reply_str(e, 0, &id) != NGX_OK
            || e->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        fields = e->element[1];
        json.len = 0;
        aud.len = 0;

        for (k = 0; k + 1 < fields->elements; k += 2) {
            if (ngx_http_helpdesk_chat_reply_str(fields, k, &f) != NGX_OK) {
                continue;
            }

            if (f.len == 1 && f.data[0] == 'j') {
                (void) ngx_http_helpdesk_chat_reply_str(fields, k + 1, &json);

            } else if (f.len == 1 && f.data[0] == 'u') {
                (void) ngx_http_helpdesk_chat_reply_str(fields, k + 1, &aud);
            }
        }

        if (id.len >= NGX_HTTP_HELPDESK_CHAT_ID_LEN
            || ngx_http_helpdesk_chat_id_cmp(id.data, id.len, m->last,
                                             m->last_len) <= 0)
        {
            continue;
        }

        if (json.len == 0) {
            /*
             * No event (an entry of another kind): passed over as an
             * event for the other side is, so that a page of nothing to
             * send still moves the member on, and is not read again
             */
            m->last_len = id.len;
            ngx_memcpy(m->last, id.data, id.len);
            continue;
        }

        if (m->s->peer->full) {
            /* the rest of the page, and what follows, once it drained */
            m->paused = 1;
            return;
        }

        ngx_http_helpdesk_chat_deliver(m, id.data, id.len, aud.data, aud.len,
                                       json.data, json.len);

        if (m->s->gone || m->stale) {
            /* gone, or no longer the agent's: nothing after that */
            return;
        }
    }

    if (reply->elements == NGX_HTTP_HELPDESK_CHAT_RANGE || m->missed) {
        /* more to read, or published while this read was in flight */
        ngx_http_helpdesk_chat_catch_up(m);
    }
}


/* Nothing after the client's "last": is it past the stream's newest? */

static void
ngx_http_helpdesk_chat_check_last(ngx_http_helpdesk_chat_member_t *m)
{
    u_char                       *p;
    ngx_http_helpdesk_chat_op_t  *op;

    m->checked = 1;

    op = ngx_http_helpdesk_chat_op(m->s, ngx_http_helpdesk_chat_newest);
    if (op == NULL) {
        return;
    }

    op->data = m;
    m->range = op;

    p = ngx_sprintf(op->cid, "%V:s", &m->conv->channel);

    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "XREVRANGE", 9);
    ngx_helpdesk_redis_arg(&op->cmd, op->cid, p - op->cid);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "+", 1);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "-", 1);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "COUNT", 5);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "1", 1);

    ngx_http_helpdesk_chat_command(op);
}


static void
ngx_http_helpdesk_chat_newest(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_http_helpdesk_chat_member_t  *m = op->data;

    ngx_str_t    id;
    redisReply  *e;

    m->range = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        /* Redis is away: the next READY reads again */
        return;
    }

    if (reply->elements == 0) {
        /* an empty stream: nothing to send, whatever "last" says */
        m->last_len = 0;

    } else {
        e = reply->element[0];

        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2
            && ngx_http_helpdesk_chat_reply_str(e, 0, &id) == NGX_OK
            && ngx_http_helpdesk_chat_id_cmp(id.data, id.len, m->last,
                                             m->last_len) < 0)
        {
            /* past the newest: taken as none, the whole conversation */
            m->last_len = 0;
            m->missed = 1;
        }
    }

    if (m->missed) {
        ngx_http_helpdesk_chat_catch_up(m);
    }
}


/*
 * The transport's (posted): the peer's output is down to the low-water
 * mark, and the members that wait for it read on.
 */

void
ngx_http_helpdesk_chat_drained(ngx_http_helpdesk_chat_peer_t *peer)
{
    ngx_http_helpdesk_chat_session_t  *s = peer->session;

    ngx_queue_t                      *q, *next;
    ngx_http_helpdesk_chat_member_t  *m;

    if (s == NULL || s->gone) {
        return;
    }

    s->held = 0;

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = next)
    {
        next = ngx_queue_next(q);
        m = ngx_queue_data(q, ngx_http_helpdesk_chat_member_t, in_session);

        if (m->paused && m->conv->ready && !peer->full) {
            ngx_http_helpdesk_chat_catch_up(m);
        }
    }
}


/* A live event of len bytes held back while the client's output is full. */

void
ngx_http_helpdesk_chat_held(ngx_http_helpdesk_chat_session_t *s, size_t len)
{
    if (s->gone || s->held > NGX_HTTP_HELPDESK_CHAT_HELD_MAX) {
        return;
    }

    s->held += len;

    if (s->held > NGX_HTTP_HELPDESK_CHAT_HELD_MAX) {
        s->peer->close(s->peer, NGX_HTTP_HELPDESK_CHAT_POLICY,
                       "too slow a reader");
    }
}
