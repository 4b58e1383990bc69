/*
 * The agent's side of the protocol: hello (the open chats and the queue),
 * presence, accept, decline, message, note, typing, read, transfer, end,
 * convert.
 *
 * The agent was authenticated by the transport (the console's session);
 * every conversation id an agent names is checked by the chat script
 * against the agent's tenant and, where it matters, against the agent
 * the conversation is assigned to (transfer, end and conversion: or an
 * admin of the tenant).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


static void ngx_http_helpdesk_chat_a_hello(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid);
static void ngx_http_helpdesk_chat_a_settings(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_a_welcome(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_a_accepted(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_a_said(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid, u_char *conv, ngx_uint_t note);
static void ngx_http_helpdesk_chat_a_noop(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_a_uncount(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static ngx_int_t ngx_http_helpdesk_chat_a_conv(json_t *msg, u_char **conv);


#define ngx_chat_type(t, s)                                                   \
    ((t)->len == sizeof(s) - 1 && ngx_strncmp((t)->data, s, (t)->len) == 0)


void
ngx_http_helpdesk_chat_agent(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *type, ngx_str_t *cid)
{
    char                         *j;
    u_char                       *conv;
    json_t                           *v, *ev, *to, *params;
    const char                       *op_name;
    ngx_http_helpdesk_chat_op_t      *op;
    ngx_http_helpdesk_chat_member_t  *m;

    if (ngx_chat_type(type, "hello")) {
        ngx_http_helpdesk_chat_a_hello(s, msg, cid);
        return;
    }

    if (!s->greeted) {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "say \"hello\" first");
        return;
    }

    if (ngx_chat_type(type, "presence")) {
        v = json_object_get(msg, "status");

        if (!json_is_string(v)
            || (ngx_strcmp(json_string_value(v), "available") != 0
                && ngx_strcmp(json_string_value(v), "away") != 0))
        {
            ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                               "\"status\" must be \"available\" or \"away\"");
            return;
        }

        op = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_acked,
                                           cid);
        if (op) {
            ngx_http_helpdesk_chat_script(op, "presence",
                json_pack("{s:s%, s:s%, s:s%, s:O, s:i, s:i}",
                  "t", s->peer->tenant,
                  (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "agent", s->agent.data, s->agent.len,
                  "name", s->peer->agent_name.data, s->peer->agent_name.len,
                  "s", v, "l", (int) s->conf.max_chats, "k", 0));
        }

        return;
    }

    if (ngx_http_helpdesk_chat_a_conv(msg, &conv) != NGX_OK) {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "\"conversation\" must be an id");
        return;
    }

    if (ngx_chat_type(type, "message")) {
        ngx_http_helpdesk_chat_a_said(s, msg, cid, conv, 0);
        return;
    }

    if (ngx_chat_type(type, "note")) {
        ngx_http_helpdesk_chat_a_said(s, msg, cid, conv, 1);
        return;
    }

    if (ngx_chat_type(type, "typing")) {
        v = ngx_http_helpdesk_chat_typing_on(s, msg, cid);
        if (v == NULL) {
            return;
        }

        /* only to a conversation the agent takes part in */
        m = ngx_http_helpdesk_chat_member(s, conv);

        if (m == NULL || m->stale) {
            ngx_http_helpdesk_chat_error(s, cid, "not_found",
                                         "no such conversation");
            return;
        }

        ngx_http_helpdesk_chat_typing(s, conv, "agent", "v", v);
        return;
    }

    if (ngx_chat_type(type, "convert")) {
        ngx_http_helpdesk_chat_convert(s, &s->tenant_id, conv, cid, "agent");
        return;
    }

    op_name = NULL;
    params = NULL;
    j = NULL;

    if (ngx_chat_type(type, "accept")) {
        op_name = "accept";
        ev = json_pack("{s:s, s:{s:s%}}", "type", "joined", "agent", "name",
                       s->peer->agent_name.data, s->peer->agent_name.len);
        j = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        json_decref(ev);
        params = json_pack("{s:s, s:s%, s:b}", "j", j ? j : "{}",
                           "name", s->peer->agent_name.data,
                           s->peer->agent_name.len, "pick", 1);

    } else if (ngx_chat_type(type, "decline")) {
        op_name = "decline";
        params = json_object();

    } else if (ngx_chat_type(type, "read")
               || ngx_chat_type(type, "delivered"))
    {
        /* the script tells the visitor both pointers, as they now are */
        op_name = "pointer";

        if (ngx_http_helpdesk_chat_pointer(s, msg, type, cid, "agent", "v",
                                           &params)
            != NGX_OK)
        {
            return;
        }

    } else if (ngx_chat_type(type, "transfer")) {
        if (!s->conf.transfer) {
            ngx_http_helpdesk_chat_error(s, cid, "forbidden",
                                    "this helpdesk does not allow transfers");
            return;
        }

        to = json_object_get(msg, "to");
        v = json_object_get(msg, "note");

        if ((v && (!json_is_string(v)
                   || json_string_length(v) > s->peer->max_message))
            || !json_is_object(to))
        {
            ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                      "\"to\" must be {\"agent\": id} or {\"group\": name}");
            return;
        }

        op_name = "transfer";

        if (json_string_length(v)) {
            ev = json_pack("{s:s, s:{s:s, s:s%}, s:O}", "type", "note",
                           "from", "kind", "agent", "name",
                           s->peer->agent_name.data, s->peer->agent_name.len,
                           "text", v);
            j = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
            json_decref(ev);
        }

        v = json_object_get(to, "agent");

        if (json_is_string(v)
            && json_string_length(v) == NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
        {
            params = json_pack("{s:O}", "tgt", v);

        } else if (json_object_get(to, "group")) {
            /* the group is looked up first (not_found: no such group) */
            params = json_pack("{s:s, s:s%}", "note", j ? j : "",
                               "name", s->peer->agent_name.data,
                               s->peer->agent_name.len);
            free(j);
            ngx_http_helpdesk_chat_group_transfer(s, cid, conv,
                                                  json_object_get(to, "group"),
                                                  params);
            return;

        } else {
            free(j);
            ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                      "\"to\" must be {\"agent\": id} or {\"group\": name}");
            return;
        }

        if (params) {
            json_object_set_new(params, "note", json_string(j ? j : ""));
            json_object_set_new(params, "name",
                                json_stringn((char *) s->peer->agent_name.data,
                                             s->peer->agent_name.len));
        }

    } else if (ngx_chat_type(type, "end")) {
        op_name = "end";
        params = ngx_http_helpdesk_chat_end("agent");

    } else {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "unknown \"type\"");
        return;
    }

    free(j);

    op = params ? ngx_http_helpdesk_chat_op_cid(s,
                                   op_name[0] == 'a'
                                   ? ngx_http_helpdesk_chat_a_accepted
                                   : ngx_http_helpdesk_chat_acked, cid)
                : NULL;
    if (op == NULL) {
        json_decref(params);
        return;
    }

    ngx_memcpy(op->conv, conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    json_object_set_new(params, "t",
                        json_stringn((char *) s->peer->tenant,
                                     NGX_HTTP_HELPDESK_CHAT_UUID_LEN));
    json_object_set_new(params, "c",
                        json_stringn((char *) conv,
                                     NGX_HTTP_HELPDESK_CHAT_UUID_LEN));
    json_object_set_new(params, "agent",
                        json_stringn((char *) s->agent.data, s->agent.len));
    json_object_set_new(params, "admin", json_boolean(s->peer->admin));

    ngx_http_helpdesk_chat_script(op, op_name, params);
}


