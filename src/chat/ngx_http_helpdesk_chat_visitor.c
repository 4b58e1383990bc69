/*
 * What a visitor says: start (a new conversation, with the pre-chat form
 * and a first message), message, typing, read, handover, end.  Who the
 * visitor is (hello) is in ngx_http_helpdesk_chat_hello.c, the bot in
 * ..._bot.c, the forms in ..._forms.c.
 *
 * A POST of the fallback transport is a oneshot peer: its visitor is
 * looked up first (as for a hello), then its one message is handled, and
 * its answer is exactly one document, its ack or its error.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"
#include "lib/ngx_helpdesk_crypto.h"


static void ngx_http_helpdesk_chat_v_known(json_t *pre, json_t *customer,
    const char *k);
static void ngx_http_helpdesk_chat_v_start(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid);
static void ngx_http_helpdesk_chat_v_started(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_v_message(
    ngx_http_helpdesk_chat_session_t *s, json_t *msg, ngx_str_t *cid);
static void ngx_http_helpdesk_chat_v_simple(
    ngx_http_helpdesk_chat_session_t *s, json_t *msg, ngx_str_t *type,
    ngx_str_t *cid);


void
ngx_http_helpdesk_chat_visitor(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *type, ngx_str_t *cid)
{
    if (type->len == 5 && ngx_strncmp(type->data, "hello", 5) == 0) {
        ngx_http_helpdesk_chat_v_hello(s, msg, cid);
        return;
    }

    if (!s->greeted && s->peer->oneshot && !s->busy) {
        /* a POST: who the visitor is comes with it, then its message */
        json_decref(s->pending);
        s->pending = json_incref(msg);
        ngx_http_helpdesk_chat_v_hello(s, msg, cid);
        return;
    }

    if (!s->greeted) {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "say \"hello\" first");
        return;
    }

    if (type->len == 5 && ngx_strncmp(type->data, "start", 5) == 0) {
        ngx_http_helpdesk_chat_v_start(s, msg, cid);

    } else if (type->len == 7 && ngx_strncmp(type->data, "message", 7) == 0) {
        ngx_http_helpdesk_chat_v_message(s, msg, cid);

    } else if (type->len == 10
               && ngx_strncmp(type->data, "transcript", 10) == 0)
    {
        ngx_http_helpdesk_chat_v_transcript(s, msg, cid);

    } else if ((type->len == 6 && ngx_strncmp(type->data, "typing", 6) == 0)
               || (type->len == 4 && ngx_strncmp(type->data, "read", 4) == 0)
               || (type->len == 9
                   && ngx_strncmp(type->data, "delivered", 9) == 0)
               || (type->len == 8
                   && ngx_strncmp(type->data, "handover", 8) == 0)
               || (type->len == 3 && ngx_strncmp(type->data, "end", 3) == 0))
    {
        ngx_http_helpdesk_chat_v_simple(s, msg, type, cid);

    } else {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "unknown \"type\"");
    }
}


static void
ngx_http_helpdesk_chat_v_known(json_t *pre, json_t *customer, const char *k)
{
    json_t  *v;

    v = json_object_get(pre, k);

    if ((v == NULL || (json_is_string(v) && json_string_length(v) == 0))
        && json_is_string(json_object_get(customer, k)))
    {
        json_object_set(pre, k, json_object_get(customer, k));
    }
}


