/*
 * The bot: it answers a visitor's first message with the knowledge
 * base's suggestions for it (the portal's search, at most three, with
 * their links), introduced in the visitor's language, and offers "talk to
 * a person"; the visitor's "handover" puts the conversation in the queue.
 * (The tenant's greeting is what the widget shows before that message.)
 * Its messages are stored like any other, with "from": {"kind": "bot"}.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


static void ngx_http_helpdesk_chat_v_articles(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static const char *ngx_http_helpdesk_chat_bot_lead(
    ngx_http_helpdesk_chat_session_t *s, size_t articles);


/* what the bot says, by the visitor's language: [0] with suggestions */
static const char  *ngx_http_helpdesk_chat_bot_pt[] = {
    "Talvez estes artigos ajudem:",
    "Se preferir, uma pessoa da equipe continua a conversa."
};

static const char  *ngx_http_helpdesk_chat_bot_es[] = {
    "Quizás estos artículos le ayuden:",
    "Si lo prefiere, una persona del equipo sigue la conversación."
};

static const char  *ngx_http_helpdesk_chat_bot_en[] = {
    "These articles may help:",
    "If you prefer, a person from the team will take it from here."
};


void
ngx_http_helpdesk_chat_v_bot(ngx_http_helpdesk_chat_session_t *s,
    json_t *text)
{
    ngx_str_t                    *proof;
    ngx_http_helpdesk_chat_op_t  *op;

    op = ngx_http_helpdesk_chat_op(s, ngx_http_helpdesk_chat_v_articles);
    if (op == NULL) {
        return;
    }

    ngx_memcpy(op->conv, s->conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    proof = ngx_http_helpdesk_chat_proof();

    (void) ngx_http_helpdesk_chat_sql_param(op, proof->data, proof->len);
    (void) ngx_http_helpdesk_chat_sql_param(op, s->peer->tenant,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(op,
               (u_char *) (json_is_string(text) && s->conf.kb
                           ? json_string_value(text) : ""),
               json_is_string(text) && s->conf.kb
               ? json_string_length(text) : 0);
    /* the links on the tenant's portal, as this location makes them */
    (void) ngx_http_helpdesk_chat_sql_param(op,
               s->peer->portal.len ? s->peer->portal.data : NULL,
               s->peer->portal.len);

    ngx_http_helpdesk_chat_sql(op,
        "SELECT api.chat_kb($1::bytea, $2::uuid, $3, $4::jsonb)");
}


static void
ngx_http_helpdesk_chat_v_articles(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    char                              *j;
    json_t                            *ev, *articles;
    ngx_http_helpdesk_chat_op_t       *next;
    ngx_http_helpdesk_chat_session_t  *s = op->s;

    articles = NULL;

    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
        && !PQgetisnull(res, 0, 0))
    {
        articles = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    }

    if (!json_is_array(articles)) {
        json_decref(articles);
        articles = json_array();
    }

    ev = json_pack("{s:s, s:{s:s, s:s}, s:s, s:o, s:[s]}",
                   "type", "message", "from", "kind", "bot", "name", "",
                   "text", ngx_http_helpdesk_chat_bot_lead(s,
                                                 json_array_size(articles)),
                   "articles", articles,
                   "actions", "talk_to_person");
    if (ev == NULL) {
        return;
    }

    j = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);

    if (j == NULL) {
        return;
    }

    next = ngx_http_helpdesk_chat_op(s, ngx_http_helpdesk_chat_v_queued);
    if (next == NULL) {
        free(j);
        return;
    }

    ngx_http_helpdesk_chat_script(next, "store",
        json_pack("{s:s%, s:s%, s:s, s:s, s:s, s:s}",
                  "t", s->peer->tenant,
                  (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "c", op->conv, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "cid", "", "j", j, "aud", "*", "who", "bot"));
    free(j);
}


void
ngx_http_helpdesk_chat_v_queued(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t  status;

    if (op->cid_len == 0) {
        return;
    }

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) == NGX_OK
        && status.len == 2 && ngx_strncmp(status.data, "ok", 2) == 0)
    {
        op->s->waiting = 1;
    }

    ngx_http_helpdesk_chat_acked(op, reply, res);
}


static const char *
ngx_http_helpdesk_chat_bot_lead(ngx_http_helpdesk_chat_session_t *s,
    size_t articles)
{
    const char   *lang, **say;

    lang = json_string_value(json_object_get(s->hello, "lang"));

    if (lang && ngx_strncasecmp((u_char *) lang, (u_char *) "pt", 2) == 0) {
        say = ngx_http_helpdesk_chat_bot_pt;

    } else if (lang
               && ngx_strncasecmp((u_char *) lang, (u_char *) "es", 2) == 0)
    {
        say = ngx_http_helpdesk_chat_bot_es;

    } else {
        say = ngx_http_helpdesk_chat_bot_en;
    }

    return say[articles ? 0 : 1];
}
