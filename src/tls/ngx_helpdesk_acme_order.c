/*
 * One ACME order's life (the CA-facing steps themselves are in
 * ngx_helpdesk_acme_steps.c).  An order the claim handed out is started
 * here from its row, run from the step it reached, and every step is
 * written to the row (api.acme_step) before the request that depends on
 * it, so that any node resumes it after a crash.  Requests of an order go
 * through ngx_helpdesk_acme_order_call(); polls wait on the order's timer
 * (Retry-After, else 1 s x 1.5 up to 30 s); whatever fails goes to
 * api.acme_result with the CA's problem and Retry-After (the database maps
 * it to the domain's state or a backoff), and every path ends in
 * ngx_helpdesk_acme_order_done(), which frees the order.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_acme_int.h"


#define NGX_HELPDESK_ACME_POLLS      60
#define NGX_HELPDESK_ACME_POLL_MAX   30000
/*
 * requests one order may make, whatever the CA answers: eight
 * authorizations polled to their end and the order to its certificate
 * take some 560
 */
#define NGX_HELPDESK_ACME_CALLS      1000


static void ngx_helpdesk_acme_order_run(ngx_helpdesk_acme_order_t *o);
static void ngx_helpdesk_acme_order_stepped(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_acme_order_wake(ngx_event_t *ev);


static ngx_int_t
ngx_helpdesk_acme_order_copy(ngx_helpdesk_acme_order_t *o, PGresult *res,
    int row, int col, ngx_str_t *to)
{
    return ngx_helpdesk_pg_value(o->pool, res, row, col, to);
}


void
ngx_helpdesk_acme_order_start(PGresult *res, int row)
{
    size_t                      i, len;
    u_char                     *der, *u;
    json_t                     *a, *v;
    ngx_flag_t                  bad;
    ngx_str_t                   authz, *s;
    ngx_pool_t                 *pool;
    json_error_t                jerr;
    ngx_helpdesk_acme_order_t  *o;

    pool = ngx_create_pool(4096, ngx_helpdesk_acme_client.log);
    if (pool == NULL) {
        return;
    }

    o = ngx_pcalloc(pool, sizeof(ngx_helpdesk_acme_order_t));
    if (o == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    o->pool = pool;
    o->log = ngx_helpdesk_acme_client.log;
    ngx_helpdesk_acme_inflight++;

    o->wait.handler = ngx_helpdesk_acme_order_wake;
    o->wait.data = o;
    o->wait.log = o->log;
    o->wait.cancelable = 1;
    o->delay = 1000;

    if (ngx_helpdesk_acme_order_copy(o, res, row, 0, &o->tenant) != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 1, &o->host) != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 2, &o->kind) != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 3, &o->step) != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 4, &o->lease) != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 6, &o->order_url)
           != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 7, &authz) != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 8, &o->challenge_url)
           != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 9, &o->token) != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 10, &o->finalize_url)
           != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 11, &o->cert_url)
           != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 12, &o->key_sealed)
           != NGX_OK
        || ngx_helpdesk_acme_order_copy(o, res, row, 13, &o->replaces)
           != NGX_OK)
    {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    o->authz = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    if (o->authz == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    if (authz.len) {
        /* what was stored is checked before any of it is kept: an order
         * whose URLs do not read back is made again from the start */
        a = json_loadb((char *) authz.data, authz.len, 0, &jerr);
        bad = (a == NULL || !json_is_array(a) || json_array_size(a) > 8);

        if (!bad) {
            json_array_foreach(a, i, v) {
                if (!json_is_string(v) || json_string_length(v) == 0
                    || json_string_length(v) > 1024)
                {
                    bad = 1;
                    break;
                }

                len = json_string_length(v);

                u = ngx_pnalloc(pool, len + 1);
                if (u == NULL) {
                    json_decref(a);
                    ngx_helpdesk_acme_order_done(o);
                    return;
                }

                ngx_memcpy(u, json_string_value(v), len + 1);

                s = ngx_array_push(o->authz);
                if (s == NULL) {
                    json_decref(a);
                    ngx_helpdesk_acme_order_done(o);
                    return;
                }

                s->data = u;
                s->len = len;
            }
        }

        if (a) {
            json_decref(a);
        }

        if (bad) {
            o->authz->nelts = 0;
            ngx_helpdesk_acme_order_failed(o, NULL,
                "orderNotFound",
                "the stored order's authorization URLs do not read back");
            return;
        }
    }

    if (!PQgetisnull(res, row, 14)) {
        der = PQunescapeBytea((u_char *) PQgetvalue(res, row, 14), &len);
        if (der == NULL) {
            ngx_helpdesk_acme_order_done(o);
            return;
        }

        o->cert_der.data = ngx_pnalloc(pool, len);
        if (o->cert_der.data) {
            ngx_memcpy(o->cert_der.data, der, len);
            o->cert_der.len = len;
        }

        PQfreemem(der);
    }

    ngx_log_error(NGX_LOG_INFO, o->log, 0,
                  "helpdesk acme: %V order for %V at step %V",
                  &o->kind, &o->host, &o->step);

    ngx_helpdesk_acme_order_run(o);
}


ngx_flag_t
ngx_helpdesk_acme_is(ngx_str_t *s, const char *text)
{
    size_t  len = ngx_strlen(text);

    return s->len == len && ngx_strncmp(s->data, text, len) == 0;
}


static void
ngx_helpdesk_acme_order_run(ngx_helpdesk_acme_order_t *o)
{
    if (ngx_helpdesk_acme_is(&o->kind, "revoke")) {
        ngx_helpdesk_acme_order_revoke(o);
        return;
    }

    if (ngx_helpdesk_acme_is(&o->step, "new")
        || ngx_helpdesk_acme_is(&o->step, "ordered")
        || o->order_url.len == 0)
    {
        /* entering "ordered" spends a token (only once) */
        ngx_helpdesk_acme_order_step(o, "ordered", NULL,
                                     ngx_helpdesk_acme_order_new);
        return;
    }

    if (ngx_helpdesk_acme_is(&o->step, "downloading") && o->cert_url.len) {
        ngx_helpdesk_acme_order_finalize(o);
        return;
    }

    if (ngx_helpdesk_acme_is(&o->step, "finalizing")) {
        ngx_helpdesk_acme_order_read(o);
        return;
    }

    o->authz_i = 0;
    ngx_helpdesk_acme_order_authz(o);
}


/* the step stored ------------------------------------------------------ */

void
ngx_helpdesk_acme_order_step(ngx_helpdesk_acme_order_t *o, const char *step,
    json_t *patch, ngx_helpdesk_acme_next_pt next)
{
    char       *text;
    ngx_str_t   v;

    ngx_memzero(&o->query, sizeof(ngx_helpdesk_pg_query_t));
    o->query.sql = "SELECT api.acme_step($1::bytea, $2, $3, $4, $5, $6, 0, "
                   "$7)";
    o->query.handler = ngx_helpdesk_acme_order_stepped;
    o->query.data = o;
    o->query.log = o->log;
    o->next = next;

    ngx_helpdesk_acme_proof(&o->query);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->tenant);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->host);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->lease);

    v.data = (u_char *) step;
    v.len = ngx_strlen(step);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &v);

    text = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
    if (patch) {
        json_decref(patch);
    }

    if (text) {
        v.len = ngx_strlen(text);
        v.data = ngx_pnalloc(o->pool, v.len);
        if (v.data) {
            ngx_memcpy(v.data, text, v.len);
        }
        free(text);

    } else {
        ngx_str_set(&v, "{}");
    }

    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &v);

    v.data = ngx_pnalloc(o->pool, NGX_INT_T_LEN);
    if (v.data) {
        v.len = ngx_sprintf(v.data, "%d", NGX_HELPDESK_ACME_LEASE) - v.data;
    }
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &v);

    o->step.data = (u_char *) step;
    o->step.len = ngx_strlen(step);

    ngx_helpdesk_pg_run(&o->query);
}


