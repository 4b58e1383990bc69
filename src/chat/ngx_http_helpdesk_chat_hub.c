/*
 * The worker's table of local listeners, and delivery.
 *
 * A conversation with a local peer (its visitor, its agent, an agent
 * looking at it) has an entry here with the list of those peers
 * ("members"), and the worker is subscribed to its channel while the
 * list is not empty.  A tenant with local agents or waiting visitors has
 * an entry too, subscribed to the tenant's channel (the queue, offers,
 * presence).
 *
 * Exactly once, in order: each member remembers the last stream id it was
 * sent.  A published event is sent only when it is newer.  A member that
 * joins, and every member after the subscription is confirmed again (a
 * reconnect), reads the stream back from its last id (XRANGE, exclusive)
 * before it takes live events; an event published while that read is in
 * flight, or while the catch-up waits for the client to read what it was
 * sent (ngx_http_helpdesk_chat_catchup.c), marks the member, which reads
 * again from where the read ended.  So an event reaches a member by
 * either path, never by both, and never out of order.
 *
 * An agent listens to a conversation while it is the agent's: an event
 * newer than the point from which it became the agent's ("own") that says
 * it is no longer (transferred, left, ended, converted) is delivered, then
 * marks the member, and a posted event of the session removes the marked
 * members -- never from inside delivery, which runs in loops over the
 * members.  The agent joining again clears the mark.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


#define NGX_HTTP_HELPDESK_CHAT_REQUEUED  1
#define NGX_HTTP_HELPDESK_CHAT_CLOSED    2


static ngx_http_helpdesk_chat_conv_t *ngx_http_helpdesk_chat_conv_get(
    u_char *id);
static void ngx_http_helpdesk_chat_conv_put(ngx_http_helpdesk_chat_conv_t *cv);
static void ngx_http_helpdesk_chat_conv_message(void *data, ngx_uint_t event,
    u_char *msg, size_t len);
static void ngx_http_helpdesk_chat_tenant_message(void *data, ngx_uint_t event,
    u_char *msg, size_t len);
static void ngx_http_helpdesk_chat_published(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static ngx_int_t ngx_http_helpdesk_chat_lost(u_char *json, size_t len);
static void ngx_http_helpdesk_chat_prune(ngx_event_t *ev);


static ngx_rbtree_t       ngx_http_helpdesk_chat_convs;
static ngx_rbtree_node_t  ngx_http_helpdesk_chat_convs_sentinel;
static ngx_rbtree_t       ngx_http_helpdesk_chat_tenants;
static ngx_rbtree_node_t  ngx_http_helpdesk_chat_tenants_sentinel;
static ngx_uint_t         ngx_http_helpdesk_chat_hub_ready;


static void
ngx_http_helpdesk_chat_hub_init(void)
{
    if (ngx_http_helpdesk_chat_hub_ready) {
        return;
    }

    ngx_rbtree_init(&ngx_http_helpdesk_chat_convs,
                    &ngx_http_helpdesk_chat_convs_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&ngx_http_helpdesk_chat_tenants,
                    &ngx_http_helpdesk_chat_tenants_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_http_helpdesk_chat_hub_ready = 1;
}


/* Compares two stream ids "<ms>-<seq>" by value; an empty id is oldest. */

ngx_int_t
ngx_http_helpdesk_chat_id_cmp(u_char *a, size_t alen, u_char *b, size_t blen)
{
    u_char    *ad, *bd;
    size_t     n;
    uint64_t   ams, aseq, bms, bseq;

    ams = aseq = bms = bseq = 0;

    for (n = 0, ad = a; n < alen && *ad != '-'; n++, ad++) {
        ams = ams * 10 + (*ad - '0');
    }

    for (n++, ad++; n < alen; n++, ad++) {
        aseq = aseq * 10 + (*ad - '0');
    }

    for (n = 0, bd = b; n < blen && *bd != '-'; n++, bd++) {
        bms = bms * 10 + (*bd - '0');
    }

    for (n++, bd++; n < blen; n++, bd++) {
        bseq = bseq * 10 + (*bd - '0');
    }

    if (ams != bms) {
        return ams < bms ? -1 : 1;
    }

    if (aseq != bseq) {
        return aseq < bseq ? -1 : 1;
    }

    return 0;
}


/*
 * a Redis stream id: "<ms>-<seq>", each a 64-bit number; but the greatest
 * of all, after which nothing can be read ("(" on it is refused)
 */

