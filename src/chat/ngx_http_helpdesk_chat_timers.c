/*
 * The conversations' deadlines, on every worker of every node.
 *
 * A deadline is a member of one Redis sorted set ("hd:chat:timers",
 * scored by its time in milliseconds): an offer's accept timeout
 * ("offer|<tenant>|<conversation>|<agent>"), the tenant's maximum time
 * without a reply ("reply|<tenant>|<conversation>"), the automatic
 * conversion ("auto|<tenant>|<conversation>").  The chat script sets and
 * clears them with the changes they belong to.  Every worker asks once a
 * second for those that are due; the script leases each one to exactly
 * one caller at a time (its score moved to the end of the lease, 30 s),
 * which acts and then releases it (unless it was set again meanwhile); a
 * worker that dies between the two leaves it to be taken again by any
 * worker once the lease is over.  Every action is safe to run twice:
 *
 *   offer  the offer is withdrawn and the conversation offered to the
 *          next agent ("decline");
 *   reply  the visitor is told and the conversation queued again
 *          ("requeue"), or it becomes a ticket when the tenant says so;
 *   auto   it becomes a ticket, if it is still open.
 *
 * A member that is not one of these (another kind, a field too many or
 * too few, an id that is no uuid) is dropped as soon as it is taken, and
 * one of no conversation once the script says so, each with a warning:
 * leased again every 30 s it would be taken, and written to the log, for
 * ever.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"


#define NGX_HTTP_HELPDESK_CHAT_TICK   1000
#define NGX_HTTP_HELPDESK_CHAT_LEASE  30000


static void ngx_http_helpdesk_chat_tick(ngx_event_t *ev);
static void ngx_http_helpdesk_chat_due(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_fire(ngx_str_t *m, ngx_str_t *lease);
static void ngx_http_helpdesk_chat_requeued(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static void ngx_http_helpdesk_chat_timer_done(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
static ngx_int_t ngx_http_helpdesk_chat_deadline_ids(u_char *p, u_char *last,
    ngx_uint_t n);
static void ngx_http_helpdesk_chat_dropped(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);


static ngx_event_t                   ngx_http_helpdesk_chat_timer;
static ngx_connection_t              ngx_http_helpdesk_chat_timer_conn;
static ngx_http_helpdesk_chat_op_t  *ngx_http_helpdesk_chat_claim;


ngx_int_t
ngx_http_helpdesk_chat_timers_init(ngx_cycle_t *cycle)
{
    if (ngx_http_helpdesk_chat_store_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&ngx_http_helpdesk_chat_timer, sizeof(ngx_event_t));
    ngx_http_helpdesk_chat_timer.handler = ngx_http_helpdesk_chat_tick;
    /* nginx's debug log reads a timer's data as a connection */
    ngx_http_helpdesk_chat_timer_conn.fd = (ngx_socket_t) -1;
    ngx_http_helpdesk_chat_timer.data = &ngx_http_helpdesk_chat_timer_conn;
    ngx_http_helpdesk_chat_timer.log = cycle->log;
    ngx_http_helpdesk_chat_timer.cancelable = 1;

    ngx_add_timer(&ngx_http_helpdesk_chat_timer,
                  NGX_HTTP_HELPDESK_CHAT_TICK
                  + (ngx_msec_t) ngx_random() % NGX_HTTP_HELPDESK_CHAT_TICK);

    return NGX_OK;
}


void
ngx_http_helpdesk_chat_timers_exit(void)
{
    if (ngx_http_helpdesk_chat_timer.timer_set) {
        ngx_del_timer(&ngx_http_helpdesk_chat_timer);
    }

    if (ngx_http_helpdesk_chat_claim) {
        ngx_http_helpdesk_chat_op_free(ngx_http_helpdesk_chat_claim);
        ngx_http_helpdesk_chat_claim = NULL;
    }
}


static void
ngx_http_helpdesk_chat_tick(ngx_event_t *ev)
{
    ngx_http_helpdesk_chat_op_t  *op;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_HELPDESK_CHAT_TICK);

    if (ngx_http_helpdesk_chat_claim) {
        return;
    }

    op = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_due);
    if (op == NULL) {
        return;
    }

    ngx_http_helpdesk_chat_claim = op;
    ngx_http_helpdesk_chat_script(op, "timers",
                                  json_pack("{s:i, s:i}", "n", 64, "lease",
                                            NGX_HTTP_HELPDESK_CHAT_LEASE));
}


static void
ngx_http_helpdesk_chat_due(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    size_t     i;
    ngx_str_t  m, lease;

    ngx_http_helpdesk_chat_claim = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        if (ngx_http_helpdesk_chat_reply_str(reply, i, &m) == NGX_OK
            && ngx_http_helpdesk_chat_reply_str(reply, i + 1, &lease)
               == NGX_OK)
        {
            ngx_http_helpdesk_chat_fire(&m, &lease);
        }
    }
}


