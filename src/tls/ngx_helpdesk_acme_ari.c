/*
 * ACME Renewal Information (RFC 9773).  When the CA's directory has
 * "renewalInfo", every certificate the client stored carries its certID
 * (tls_certificates.ari_cert_id).  On the order job's tick, one round at a
 * time per worker: the certificates whose renewal information is due
 * (api.acme_ari_due hands each out once, whichever node asks), then for
 * each a plain GET of "<renewalInfo>/<certID>" and its answer to
 * api.acme_ari_set: the suggestedWindow's start and end (the database
 * picks renew_after at random inside it, or now when it is past) and
 * Retry-After (when to ask again; six hours without it, so at least twice
 * a day).  A renewal that follows names the certificate in newOrder's
 * "replaces" (ngx_helpdesk_acme_steps.c) and spends no new-order token.
 *
 * A request that fails, or an answer that is no renewal information, is
 * recorded without a window (asked again in an hour, or after
 * Retry-After): the certificate keeps the renew_after it had.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_acme_int.h"


/* certificates per round (a round per tick at most) */
#define NGX_HELPDESK_ACME_ARI_BATCH       8
#define NGX_HELPDESK_ACME_ARI_BATCH_TEXT  "8"
/* after a round that failed (PostgreSQL away) */
#define NGX_HELPDESK_ACME_ARI_IDLE   30


typedef struct {
    ngx_str_t                   tenant;
    ngx_str_t                   host;
    ngx_str_t                   generation;
    ngx_str_t                   cert_id;
} ngx_helpdesk_acme_ari_cert_t;


typedef struct {
    ngx_pool_t                 *pool;       /* the round's */
    ngx_log_t                  *log;
    ngx_array_t                *certs;      /* of ..._ari_cert_t */
    ngx_uint_t                  i;
    ngx_helpdesk_pg_query_t     query;
    ngx_helpdesk_acme_call_t    call;
    time_t                      next;       /* no round before */
    unsigned                    busy:1;
} ngx_helpdesk_acme_ari_t;


static ngx_helpdesk_acme_ari_t  ngx_helpdesk_acme_ari;


static void ngx_helpdesk_acme_ari_due(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_acme_ari_ask(void);
static void ngx_helpdesk_acme_ari_got(ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_ari_set(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_acme_ari_end(time_t wait);


void
ngx_helpdesk_acme_ari_run(ngx_log_t *log)
{
    ngx_str_t                 v;
    ngx_helpdesk_acme_ari_t  *ari = &ngx_helpdesk_acme_ari;

    if (ari->busy || ngx_exiting || ngx_time() < ari->next
        || ngx_helpdesk_acme_client.renewal_info.len == 0)
    {
        return;
    }

    ari->pool = ngx_create_pool(4096, log);
    if (ari->pool == NULL) {
        return;
    }

    ari->busy = 1;
    ari->log = log;
    ari->i = 0;
    ari->certs = NULL;

    ngx_memzero(&ari->query, sizeof(ngx_helpdesk_pg_query_t));
    ari->query.sql = "SELECT tenant_id, hostname, generation, ari_cert_id "
                     "FROM api.acme_ari_due($1::bytea, $2)";
    ari->query.handler = ngx_helpdesk_acme_ari_due;
    ari->query.log = log;

    ngx_helpdesk_acme_proof(&ari->query);
    ngx_str_set(&v, NGX_HELPDESK_ACME_ARI_BATCH_TEXT);
    (void) ngx_helpdesk_pg_param(&ari->query, ari->pool, &v);

    ngx_helpdesk_pg_run(&ari->query);
}


void
ngx_helpdesk_acme_ari_reset(void)
{
    /* a new worker: nothing of the old one's rounds */
    ngx_memzero(&ngx_helpdesk_acme_ari, sizeof(ngx_helpdesk_acme_ari_t));
}


static void
ngx_helpdesk_acme_ari_due(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                            i, n;
    ngx_helpdesk_acme_ari_t       *ari = &ngx_helpdesk_acme_ari;
    ngx_helpdesk_acme_ari_cert_t  *c;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQnfields(res) != 4)
    {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, ari->log, 0,
                          "helpdesk acme: renewal information: %s",
                          PQresultErrorMessage(res));
        }

        ngx_helpdesk_acme_ari_end(NGX_HELPDESK_ACME_ARI_IDLE);
        return;
    }

    n = PQntuples(res);

    if (n == 0) {
        ngx_helpdesk_acme_ari_end(0);
        return;
    }

    ari->certs = ngx_array_create(ari->pool, n ? n : 1,
                                  sizeof(ngx_helpdesk_acme_ari_cert_t));
    if (ari->certs == NULL) {
        ngx_helpdesk_acme_ari_end(NGX_HELPDESK_ACME_ARI_IDLE);
        return;
    }

    for (i = 0; i < n; i++) {
        c = ngx_array_push(ari->certs);
        if (c == NULL
            || ngx_helpdesk_pg_value(ari->pool, res, i, 0, &c->tenant)
               != NGX_OK
            || ngx_helpdesk_pg_value(ari->pool, res, i, 1, &c->host)
               != NGX_OK
            || ngx_helpdesk_pg_value(ari->pool, res, i, 2, &c->generation)
               != NGX_OK
            || ngx_helpdesk_pg_value(ari->pool, res, i, 3, &c->cert_id)
               != NGX_OK)
        {
            ngx_helpdesk_acme_ari_end(NGX_HELPDESK_ACME_ARI_IDLE);
            return;
        }
    }

    ngx_helpdesk_acme_ari_ask();
}


