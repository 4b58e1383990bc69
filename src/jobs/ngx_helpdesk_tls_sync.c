/*
 * The certificates' sync: worker 0 of each node asks PostgreSQL for the
 * names whose certificate changed since the last seq it saw
 * (api.tls_sync), every "sync=" of helpdesk_tls_store; for each, it opens
 * the private key (sealed with the secret ring, bound to "tls_key:<host>"),
 * puts chain and key into the shared table that the certificate callbacks
 * read, and writes the node-local file (in the thread pool); a tombstone
 * removes both.  A worker starts with a full sync (seq 0), at the end of
 * which the names it did not see at all (no row left in the database) are
 * dropped from the table and their files removed.  When the table is
 * empty at start (a cold start of the node), the files are loaded first,
 * so that the node serves even while PostgreSQL is down; the full sync
 * then writes every file again, sealed under the ring's current key.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "tls/ngx_http_helpdesk_tls.h"


#define NGX_HELPDESK_TLS_SYNC_BATCH    "200"
#define NGX_HELPDESK_TLS_SYNC_BATCH_N  200


typedef struct {
    ngx_http_helpdesk_tls_conf_t  *tcf;
    u_char                        *proof;
    ngx_log_t                     *log;
    ngx_event_t                    tick;
    ngx_pool_t                    *pool;
    ngx_helpdesk_pg_query_t        query;
    int64_t                        since;
    ngx_uint_t                     rows;
    unsigned                       busy:1;       /* a query in flight */
    unsigned                       writing:1;    /* files in the thread */
    unsigned                       failing:1;
    unsigned                       full:1;       /* the full sync's round */
} ngx_helpdesk_tls_sync_t;


static void ngx_helpdesk_tls_sync_start(void *data);
static void ngx_helpdesk_tls_sync_tick(ngx_event_t *ev);
static void ngx_helpdesk_tls_sync_read(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_helpdesk_tls_sync_row(ngx_helpdesk_tls_sync_t *ts,
    PGresult *res, int row, ngx_http_helpdesk_tls_cert_t *c);
static void ngx_helpdesk_tls_sync_written(void *data);
static void ngx_helpdesk_tls_sync_next(ngx_helpdesk_tls_sync_t *ts,
    ngx_msec_t after);


static ngx_helpdesk_tls_sync_t  ngx_helpdesk_tls_sync;


ngx_int_t
ngx_helpdesk_tls_sync_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_helpdesk_tls_conf_t   *tcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;
    ngx_helpdesk_tls_sync_t        *ts = &ngx_helpdesk_tls_sync;

    ngx_memzero(ts, sizeof(ngx_helpdesk_tls_sync_t));

    tcf = ngx_http_helpdesk_tls_conf();

    if (tcf == NULL || ngx_worker != 0) {
        return NGX_OK;
    }

    hmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_helpdesk_module);

    ts->tcf = tcf;
    ts->proof = hmcf->outbox.proof;
    ts->log = cycle->log;

    ts->tick.handler = ngx_helpdesk_tls_sync_tick;
    ts->tick.data = ts;
    ts->tick.log = cycle->log;
    ts->tick.cancelable = 1;
    ts->full = 1;

    if (!ngx_http_helpdesk_tls_store_loaded()
        && ngx_http_helpdesk_tls_files_load(cycle->log,
                                            ngx_helpdesk_tls_sync_start, ts)
           == NGX_OK)
    {
        ts->writing = 1;
        return NGX_OK;
    }

    ngx_http_helpdesk_tls_store_set_loaded();
    ngx_add_timer(&ts->tick, 1);

    return NGX_OK;
}


void
ngx_helpdesk_tls_sync_exit_worker(void)
{
    ngx_helpdesk_tls_sync_t  *ts = &ngx_helpdesk_tls_sync;

    if (ts->tick.timer_set) {
        ngx_del_timer(&ts->tick);
    }

    if (ts->busy) {
        ngx_helpdesk_pg_cancel(&ts->query);
        ts->busy = 0;
    }

    /* a thread still writing owns the pool: it goes with the process */
    if (ts->pool && !ts->writing) {
        ngx_destroy_pool(ts->pool);
    }

    ts->pool = NULL;
}


