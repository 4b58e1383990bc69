/*
 * The conversations layer: what a peer says, and what it is told.
 *
 * A transport hands over a peer (open), its complete messages (receive)
 * and its end (gone).  This file keeps the peer's session, checks the
 * envelope of docs/chat-protocol.md (a JSON object with a "type" and a
 * client id), hands the message to the visitor's or the agent's side,
 * and writes what goes back: stored events with their stream id and time,
 * transient ones with "~<n>", acks and errors.
 *
 * Nothing here blocks: every step is a Redis command or a PostgreSQL
 * statement of the session's (ngx_http_helpdesk_chat_store.c), cancelled
 * when the peer goes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


static ngx_int_t ngx_http_helpdesk_chat_cid_valid(ngx_str_t *cid);
static void ngx_http_helpdesk_chat_send_raw(ngx_http_helpdesk_chat_session_t *s,
    u_char *data, size_t len);


ngx_int_t
ngx_http_helpdesk_chat_open(ngx_http_helpdesk_chat_peer_t *peer)
{
    ngx_http_helpdesk_chat_session_t  *s;

    if (!ngx_helpdesk_redis_configured()) {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "helpdesk chat: needs helpdesk_redis");
        return NGX_ERROR;
    }

    s = ngx_pcalloc(peer->pool, sizeof(ngx_http_helpdesk_chat_session_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->peer = peer;
    ngx_queue_init(&s->ops);
    ngx_queue_init(&s->members);
    s->tenant_id.data = peer->tenant;
    s->tenant_id.len = NGX_HTTP_HELPDESK_CHAT_UUID_LEN;

    if (peer->role == NGX_HTTP_HELPDESK_CHAT_AGENT) {
        s->agent.data = peer->user;
        s->agent.len = NGX_HTTP_HELPDESK_CHAT_UUID_LEN;
    }

    ngx_http_helpdesk_chat_settings(s, NULL, 0);

    if (peer->agent_name.data == NULL) {
        ngx_str_set(&peer->agent_name, "");
    }

    peer->session = s;
    peer->drained = ngx_http_helpdesk_chat_drained;

    /*
     * A stream of server-sent events comes with its visitor's token and
     * its client cannot speak first: it is greeted as after a "hello"
     * with that token and "last" (posted: never from inside open()).
     */
    if (peer->role == NGX_HTTP_HELPDESK_CHAT_VISITOR && !peer->oneshot
        && peer->visitor.len)
    {
        s->sse.handler = ngx_http_helpdesk_chat_visitor_stream;
        s->sse.data = s;
        s->sse.log = peer->log;
        ngx_post_event(&s->sse, &ngx_posted_events);
    }

    return NGX_OK;
}


void
ngx_http_helpdesk_chat_receive(ngx_http_helpdesk_chat_peer_t *peer,
    u_char *data, size_t len)
{
    ngx_http_helpdesk_chat_session_t *s = peer->session;

    json_t        *msg, *v;
    ngx_str_t      type, cid;
    json_error_t   err;

    if (s == NULL || s->gone) {
        return;
    }

    ngx_str_null(&cid);

    msg = json_loadb((char *) data, len, JSON_REJECT_DUPLICATES, &err);

    if (msg == NULL || !json_is_object(msg)) {
        json_decref(msg);
        ngx_http_helpdesk_chat_error(s, NULL, "bad_message",
                                     "not a JSON object");
        return;
    }

    v = json_object_get(msg, "cid");

    if (v != NULL) {
        if (!json_is_string(v)) {
            ngx_http_helpdesk_chat_error(s, NULL, "bad_message",
                                         "\"cid\" must be a string");
            goto done;
        }

        cid.data = (u_char *) json_string_value(v);
        cid.len = json_string_length(v);

        if (ngx_http_helpdesk_chat_cid_valid(&cid) != NGX_OK) {
            ngx_str_null(&cid);
            ngx_http_helpdesk_chat_error(s, NULL, "bad_message",
                              "\"cid\" must be 1-64 of A-Z, a-z, 0-9, _ and -");
            goto done;
        }
    }

    v = json_object_get(msg, "type");

    if (!json_is_string(v)) {
        ngx_http_helpdesk_chat_error(s, &cid, "bad_message",
                                     "\"type\" is missing");
        goto done;
    }

    type.data = (u_char *) json_string_value(v);
    type.len = json_string_length(v);

    if (cid.len == 0) {
        ngx_http_helpdesk_chat_error(s, NULL, "bad_message",
                                     "\"cid\" is missing");
        goto done;
    }

    if (peer->role == NGX_HTTP_HELPDESK_CHAT_AGENT) {
        ngx_http_helpdesk_chat_agent(s, msg, &type, &cid);

    } else {
        ngx_http_helpdesk_chat_visitor(s, msg, &type, &cid);
    }

done:

    json_decref(msg);
}