static void
ngx_helpdesk_acme_ari_ask(void)
{
    u_char                        *p;
    ngx_str_t                     *base;
    ngx_helpdesk_acme_ari_t       *ari = &ngx_helpdesk_acme_ari;
    ngx_helpdesk_acme_ari_cert_t  *c;

    if (ari->i >= ari->certs->nelts || ngx_exiting) {
        /* the next tick looks again (one indexed probe) */
        ngx_helpdesk_acme_ari_end(0);
        return;
    }

    c = (ngx_helpdesk_acme_ari_cert_t *) ari->certs->elts + ari->i;
    base = &ngx_helpdesk_acme_client.renewal_info;

    ngx_memzero(&ari->call, sizeof(ngx_helpdesk_acme_call_t));
    ari->call.pool = ari->pool;
    ari->call.log = ari->log;
    ari->call.get = 1;
    ari->call.handler = ngx_helpdesk_acme_ari_got;

    ari->call.url.data = ngx_pnalloc(ari->pool, base->len + 1
                                                + c->cert_id.len + 1);
    if (ari->call.url.data == NULL) {
        ngx_helpdesk_acme_ari_end(NGX_HELPDESK_ACME_ARI_IDLE);
        return;
    }

    p = ngx_cpymem(ari->call.url.data, base->data, base->len);
    if (base->len == 0 || base->data[base->len - 1] != '/') {
        *p++ = '/';
    }
    p = ngx_cpymem(p, c->cert_id.data, c->cert_id.len);
    *p = '\0';
    ari->call.url.len = p - ari->call.url.data;

    ngx_helpdesk_acme_send(&ari->call);
}


/* a member of the window: an RFC 3339 text of sane length, or none */
static void
ngx_helpdesk_acme_ari_time(json_t *window, const char *name, ngx_str_t *v)
{
    ngx_helpdesk_acme_json_str(window, name, v);

    if (v->len < 10 || v->len > 40) {
        ngx_str_null(v);
    }
}


static void
ngx_helpdesk_acme_ari_got(ngx_helpdesk_acme_call_t *call)
{
    json_t                        *window;
    ngx_str_t                      start, end, v;
    ngx_helpdesk_acme_ari_t       *ari = &ngx_helpdesk_acme_ari;
    ngx_helpdesk_acme_ari_cert_t  *c;

    c = (ngx_helpdesk_acme_ari_cert_t *) ari->certs->elts + ari->i;

    ngx_str_null(&start);
    ngx_str_null(&end);

    window = (call->result == CURLE_OK && call->status == 200 && call->json)
             ? json_object_get(call->json, "suggestedWindow") : NULL;

    if (window && json_is_object(window)) {
        ngx_helpdesk_acme_ari_time(window, "start", &start);
        ngx_helpdesk_acme_ari_time(window, "end", &end);
    }

    if (start.len == 0 || end.len == 0) {
        ngx_log_error(NGX_LOG_WARN, ari->log, 0,
                      "helpdesk acme: no renewal information for %V "
                      "(%V): %s, status %l", &c->host, &c->cert_id,
                      call->result != CURLE_OK ? call->error
                                               : "no suggestedWindow",
                      call->status);
        ngx_str_null(&start);
        ngx_str_null(&end);

    } else {
        ngx_log_error(NGX_LOG_INFO, ari->log, 0,
                      "helpdesk acme: renewal of %V suggested from %V "
                      "to %V", &c->host, &start, &end);
    }

    ngx_memzero(&ari->query, sizeof(ngx_helpdesk_pg_query_t));
    ari->query.sql = "SELECT api.acme_ari_set($1::bytea, $2, $3, $4, $5, $6, "
                     "$7)";
    ari->query.handler = ngx_helpdesk_acme_ari_set;
    ari->query.log = ari->log;

    ngx_helpdesk_acme_proof(&ari->query);
    (void) ngx_helpdesk_pg_param(&ari->query, ari->pool, &c->tenant);
    (void) ngx_helpdesk_pg_param(&ari->query, ari->pool, &c->host);
    (void) ngx_helpdesk_pg_param(&ari->query, ari->pool, &c->generation);
    (void) ngx_helpdesk_pg_param(&ari->query, ari->pool,
                                 start.len ? &start : NULL);
    (void) ngx_helpdesk_pg_param(&ari->query, ari->pool,
                                 end.len ? &end : NULL);

    if (call->result == CURLE_OK && call->retry_after >= 0) {
        v.data = ngx_pnalloc(ari->pool, NGX_INT_T_LEN);
        if (v.data == NULL) {
            ngx_helpdesk_acme_ari_end(NGX_HELPDESK_ACME_ARI_IDLE);
            return;
        }

        v.len = ngx_sprintf(v.data, "%i", call->retry_after) - v.data;
        (void) ngx_helpdesk_pg_param(&ari->query, ari->pool, &v);

    } else {
        (void) ngx_helpdesk_pg_param(&ari->query, ari->pool, NULL);
    }

    ngx_helpdesk_pg_run(&ari->query);
}


static void
ngx_helpdesk_acme_ari_set(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_acme_ari_t  *ari = &ngx_helpdesk_acme_ari;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, ari->log, 0,
                          "helpdesk acme: renewal information not stored: "
                          "%s", PQresultErrorMessage(res));
        }

        ngx_helpdesk_acme_ari_end(NGX_HELPDESK_ACME_ARI_IDLE);
        return;
    }

    ari->i++;
    ngx_helpdesk_acme_ari_ask();
}


static void
ngx_helpdesk_acme_ari_end(time_t wait)
{
    ngx_helpdesk_acme_ari_t  *ari = &ngx_helpdesk_acme_ari;

    ari->busy = 0;
    ari->next = ngx_time() + wait;

    if (ari->pool) {
        ngx_destroy_pool(ari->pool);
        ari->pool = NULL;
    }
}