ngx_int_t
ngx_http_helpdesk_chat_stream_id(ngx_str_t *v)
{
    size_t       i, digits, dashes;
    uint64_t     n, d;
    ngx_uint_t   top;

    n = 0;
    digits = 0;
    dashes = 0;
    top = 0;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] == '-' && digits && !dashes) {
            dashes = 1;
            digits = 0;
            top = (n == UINT64_MAX);
            n = 0;
            continue;
        }

        if (v->data[i] < '0' || v->data[i] > '9') {
            return NGX_DECLINED;
        }

        d = v->data[i] - '0';

        if (n > (UINT64_MAX - d) / 10) {
            return NGX_DECLINED;
        }

        n = n * 10 + d;
        digits++;
    }

    if (top && n == UINT64_MAX) {
        return NGX_DECLINED;
    }

    return (dashes && digits) ? NGX_OK : NGX_DECLINED;
}


static ngx_http_helpdesk_chat_conv_t *
ngx_http_helpdesk_chat_conv_get(u_char *id)
{
    u_char                         *p;
    uint32_t                        hash;
    ngx_str_t                       key;
    ngx_str_node_t                 *sn;
    ngx_http_helpdesk_chat_conv_t  *cv;

    ngx_http_helpdesk_chat_hub_init();

    key.data = id;
    key.len = NGX_HTTP_HELPDESK_CHAT_UUID_LEN;
    hash = ngx_crc32_long(key.data, key.len);

    sn = ngx_str_rbtree_lookup(&ngx_http_helpdesk_chat_convs, &key, hash);
    if (sn) {
        return (ngx_http_helpdesk_chat_conv_t *) sn;
    }

    cv = ngx_alloc(sizeof(ngx_http_helpdesk_chat_conv_t)
                   + sizeof("hd:chat:{}") - 1 + NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                   ngx_cycle->log);
    if (cv == NULL) {
        return NULL;
    }

    ngx_memzero(cv, sizeof(ngx_http_helpdesk_chat_conv_t));
    ngx_memcpy(cv->id, id, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    cv->sn.str.data = cv->id;
    cv->sn.str.len = NGX_HTTP_HELPDESK_CHAT_UUID_LEN;
    cv->sn.node.key = hash;
    ngx_queue_init(&cv->members);

    p = (u_char *) (cv + 1);
    cv->channel.data = p;
    p = ngx_sprintf(p, "hd:chat:{%*s}", NGX_HTTP_HELPDESK_CHAT_UUID_LEN, id);
    cv->channel.len = p - cv->channel.data;

    if (ngx_helpdesk_redis_sub_subscribe(&cv->channel,
                                         ngx_http_helpdesk_chat_conv_message,
                                         cv)
        == NGX_ERROR)
    {
        ngx_free(cv);
        return NULL;
    }

    ngx_rbtree_insert(&ngx_http_helpdesk_chat_convs, &cv->sn.node);

    return cv;
}


static void
ngx_http_helpdesk_chat_conv_put(ngx_http_helpdesk_chat_conv_t *cv)
{
    if (!ngx_queue_empty(&cv->members)) {
        return;
    }

    ngx_helpdesk_redis_sub_unsubscribe(&cv->channel);
    ngx_rbtree_delete(&ngx_http_helpdesk_chat_convs, &cv->sn.node);
    ngx_free(cv);
}


ngx_http_helpdesk_chat_member_t *
ngx_http_helpdesk_chat_member(ngx_http_helpdesk_chat_session_t *s,
    u_char *conv)
{
    ngx_queue_t                      *q;
    ngx_http_helpdesk_chat_member_t  *m;

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_http_helpdesk_chat_member_t, in_session);

        if (ngx_memcmp(m->conv->id, conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
            == 0)
        {
            return m;
        }
    }

    return NULL;
}


/*
 * s listens to conversation conv from "last" on (NULL or empty: from its
 * beginning); an existing membership is kept as it is.
 */