static ngx_int_t
ngx_http_helpdesk_chat_a_conv(json_t *msg, u_char **conv)
{
    size_t       i;
    u_char       c;
    json_t      *v;
    const char  *id;

    v = json_object_get(msg, "conversation");

    if (!json_is_string(v)
        || json_string_length(v) != NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
    {
        return NGX_ERROR;
    }

    id = json_string_value(v);

    for (i = 0; i < NGX_HTTP_HELPDESK_CHAT_UUID_LEN; i++) {
        c = id[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return NGX_ERROR;
            }

        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return NGX_ERROR;
        }
    }

    *conv = (u_char *) id;

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_a_hello(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid)
{
    json_t                       *last;
    ngx_str_t                    *proof;
    ngx_http_helpdesk_chat_op_t  *op;

    if (s->greeted || s->busy) {
        ngx_http_helpdesk_chat_error(s, cid, "conflict",
                                     "\"hello\" was said already");
        return;
    }

    last = json_object_get(msg, "last");

    if (last && !json_is_object(last)) {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "\"last\" must be an object");
        return;
    }

    op = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_a_settings,
                                       cid);
    if (op == NULL) {
        return;
    }

    s->busy = 1;
    json_decref(s->hello);
    s->hello = json_incref(msg);

    proof = ngx_http_helpdesk_chat_proof();

    (void) ngx_http_helpdesk_chat_sql_param(op, proof->data, proof->len);
    (void) ngx_http_helpdesk_chat_sql_param(op, s->peer->tenant,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(op, s->agent.data, s->agent.len);

    /* the tenant's settings, and the agent's groups */
    ngx_http_helpdesk_chat_sql(op,
        "SELECT settings, groups"
        " FROM api.chat_agent_hello($1::bytea, $2::uuid, $3::uuid)");
}


