/*
 * A conversation becomes a ticket: by an agent ("convert"), after the
 * tenant's minutes unresolved, or when the agent did not reply in time
 * and the tenant says so.
 *
 *   1. the chat script hands over the conversation's state and every
 *      event of its stream ("dump");
 *   2. api.chat_convert() writes them to the record (the same idempotent
 *      path as the persistence job, so nothing is missing even if the
 *      batches have not caught up) and, in the same transaction, the
 *      ticket with the transcript as its events (sql/chat/convert.sql);
 *   3. the chat script closes the conversation with a "converted" event
 *      carrying the ticket's number, which both sides receive.
 *
 * Step 2 is idempotent: a conversation already converted answers its
 * ticket, so a conversion interrupted before step 3 (the agent left, the
 * worker stopped) is finished by the next attempt.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


static void ngx_http_helpdesk_chat_dumped(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_recorded(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_closed(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_convert_failed(
    ngx_http_helpdesk_chat_op_t *op, const char *code, const char *detail);
static ngx_http_helpdesk_chat_op_t *ngx_http_helpdesk_chat_convert_next(
    ngx_http_helpdesk_chat_op_t *op, ngx_http_helpdesk_chat_op_pt handler);
static void ngx_http_helpdesk_chat_convert_leased_op(
    ngx_http_helpdesk_chat_session_t *s, ngx_str_t *tenant, u_char *conv,
    ngx_str_t *cid, const char *by, ngx_str_t *m, ngx_str_t *lease);
static void ngx_http_helpdesk_chat_owner(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);


typedef struct {
    u_char      tenant[NGX_HTTP_HELPDESK_CHAT_UUID_LEN];
    u_char      agent[NGX_HTTP_HELPDESK_CHAT_UUID_LEN];
    const char *by;
    ngx_str_t   deadline;       /* a deadline's: its member and lease */
    ngx_str_t   lease;
    unsigned    has_agent:1;
} ngx_http_helpdesk_chat_conversion_t;


/* a deadline's conversion is done with (else its lease runs out) */
#define ngx_chat_convert_done(cv)                                             \
    if ((cv)->deadline.len) {                                                 \
        ngx_http_helpdesk_chat_release(&(cv)->deadline, &(cv)->lease);        \
    }


void
ngx_http_helpdesk_chat_convert(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *tenant, u_char *conv, ngx_str_t *cid, const char *by)
{
    ngx_http_helpdesk_chat_convert_leased_op(s, tenant, conv, cid, by, NULL,
                                             NULL);
}


void
ngx_http_helpdesk_chat_convert_leased(ngx_str_t *tenant, u_char *conv,
    const char *by, ngx_str_t *m, ngx_str_t *lease)
{
    ngx_http_helpdesk_chat_convert_leased_op(NULL, tenant, conv, NULL, by, m,
                                             lease);
}