ngx_http_helpdesk_chat_member_t *
ngx_http_helpdesk_chat_join(ngx_http_helpdesk_chat_session_t *s, u_char *conv,
    ngx_str_t *last)
{
    ngx_http_helpdesk_chat_conv_t    *cv;
    ngx_http_helpdesk_chat_member_t  *m;

    m = ngx_http_helpdesk_chat_member(s, conv);
    if (m) {
        if (m->stale) {
            /* the agent's again: what was held back meanwhile, then live */
            m->stale = 0;

            if (m->conv->ready) {
                ngx_http_helpdesk_chat_catch_up(m);
            }
        }

        return m;
    }

    cv = ngx_http_helpdesk_chat_conv_get(conv);
    if (cv == NULL) {
        return NULL;
    }

    m = ngx_alloc(sizeof(ngx_http_helpdesk_chat_member_t), s->peer->log);
    if (m == NULL) {
        ngx_http_helpdesk_chat_conv_put(cv);
        return NULL;
    }

    ngx_memzero(m, sizeof(ngx_http_helpdesk_chat_member_t));
    m->conv = cv;
    m->s = s;

    /* what is no stream id cannot be resumed from: from the beginning */
    if (last && last->len < NGX_HTTP_HELPDESK_CHAT_ID_LEN
        && ngx_http_helpdesk_chat_stream_id(last) == NGX_OK)
    {
        m->last_len = last->len;
        ngx_memcpy(m->last, last->data, last->len);
    }

    ngx_queue_insert_tail(&cv->members, &m->in_conv);
    ngx_queue_insert_tail(&s->members, &m->in_session);

    if (cv->ready) {
        ngx_http_helpdesk_chat_catch_up(m);
    }

    return m;
}


void
ngx_http_helpdesk_chat_leave(ngx_http_helpdesk_chat_member_t *m)
{
    ngx_http_helpdesk_chat_conv_t  *cv = m->conv;

    if (m->range) {
        ngx_http_helpdesk_chat_op_free(m->range);
    }

    if (m->s->member == m) {
        m->s->member = NULL;
    }

    ngx_queue_remove(&m->in_conv);
    ngx_queue_remove(&m->in_session);
    ngx_free(m);

    ngx_http_helpdesk_chat_conv_put(cv);
}


/* An agent's conversation is the agent's from stream id "id" on. */

void
ngx_http_helpdesk_chat_own(ngx_http_helpdesk_chat_member_t *m, ngx_str_t *id)
{
    if (id->len == 0 || id->len >= NGX_HTTP_HELPDESK_CHAT_ID_LEN
        || ngx_http_helpdesk_chat_id_cmp(id->data, id->len, m->own,
                                         m->own_len) <= 0)
    {
        return;
    }

    ngx_memcpy(m->own, id->data, id->len);
    m->own_len = id->len;
}


/*
 * A message on a conversation's channel: "<id> <audience>\n<json>";
 * the id is "~" for what is not stored (typing, read pointers).
 */

static void
ngx_http_helpdesk_chat_conv_message(void *data, ngx_uint_t event,
    u_char *msg, size_t len)
{
    ngx_http_helpdesk_chat_conv_t  *cv = data;

    u_char                           *sp, *nl, *last;
    ngx_queue_t                      *q, *next;
    ngx_http_helpdesk_chat_member_t  *m;

    if (event == NGX_HELPDESK_REDIS_SUB_READY) {
        cv->ready = 1;

        for (q = ngx_queue_head(&cv->members);
             q != ngx_queue_sentinel(&cv->members);
             q = next)
        {
            next = ngx_queue_next(q);
            m = ngx_queue_data(q, ngx_http_helpdesk_chat_member_t, in_conv);
            ngx_http_helpdesk_chat_catch_up(m);
        }

        return;
    }

    last = msg + len;
    sp = ngx_strlchr(msg, last, ' ');
    nl = sp ? ngx_strlchr(sp, last, '\n') : NULL;

    if (nl == NULL || sp - msg >= NGX_HTTP_HELPDESK_CHAT_ID_LEN) {
        return;
    }

    for (q = ngx_queue_head(&cv->members);
         q != ngx_queue_sentinel(&cv->members);
         q = next)
    {
        next = ngx_queue_next(q);
        m = ngx_queue_data(q, ngx_http_helpdesk_chat_member_t, in_conv);

        if (m->stale) {
            continue;       /* no longer the agent's: leaving */
        }

        if (*msg == '~') {
            ngx_http_helpdesk_chat_deliver(m, NULL, 0, sp + 1, nl - sp - 1,
                                           nl + 1, last - nl - 1);
            continue;
        }

        if (m->range || m->paused) {
            /* catching up: it comes through the catch-up's pages */
            m->missed = 1;

            if (m->s->peer->full) {
                ngx_http_helpdesk_chat_held(m->s, last - nl - 1);
            }

            continue;
        }

        if (ngx_http_helpdesk_chat_id_cmp(msg, sp - msg, m->last, m->last_len)
            <= 0)
        {
            continue;
        }

        ngx_http_helpdesk_chat_deliver(m, msg, sp - msg, sp + 1, nl - sp - 1,
                                       nl + 1, last - nl - 1);
    }
}


