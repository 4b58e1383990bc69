/*
 * Agent groups in the chat: a conversation transferred to a group waits
 * for that group's members (docs/chat-protocol.md, "transfer").
 *
 * The groups are PostgreSQL's (sql/tickets/groups.sql); the queue is
 * assigned in Redis, by the chat script, from the agents' presence
 * records: each record carries its agent's groups ("g", group ids) and
 * the tenant's version of its groups they come from ("gv").  They are
 * written at every hello of the agent (read with the tenant's settings),
 * and after every change of the tenant's groups through the REST API: the
 * API's worker reads every agent's groups once the change is committed
 * (api.chat_group_sync) and hands them to the script ("groups"), which
 * keeps them for the agents whose record is not newer, publishes them on
 * the tenant's channel (each agent's connections, on every worker and
 * node, filter the queue they show with them) and assigns the queue
 * again.  Versions move on in the order changes commit, so a hello that
 * read its groups before a change and reaches Redis after it cannot undo
 * it.  Should Redis be away when a change is told, the agents' next hello
 * reads it.
 *
 * A session keeps {"v", "mine": [group ids], "groups": [{"id", "name"}]}
 * (s->groups): its version, its agent's groups, the tenant's groups (the
 * console's transfer dialog).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"
#include "ngx_http_helpdesk_module.h"


/* a group's name as a target, in bytes (the record's limit is 100 characters) */
#define NGX_HTTP_HELPDESK_CHAT_GROUP_MAX  400


