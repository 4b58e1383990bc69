/*
 * Files in messages.
 *
 * A message names its files by the ids their uploads answered
 * (ngx_http_helpdesk_chat_files.c).  Before it is stored, the record
 * checks each one (api.chat_files_claim): the sender's own upload (the
 * visitor's, or the agent's) and not sent in another conversation; then
 * binds it to this one.  The stored event carries each file's
 * {"upload_id", "filename", "content_type", "size"}, which is what the
 * record and a conversion to a ticket read.  Each client gets the event
 * with a "url" per file, its own: a visitor's link is signed for it
 * (ngx_http_helpdesk_chat_link.c), an agent's is under the console.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


static void ngx_http_helpdesk_chat_claimed(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);


/*
 * Stores a visitor's or an agent's message: params are the "store"
 * script's (taken), with "j" the event without its files; att the upload
 * ids the message named (may be NULL).
 */

void
ngx_http_helpdesk_chat_said(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *cid, u_char *conv, json_t *att, json_t *params)
{
    char                         *ids;
    u_char                       *visitor, *agent;
    size_t                        alen;
    ngx_str_t                    *proof;
    ngx_http_helpdesk_chat_op_t  *op;

    if (params == NULL) {
        ngx_http_helpdesk_chat_error(s, cid, "unavailable", "out of memory");
        return;
    }

    if (json_array_size(att) == 0) {
        op = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_acked,
                                           cid);
        if (op == NULL) {
            json_decref(params);
            return;
        }

        ngx_http_helpdesk_chat_script(op, "store", params);
        return;
    }

    op = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_claimed, cid);
    if (op == NULL) {
        json_decref(params);
        return;
    }

    /* the script's parameters wait in the op until the files are checked */
    op->params = json_dumps(params, JSON_COMPACT);
    json_decref(params);

    if (s->peer->role == NGX_HTTP_HELPDESK_CHAT_VISITOR) {
        visitor = s->visitor;
        agent = NULL;
        alen = 0;

    } else {
        visitor = NULL;
        agent = s->agent.data;
        alen = s->agent.len;
    }

    ids = json_dumps(att, JSON_COMPACT);
    proof = ngx_http_helpdesk_chat_proof();

    if (op->params == NULL || ids == NULL
        || ngx_http_helpdesk_chat_sql_param(op, proof->data, proof->len)
           != NGX_OK
        || ngx_http_helpdesk_chat_sql_param(op, s->peer->tenant,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
           != NGX_OK
        || ngx_http_helpdesk_chat_sql_param(op, conv,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
           != NGX_OK
        || ngx_http_helpdesk_chat_sql_param(op, visitor,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
           != NGX_OK
        || ngx_http_helpdesk_chat_sql_param(op, agent, alen) != NGX_OK
        || ngx_http_helpdesk_chat_sql_param(op, (u_char *) ids,
                                            ngx_strlen(ids))
           != NGX_OK)
    {
        free(ids);
        ngx_http_helpdesk_chat_error(s, cid, "unavailable", "out of memory");
        ngx_http_helpdesk_chat_op_free(op);
        return;
    }

    free(ids);

    ngx_http_helpdesk_chat_sql(op,
        "SELECT api.chat_files_claim($1::bytea, $2::uuid, $3::uuid,"
        " $4::uuid, $5::uuid, $6::jsonb)");
}


/* the files are the sender's: the message with their details is stored */

static void
ngx_http_helpdesk_chat_claimed(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    char          *j;
    json_t        *files, *params, *ev;
    ngx_str_t      cid;
    const char    *state;
    json_error_t   err;

    cid.data = op->cid;
    cid.len = op->cid_len;

    if (res == NULL) {
        ngx_http_helpdesk_chat_error(op->s, &cid, "unavailable",
                                     "the record is unavailable, try again");
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        if (state && ngx_strcmp(state, "HDNFD") == 0) {
            ngx_http_helpdesk_chat_error(op->s, &cid, "not_found",
                                         "an attachment is not one of your "
                                         "uploads, or was sent in another "
                                         "conversation");
            return;
        }

        ngx_http_helpdesk_chat_error(op->s, &cid, "unavailable",
                                     "the record is unavailable, try again");
        return;
    }

    files = NULL;
    params = NULL;
    ev = NULL;
    j = NULL;

    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        files = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0,
                           &err);
        params = json_loads(op->params, 0, &err);
        ev = json_loads(json_string_value(json_object_get(params, "j")), 0,
                        &err);
    }

    if (json_is_array(files) && json_is_object(ev)
        && json_object_set(ev, "attachments", files) == 0)
    {
        j = json_dumps(ev, JSON_COMPACT);
    }

    json_decref(files);
    json_decref(ev);

    if (j == NULL || json_object_set_new(params, "j", json_string(j)) != 0) {
        free(j);
        json_decref(params);
        ngx_http_helpdesk_chat_error(op->s, &cid, "unavailable",
                                     "out of memory");
        return;
    }

    free(j);

    /* the same op, now the store's */
    free(op->params);
    op->params = NULL;
    op->handler = ngx_http_helpdesk_chat_acked;
    op->rerun = 1;

    ngx_http_helpdesk_chat_script(op, "store", params);
}


/*
 * A stored event as this peer gets it: each file with its "url".  NULL
 * when the event has no file (or on failure: the event goes as stored);
 * else the text to send, to be freed with free().
 */

char *
ngx_http_helpdesk_chat_links(ngx_http_helpdesk_chat_session_t *s,
    u_char *json, size_t len)
{
    char                           *out;
    size_t                          i;
    json_t                         *ev, *files, *f, *link;
    ngx_str_t                      *slug;
    const char                     *id;
    json_error_t                    err;
    ngx_http_helpdesk_chat_peer_t  *peer = s->peer;

    if (ngx_strnstr(json, "\"attachments\":[{", len) == NULL
        || peer->files.len == 0)
    {
        return NULL;
    }

    ev = json_loadb((char *) json, len, 0, &err);
    files = json_object_get(ev, "attachments");

    slug = peer->role == NGX_HTTP_HELPDESK_CHAT_VISITOR ? &peer->slug : NULL;

    json_array_foreach(files, i, f) {
        id = json_string_value(json_object_get(f, "upload_id"));

        if (id == NULL || ngx_strlen(id) != NGX_HTTP_HELPDESK_CHAT_UUID_LEN) {
            continue;
        }

        link = ngx_http_helpdesk_chat_link(&peer->files, peer->tenant, slug,
                                           (u_char *) id);
        if (link) {
            json_object_set_new(f, "url", link);
        }
    }

    out = json_is_object(ev) ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);

    return out;
}