void
ngx_http_helpdesk_chat_deliver(ngx_http_helpdesk_chat_member_t *m,
    u_char *id, size_t id_len, u_char *aud, size_t aud_len, u_char *json,
    size_t len)
{
    ngx_uint_t                         role;
    ngx_http_helpdesk_chat_session_t  *s;

    s = m->s;
    role = s->peer->role;

    if (id_len >= NGX_HTTP_HELPDESK_CHAT_ID_LEN || m->stale) {
        return;
    }

    if (aud_len == 1
        && ((aud[0] == 'a' && role != NGX_HTTP_HELPDESK_CHAT_AGENT)
            || (aud[0] == 'v' && role != NGX_HTTP_HELPDESK_CHAT_VISITOR)))
    {
        if (id) {
            m->last_len = id_len;
            ngx_memcpy(m->last, id, id_len);
        }

        return;
    }

    if (id) {
        m->last_len = id_len;
        ngx_memcpy(m->last, id, id_len);
    }

    ngx_http_helpdesk_chat_send_event(s, m->conv->id, id, id_len, json, len);

    if (id && role == NGX_HTTP_HELPDESK_CHAT_VISITOR && s->has_conv
        && ngx_memcmp(m->conv->id, s->conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
           == 0
        && ngx_http_helpdesk_chat_lost(json, len)
           == NGX_HTTP_HELPDESK_CHAT_REQUEUED)
    {
        /* back in the queue: the visitor is told its place again */
        s->waiting = 1;
    }

    if (id && role == NGX_HTTP_HELPDESK_CHAT_AGENT && !m->stale
        && ngx_http_helpdesk_chat_id_cmp(id, id_len, m->own, m->own_len) > 0
        && ngx_http_helpdesk_chat_lost(json, len))
    {
        /* no longer the agent's: left after this loop, not inside it */
        m->stale = 1;

        if (!s->prune.posted && !s->gone) {
            s->prune.handler = ngx_http_helpdesk_chat_prune;
            s->prune.data = s;
            s->prune.log = s->peer->log;
            ngx_post_event(&s->prune, &ngx_posted_events);
        }
    }
}


/*
 * Whether a stored event takes a conversation from its agent: back to the
 * queue (transferred, left: the agent did not answer) or over.
 */

static ngx_int_t
ngx_http_helpdesk_chat_lost(u_char *json, size_t len)
{
    json_t      *ev;
    ngx_int_t    lost;
    const char  *type;

    static const char  *types[] = {
        "\"type\":\"transferred\"", "\"type\":\"left\"",
        "\"type\":\"ended\"", "\"type\":\"converted\"", NULL
    };

    for (lost = 0; types[lost]; lost++) {
        if (ngx_strlcasestrn(json, json + len, (u_char *) types[lost],
                             ngx_strlen(types[lost]) - 1)
            != NULL)
        {
            break;
        }
    }

    if (types[lost] == NULL) {
        return 0;
    }

    ev = json_loadb((char *) json, len, 0, NULL);
    type = json_string_value(json_object_get(ev, "type"));

    lost = type == NULL ? 0
           : (ngx_strcmp(type, "transferred") == 0
              || ngx_strcmp(type, "left") == 0)
           ? NGX_HTTP_HELPDESK_CHAT_REQUEUED
           : (ngx_strcmp(type, "ended") == 0
              || ngx_strcmp(type, "converted") == 0)
           ? NGX_HTTP_HELPDESK_CHAT_CLOSED : 0;

    json_decref(ev);

    return lost;
}


/* Posted: the agent's session leaves the conversations no longer its. */

static void
ngx_http_helpdesk_chat_prune(ngx_event_t *ev)
{
    ngx_http_helpdesk_chat_session_t  *s = ev->data;

    ngx_queue_t                      *q, *next;
    ngx_http_helpdesk_chat_member_t  *m;

    if (s->gone) {
        return;
    }

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = next)
    {
        next = ngx_queue_next(q);
        m = ngx_queue_data(q, ngx_http_helpdesk_chat_member_t, in_session);

        if (m->stale) {
            ngx_http_helpdesk_chat_leave(m);
        }
    }
}


/*
 * What is not stored goes straight to the conversation's channel:
 * typing, read pointers.  Fire and forget: a lost one is of no harm.
 */