static void ngx_http_helpdesk_chat_group_found(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_groups_read(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_groups_told(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);


/* what the hello read: kept, and the script's "g" and "gv" */

void
ngx_http_helpdesk_chat_groups_hello(ngx_http_helpdesk_chat_session_t *s,
    u_char *data, size_t len, json_t *params)
{
    json_t  *g, *mine;

    g = data ? json_loadb((char *) data, len, 0, NULL) : NULL;

    if (!json_is_object(g)
        || !json_is_integer(json_object_get(g, "v"))
        || !json_is_array(json_object_get(g, "mine"))
        || !json_is_array(json_object_get(g, "groups")))
    {
        /* no groups known: restricted conversations stay out of sight */
        json_decref(g);
        g = json_pack("{s:i, s:[], s:[]}", "v", -1, "mine", "groups");
    }

    json_decref(s->groups);
    s->groups = g;

    if (g == NULL || params == NULL) {
        return;
    }

    mine = json_object_get(g, "mine");

    if (json_integer_value(json_object_get(g, "v")) >= 0) {
        json_object_set(params, "g", mine);
        json_object_set(params, "gv", json_object_get(g, "v"));
    }
}


/* the tenant's groups, for the welcome */

json_t *
ngx_http_helpdesk_chat_groups_list(ngx_http_helpdesk_chat_session_t *s)
{
    json_t  *list;

    list = json_object_get(s->groups, "groups");

    return json_is_array(list) ? json_incref(list) : json_array();
}


/*
 * Whether the agent sees a waiting conversation of the queue (an item of
 * the script's queue list): one waiting for a group ("g") only its
 * members do.
 */

ngx_uint_t
ngx_http_helpdesk_chat_group_sees(ngx_http_helpdesk_chat_session_t *s,
    json_t *item)
{
    size_t       i;
    json_t      *mine;
    const char  *g, *m;

    g = json_string_value(json_object_get(item, "g"));

    if (g == NULL) {
        return 1;
    }

    mine = json_object_get(s->groups, "mine");

    for (i = 0; i < json_array_size(mine); i++) {
        m = json_string_value(json_array_get(mine, i));

        if (m && ngx_strcmp(m, g) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * The tenant's groups changed (the script's "groups" on the tenant's
 * channel): the agent's own, unless what the session has is newer, and
 * the tenant's list to the console.  The queue that follows is filtered
 * with them.
 */

void
ngx_http_helpdesk_chat_groups_event(ngx_http_helpdesk_chat_session_t *s,
    json_t *ev)
{
    size_t       i;
    u_char       agent[NGX_HTTP_HELPDESK_CHAT_UUID_LEN + 1];
    json_t      *mine, *groups, *msg, *list, *g;
    json_int_t   v;

    v = json_integer_value(json_object_get(ev, "v"));

    if (!json_is_integer(json_object_get(ev, "v"))
        || v < json_integer_value(json_object_get(s->groups, "v"))
        || s->agent.len != NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
    {
        return;
    }

    ngx_memcpy(agent, s->agent.data, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    agent[NGX_HTTP_HELPDESK_CHAT_UUID_LEN] = '\0';

    /* (the script's empty lists may come as {}) */
    mine = json_object_get(json_object_get(ev, "a"), (char *) agent);
    groups = json_object_get(ev, "groups");

    list = json_array();
    if (list == NULL) {
        return;
    }

    for (i = 0; i < json_array_size(groups); i++) {
        g = json_array_get(groups, i);

        if (json_is_string(json_object_get(g, "id"))
            && json_is_string(json_object_get(g, "name")))
        {
            json_array_append(list, g);
        }
    }

    g = json_pack("{s:I, s:o, s:O}", "v", v,
                  "mine", json_is_array(mine) ? json_incref(mine)
                                              : json_array(),
                  "groups", list);
    if (g == NULL) {
        json_decref(list);
        return;
    }

    json_decref(s->groups);
    s->groups = g;

    msg = json_pack("{s:s, s:o}", "type", "groups", "groups", list);
    if (msg) {
        ngx_http_helpdesk_chat_send_json(s, msg);
        json_decref(msg);
    }
}


/*
 * A transfer to a group, by its name: the group is looked up in the
 * record (none: "not_found", nothing changes), then the conversation is
 * queued for its members by the script.  params: the transfer's own
 * (note, name).
 */

void
ngx_http_helpdesk_chat_group_transfer(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *cid, u_char *conv, json_t *group, json_t *params)
{
    ngx_str_t                    *proof;
    ngx_http_helpdesk_chat_op_t  *op;

    if (!json_is_string(group) || json_string_length(group) == 0
        || json_string_length(group) > NGX_HTTP_HELPDESK_CHAT_GROUP_MAX)
    {
        json_decref(params);
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                      "\"to\" must be {\"agent\": id} or {\"group\": name}");
        return;
    }

    op = params ? ngx_http_helpdesk_chat_op_cid(s,
                                      ngx_http_helpdesk_chat_group_found, cid)
                : NULL;
    if (op == NULL) {
        json_decref(params);
        return;
    }

    ngx_memcpy(op->conv, conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    /* kept with the op until the group is known */
    op->params = json_dumps(params, JSON_COMPACT);
    json_decref(params);

    proof = ngx_http_helpdesk_chat_proof();

    (void) ngx_http_helpdesk_chat_sql_param(op, proof->data, proof->len);
    (void) ngx_http_helpdesk_chat_sql_param(op, s->peer->tenant,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(op,
                                        (u_char *) json_string_value(group),
                                        json_string_length(group));

    ngx_http_helpdesk_chat_sql(op,
        "SELECT api.chat_group($1::bytea, $2::uuid, $3)");
}


static void
ngx_http_helpdesk_chat_group_found(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    json_t                            *g, *params, *id, *name;
    ngx_str_t                          cid;
    ngx_http_helpdesk_chat_op_t       *next;
    ngx_http_helpdesk_chat_session_t  *s = op->s;

    cid.data = op->cid;
    cid.len = op->cid_len;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1 || op->params == NULL)
    {
        ngx_http_helpdesk_chat_error(s, &cid, "unavailable",
                                     "the record is unavailable, try again");
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        ngx_http_helpdesk_chat_error(s, &cid, "not_found", "no such group");
        return;
    }

    g = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, NULL);
    id = json_object_get(g, "id");
    name = json_object_get(g, "name");
    params = json_loads(op->params, 0, NULL);

    if (!json_is_string(id) || !json_is_string(name) || params == NULL) {
        json_decref(g);
        json_decref(params);
        ngx_http_helpdesk_chat_error(s, &cid, "unavailable", "out of memory");
        return;
    }

    json_object_set_new(params, "tgt", json_pack("s+", "g:",
                                                 json_string_value(id)));
    json_object_set(params, "gname", name);
    json_object_set_new(params, "t",
                        json_stringn((char *) s->peer->tenant,
                                     NGX_HTTP_HELPDESK_CHAT_UUID_LEN));
    json_object_set_new(params, "c",
                        json_stringn((char *) op->conv,
                                     NGX_HTTP_HELPDESK_CHAT_UUID_LEN));
    json_object_set_new(params, "agent",
                        json_stringn((char *) s->agent.data, s->agent.len));
    json_object_set_new(params, "admin", json_boolean(s->peer->admin));
    json_decref(g);

    next = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_acked,
                                         &cid);
    if (next == NULL) {
        json_decref(params);
        return;
    }

    ngx_memcpy(next->conv, op->conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);

    ngx_http_helpdesk_chat_script(next, "transfer", params);
}


/*
 * A group changed through the REST API, committed: every agent's groups
 * of its tenant, read again, to the presence records (set by the front
 * door as the API's hook: surfaces never call each other directly).
 */

void
ngx_http_helpdesk_chat_groups_changed_by_api(ngx_str_t *group)
{
    ngx_str_t                    *proof;
    ngx_http_helpdesk_chat_op_t  *op;

    if (group->len != NGX_HTTP_HELPDESK_CHAT_UUID_LEN) {
        return;
    }

    op = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_groups_read);
    if (op == NULL) {
        return;
    }

    proof = ngx_http_helpdesk_chat_proof();

    (void) ngx_http_helpdesk_chat_sql_param(op, proof->data, proof->len);
    (void) ngx_http_helpdesk_chat_sql_param(op, group->data, group->len);

    ngx_http_helpdesk_chat_sql(op,
        "SELECT api.chat_group_sync($1::bytea, $2::uuid)");
}


static void
ngx_http_helpdesk_chat_groups_read(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    json_t                       *sync;
    ngx_http_helpdesk_chat_op_t  *next;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "helpdesk chat: the agents' groups were not read "
                      "after a change: their next hello reads them");
        return;
    }

    sync = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0,
                      NULL);

    if (!json_is_string(json_object_get(sync, "t"))
        || !json_is_integer(json_object_get(sync, "v")))
    {
        json_decref(sync);
        return;
    }

    next = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_groups_told);
    if (next == NULL) {
        json_decref(sync);
        return;
    }

    ngx_http_helpdesk_chat_script(next, "groups", sync);
}


static void
ngx_http_helpdesk_chat_groups_told(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    if (reply == NULL) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "helpdesk chat: the agents' groups were not told "
                      "to the queue: their next hello reads them");
    }
}