/* the files are in the table: the full sync now */

static void
ngx_helpdesk_tls_sync_start(void *data)
{
    ngx_helpdesk_tls_sync_t  *ts = data;

    ts->writing = 0;

    if (!ngx_exiting) {
        ngx_add_timer(&ts->tick, 1);
    }
}


static void
ngx_helpdesk_tls_sync_tick(ngx_event_t *ev)
{
    ngx_str_t                 v;
    u_char                    since[NGX_INT64_LEN];
    ngx_helpdesk_tls_sync_t  *ts = ev->data;

    if (ngx_exiting || ts->busy || ts->writing) {
        return;
    }

    ts->pool = ngx_create_pool(16384, ts->log);
    if (ts->pool == NULL) {
        ngx_add_timer(&ts->tick, ts->tcf->sync);
        return;
    }

    if (ts->full && ts->since == 0) {
        ngx_http_helpdesk_tls_store_sweep_begin();
    }

    ngx_memzero(&ts->query, sizeof(ngx_helpdesk_pg_query_t));
    ts->query.sql = "SELECT seq, tenant_id, hostname, generation, serve, "
                    "extract(epoch FROM not_after)::bigint, "
                    "array_to_string(ARRAY(SELECT encode(x, 'hex') "
                    "FROM unnest(chain_der) WITH ORDINALITY u(x, o) "
                    "ORDER BY o), ','), key_sealed "
                    "FROM api.tls_sync($1::bytea, $2, $3)";
    ts->query.handler = ngx_helpdesk_tls_sync_read;
    ts->query.data = ts;
    ts->query.log = ts->log;

    v.data = ts->proof;
    v.len = ngx_strlen(ts->proof);
    (void) ngx_helpdesk_pg_param(&ts->query, ts->pool, &v);

    v.data = since;
    v.len = ngx_sprintf(since, "%L", ts->since) - since;
    (void) ngx_helpdesk_pg_param(&ts->query, ts->pool, &v);

    ngx_str_set(&v, NGX_HELPDESK_TLS_SYNC_BATCH);
    (void) ngx_helpdesk_pg_param(&ts->query, ts->pool, &v);

    ts->busy = 1;
    ngx_helpdesk_pg_run(&ts->query);
}