static void
ngx_http_helpdesk_chat_a_settings(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    json_t                            *params;
    ngx_str_t                          cid;
    ngx_http_helpdesk_chat_op_t       *next;
    ngx_http_helpdesk_chat_session_t  *s = op->s;

    cid.data = op->cid;
    cid.len = op->cid_len;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1 || PQnfields(res) != 2)
    {
        s->busy = 0;
        ngx_http_helpdesk_chat_error(s, &cid, "unavailable",
                                     "the record is unavailable, try again");
        return;
    }

    ngx_http_helpdesk_chat_settings(s, (u_char *) PQgetvalue(res, 0, 0),
                                    PQgetlength(res, 0, 0));

    /* listening before the hello, so that no offer falls between */
    (void) ngx_http_helpdesk_chat_tenant_join(s);

    next = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_a_welcome,
                                         &cid);
    if (next == NULL) {
        s->busy = 0;
        return;
    }

    params = json_pack("{s:s%, s:s%, s:s%, s:i}",
                       "t", s->peer->tenant,
                       (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                       "agent", s->agent.data, s->agent.len,
                       "name", s->peer->agent_name.data,
                       s->peer->agent_name.len,
                       "l", (int) s->conf.max_chats);

    /* the agent's presence knows its groups (the script's "g", "gv") */
    ngx_http_helpdesk_chat_groups_hello(s,
        PQgetisnull(res, 0, 1) ? NULL : (u_char *) PQgetvalue(res, 0, 1),
        PQgetlength(res, 0, 1), params);

    ngx_http_helpdesk_chat_script(next, "hello", params);
}


