/*
 * What the visitor and the agent both say: message, typing, read and
 * delivered, end.  The checks of what was said, the events it makes and
 * the parameters of the script that stores them are here, once, and so
 * is the answer: an op that remembers the client's cid, and its ack.
 *
 * Who may say it where stays with each side: a visitor only in its own
 * conversation (ngx_http_helpdesk_chat_visitor.c), an agent in one it
 * takes part in, and the chat script checks an agent's or an admin's
 * rights (ngx_http_helpdesk_chat_agent.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


#define NGX_HTTP_HELPDESK_CHAT_MAX_FILES  10


ngx_http_helpdesk_chat_op_t *
ngx_http_helpdesk_chat_op_cid(ngx_http_helpdesk_chat_session_t *s,
    ngx_http_helpdesk_chat_op_pt handler, ngx_str_t *cid)
{
    ngx_http_helpdesk_chat_op_t  *op;

    op = ngx_http_helpdesk_chat_op(s, handler);
    if (op == NULL) {
        ngx_http_helpdesk_chat_error(s, cid, "unavailable", "out of memory");
        return NULL;
    }

    op->cid_len = cid->len;
    ngx_memcpy(op->cid, cid->data, cid->len);

    return op;
}


/* ok or dup: the ack with the stored id; anything else: its error */

void
ngx_http_helpdesk_chat_acked(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t  status, ref;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) == NGX_OK
        && ((status.len == 2 && ngx_strncmp(status.data, "ok", 2) == 0)
            || (status.len == 3 && ngx_strncmp(status.data, "dup", 3) == 0)))
    {
        if (ngx_http_helpdesk_chat_reply_str(reply, 1, &ref) != NGX_OK) {
            ngx_str_null(&ref);
        }

        ngx_http_helpdesk_chat_ack(op->s, op->cid, op->cid_len, &ref,
                                   op->conv[0] ? op->conv : NULL);
        return;
    }

    ngx_http_helpdesk_chat_error_op(op, reply);
}


/* The script op for conversation conv of the session's tenant. */

void
ngx_http_helpdesk_chat_conv_script(ngx_http_helpdesk_chat_session_t *s,
    ngx_http_helpdesk_chat_op_t *op, const char *name, u_char *conv,
    json_t *params)
{
    if (params) {
        json_object_set_new(params, "t",
                            json_stringn((char *) s->peer->tenant,
                                         NGX_HTTP_HELPDESK_CHAT_UUID_LEN));
        json_object_set_new(params, "c",
                            json_stringn((char *) conv,
                                         NGX_HTTP_HELPDESK_CHAT_UUID_LEN));
    }

    /* without params (out of memory) the op fails: "unavailable" */
    ngx_http_helpdesk_chat_script(op, name, params);
}


/*
 * A message's "text" (within the tenant's maximum) and "attachments"
 * (at most ten upload ids), one of them at least: NGX_OK, or NGX_ERROR
 * once the error is sent.
 */

ngx_int_t
ngx_http_helpdesk_chat_message_check(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid, json_t **text, json_t **att)
{
    size_t   i;
    json_t  *t, *a, *v;

    t = json_object_get(msg, "text");
    a = json_object_get(msg, "attachments");

    if ((t && !json_is_string(t))
        || (a && (!json_is_array(a)
                  || json_array_size(a) > NGX_HTTP_HELPDESK_CHAT_MAX_FILES)))
    {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "\"text\" must be a string and "
                                     "\"attachments\" a list of at most 10 "
                                     "upload ids");
        return NGX_ERROR;
    }

    if (json_string_length(t) > s->peer->max_message) {
        ngx_http_helpdesk_chat_error(s, cid, "too_large",
                                     "\"text\" is over the tenant's maximum");
        return NGX_ERROR;
    }

    for (i = 0; i < json_array_size(a); i++) {
        v = json_array_get(a, i);

        if (!json_is_string(v)
            || json_string_length(v) != NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
        {
            ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                         "an attachment is an upload id");
            return NGX_ERROR;
        }
    }

    if (json_string_length(t) == 0 && json_array_size(a) == 0) {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "a message has \"text\" or "
                                     "\"attachments\"");
        return NGX_ERROR;
    }

    *text = t;
    *att = a;

    return NGX_OK;
}