static void
ngx_http_helpdesk_chat_convert_leased_op(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *tenant, u_char *conv, ngx_str_t *cid, const char *by,
    ngx_str_t *m, ngx_str_t *lease)
{
    ngx_http_helpdesk_chat_op_t          *op;
    ngx_http_helpdesk_chat_conversion_t  *cv;

    op = ngx_http_helpdesk_chat_op(s, ngx_http_helpdesk_chat_dumped);
    if (op == NULL) {
        return;
    }

    op->pool = ngx_create_pool(1024, op->cmd.log);
    cv = op->pool ? ngx_pcalloc(op->pool,
                                sizeof(ngx_http_helpdesk_chat_conversion_t))
                  : NULL;
    if (cv == NULL) {
        ngx_http_helpdesk_chat_op_free(op);
        return;
    }

    ngx_memcpy(cv->tenant, tenant->data, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    cv->by = by;

    if (m && lease) {
        cv->deadline.data = ngx_pstrdup(op->pool, m);
        cv->lease.data = ngx_pstrdup(op->pool, lease);

        if (cv->deadline.data == NULL || cv->lease.data == NULL) {
            ngx_http_helpdesk_chat_op_free(op);
            return;
        }

        cv->deadline.len = m->len;
        cv->lease.len = lease->len;
    }

    if (s && s->agent.len) {
        ngx_memcpy(cv->agent, s->agent.data, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
        cv->has_agent = 1;
    }

    op->data = cv;
    ngx_memcpy(op->conv, conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    if (cid) {
        op->cid_len = cid->len;
        ngx_memcpy(op->cid, cid->data, cid->len);
    }

    /* an agent converts only a chat of theirs, unless an admin */
    ngx_http_helpdesk_chat_script(op, "dump",
        json_pack("{s:s%, s:s%, s:s%, s:b}",
                  "t", tenant->data, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "c", conv, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "agent", cv->has_agent ? (char *) cv->agent : "",
                  (size_t) (cv->has_agent ? NGX_HTTP_HELPDESK_CHAT_UUID_LEN
                                          : 0),
                  "admin", s && s->peer->admin));
}


/*
 * A conversion through the REST API: its statement converted what the
 * record holds, under the caller's tenant.  The same path then runs as
 * for an agent (what Redis holds is written, the ticket is the same one,
 * the script closes the chat with "converted"), under the tenant the
 * conversation has in Redis.
 */

void
ngx_http_helpdesk_chat_converted_by_api(ngx_str_t *conv)
{
    ngx_http_helpdesk_chat_op_t  *op;

    if (conv->len != NGX_HTTP_HELPDESK_CHAT_UUID_LEN) {
        return;
    }

    op = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_owner);
    if (op == NULL) {
        return;
    }

    /* (the record took it as a uuid: Redis's keys are in lower case) */
    ngx_strlow(op->conv, conv->data, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    ngx_http_helpdesk_chat_script(op, "owner",
        json_pack("{s:s%}", "c", op->conv,
                  (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN));
}


static void
ngx_http_helpdesk_chat_owner(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t  status, tenant;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) != NGX_OK
        || ngx_http_helpdesk_chat_reply_str(reply, 1, &tenant) != NGX_OK
        || tenant.len != NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
    {
        return;     /* no longer in Redis (or Redis away): the record has it */
    }

    ngx_http_helpdesk_chat_convert(NULL, &tenant, op->conv, NULL, "agent");
}


/* The next step: a new op of the same session, taking over the pool. */

static ngx_http_helpdesk_chat_op_t *
ngx_http_helpdesk_chat_convert_next(ngx_http_helpdesk_chat_op_t *op,
    ngx_http_helpdesk_chat_op_pt handler)
{
    ngx_http_helpdesk_chat_op_t  *next;

    next = ngx_http_helpdesk_chat_op(op->s, handler);
    if (next == NULL) {
        return NULL;
    }

    next->data = op->data;
    next->pool = op->pool;
    op->pool = NULL;
    next->cid_len = op->cid_len;
    ngx_memcpy(next->cid, op->cid, op->cid_len);
    ngx_memcpy(next->conv, op->conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    return next;
}


static void
ngx_http_helpdesk_chat_dumped(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t                            *proof, status, state, events;
    ngx_http_helpdesk_chat_op_t          *next;
    ngx_http_helpdesk_chat_conversion_t  *cv = op->data;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) != NGX_OK) {
        ngx_http_helpdesk_chat_convert_failed(op, "unavailable",
                                "the conversation store is unavailable");
        return;
    }

    if (status.len != 2
        || ngx_http_helpdesk_chat_reply_str(reply, 1, &state) != NGX_OK
        || ngx_http_helpdesk_chat_reply_str(reply, 2, &events) != NGX_OK)
    {
        if (op->s) {
            ngx_http_helpdesk_chat_error_op(op, reply);
        }

        if (cv->deadline.len && status.len == 9
            && ngx_strncmp(status.data, "not_found", 9) == 0)
        {
            /* a deadline of no conversation: said, and dropped */
            ngx_http_helpdesk_chat_drop(&cv->deadline, &cv->lease,
                                        "of no conversation");
            return;
        }

        /* no such conversation in Redis any more: nothing to convert */
        ngx_chat_convert_done(cv);
        return;
    }

    next = ngx_http_helpdesk_chat_convert_next(op,
                                             ngx_http_helpdesk_chat_recorded);
    if (next == NULL) {
        return;
    }

    proof = ngx_http_helpdesk_chat_proof();

    (void) ngx_http_helpdesk_chat_sql_param(next, proof->data, proof->len);
    (void) ngx_http_helpdesk_chat_sql_param(next, cv->tenant,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(next, next->conv,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(next, (u_char *) cv->by,
                                            ngx_strlen(cv->by));
    (void) ngx_http_helpdesk_chat_sql_param(next,
                                cv->has_agent ? cv->agent : NULL,
                                NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(next, state.data, state.len);
    (void) ngx_http_helpdesk_chat_sql_param(next, events.data, events.len);

    ngx_http_helpdesk_chat_sql(next,
        "SELECT number FROM api.chat_convert($1::bytea, $2::uuid, $3::uuid, "
        "$4, $5::uuid, $6::jsonb, $7::jsonb)");
}


static void
ngx_http_helpdesk_chat_recorded(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    char                                 *j;
    json_t                               *ev;
    const char                           *number, *state;
    ngx_http_helpdesk_chat_op_t          *next;
    ngx_http_helpdesk_chat_conversion_t  *cv = op->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

        if (state && ngx_strcmp(state, "HDNFD") == 0) {
            ngx_chat_convert_done(cv);
            ngx_http_helpdesk_chat_convert_failed(op, "not_found",
                                                  "no such conversation");

        } else {
            ngx_http_helpdesk_chat_convert_failed(op, "unavailable",
                                     "the ticket could not be made, try again");
        }

        return;
    }

    number = PQgetvalue(res, 0, 0);

    ev = json_pack("{s:s, s:{s:s}, s:s}", "type", "converted",
                   "ticket", "number", number, "by", cv->by);
    j = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);

    next = j ? ngx_http_helpdesk_chat_convert_next(op,
                                                ngx_http_helpdesk_chat_closed)
             : NULL;
    if (next == NULL) {
        free(j);
        return;
    }

    ngx_http_helpdesk_chat_script(next, "converted",
        json_pack("{s:s%, s:s%, s:s, s:s, s:{s:s}}",
                  "t", cv->tenant, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "c", next->conv, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                  "j", j, "by", cv->by, "set", "tn", number));
    free(j);
}


static void
ngx_http_helpdesk_chat_closed(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t                             status;
    ngx_http_helpdesk_chat_conversion_t  *cv = op->data;

    if (op->s == NULL) {
        if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) == NGX_OK) {
            ngx_chat_convert_done(cv);      /* closed, or closed already */
        }

        return;
    }

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) == NGX_OK
        && status.len == 8 && ngx_strncmp(status.data, "conflict", 8) == 0)
    {
        /* converted meanwhile by another: the ticket is the same one */
        ngx_http_helpdesk_chat_ack(op->s, op->cid, op->cid_len, NULL,
                                   op->conv);
        return;
    }

    ngx_http_helpdesk_chat_acked(op, reply, res);
}


static void
ngx_http_helpdesk_chat_convert_failed(ngx_http_helpdesk_chat_op_t *op,
    const char *code, const char *detail)
{
    ngx_str_t  cid;

    if (op->s == NULL) {
        ngx_log_error(NGX_LOG_WARN, op->cmd.log, 0,
                      "helpdesk chat: conversion of %*s failed: %s",
                      (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN, op->conv,
                      detail);
        return;
    }

    cid.data = op->cid;
    cid.len = op->cid_len;

    ngx_http_helpdesk_chat_error(op->s, &cid, code, detail);
}