static void
ngx_http_helpdesk_chat_a_welcome(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    size_t                             i;
    json_t                            *rec, *chats, *queue, *w, *list, *item;
    json_t                            *last, *l, *offers, *owns;
    ngx_str_t                          status, a, c, q, id, o, own;
    const char                        *conv;
    ngx_http_helpdesk_chat_member_t   *m;
    ngx_http_helpdesk_chat_session_t  *s = op->s;

    s->busy = 0;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) != NGX_OK
        || ngx_http_helpdesk_chat_reply_str(reply, 1, &a) != NGX_OK
        || ngx_http_helpdesk_chat_reply_str(reply, 2, &c) != NGX_OK
        || ngx_http_helpdesk_chat_reply_str(reply, 3, &q) != NGX_OK)
    {
        ngx_http_helpdesk_chat_error_op(op, NULL);
        return;
    }

    /* the script counted this connection: gone() counts it out */
    s->counted = 1;

    if (ngx_http_helpdesk_chat_reply_str(reply, 4, &o) != NGX_OK) {
        ngx_str_set(&o, "[]");
    }

    /* each open chat's last stream id as the hello found it */
    if (ngx_http_helpdesk_chat_reply_str(reply, 5, &own) != NGX_OK) {
        ngx_str_set(&own, "{}");
    }

    rec = json_loadb((char *) a.data, a.len, 0, NULL);
    chats = json_loadb((char *) c.data, c.len, 0, NULL);
    queue = json_loadb((char *) q.data, q.len, 0, NULL);

    if (!json_is_array(chats)) {
        json_decref(chats);
        chats = json_array();
    }

    list = json_array();

    for (i = 0; list && i < json_array_size(queue); i++) {
        item = json_array_get(queue, i);

        /* one waiting for a group: its members' only */
        if (!ngx_http_helpdesk_chat_group_sees(s, item)) {
            continue;
        }

        json_array_append_new(list, json_pack("{s:O, s:{s:O}, s:I}",
            "conversation", json_object_get(item, "c"),
            "visitor", "name", json_object_get(item, "n"),
            "waiting_seconds",
            (json_int_t) (ngx_time()
                          - (time_t) (json_is_string(json_object_get(item, "w"))
                                  ? ngx_atotm((u_char *) json_string_value(
                                                  json_object_get(item, "w")),
                                              json_string_length(
                                                  json_object_get(item, "w"))
                                              - 3)
                                  : ngx_time()))));
    }

    /* what the console shows and offers depends on the tenant's settings */
    w = json_pack("{s:s, s:{s:s%, s:s%, s:O, s:O}, s:o, s:O,"
                  " s:{s:b, s:I, s:I, s:I, s:s}, s:o}",
                  "type", "welcome",
                  "agent", "id", s->agent.data, s->agent.len,
                  "name", s->peer->agent_name.data, s->peer->agent_name.len,
                  "status", json_object_get(rec, "s"),
                  "limit", json_object_get(rec, "l"),
                  "queue", list ? list : json_array(),
                  "chats", chats,
                  "settings",
                  "transfer_allowed", (int) s->conf.transfer,
                  "max_chats_per_agent", (json_int_t) s->conf.max_chats,
                  "accept_timeout_seconds",
                  (json_int_t) s->conf.accept_timeout,
                  "reply_timeout_seconds", (json_int_t) s->conf.reply_timeout,
                  "on_reply_timeout", s->conf.reply_ticket ? "ticket"
                                                           : "requeue",
                  "groups", ngx_http_helpdesk_chat_groups_list(s));

    if (w) {
        s->greeted = 1;
        ngx_http_helpdesk_chat_send_json(s, w);
        json_decref(w);
    }

    /* the offers made before the agent listened */
    offers = json_loadb((char *) o.data, o.len, 0, NULL);

    for (i = 0; s->greeted && i < json_array_size(offers); i++) {
        ngx_http_helpdesk_chat_send_json(s, json_array_get(offers, i));
    }

    json_decref(offers);

    /* the missed events of each open chat after its "last" id */
    last = json_object_get(s->hello, "last");
    owns = json_loadb((char *) own.data, own.len, 0, NULL);

    for (i = 0; s->greeted && i < json_array_size(chats); i++) {
        conv = json_string_value(json_object_get(json_array_get(chats, i),
                                                 "conversation"));
        if (conv == NULL || ngx_strlen(conv) != NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
        {
            continue;
        }

        l = json_object_get(last, conv);
        id.data = (u_char *) json_string_value(l);
        id.len = id.data ? json_string_length(l) : 0;

        m = ngx_http_helpdesk_chat_join(s, (u_char *) conv, &id);

        /* what happened before the hello is not news to the agent */
        l = json_object_get(owns, conv);

        if (m && json_is_string(l)) {
            own.data = (u_char *) json_string_value(l);
            own.len = json_string_length(l);
            ngx_http_helpdesk_chat_own(m, &own);
        }
    }

    json_decref(owns);
    json_decref(rec);
    json_decref(chats);
    json_decref(queue);
}