/*
 * A checked message (type "message", or an agent's "note") stored in
 * conv: its event names the sender (kind and name); params are the
 * role's own parameters of the "store" script (taken), completed here
 * with the tenant, the conversation, the cid and the event.  Its files
 * are checked first (ngx_http_helpdesk_chat_attach.c).
 */

void
ngx_http_helpdesk_chat_say(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *cid, u_char *conv, const char *type, const char *kind,
    ngx_str_t *name, json_t *text, json_t *att, json_t *params)
{
    char    *j;
    json_t  *ev, *p;

    ev = json_pack("{s:s, s:s%, s:{s:s, s:s%}, s:s}", "type", type,
                   "cid", (char *) cid->data, cid->len,
                   "from", "kind", kind,
                   "name", name->len ? (char *) name->data : "", name->len,
                   "text", text ? json_string_value(text) : "");
    if (ev == NULL) {
        json_decref(params);
        return;
    }

    j = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);

    if (j == NULL) {
        json_decref(params);
        ngx_http_helpdesk_chat_error(s, cid, "unavailable", "out of memory");
        return;
    }

    p = json_pack("{s:s%, s:s%, s:s%, s:s}",
                  "t", s->peer->tenant,
                  (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "c", conv, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "cid", (char *) cid->data, cid->len,
                  "j", j);
    free(j);

    if (p && (params == NULL || json_object_update(p, params) != 0)) {
        json_decref(p);
        p = NULL;
    }

    json_decref(params);

    /* without parameters (out of memory) the answer is "unavailable" */
    ngx_http_helpdesk_chat_said(s, cid, conv, att, p);
}


/* typing's "on", true or false, or NULL once the error is sent */

json_t *
ngx_http_helpdesk_chat_typing_on(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid)
{
    json_t  *v;

    v = json_object_get(msg, "on");

    if (!json_is_boolean(v)) {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "\"on\" must be true or false");
        return NULL;
    }

    return v;
}


/* Typing is told to the other side ("aud") as it is, never stored. */

void
ngx_http_helpdesk_chat_typing(ngx_http_helpdesk_chat_session_t *s,
    u_char *conv, const char *from, const char *aud, json_t *on)
{
    json_t  *ev;

    ev = json_pack("{s:s, s:s, s:O}", "type", "typing", "from", from,
                   "on", on);
    ngx_http_helpdesk_chat_publish(&s->tenant_id, conv, aud, ev);
    json_decref(ev);
}


/*
 * "read" or "delivered" up to a message id: the "pointer" script's
 * parameters, from one side, told to the other ("aud"): NGX_OK (with
 * NULL parameters when out of memory), or NGX_ERROR once the error is
 * sent.
 */

ngx_int_t
ngx_http_helpdesk_chat_pointer(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *type, ngx_str_t *cid, const char *from,
    const char *aud, json_t **params)
{
    json_t  *v;

    v = json_object_get(msg, "upto");

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) >= NGX_HTTP_HELPDESK_CHAT_ID_LEN
        || strspn(json_string_value(v), "0123456789-")
           != json_string_length(v))
    {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "\"upto\" must be a message id");
        return NGX_ERROR;
    }

    *params = json_pack("{s:s, s:s, s:O, s:s}", "from", from,
                        "kind", type->len == 4 ? "read" : "delivered",
                        "upto", v, "aud", aud);

    return NGX_OK;
}


/*
 * The parameters "by" and "j" of a script that stores an event of one
 * side (end, handover), from the event (taken); NULL without it.
 */

json_t *
ngx_http_helpdesk_chat_by(const char *by, json_t *ev)
{
    char    *j;
    json_t  *params;

    if (ev == NULL) {
        return NULL;
    }

    j = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);

    params = json_pack("{s:s, s:s}", "by", by, "j", j ? j : "{}");
    free(j);

    return params;
}


/* "end": the conversation ended by one side */

json_t *
ngx_http_helpdesk_chat_end(const char *by)
{
    return ngx_http_helpdesk_chat_by(by, json_pack("{s:s, s:s}",
                                                   "type", "ended",
                                                   "by", by));
}