void
ngx_http_helpdesk_chat_gone(ngx_http_helpdesk_chat_peer_t *peer)
{
    ngx_queue_t                       *q;
    ngx_http_helpdesk_chat_member_t   *m;
    ngx_http_helpdesk_chat_session_t  *s = peer->session;

    if (s == NULL) {
        return;
    }

    s->gone = 1;

    if (s->sse.posted) {
        ngx_delete_posted_event(&s->sse);
    }

    if (s->prune.posted) {
        ngx_delete_posted_event(&s->prune);
    }

    /* the members first: each cancels its own catch-up */
    while (!ngx_queue_empty(&s->members)) {
        q = ngx_queue_head(&s->members);
        m = ngx_queue_data(q, ngx_http_helpdesk_chat_member_t, in_session);
        ngx_http_helpdesk_chat_leave(m);
    }

    if (peer->role == NGX_HTTP_HELPDESK_CHAT_AGENT) {
        /*
         * the agent's connection count, on its own (no session): before
         * the ops are cancelled, so that a hello in flight is undone
         */
        ngx_http_helpdesk_chat_agent_gone(s);
    }

    ngx_http_helpdesk_chat_ops_cancel(s);

    ngx_http_helpdesk_chat_tenant_leave(s);

    if (s->hello) {
        json_decref(s->hello);
        s->hello = NULL;
    }

    json_decref(s->customer);
    s->customer = NULL;

    json_decref(s->groups);
    s->groups = NULL;

    if (s->pending) {
        json_decref(s->pending);
        s->pending = NULL;
    }

    peer->session = NULL;
    peer->drained = NULL;
}


/*
 * The tenant's queue and bot settings (chat.settings(), read at hello):
 * the table's defaults until then.
 */

void
ngx_http_helpdesk_chat_settings(ngx_http_helpdesk_chat_session_t *s,
    u_char *data, size_t len)
{
    json_t                         *js, *v;
    ngx_http_helpdesk_chat_conf_t  *cf = &s->conf;

    if (data == NULL) {
        cf->max_chats = 3;
        cf->accept_timeout = 30;
        cf->reply_timeout = 300;
        cf->auto_ticket = 0;
        cf->transfer = 1;
        cf->bot = 1;
        cf->kb = 1;
        return;
    }

    js = json_loadb((char *) data, len, 0, NULL);

    if (js == NULL) {
        return;
    }

#define ngx_chat_int(name, field, lo, hi)                                     \
    v = json_object_get(js, name);                                            \
    if (json_is_integer(v) && json_integer_value(v) >= lo                     \
        && json_integer_value(v) <= hi)                                       \
    {                                                                         \
        cf->field = (ngx_uint_t) json_integer_value(v);                       \
    }

#define ngx_chat_bool(name, field)                                            \
    v = json_object_get(js, name);                                            \
    if (json_is_boolean(v)) {                                                 \
        cf->field = json_is_true(v);                                          \
    }

#define ngx_chat_str(name, field)                                             \
    v = json_object_get(js, name);                                            \
    if (json_is_string(v)) {                                                  \
        cf->field.len = json_string_length(v);                                \
        cf->field.data = ngx_pnalloc(s->peer->pool, cf->field.len);           \
        if (cf->field.data == NULL) {                                         \
            cf->field.len = 0;                                                \
        } else {                                                              \
            ngx_memcpy(cf->field.data, json_string_value(v), cf->field.len);  \
        }                                                                     \
    }

    ngx_chat_int("max_chats_per_agent", max_chats, 1, 20);
    ngx_chat_int("accept_timeout_seconds", accept_timeout, 1, 600);
    ngx_chat_int("reply_timeout_seconds", reply_timeout, 1, 86400);
    ngx_chat_int("auto_ticket_minutes", auto_ticket, 1, 10080);
    ngx_chat_bool("transfer_allowed", transfer);
    ngx_chat_bool("bot_enabled", bot);
    ngx_chat_bool("bot_kb_suggestions", kb);
    ngx_chat_str("waiting_message", waiting_message);
    ngx_chat_str("greeting", greeting);

    cf->closed = json_is_false(json_object_get(js, "open_now"));

    v = json_object_get(js, "on_reply_timeout");
    cf->reply_ticket = json_is_string(v)
                       && ngx_strcmp(json_string_value(v), "ticket") == 0;

#undef ngx_chat_int
#undef ngx_chat_bool
#undef ngx_chat_str

    json_decref(js);
}