static void
ngx_helpdesk_tls_sync_read(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                            i, n;
    ngx_int_t                      rc;
    ngx_str_t                      err, *gone;
    ngx_uint_t                     j;
    ngx_array_t                   *batch, *swept;
    ngx_helpdesk_tls_sync_t       *ts = q->data;
    ngx_http_helpdesk_tls_cert_t  *c;

    ts->busy = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQnfields(res) != 8)
    {
        if (!ts->failing) {
            ngx_log_error(NGX_LOG_ERR, ts->log, 0,
                          "helpdesk tls: cannot read the certificates to "
                          "serve (the ones in memory are served)%s%s",
                          res ? ": " : "",
                          res ? PQresultErrorMessage(res) : "");
        }

        ts->failing = 1;

        if (res && PQresultStatus(res) != PGRES_TUPLES_OK) {
            err.data = (u_char *) PQresultErrorMessage(res);
            err.len = ngx_strlen(err.data);
            while (err.len && (err.data[err.len - 1] == '\n'
                               || err.data[err.len - 1] == ' '))
            {
                err.len--;
            }

        } else if (res) {
            ngx_str_set(&err, "an unexpected answer");

        } else {
            ngx_str_set(&err, "no connection to PostgreSQL");
        }

        ngx_http_helpdesk_tls_store_synced(0, &err);
        ngx_helpdesk_tls_sync_next(ts, ts->tcf->sync);
        return;
    }

    if (ts->failing) {
        ngx_log_error(NGX_LOG_NOTICE, ts->log, 0,
                      "helpdesk tls: the certificates' sync works again");
        ts->failing = 0;
    }

    n = PQntuples(res);
    ts->rows = n;

    batch = ngx_array_create(ts->pool, n + 1,
                             sizeof(ngx_http_helpdesk_tls_cert_t));
    if (batch == NULL) {
        ngx_helpdesk_tls_sync_next(ts, ts->tcf->sync);
        return;
    }

    for (i = 0; i < n; i++) {
        c = ngx_array_push(batch);
        if (c == NULL) {
            ngx_helpdesk_tls_sync_next(ts, ts->tcf->sync);
            return;
        }

        ngx_memzero(c, sizeof(ngx_http_helpdesk_tls_cert_t));

        rc = ngx_helpdesk_tls_sync_row(ts, res, i, c);

        if (rc == NGX_ERROR) {
            /* memory: the same rows again later */
            ngx_helpdesk_tls_sync_next(ts, ts->tcf->sync);
            return;
        }

        if (rc == NGX_DECLINED) {
            /* logged; the others go on, and what the node has stays */
            if (c->host.data && PQgetvalue(res, i, 4)[0] == 't') {
                ngx_http_helpdesk_tls_store_touch(&c->host);
            }

            batch->nelts--;
            continue;
        }

        if (c->blob.len) {
            (void) ngx_http_helpdesk_tls_store_put(c);

        } else {
            ngx_http_helpdesk_tls_store_remove(&c->host, c->tenant, c->seq);
        }
    }

    ngx_http_helpdesk_tls_store_synced(ts->since, NULL);

    /* the full sync read everything: the names it did not see go */
    if (ts->full && n < NGX_HELPDESK_TLS_SYNC_BATCH_N) {
        ts->full = 0;

        swept = ngx_array_create(ts->pool, 4, sizeof(ngx_str_t));
        if (swept == NULL
            || ngx_http_helpdesk_tls_store_sweep(ts->pool, swept) != NGX_OK)
        {
            ts->full = 1;       /* next time: a full sync again */
            ts->since = 0;
        }

        gone = swept ? swept->elts : NULL;

        for (j = 0; swept && j < swept->nelts; j++) {
            ngx_log_error(NGX_LOG_NOTICE, ts->log, 0,
                          "helpdesk tls: \"%V\" is no longer in the "
                          "database: not served", &gone[j]);

            c = ngx_array_push(batch);
            if (c == NULL) {
                break;
            }

            ngx_memzero(c, sizeof(ngx_http_helpdesk_tls_cert_t));
            c->host = gone[j];      /* no blob: the file goes */
        }
    }

    if (batch->nelts
        && ngx_http_helpdesk_tls_files_write(ts->pool, batch, ts->log,
                                             ngx_helpdesk_tls_sync_written,
                                             ts)
           == NGX_OK)
    {
        ts->writing = 1;
        return;
    }

    ngx_helpdesk_tls_sync_written(ts);
}