/*
 * The deadline "m" leased until "lease", acted upon: removed, unless it
 * was set again since.  Fire and forget: a release lost is a deadline
 * acted upon once more after its lease, which every action allows.
 */

void
ngx_http_helpdesk_chat_release(ngx_str_t *m, ngx_str_t *lease)
{
    ngx_http_helpdesk_chat_op_t  *op;

    op = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_timer_done);
    if (op == NULL) {
        return;
    }

    ngx_http_helpdesk_chat_script(op, "release",
        json_pack("{s:s%, s:s%}", "m", m->data, m->len,
                  "lease", lease->data, lease->len));
}


/* the deadline an op acts upon, kept in its pool until it has acted */

static ngx_int_t
ngx_http_helpdesk_chat_lease(ngx_http_helpdesk_chat_op_t *op, ngx_str_t *m,
    ngx_str_t *lease)
{
    ngx_str_t  *l;

    op->pool = ngx_create_pool(512, op->cmd.log);
    l = op->pool ? ngx_palloc(op->pool, 2 * sizeof(ngx_str_t)) : NULL;

    if (l == NULL) {
        return NGX_ERROR;
    }

    l[0].len = m->len;
    l[0].data = ngx_pstrdup(op->pool, m);
    l[1].len = lease->len;
    l[1].data = ngx_pstrdup(op->pool, lease);

    if (l[0].data == NULL || l[1].data == NULL) {
        return NGX_ERROR;
    }

    op->data = l;

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_fire(ngx_str_t *m, ngx_str_t *lease)
{
    u_char                       *p, *last, *conv;
    char                         *j;
    json_t                       *ev;
    ngx_str_t                     kind, tenant, agent;
    ngx_uint_t                    ids;
    ngx_http_helpdesk_chat_op_t  *op;

    last = m->data + m->len;

    /* "<kind>|<tenant>|<conversation>", and "|<agent>" for an offer */
    p = ngx_strlchr(m->data, last, '|');
    kind.data = m->data;
    kind.len = p ? (size_t) (p - m->data) : m->len;

    if (kind.len == 5 && ngx_strncmp(kind.data, "offer", 5) == 0) {
        ids = 3;

    } else if ((kind.len == 5 && ngx_strncmp(kind.data, "reply", 5) == 0)
               || (kind.len == 4 && ngx_strncmp(kind.data, "auto", 4) == 0))
    {
        ids = 2;

    } else {
        ngx_http_helpdesk_chat_drop(m, NULL, "of no known kind");
        return;
    }

    if (ngx_http_helpdesk_chat_deadline_ids(p, last, ids) != NGX_OK) {
        ngx_http_helpdesk_chat_drop(m, NULL, "malformed");
        return;
    }

    tenant.data = p + 1;
    tenant.len = NGX_HTTP_HELPDESK_CHAT_UUID_LEN;
    conv = tenant.data + NGX_HTTP_HELPDESK_CHAT_UUID_LEN + 1;
    agent.data = conv + NGX_HTTP_HELPDESK_CHAT_UUID_LEN + 1;
    agent.len = ids == 3 ? NGX_HTTP_HELPDESK_CHAT_UUID_LEN : 0;

    if (kind.len == 4 && ngx_strncmp(kind.data, "auto", 4) == 0) {
        ngx_http_helpdesk_chat_convert_leased(&tenant, conv, "system", m,
                                              lease);
        return;
    }

    if (kind.len == 5 && ngx_strncmp(kind.data, "offer", 5) == 0) {
        op = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_timer_done);
        if (op == NULL || ngx_http_helpdesk_chat_lease(op, m, lease) != NGX_OK)
        {
            if (op) {
                ngx_http_helpdesk_chat_op_free(op);
            }

            return;
        }

        ngx_http_helpdesk_chat_script(op, "decline",
            json_pack("{s:s%, s:s%, s:s%}",
                      "t", tenant.data, tenant.len,
                      "c", conv, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                      "agent", agent.data, agent.len));
        return;
    }

    if (kind.len == 5 && ngx_strncmp(kind.data, "reply", 5) == 0) {
        ev = json_pack("{s:s, s:s}", "type", "left", "reason",
                       "reply_timeout");
        j = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        json_decref(ev);

        op = j ? ngx_http_helpdesk_chat_op(NULL,
                                           ngx_http_helpdesk_chat_requeued)
               : NULL;
        if (op == NULL || ngx_http_helpdesk_chat_lease(op, m, lease) != NGX_OK)
        {
            if (op) {
                ngx_http_helpdesk_chat_op_free(op);
            }

            free(j);
            return;
        }

        ngx_memcpy(op->conv, conv, NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
        ngx_memcpy(op->cid, tenant.data, tenant.len);

        ngx_http_helpdesk_chat_script(op, "requeue",
            json_pack("{s:s%, s:s%, s:s}",
                      "t", tenant.data, tenant.len,
                      "c", conv, (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                      "j", j));
        free(j);
    }
}


static void
ngx_http_helpdesk_chat_requeued(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t   status, tenant, *l = op->data;

    if (ngx_http_helpdesk_chat_reply_str(reply, 0, &status) != NGX_OK) {
        return;     /* Redis away: taken again after the lease */
    }

    if (status.len == 9 && ngx_strncmp(status.data, "not_found", 9) == 0) {
        ngx_http_helpdesk_chat_drop(&l[0], &l[1], "of no conversation");
        return;
    }

    if (status.len == 6 && ngx_strncmp(status.data, "ticket", 6) == 0) {
        tenant.data = op->cid;
        tenant.len = NGX_HTTP_HELPDESK_CHAT_UUID_LEN;
        ngx_http_helpdesk_chat_convert_leased(&tenant, op->conv, "system",
                                              &l[0], &l[1]);
        return;
    }

    ngx_http_helpdesk_chat_release(&l[0], &l[1]);
}


static void
ngx_http_helpdesk_chat_timer_done(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    ngx_str_t  status, *l = op->data;

    if (l == NULL
        || ngx_http_helpdesk_chat_reply_str(reply, 0, &status) != NGX_OK)
    {
        return;     /* Redis away: taken again after the lease */
    }

    if (status.len == 9 && ngx_strncmp(status.data, "not_found", 9) == 0) {
        ngx_http_helpdesk_chat_drop(&l[0], &l[1], "of no conversation");
        return;
    }

    /* an offer withdrawn (or gone already): the deadline is done with */
    ngx_http_helpdesk_chat_release(&l[0], &l[1]);
}


/*
 * Whether p (at the "|" after the kind) to last is n uuids in lower case
 * (as Redis's keys have them), each after a "|", and nothing else.
 */

static ngx_int_t
ngx_http_helpdesk_chat_deadline_ids(u_char *p, u_char *last, ngx_uint_t n)
{
    ngx_uint_t  i, k;

    for (i = 0; i < n; i++) {
        if (p == NULL || p >= last || *p != '|'
            || (size_t) (last - p) < 1 + NGX_HTTP_HELPDESK_CHAT_UUID_LEN)
        {
            return NGX_ERROR;
        }

        p++;

        for (k = 0; k < NGX_HTTP_HELPDESK_CHAT_UUID_LEN; k++, p++) {
            if (k == 8 || k == 13 || k == 18 || k == 23) {
                if (*p != '-') {
                    return NGX_ERROR;
                }

            } else if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            {
                return NGX_ERROR;
            }
        }
    }

    return p == last ? NGX_OK : NGX_ERROR;
}


/*
 * A deadline that is none, said once in the log and removed: with its
 * lease, as a release (it was well formed: set again since, it stays);
 * without, whatever it is (no change of the script's makes it).
 */

void
ngx_http_helpdesk_chat_drop(ngx_str_t *m, ngx_str_t *lease, const char *why)
{
    u_char                       *p, *d, text[128];
    ngx_str_t                    *l, zero = ngx_string("0");
    ngx_http_helpdesk_chat_op_t  *op;

    /* what the log shows of it: printable, and at most so much */
    for (p = m->data, d = text;
         p < m->data + m->len && d < text + sizeof(text);
         p++, d++)
    {
        *d = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? *p : '?';
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "helpdesk chat: deadline \"%*s\"%s dropped: %s",
                  (size_t) (d - text), text,
                  m->len > sizeof(text) ? "..." : "", why);

    if (lease) {
        ngx_http_helpdesk_chat_release(m, lease);
        return;
    }

    op = ngx_http_helpdesk_chat_op(NULL, ngx_http_helpdesk_chat_dropped);
    if (op == NULL) {
        return;
    }

    /* its own copy, for the command's arguments (binary: not JSON) */
    if (ngx_http_helpdesk_chat_lease(op, m, &zero) != NGX_OK) {
        ngx_http_helpdesk_chat_op_free(op);
        return;
    }

    l = op->data;

    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "ZREM", 4);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "hd:chat:timers",
                           sizeof("hd:chat:timers") - 1);
    ngx_helpdesk_redis_arg(&op->cmd, l[0].data, l[0].len);

    ngx_http_helpdesk_chat_command(op);
}


static void
ngx_http_helpdesk_chat_dropped(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    /* removed, or Redis away: then taken, and dropped, after the lease */
}
