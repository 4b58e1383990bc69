/*
 * Who a visitor is: its hello (or a stream's, or a POST's), the browser's
 * token (32 random bytes, hex) of which the record keeps only the SHA-256
 * (helpdesk.chat_visitors), the tenant's settings, the open conversation
 * (or the last one) with its state, and the welcome; then the stored
 * events after "last", or the whole conversation so far.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"
#include "lib/ngx_helpdesk_crypto.h"


static ngx_int_t ngx_http_helpdesk_chat_v_token(
    ngx_http_helpdesk_chat_session_t *s, json_t *v);
static void ngx_http_helpdesk_chat_v_lookup(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_v_state(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_v_pending(
    ngx_http_helpdesk_chat_session_t *s);
static void ngx_http_helpdesk_chat_v_welcome(
    ngx_http_helpdesk_chat_session_t *s, json_t *conv);


void
ngx_http_helpdesk_chat_v_hello(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid)
{
    u_char                        hash[32], hex[2 + 64];
    ngx_str_t                    *proof;
    ngx_uint_t                    linked;
    ngx_http_helpdesk_chat_op_t  *op;

    if (s->greeted || s->busy) {
        ngx_http_helpdesk_chat_error(s, cid, "conflict",
                                     "\"hello\" was said already");
        return;
    }

    if (ngx_http_helpdesk_chat_v_token(s, json_object_get(msg, "visitor"))
        != NGX_OK)
    {
        ngx_http_helpdesk_chat_error(s, cid, "unavailable", "no token");
        return;
    }

    json_decref(s->hello);
    s->hello = json_incref(msg);

    op = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_v_lookup, cid);
    if (op == NULL) {
        return;
    }

    s->busy = 1;

    ngx_helpdesk_sha256(s->token, 64, hash);
    hex[0] = '\\';
    hex[1] = 'x';
    ngx_hex_dump(hex + 2, hash, 32);

    proof = ngx_http_helpdesk_chat_proof();

    (void) ngx_http_helpdesk_chat_sql_param(op, proof->data, proof->len);
    (void) ngx_http_helpdesk_chat_sql_param(op, s->peer->tenant,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(op, hex, sizeof(hex));

    /* the portal's signed-in customer the handshake found, if any */
    linked = s->peer->customer[0] != '\0';

    if (linked) {
        (void) ngx_http_helpdesk_chat_sql_param(op, s->peer->customer,
                                               NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    }

    ngx_http_helpdesk_chat_sql(op, linked
        ? "SELECT visitor_id, last_conversation, settings, customer "
          "FROM api.chat_visitor($1::bytea, $2::uuid, $3::bytea, $4::uuid)"
        : "SELECT visitor_id, last_conversation, settings, customer "
          "FROM api.chat_visitor($1::bytea, $2::uuid, $3::bytea, NULL)");
}