static ngx_int_t
ngx_helpdesk_tls_sync_row(ngx_helpdesk_tls_sync_t *ts, PGresult *res,
    int row, ngx_http_helpdesk_tls_cert_t *c)
{
    u_char        *p, *last, *comma;
    size_t         len, i;
    ngx_int_t      rc, hi, lo;
    ngx_str_t      sealed, pem, der, aad, *cert;
    ngx_array_t   *chain;
    u_char         buf[NGX_HTTP_HELPDESK_TLS_HOST_MAX + 16];

    c->seq = ngx_atoof((u_char *) PQgetvalue(res, row, 0),
                       PQgetlength(res, row, 0));

    if (c->seq > ts->since) {
        ts->since = c->seq;     /* whatever becomes of this row */
    }

    c->host.len = PQgetlength(res, row, 2);
    c->generation = ngx_atoi((u_char *) PQgetvalue(res, row, 3),
                             PQgetlength(res, row, 3));
    c->not_after = ngx_atotm((u_char *) PQgetvalue(res, row, 5),
                             PQgetlength(res, row, 5));

    if (PQgetlength(res, row, 1) != NGX_HTTP_HELPDESK_TLS_TENANT_LEN
        || c->host.len == 0 || c->host.len > NGX_HTTP_HELPDESK_TLS_HOST_MAX
        || c->seq == NGX_ERROR)
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(c->tenant, PQgetvalue(res, row, 1),
               NGX_HTTP_HELPDESK_TLS_TENANT_LEN);

    c->host.data = ngx_pnalloc(ts->pool, c->host.len);
    if (c->host.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(c->host.data, PQgetvalue(res, row, 2), c->host.len);

    /* a host name only: it names a file */
    for (i = 0; i < c->host.len; i++) {
        if (!((c->host.data[i] >= 'a' && c->host.data[i] <= 'z')
              || (c->host.data[i] >= '0' && c->host.data[i] <= '9')
              || c->host.data[i] == '-' || c->host.data[i] == '.')
            || (c->host.data[i] == '.' && i == 0))
        {
            return NGX_DECLINED;
        }
    }

    if (PQgetvalue(res, row, 4)[0] != 't') {
        return NGX_OK;      /* a tombstone */
    }

    if (c->generation == (ngx_uint_t) NGX_ERROR
        || c->not_after == NGX_ERROR)
    {
        return NGX_DECLINED;
    }

    /* the key: sealed PEM -> DER */
    sealed.data = (u_char *) PQgetvalue(res, row, 7);
    sealed.len = PQgetlength(res, row, 7);

    ngx_http_helpdesk_tls_key_aad(&aad, buf, &c->host);

    rc = ngx_helpdesk_secret_decrypt(ts->pool, ts->tcf->ring, &aad, &sealed,
                                     &pem);
    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, ts->log, 0,
                      "helpdesk tls: the key of \"%V\" (generation %ui) "
                      "does not decrypt with the keys of "
                      "\"helpdesk_secret_key_file\": not served",
                      &c->host, c->generation);
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_helpdesk_tls_key_der(ts->pool, &pem, &der);
    ngx_explicit_memzero(pem.data, pem.len);

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, ts->log, 0,
                          "helpdesk tls: the key of \"%V\" is not a PEM "
                          "private key: not served", &c->host);
        }
        return rc;
    }

    /* the chain: hex DER, comma-separated */
    chain = ngx_array_create(ts->pool, 4, sizeof(ngx_str_t));
    if (chain == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) PQgetvalue(res, row, 6);
    last = p + PQgetlength(res, row, 6);

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        len = comma - p;

        if (len == 0 || len % 2 || chain->nelts
                                   == NGX_HTTP_HELPDESK_TLS_CHAIN_MAX)
        {
            return NGX_DECLINED;
        }

        cert = ngx_array_push(chain);
        if (cert == NULL) {
            return NGX_ERROR;
        }

        cert->len = len / 2;
        cert->data = ngx_pnalloc(ts->pool, cert->len);
        if (cert->data == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < cert->len; i++) {
            hi = ngx_hextoi(p + 2 * i, 1);
            lo = ngx_hextoi(p + 2 * i + 1, 1);

            if (hi == NGX_ERROR || lo == NGX_ERROR) {
                return NGX_DECLINED;
            }

            cert->data[i] = (u_char) (hi << 4 | lo);
        }

        p = comma + 1;
    }

    rc = ngx_http_helpdesk_tls_blob(ts->pool, chain, &der, &c->blob);
    ngx_explicit_memzero(der.data, der.len);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, ts->log, 0,
                      "helpdesk tls: the certificate of \"%V\" is too large "
                      "or has no chain: not served", &c->host);
    }

    return rc;
}


static void
ngx_helpdesk_tls_sync_written(void *data)
{
    ngx_helpdesk_tls_sync_t  *ts = data;

    ts->writing = 0;

    ngx_helpdesk_tls_sync_next(ts, ts->rows == NGX_HELPDESK_TLS_SYNC_BATCH_N
                                   ? 10 : ts->tcf->sync);
}


static void
ngx_helpdesk_tls_sync_next(ngx_helpdesk_tls_sync_t *ts, ngx_msec_t after)
{
    if (ts->pool) {
        ngx_destroy_pool(ts->pool);
        ts->pool = NULL;
    }

    if (ngx_exiting) {
        return;
    }

    ngx_add_timer(&ts->tick, after);
}