static void
ngx_http_helpdesk_chat_v_start(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid)
{
    u_char                        raw[16], id[NGX_HTTP_HELPDESK_CHAT_UUID_LEN];
    u_char                        hex[32];
    char                         *j, *pj, *pg;
    json_t                       *pre, *text, *ev, *set, *page;
    const char                   *err, *name, *email, *lang;
    ngx_http_helpdesk_chat_op_t  *op;

    text = json_object_get(msg, "text");

    if (text && (!json_is_string(text)
                 || json_string_length(text) > s->peer->max_message))
    {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "\"text\" must be a string within the "
                                     "tenant's maximum");
        return;
    }

    /* a signed-in customer's name and email, where the form has none */
    pre = json_object_get(msg, "prechat");

    if (s->customer && (pre == NULL || json_is_object(pre))) {
        pre = pre ? json_deep_copy(pre) : json_object();

        if (pre) {
            ngx_http_helpdesk_chat_v_known(pre, s->customer, "name");
            ngx_http_helpdesk_chat_v_known(pre, s->customer, "email");
            json_object_set_new(msg, "prechat", pre);
        }
    }

    err = NULL;
    pre = ngx_http_helpdesk_chat_v_prechat(s, json_object_get(msg, "prechat"),
                                           &err);
    if (pre == NULL) {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     err ? err : "invalid \"prechat\"");
        return;
    }

    if (ngx_helpdesk_random(raw, 16) != NGX_OK) {
        json_decref(pre);
        ngx_http_helpdesk_chat_error(s, cid, "unavailable", "no random");
        return;
    }

    /* a version 4 uuid */
    raw[6] = (raw[6] & 0x0f) | 0x40;
    raw[8] = (raw[8] & 0x3f) | 0x80;
    ngx_hex_dump(hex, raw, 16);
    ngx_sprintf(id, "%*s-%*s-%*s-%*s-%*s", (size_t) 8, hex, (size_t) 4,
                hex + 8, (size_t) 4, hex + 12, (size_t) 4, hex + 16,
                (size_t) 12, hex + 20);

    name = json_string_value(json_object_get(pre, "name"));
    email = json_string_value(json_object_get(pre, "email"));
    lang = json_string_value(json_object_get(s->hello, "lang"));

    if (name) {
        s->name.len = ngx_min(ngx_strlen(name), 200);
        s->name.data = ngx_pnalloc(s->peer->pool, s->name.len);
        if (s->name.data) {
            ngx_memcpy(s->name.data, name, s->name.len);
        } else {
            s->name.len = 0;
        }
    }

    j = NULL;

    if (json_string_length(text)) {
        ev = json_pack("{s:s, s:s%, s:{s:s, s:s}, s:O}", "type", "message",
                       "cid", (char *) cid->data, cid->len,
                       "from", "kind", "visitor", "name", name ? name : "",
                       "text", text);
        j = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        json_decref(ev);
    }

    page = json_object_get(s->hello, "page");
    pj = json_dumps(pre, JSON_COMPACT);
    pg = json_is_object(page) ? json_dumps(page, JSON_COMPACT) : NULL;

    set = json_pack("{s:s, s:s, s:s, s:s%, s:s%, s:i, s:i, s:s, s:s%, s:s,"
                    " s:s}",
            "vn", name ? name : "",
            "ve", email ? email : "",
            "lang", lang ? lang : "",
            "ua", s->peer->user_agent.len ? (char *) s->peer->user_agent.data
                                          : "", s->peer->user_agent.len,
            "ip", s->peer->ip.len ? (char *) s->peer->ip.data : "",
            s->peer->ip.len,
            "at", (int) s->conf.accept_timeout,
            "rt", (int) s->conf.reply_timeout,
            "ort", s->conf.reply_ticket ? "ticket" : "requeue",
            "wm", s->conf.waiting_message.len
                  ? (char *) s->conf.waiting_message.data : "",
            s->conf.waiting_message.len,
            "pre", pj ? pj : "{}",
            "page", pg ? pg : "{}");

    free(pj);
    free(pg);
    json_decref(pre);

    op = set ? ngx_http_helpdesk_chat_op_cid(s,
                                             ngx_http_helpdesk_chat_v_started,
                                             cid)
             : NULL;

    if (op == NULL) {
        free(j);
        json_decref(set);
        return;
    }

    /* cjson in the script reads numbers as numbers: "at" and "rt" too */
    ngx_memcpy(op->conv, id, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    ngx_http_helpdesk_chat_script(op, "start",
        json_pack("{s:s%, s:s%, s:s%, s:s%, s:o, s:s, s:b, s:i, s:o}",
                  "t", s->peer->tenant,
                  (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "c", id, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "v", s->visitor, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "cid", (char *) cid->data, cid->len,
                  "set", set,
                  "j", j ? j : "",
                  "queue", !s->conf.bot,
                  "auto", (int) (s->conf.auto_ticket * 60),
                  "lim", ngx_http_helpdesk_chat_limits(s, 1)));
    free(j);

    /* the bot answers the first message */
    json_object_set(s->hello, "first", text ? text : json_null());
}


static void
ngx_http_helpdesk_chat_v_started(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t                          status, c, ref;
    ngx_http_helpdesk_chat_session_t  *s = op->s;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) != NGX_OK) {
        ngx_http_helpdesk_chat_error_op(op, NULL);
        return;
    }

    if ((status.len == 2 && ngx_strncmp(status.data, "ok", 2) == 0)
        || (status.len == 3 && ngx_strncmp(status.data, "dup", 3) == 0))
    {
        if (ngx_http_helpdesk_chat_reply_str(reply, 1, &c) != NGX_OK
            || c.len != NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
        {
            ngx_http_helpdesk_chat_error_op(op, NULL);
            return;
        }

        if (ngx_http_helpdesk_chat_reply_str(reply, 2, &ref) != NGX_OK) {
            ngx_str_null(&ref);
        }

        if (s->member
            && ngx_memcmp(s->member->conv->id, c.data, c.len) != 0)
        {
            ngx_http_helpdesk_chat_leave(s->member);
        }

        ngx_memcpy(s->conv, c.data, c.len);
        s->has_conv = 1;
        s->waiting = !s->conf.bot;

        ngx_http_helpdesk_chat_ack(s, op->cid, op->cid_len, &ref, s->conv);

        if (s->member == NULL && !s->peer->oneshot) {
            s->member = ngx_http_helpdesk_chat_join(s, s->conv, NULL);
        }

        if (status.len == 2 && s->conf.bot) {
            ngx_http_helpdesk_chat_v_bot(s, json_object_get(s->hello,
                                                            "first"));
        }

        return;
    }

    if (status.len == 8 && ngx_strncmp(status.data, "conflict", 8) == 0) {
        ngx_http_helpdesk_chat_error(s, &(ngx_str_t) { op->cid_len, op->cid },
                                     "conflict",
                                     "a conversation is open already");
        return;
    }

    ngx_http_helpdesk_chat_error_op(op, reply);
}