static ngx_int_t
ngx_http_helpdesk_chat_cid_valid(ngx_str_t *cid)
{
    size_t  i;
    u_char  c;

    if (cid->len == 0 || cid->len > NGX_HTTP_HELPDESK_CHAT_CID_LEN) {
        return NGX_ERROR;
    }

    for (i = 0; i < cid->len; i++) {
        c = cid->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_send_raw(ngx_http_helpdesk_chat_session_t *s,
    u_char *data, size_t len)
{
    if (s->gone) {
        return;
    }

    /* a POST's peer is answered with exactly one document */
    if (s->peer->oneshot) {
        if (s->answered) {
            return;
        }

        s->answered = 1;
    }

    /* past its output cap the transport closes the peer (1008) */
    (void) s->peer->send(s->peer, data, len);
}


/* A transient message: gets the session's next "~<n>" id. */

void
ngx_http_helpdesk_chat_send_json(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg)
{
    char    *text;
    u_char   id[NGX_INT_T_LEN + 2];

    ngx_sprintf(id, "~%ui%Z", ++s->seq);

    if (json_object_set_new(msg, "id", json_string((char *) id)) != 0) {
        return;
    }

    text = json_dumps(msg, JSON_COMPACT);
    if (text == NULL) {
        return;
    }

    ngx_http_helpdesk_chat_send_raw(s, (u_char *) text, ngx_strlen(text));
    free(text);
}


/*
 * An event of a conversation as stored ({"type": ...} without its id):
 * sent with its stream id, its conversation and its time (the id's
 * milliseconds), or "~<n>" when it is not stored (id NULL).
 */

void
ngx_http_helpdesk_chat_send_event(ngx_http_helpdesk_chat_session_t *s,
    u_char *conv, u_char *id, size_t id_len, u_char *json, size_t len)
{
    char       *linked;
    u_char     *buf, *p;
    size_t      size;
    ngx_tm_t    tm;
    uint64_t    ms;
    ngx_uint_t  i;

    if (len < 2 || json[0] != '{' || s->gone) {
        return;
    }

    /* its files, with this peer's links */
    linked = ngx_http_helpdesk_chat_links(s, json, len);

    if (linked) {
        json = (u_char *) linked;
        len = ngx_strlen(linked);
    }

    size = len + id_len + NGX_INT_T_LEN
           + sizeof("{\"id\":\"\",\"conversation\":\"\",\"at\":\"\",") + 36
           + sizeof("2026-01-01T00:00:00.000Z");

    buf = ngx_alloc(size, s->peer->log);
    if (buf == NULL) {
        free(linked);
        return;
    }

    if (id) {
        ms = 0;

        for (i = 0; i < id_len && id[i] != '-'; i++) {
            ms = ms * 10 + (id[i] - '0');
        }

        ngx_gmtime((time_t) (ms / 1000), &tm);

        p = ngx_sprintf(buf, "{\"id\":\"%*s\",\"conversation\":\"%*s\","
                        "\"at\":\"%4d-%02d-%02dT%02d:%02d:%02d.%03uLZ\",",
                        id_len, id, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                        conv, tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                        tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                        (uint64_t) (ms % 1000));

    } else {
        p = ngx_sprintf(buf, "{\"id\":\"~%ui\",\"conversation\":\"%*s\",",
                        ++s->seq, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                        conv);
    }

    if (len == 2) {
        p--;    /* "{}": no trailing comma */
    }

    p = ngx_cpymem(p, json + 1, len - 1);

    ngx_http_helpdesk_chat_send_raw(s, buf, p - buf);
    ngx_free(buf);
    free(linked);
}


void
ngx_http_helpdesk_chat_error(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *cid, const char *code, const char *detail)
{
    json_t  *msg;

    msg = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
                    "detail", detail);
    if (msg == NULL) {
        return;
    }

    if (cid && cid->len) {
        json_object_set_new(msg, "cid",
                            json_stringn((char *) cid->data, cid->len));
    }

    if (ngx_strcmp(code, "unavailable") == 0) {
        json_object_set_new(msg, "retry_after",
                            json_integer(ngx_helpdesk_redis_retry_after()));
    }

    ngx_http_helpdesk_chat_send_json(s, msg);
    json_decref(msg);
}


/*
 * A failed op's error: what the chat script answered ("not_found",
 * "conflict", "forbidden", "rate_limited" with seconds), or unavailable.
 */

void
ngx_http_helpdesk_chat_error_op(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply)
{
    json_t     *msg;
    ngx_str_t   code, cid, n;

    cid.data = op->cid;
    cid.len = op->cid_len;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &code) != NGX_OK) {
        ngx_http_helpdesk_chat_error(op->s, &cid, "unavailable",
                                     "the conversation store is unavailable, "
                                     "try again");
        return;
    }

    if (code.len == 12 && ngx_strncmp(code.data, "rate_limited", 12) == 0) {
        msg = json_pack("{s:s, s:s, s:s, s:s%}", "type", "error",
                        "code", "rate_limited",
                        "detail", "too many messages, slow down",
                        "cid", (char *) cid.data, cid.len);
        if (msg == NULL) {
            return;
        }

        if (ngx_http_helpdesk_chat_reply_str(reply, 1, &n) == NGX_OK) {
            json_object_set_new(msg, "retry_after",
                                json_integer(ngx_atoi(n.data, n.len)));
        }

        ngx_http_helpdesk_chat_send_json(op->s, msg);
        json_decref(msg);
        return;
    }

    if (code.len == 9 && ngx_strncmp(code.data, "not_found", 9) == 0) {
        ngx_http_helpdesk_chat_error(op->s, &cid, "not_found",
            ngx_http_helpdesk_chat_reply_str(reply, 1, &n) == NGX_OK
            && n.len == 5 && ngx_strncmp(n.data, "agent", 5) == 0
            ? "no such agent" : "no such conversation");

    } else if (code.len == 9 && ngx_strncmp(code.data, "forbidden", 9) == 0) {
        ngx_http_helpdesk_chat_error(op->s, &cid, "forbidden",
                                     "not yours to do");

    } else {
        ngx_http_helpdesk_chat_error(op->s, &cid, "conflict",
                                     "the conversation is not in a state "
                                     "that allows this");
    }
}