void
ngx_http_helpdesk_chat_publish(ngx_str_t *tenant, u_char *conv,
    const char *aud, json_t *event)
{
    char                         *text;
    u_char                       *p;
    size_t                        len;
    ngx_http_helpdesk_chat_op_t  *op;

    text = json_dumps(event, JSON_COMPACT);
    if (text == NULL) {
        return;
    }

    len = ngx_strlen(text);

    op = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_published);
    if (op == NULL) {
        free(text);
        return;
    }

    op->params = malloc(len + 4);
    if (op->params == NULL) {
        free(text);
        ngx_http_helpdesk_chat_op_free(op);
        return;
    }

    p = (u_char *) op->params;
    *p++ = '~';
    *p++ = ' ';
    *p++ = (u_char) aud[0];
    *p++ = '\n';
    ngx_memcpy(p, text, len);
    free(text);

    p = ngx_sprintf(op->cid, "hd:chat:{%*s}", NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                    conv);

    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "PUBLISH", 7);
    ngx_helpdesk_redis_arg(&op->cmd, op->cid, p - op->cid);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) op->params, len + 4);

    ngx_http_helpdesk_chat_command(op);
}


static void
ngx_http_helpdesk_chat_published(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    /* nothing to do: what is not stored may be lost */
}


ngx_int_t
ngx_http_helpdesk_chat_tenant_join(ngx_http_helpdesk_chat_session_t *s)
{
    u_char                           *p;
    uint32_t                          hash;
    ngx_str_t                         key;
    ngx_str_node_t                   *sn;
    ngx_http_helpdesk_chat_tenant_t  *t;

    if (s->tenant) {
        return NGX_OK;
    }

    ngx_http_helpdesk_chat_hub_init();

    key.data = s->peer->tenant;
    key.len = NGX_HTTP_HELPDESK_CHAT_UUID_LEN;
    hash = ngx_crc32_long(key.data, key.len);

    sn = ngx_str_rbtree_lookup(&ngx_http_helpdesk_chat_tenants, &key, hash);

    if (sn) {
        t = (ngx_http_helpdesk_chat_tenant_t *) sn;

    } else {
        t = ngx_alloc(sizeof(ngx_http_helpdesk_chat_tenant_t)
                      + sizeof("hd:chat:t:{}") - 1
                      + NGX_HTTP_HELPDESK_CHAT_UUID_LEN, ngx_cycle->log);
        if (t == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(t, sizeof(ngx_http_helpdesk_chat_tenant_t));
        ngx_memcpy(t->id, key.data, key.len);
        t->sn.str.data = t->id;
        t->sn.str.len = key.len;
        t->sn.node.key = hash;
        ngx_queue_init(&t->sessions);

        p = (u_char *) (t + 1);
        t->channel.data = p;
        p = ngx_sprintf(p, "hd:chat:t:{%V}", &key);
        t->channel.len = p - t->channel.data;

        if (ngx_helpdesk_redis_sub_subscribe(&t->channel,
                                        ngx_http_helpdesk_chat_tenant_message,
                                        t)
            == NGX_ERROR)
        {
            ngx_free(t);
            return NGX_ERROR;
        }

        ngx_rbtree_insert(&ngx_http_helpdesk_chat_tenants, &t->sn.node);
    }

    s->tenant = t;
    ngx_queue_insert_tail(&t->sessions, &s->in_tenant);

    return NGX_OK;
}


void
ngx_http_helpdesk_chat_tenant_leave(ngx_http_helpdesk_chat_session_t *s)
{
    ngx_http_helpdesk_chat_tenant_t  *t = s->tenant;

    if (t == NULL) {
        return;
    }

    s->tenant = NULL;
    ngx_queue_remove(&s->in_tenant);

    if (!ngx_queue_empty(&t->sessions)) {
        return;
    }

    ngx_helpdesk_redis_sub_unsubscribe(&t->channel);
    ngx_rbtree_delete(&ngx_http_helpdesk_chat_tenants, &t->sn.node);
    ngx_free(t);
}


/* The tenant's channel: JSON documents (queue, offer, presence). */

static void
ngx_http_helpdesk_chat_tenant_message(void *data, ngx_uint_t event,
    u_char *msg, size_t len)
{
    ngx_http_helpdesk_chat_tenant_t  *t = data;

    json_t                            *ev;
    ngx_queue_t                       *q, *next;
    ngx_http_helpdesk_chat_session_t  *s;

    if (event != NGX_HELPDESK_REDIS_SUB_MESSAGE) {
        return;
    }

    ev = json_loadb((char *) msg, len, 0, NULL);
    if (ev == NULL || !json_is_object(ev)) {
        json_decref(ev);
        return;
    }

    for (q = ngx_queue_head(&t->sessions);
         q != ngx_queue_sentinel(&t->sessions);
         q = next)
    {
        next = ngx_queue_next(q);
        s = ngx_queue_data(q, ngx_http_helpdesk_chat_session_t, in_tenant);
        ngx_http_helpdesk_chat_tenant_event(s, ev, msg, len);
    }

    json_decref(ev);
}