static void
ngx_http_helpdesk_chat_v_message(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid)
{
    json_t  *text, *att;

    if (!s->has_conv) {
        ngx_http_helpdesk_chat_error(s, cid, "conflict",
                                     "no open conversation: \"start\" one");
        return;
    }

    if (ngx_http_helpdesk_chat_message_check(s, msg, cid, &text, &att)
        != NGX_OK)
    {
        return;
    }

    ngx_http_helpdesk_chat_say(s, cid, s->conv, "message", "visitor",
                               &s->name, text, att,
                               json_pack("{s:s, s:s, s:b, s:o}",
                                         "aud", "*", "who", "visitor",
                                         "msg", 1,
                                         "lim",
                                         ngx_http_helpdesk_chat_limits(s, 0)));
}


/* typing, read, delivered, handover, end */

static void
ngx_http_helpdesk_chat_v_simple(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *type, ngx_str_t *cid)
{
    json_t                        *v, *ev, *params;
    const char                    *name;
    ngx_http_helpdesk_chat_op_t   *op;
    ngx_http_helpdesk_chat_op_pt   handler;

    if (type->len == 6 && ngx_strncmp(type->data, "typing", 6) == 0) {
        v = ngx_http_helpdesk_chat_typing_on(s, msg, cid);
        if (v == NULL) {
            return;
        }

        if (s->has_conv) {
            ngx_http_helpdesk_chat_typing(s, s->conv, "visitor", "a", v);
        }

        if (s->peer->oneshot) {
            ngx_http_helpdesk_chat_ack(s, cid->data, cid->len, NULL, NULL);
        }

        return;
    }

    if (!s->has_conv) {
        ngx_http_helpdesk_chat_error(s, cid, "conflict",
                                     "no open conversation");
        return;
    }

    if ((type->len == 4 && ngx_strncmp(type->data, "read", 4) == 0)
        || (type->len == 9 && ngx_strncmp(type->data, "delivered", 9) == 0))
    {
        /* the script tells the agents both pointers, as they now are */
        if (ngx_http_helpdesk_chat_pointer(s, msg, type, cid, "visitor", "a",
                                           &params)
            != NGX_OK)
        {
            return;
        }

        op = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_acked,
                                           cid);
        if (op == NULL) {
            json_decref(params);
            return;
        }

        ngx_http_helpdesk_chat_conv_script(s, op, "pointer", s->conv, params);
        return;
    }

    if (type->len == 8 && ngx_strncmp(type->data, "handover", 8) == 0) {
        name = "handover";
        handler = ngx_http_helpdesk_chat_v_queued;
        /*
         * waiting from now: the queue's news (published by the script,
         * on the subscriber's connection) may come before its reply
         */
        s->waiting = 1;
        ev = json_pack("{s:s, s:{s:s, s:s}, s:s%, s:b}", "type", "message",
                       "from", "kind", "bot", "name", "",
                       "text", s->conf.waiting_message.len
                               ? (char *) s->conf.waiting_message.data : "",
                       s->conf.waiting_message.len,
                       "handover", 1);
        params = ngx_http_helpdesk_chat_by("visitor", ev);

    } else if (type->len == 3 && ngx_strncmp(type->data, "end", 3) == 0) {
        name = "end";
        handler = ngx_http_helpdesk_chat_acked;
        params = ngx_http_helpdesk_chat_end("visitor");

    } else {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "unknown \"type\"");
        return;
    }

    op = params ? ngx_http_helpdesk_chat_op_cid(s, handler, cid) : NULL;
    if (op == NULL) {
        json_decref(params);
        return;
    }

    ngx_http_helpdesk_chat_conv_script(s, op, name, s->conv, params);
}