static ngx_int_t
ngx_http_helpdesk_chat_v_token(ngx_http_helpdesk_chat_session_t *s,
    json_t *v)
{
    size_t       i, len;
    u_char       c, raw[32];
    const char  *t;

    t = NULL;
    len = 0;

    if (json_is_string(v)) {
        t = json_string_value(v);
        len = json_string_length(v);

    } else if (s->peer->visitor.len) {
        t = (const char *) s->peer->visitor.data;
        len = s->peer->visitor.len;
    }

    if (t && len == 64) {
        for (i = 0; i < 64; i++) {
            c = t[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                break;
            }
        }

        if (i == 64) {
            ngx_memcpy(s->token, t, 64);
            return NGX_OK;
        }
    }

    if (ngx_helpdesk_random(raw, sizeof(raw)) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_hex_dump(s->token, raw, sizeof(raw));

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_v_lookup(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t                          cid;
    ngx_http_helpdesk_chat_op_t       *next;
    ngx_http_helpdesk_chat_session_t  *s = op->s;

    cid.data = op->cid;
    cid.len = op->cid_len;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        s->retoken = 0;
        s->busy = 0;
        ngx_http_helpdesk_chat_error(s, &cid, "unavailable",
                                     "the record is unavailable, try again");
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        /*
         * a token of another tenant's: this browser gets a new one here,
         * once (a new token that finds no visitor either is a failure)
         */
        if (!s->retoken
            && ngx_http_helpdesk_chat_v_token(s, NULL) == NGX_OK)
        {
            s->retoken = 1;
            s->peer->visitor.len = 0;
            s->busy = 0;
            json_object_del(s->hello, "visitor");
            next = (ngx_http_helpdesk_chat_op_t *) s->hello;
            s->hello = NULL;
            ngx_http_helpdesk_chat_v_hello(s, (json_t *) next, &cid);
            json_decref((json_t *) next);
            return;
        }

        s->retoken = 0;
        s->busy = 0;
        ngx_http_helpdesk_chat_error(s, &cid, "unavailable", "no token");
        return;
    }

    s->retoken = 0;

    ngx_memcpy(s->visitor, PQgetvalue(res, 0, 0),
               NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    ngx_http_helpdesk_chat_settings(s, (u_char *) PQgetvalue(res, 0, 2),
                                    PQgetlength(res, 0, 2));

    json_decref(s->customer);
    s->customer = PQgetisnull(res, 0, 3)
                  ? NULL
                  : json_loadb(PQgetvalue(res, 0, 3), PQgetlength(res, 0, 3),
                               0, NULL);

    next = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_v_state,
                                         &cid);
    if (next == NULL) {
        s->busy = 0;
        return;
    }

    ngx_http_helpdesk_chat_script(next, "visitor",
        json_pack("{s:s%, s:s%, s:s}",
                  "t", s->peer->tenant,
                  (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "v", s->visitor, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "last", PQgetisnull(res, 0, 1) ? ""
                                                 : PQgetvalue(res, 0, 1)));
}


static void
ngx_http_helpdesk_chat_v_state(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    json_t                            *h, *conv, *last, *agent;
    ngx_str_t                          status, c, state, l;
    const char                        *st, *an;
    ngx_http_helpdesk_chat_session_t  *s = op->s;

    s->busy = 0;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) != NGX_OK) {
        ngx_http_helpdesk_chat_error_op(op, NULL);
        return;
    }

    s->no_agent = ngx_http_helpdesk_chat_reply_str(reply, 3, &l) == NGX_OK
                  && l.len == 1 && l.data[0] == '0';

    if (status.len != 2
        || ngx_http_helpdesk_chat_reply_str(reply, 1, &c) != NGX_OK
        || c.len != NGX_HTTP_HELPDESK_CHAT_UUID_LEN
        || ngx_http_helpdesk_chat_reply_str(reply, 2, &state) != NGX_OK
        || (h = json_loadb((char *) state.data, state.len, 0, NULL)) == NULL)
    {
        if (s->pending) {
            ngx_http_helpdesk_chat_v_pending(s);
            return;
        }

        ngx_http_helpdesk_chat_v_welcome(s, NULL);
        return;
    }

    st = json_string_value(json_object_get(h, "st"));
    an = json_string_value(json_object_get(h, "an"));
    st = st ? st : "ended";

    agent = (an && *an) ? json_pack("{s:s}", "name", an) : json_null();

#define ngx_chat_h(k)                                                         \
    (json_string_value(json_object_get(h, k))                                 \
     ? json_string_value(json_object_get(h, k)) : "")

    /* each side's pointers: what it has received, and what it has read */
    conv = json_pack("{s:s%, s:s, s:o, s:{s:s, s:s}, s:{s:s, s:s}}",
                     "id", (char *) c.data, c.len, "status", st,
                     "agent", agent,
                     "read", "visitor", ngx_chat_h("rv"),
                     "agent", ngx_chat_h("ra"),
                     "delivered", "visitor", ngx_chat_h("dv"),
                     "agent", ngx_chat_h("da"));

#undef ngx_chat_h

    ngx_memcpy(s->conv, c.data, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    s->has_conv = ngx_strcmp(st, "ended") != 0
                  && ngx_strcmp(st, "converted") != 0;
    s->waiting = ngx_strcmp(st, "queued") == 0;

    json_decref(h);

    if (s->pending) {
        json_decref(conv);
        ngx_http_helpdesk_chat_v_pending(s);
        return;
    }

    ngx_http_helpdesk_chat_v_welcome(s, conv);
    json_decref(conv);

    if (s->peer->oneshot) {
        return;
    }

    /* every stored event after "last", or the whole conversation */
    last = json_object_get(s->hello, "last");
    l.data = (u_char *) json_string_value(last);
    l.len = l.data ? json_string_length(last) : 0;

    s->member = ngx_http_helpdesk_chat_join(s, s->conv, &l);
}


static void
ngx_http_helpdesk_chat_v_pending(ngx_http_helpdesk_chat_session_t *s)
{
    json_t     *msg;
    ngx_str_t   type, cid;

    msg = s->pending;
    s->pending = NULL;
    s->greeted = 1;

    type.data = (u_char *) json_string_value(json_object_get(msg, "type"));
    type.len = json_string_length(json_object_get(msg, "type"));
    cid.data = (u_char *) json_string_value(json_object_get(msg, "cid"));
    cid.len = json_string_length(json_object_get(msg, "cid"));

    if (type.data && cid.data) {
        ngx_http_helpdesk_chat_visitor(s, msg, &type, &cid);
    }

    json_decref(msg);
}


/*
 * A conversation of this visitor's was started on another connection (a
 * POST beside this event stream, another tab): this one follows it from
 * its start, as the connection that started it does.
 */

void
ngx_http_helpdesk_chat_v_follow(ngx_http_helpdesk_chat_session_t *s,
    json_t *ev)
{
    json_t  *c, *v;

    c = json_object_get(ev, "c");
    v = json_object_get(ev, "v");

    if (!s->greeted || s->peer->oneshot
        || json_string_length(c) != NGX_HTTP_HELPDESK_CHAT_UUID_LEN
        || json_string_length(v) != NGX_HTTP_HELPDESK_CHAT_UUID_LEN
        || ngx_strncmp(json_string_value(v), s->visitor,
                       NGX_HTTP_HELPDESK_CHAT_UUID_LEN) != 0)
    {
        return;
    }

    if (s->member) {
        if (ngx_strncmp(s->member->conv->id, json_string_value(c),
                        NGX_HTTP_HELPDESK_CHAT_UUID_LEN) == 0)
        {
            return;     /* this connection started it */
        }

        ngx_http_helpdesk_chat_leave(s->member);
    }

    ngx_memcpy(s->conv, json_string_value(c), NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    s->has_conv = 1;
    s->waiting = json_is_true(json_object_get(ev, "q"));

    s->member = ngx_http_helpdesk_chat_join(s, s->conv, NULL);
}


void
ngx_http_helpdesk_chat_visitor_stream(ngx_event_t *ev)
{
    ngx_http_helpdesk_chat_session_t  *s = ev->data;

    json_t     *hello;
    ngx_str_t   cid;

    hello = json_pack("{s:s, s:s%, s:s%}", "type", "hello",
                      "visitor", s->peer->visitor.data, s->peer->visitor.len,
                      "last", s->peer->last.len ? (char *) s->peer->last.data
                                                : "",
                      s->peer->last.len);
    if (hello == NULL) {
        return;
    }

    ngx_str_set(&cid, "stream");
    ngx_http_helpdesk_chat_v_hello(s, hello, &cid);
    json_decref(hello);
}


static void
ngx_http_helpdesk_chat_v_welcome(ngx_http_helpdesk_chat_session_t *s,
    json_t *conv)
{
    json_t  *w, *set, *js, *v;

    js = s->peer->settings.len
         ? json_loadb((char *) s->peer->settings.data, s->peer->settings.len,
                      0, NULL)
         : NULL;

    /* the transport's public settings, as they are, and whether open */
    set = json_is_object(js) ? json_deep_copy(js) : json_object();

    if (set) {
        /* closed out of the tenant's hours, or with no agent available */
        v = json_object_get(set, "open");
        json_object_set_new(set, "open",
                            json_boolean(!json_is_false(v) && !s->conf.closed
                                         && !s->no_agent));
        json_object_set_new(set, "max_message",
                            json_integer((json_int_t) s->peer->max_message));
    }

    json_decref(js);

    /* a signed-in customer: what the pre-chat form need not ask */
    v = json_object_get(s->customer, "name");

    w = json_pack("{s:s, s:s%, s:s%, s:o, s:O, s:o}", "type", "welcome",
                  "visitor", s->token, (size_t) 64,
                  "stream", s->token, (size_t) 64,
                  "settings", set ? set : json_object(),
                  "conversation", conv ? conv : json_null(),
                  "customer", s->customer
                      ? json_pack("{s:O, s:O}",
                                  "name", v ? v : json_null(),
                                  "email", json_object_get(s->customer,
                                                           "email")
                                           ? json_object_get(s->customer,
                                                             "email")
                                           : json_null())
                      : json_null());
    if (w == NULL) {
        return;
    }

    s->greeted = 1;

    ngx_http_helpdesk_chat_send_json(s, w);
    json_decref(w);

    /* the queue's changes (a waiting visitor's place in it) */
    if (!s->peer->oneshot) {
        (void) ngx_http_helpdesk_chat_tenant_join(s);
    }
}