static void
ngx_helpdesk_acme_order_stepped(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_acme_order_t  *o = q->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        /* the lease lost, or PostgreSQL away: the lease brings it back */
        ngx_log_error(NGX_LOG_WARN, o->log, 0,
                      "helpdesk acme: order for %V stops: %s", &o->host,
                      res ? PQresultErrorMessage(res)
                          : "postgresql unavailable");
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    if (PQgetvalue(res, 0, 0)[0] != '0') {
        ngx_log_error(NGX_LOG_NOTICE, o->log, 0,
                      "helpdesk acme: order for %V waits %s s for the "
                      "new-order limit", &o->host, PQgetvalue(res, 0, 0));
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    o->next(o);
}


/* a request of the order ----------------------------------------------- */

void
ngx_helpdesk_acme_order_call(ngx_helpdesk_acme_order_t *o, ngx_str_t *url,
    ngx_str_t *payload, const char *accept, ngx_helpdesk_acme_call_pt handler)
{
    u_char  *u;

    if (++o->calls > NGX_HELPDESK_ACME_CALLS) {
        ngx_helpdesk_acme_order_failed(o, NULL, NULL,
                                       "the CA did not finish in time");
        return;
    }

    /*
     * The order's own copy: a directory URL (newOrder, revokeCert) lives in
     * the directory's pool, which a daily refresh destroys while the
     * request may still be sent again (badNonce, after HEAD newNonce).
     */
    u = ngx_pnalloc(o->pool, url->len + 1);
    if (u == NULL) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    if (url->len) {
        ngx_memcpy(u, url->data, url->len);
    }

    u[url->len] = '\0';

    ngx_memzero(&o->call, sizeof(ngx_helpdesk_acme_call_t));
    o->call.pool = o->pool;
    o->call.log = o->log;
    o->call.url.data = u;
    o->call.url.len = url->len;
    o->call.accept = accept;
    o->call.handler = handler;
    o->call.data = o;

    if (payload) {
        o->call.payload = *payload;
    }

    ngx_helpdesk_acme_send(&o->call);
}


ngx_flag_t
ngx_helpdesk_acme_order_ok(ngx_helpdesk_acme_call_t *call)
{
    return call->result == CURLE_OK && call->status >= 200
           && call->status < 300;
}


ngx_int_t
ngx_helpdesk_acme_order_keep(ngx_helpdesk_acme_order_t *o, json_t *obj,
    const char *name, ngx_str_t *to)
{
    ngx_str_t  v;

    ngx_helpdesk_acme_json_str(obj, name, &v);

    if (v.len == 0 || v.len > 1024) {
        return NGX_DECLINED;
    }

    to->data = ngx_pnalloc(o->pool, v.len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, v.data, v.len);
    to->data[v.len] = '\0';
    to->len = v.len;

    return NGX_OK;
}


/* polling -------------------------------------------------------------- */

void
ngx_helpdesk_acme_order_poll(ngx_helpdesk_acme_order_t *o, ngx_str_t *url,
    ngx_helpdesk_acme_call_pt handler)
{
    ngx_msec_t  delay;

    if (++o->polls > NGX_HELPDESK_ACME_POLLS) {
        ngx_helpdesk_acme_order_failed(o, NULL, NULL,
                                       "the CA did not finish in time");
        return;
    }

    delay = o->delay;

    if (o->call.retry_after > 0) {
        delay = (ngx_msec_t) o->call.retry_after * 1000;
    }

    delay = ngx_min(ngx_max(delay, 200), NGX_HELPDESK_ACME_POLL_MAX);
    o->delay = ngx_min(o->delay * 3 / 2, NGX_HELPDESK_ACME_POLL_MAX);

    o->poll_url = *url;
    o->polled = handler;

    ngx_add_timer(&o->wait, delay);
}


static void
ngx_helpdesk_acme_order_wake(ngx_event_t *ev)
{
    ngx_helpdesk_acme_order_t  *o = ev->data;

    if (ngx_exiting) {
        /* the lease brings it back on another worker */
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    ngx_helpdesk_acme_order_call(o, &o->poll_url, NULL, NULL, o->polled);
}


/* failures and the end --------------------------------------------------- */

void
ngx_helpdesk_acme_order_failed(ngx_helpdesk_acme_order_t *o,
    ngx_helpdesk_acme_call_t *call, const char *type, const char *detail)
{
    ngx_str_t                 v, problem;
    ngx_helpdesk_acme_call_t  local;

    if (call == NULL) {
        ngx_memzero(&local, sizeof(ngx_helpdesk_acme_call_t));
        local.retry_after = -1;
        call = &local;
    }

    if (type) {
        call->problem_type.data = (u_char *) type;
        call->problem_type.len = ngx_strlen(type);
    }

    if (detail && call->problem_detail.len == 0) {
        call->problem_detail.data = (u_char *) detail;
        call->problem_detail.len = ngx_strlen(detail);
    }

    if (ngx_helpdesk_acme_problem_json(o->pool, call, &problem) != NGX_OK) {
        ngx_helpdesk_acme_order_done(o);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, o->log, 0,
                  "helpdesk acme: %V order for %V failed: %V", &o->kind,
                  &o->host, &problem);

    if (ngx_helpdesk_acme_is(&call->problem_type, "accountDoesNotExist")) {
        ngx_helpdesk_acme_account_lost();
    }

    ngx_memzero(&o->query, sizeof(ngx_helpdesk_pg_query_t));
    o->query.sql = "SELECT api.acme_result($1::bytea, $2, $3, $4, $5, $6)";
    o->query.handler = ngx_helpdesk_acme_order_recorded;
    o->query.data = o;
    o->query.log = o->log;

    ngx_helpdesk_acme_proof(&o->query);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->tenant);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->host);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &o->lease);
    (void) ngx_helpdesk_pg_param(&o->query, o->pool, &problem);

    if (call->retry_after >= 0) {
        v.data = ngx_pnalloc(o->pool, NGX_INT_T_LEN);
        if (v.data == NULL) {
            ngx_helpdesk_acme_order_done(o);
            return;
        }

        v.len = ngx_sprintf(v.data, "%i", call->retry_after) - v.data;
        (void) ngx_helpdesk_pg_param(&o->query, o->pool, &v);

    } else {
        (void) ngx_helpdesk_pg_param(&o->query, o->pool, NULL);
    }

    ngx_helpdesk_pg_run(&o->query);
}


void
ngx_helpdesk_acme_order_recorded(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_acme_order_t  *o = q->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_ERR, o->log, 0,
                      "helpdesk acme: cannot record the order for %V: %s",
                      &o->host,
                      res ? PQresultErrorMessage(res)
                          : "postgresql unavailable");
    }

    ngx_helpdesk_acme_order_done(o);
}


void
ngx_helpdesk_acme_order_done(ngx_helpdesk_acme_order_t *o)
{
    if (o->wait.timer_set) {
        ngx_del_timer(&o->wait);
    }

    ngx_helpdesk_acme_call_cancel(&o->call);

    /* no statement of the order answers into its freed pool */
    ngx_helpdesk_pg_cancel(&o->query);

    if (o->key) {
        EVP_PKEY_free(o->key);
    }

    ngx_helpdesk_acme_inflight--;
    ngx_destroy_pool(o->pool);
}