void
ngx_http_helpdesk_chat_ack(ngx_http_helpdesk_chat_session_t *s, u_char *cid,
    size_t cid_len, ngx_str_t *ref, u_char *conv)
{
    json_t  *msg;

    msg = json_pack("{s:s, s:s%}", "type", "ack", "cid", (char *) cid,
                    cid_len);
    if (msg == NULL) {
        return;
    }

    if (ref && ref->len) {
        json_object_set_new(msg, "ref",
                            json_stringn((char *) ref->data, ref->len));
    }

    if (conv) {
        json_object_set_new(msg, "conversation",
                            json_stringn((char *) conv,
                                         NGX_HTTP_HELPDESK_CHAT_UUID_LEN));
    }

    ngx_http_helpdesk_chat_send_json(s, msg);
    json_decref(msg);
}


/*
 * The tenant's channel: the queue (agents see it, but for what waits for
 * a group they are not in; a waiting visitor its place in it), offers (to
 * the agent they name), agents' presence, the tenant's groups.
 */

void
ngx_http_helpdesk_chat_tenant_event(ngx_http_helpdesk_chat_session_t *s,
    json_t *ev, u_char *raw, size_t len)
{
    size_t       i, n;
    json_t      *msg, *queue, *item, *list, *agents;
    const char  *type, *to, *c;
    ngx_uint_t   pos, avail;

    type = json_string_value(json_object_get(ev, "type"));
    if (type == NULL) {
        return;
    }

    queue = json_object_get(ev, "queue");

    if (s->peer->role == NGX_HTTP_HELPDESK_CHAT_VISITOR) {

        if (ngx_strcmp(type, "started") == 0) {
            ngx_http_helpdesk_chat_v_follow(s, ev);
            return;
        }

        if (ngx_strcmp(type, "queue") != 0 || !s->waiting || !s->has_conv) {
            return;
        }

        pos = 0;
        n = json_array_size(queue);
        item = NULL;

        for (i = 0; i < n; i++) {
            item = json_array_get(queue, i);
            c = json_string_value(json_object_get(item, "c"));
            if (c && ngx_strncmp(c, s->conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
                     == 0)
            {
                pos = i + 1;
                break;
            }
        }

        if (pos == 0) {
            s->waiting = 0;     /* taken, or ended */
            return;
        }

        /* waiting for a group: its available members are who answer */
        to = json_string_value(json_object_get(item, "g"));
        agents = to ? json_object_get(json_object_get(ev, "ga"), to)
                    : json_object_get(ev, "agents");
        avail = json_is_integer(agents) && json_integer_value(agents) > 0
                ? (ngx_uint_t) json_integer_value(agents) : 1;

        msg = json_pack("{s:s, s:I, s:I, s:s%}", "type", "queue",
                        "position", (json_int_t) pos,
                        "estimate_seconds", (json_int_t) (pos * 60 / avail),
                        "message", s->conf.waiting_message.data
                                   ? (char *) s->conf.waiting_message.data
                                   : "",
                        s->conf.waiting_message.len);
        if (msg) {
            ngx_http_helpdesk_chat_send_json(s, msg);
            json_decref(msg);
        }

        return;
    }

    if (!s->greeted) {
        return;
    }

    if (ngx_strcmp(type, "offer") == 0) {
        to = json_string_value(json_object_get(ev, "to"));

        if (to == NULL || ngx_strncmp(to, s->agent.data, s->agent.len) != 0) {
            return;
        }

        msg = json_deep_copy(ev);
        if (msg) {
            json_object_del(msg, "to");
            ngx_http_helpdesk_chat_send_json(s, msg);
            json_decref(msg);
        }

        return;
    }

    if (ngx_strcmp(type, "groups") == 0) {
        ngx_http_helpdesk_chat_groups_event(s, ev);
        return;
    }

    if (ngx_strcmp(type, "queue") == 0) {
        list = json_array();
        n = json_array_size(queue);

        for (i = 0; list && i < n; i++) {
            item = json_array_get(queue, i);
            c = json_string_value(json_object_get(item, "w"));

            /* one waiting for a group: its members' only */
            if (!ngx_http_helpdesk_chat_group_sees(s, item)) {
                continue;
            }

            json_array_append_new(list, json_pack("{s:O, s:{s:O}, s:I}",
                "conversation", json_object_get(item, "c"),
                "visitor", "name", json_object_get(item, "n"),
                "waiting_seconds",
                (json_int_t) (c ? ((json_int_t) ngx_time() * 1000
                                   - ngx_atoi((u_char *) c, ngx_strlen(c)))
                                  / 1000 : 0)));
        }

        msg = json_pack("{s:s, s:o}", "type", "queue", "queue", list);
        if (msg) {
            ngx_http_helpdesk_chat_send_json(s, msg);
            json_decref(msg);
        }

        return;
    }

    if (ngx_strcmp(type, "presence") == 0) {
        to = json_string_value(json_object_get(ev, "agent"));

        if (to && ngx_strncmp(to, s->agent.data, s->agent.len) == 0) {
            return;
        }

        msg = json_deep_copy(ev);
        if (msg) {
            ngx_http_helpdesk_chat_send_json(s, msg);
            json_decref(msg);
        }
    }
}