static void
ngx_http_helpdesk_chat_a_accepted(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t                         status, id;
    ngx_http_helpdesk_chat_member_t  *m;

    ngx_http_helpdesk_chat_acked(op, reply, res);

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) == NGX_OK
        && status.len == 2 && ngx_strncmp(status.data, "ok", 2) == 0)
    {
        /* the whole conversation so far, then live */
        m = ngx_http_helpdesk_chat_join(op->s, op->conv, NULL);

        /* the agent's from its "joined" on: what came before is history */
        if (m && ngx_http_helpdesk_chat_reply_str(reply, 1, &id) == NGX_OK) {
            ngx_http_helpdesk_chat_own(m, &id);
        }
    }
}


static void
ngx_http_helpdesk_chat_a_said(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid, u_char *conv, ngx_uint_t note)
{
    json_t  *text, *att;

    if (ngx_http_helpdesk_chat_message_check(s, msg, cid, &text, &att)
        != NGX_OK)
    {
        return;
    }

    /* a note is the agents' own: never to the visitor, not a reply */
    ngx_http_helpdesk_chat_say(s, cid, conv, note ? "note" : "message",
                               "agent", &s->peer->agent_name, text, att,
                               json_pack("{s:s, s:s, s:s%, s:b, s:[]}",
                                         "aud", note ? "a" : "*",
                                         "who", "agent",
                                         "agent", s->agent.data, s->agent.len,
                                         "msg", !note, "lim"));
}


/*
 * The agent's connection is gone: one connection fewer (offline at 0).
 * A hello whose script is in flight may yet count the connection: its op
 * is kept, without the session, to count it out when the reply comes.
 */

void
ngx_http_helpdesk_chat_agent_gone(ngx_http_helpdesk_chat_session_t *s)
{
    ngx_queue_t                  *q;
    ngx_http_helpdesk_chat_op_t  *op;

    if (!s->counted) {
        for (q = ngx_queue_head(&s->ops);
             q != ngx_queue_sentinel(&s->ops);
             q = ngx_queue_next(q))
        {
            op = ngx_queue_data(q, ngx_http_helpdesk_chat_op_t, queue);

            if (op->handler == ngx_http_helpdesk_chat_a_welcome) {
                ngx_queue_remove(&op->queue);
                op->s = NULL;
                op->handler = ngx_http_helpdesk_chat_a_uncount;
                /* the connection's log goes with it: also the timers' */
                op->cmd.log = ngx_cycle->log;
                op->cmd.timer.log = ngx_cycle->log;
                op->pq.log = ngx_cycle->log;
                op->pq.wait.log = ngx_cycle->log;
                break;
            }
        }

        return;
    }

    op = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_a_noop);
    if (op == NULL) {
        return;
    }

    ngx_http_helpdesk_chat_script(op, "presence",
        json_pack("{s:s%, s:s%, s:s%, s:s, s:i, s:i}",
                  "t", s->peer->tenant,
                  (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "agent", s->agent.data, s->agent.len,
                  "name", s->peer->agent_name.data, s->peer->agent_name.len,
                  "s", "", "l", (int) s->conf.max_chats, "k", -1));
}


static void
ngx_http_helpdesk_chat_a_noop(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
}


/* A hello that counted a connection already gone: counted out. */

static void
ngx_http_helpdesk_chat_a_uncount(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    json_t                       *hello;
    ngx_str_t                     status;
    ngx_http_helpdesk_chat_op_t  *next;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) != NGX_OK
        || status.len != 2 || ngx_strncmp(status.data, "ok", 2) != 0
        || op->params == NULL)
    {
        return;
    }

    /* the hello's own parameters: t, agent, name, l */
    hello = json_loads(op->params, 0, NULL);

    next = hello ? ngx_http_helpdesk_chat_op(NULL,
                                             ngx_http_helpdesk_chat_a_noop)
                 : NULL;
    if (next == NULL) {
        json_decref(hello);
        return;
    }

    json_object_set_new(hello, "s", json_string(""));
    json_object_set_new(hello, "k", json_integer(-1));

    ngx_http_helpdesk_chat_script(next, "presence", hello);
}
