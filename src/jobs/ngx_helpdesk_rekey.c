/*
 * The rotation of secrets at rest.
 *
 * One worker (the first) walks every stored secret that is not under the
 * current key of helpdesk_secret_key_file (values under an older key,
 * and values from before encryption, marked "plain:"), in batches, in the
 * order of (field, row): it opens each with the key it names, seals it
 * again under the current key, and writes it back only if the stored
 * value is still the one it read (a secret changed meanwhile is already
 * under the current key).  A pass runs when the worker starts, so putting
 * a new key first in the file and reloading nginx rotates everything, and
 * then every NGX_HELPDESK_REKEY_INTERVAL, which catches values an old
 * worker wrote while it was shutting down.
 *
 * A value that does not open (its key was removed from the file, or it
 * was altered, or copied from another row) is left as it is and logged
 * with its place, never its value; GET /v1/provider/secrets counts what
 * is left.  The work is a few AES operations per value, on small values:
 * no need for a thread.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>

#include "ngx_helpdesk_rekey.h"
#include "event/ngx_helpdesk_pg.h"
#include "lib/ngx_helpdesk_json.h"


#define NGX_HELPDESK_REKEY_BATCH      "100"
#define NGX_HELPDESK_REKEY_BATCH_N    100
#define NGX_HELPDESK_REKEY_FIELD_MAX  64


typedef struct {
    ngx_helpdesk_secret_ring_t  *ring;
    u_char                      *proof;     /* NUL-terminated */
    ngx_log_t                   *log;
    ngx_event_t                  tick;
    ngx_pool_t                  *pool;      /* of the batch in flight */
    ngx_helpdesk_pg_query_t      query;
    ngx_uint_t                   rows;      /* of the batch */

    /* where the pass is: after this (field, row) */
    u_char                       field[NGX_HELPDESK_REKEY_FIELD_MAX];
    size_t                       field_len;
    u_char                       row[NGX_HELPDESK_UUID_LEN];
    size_t                       row_len;

    ngx_uint_t                   rotated;   /* in this pass */
    ngx_uint_t                   failed;
    unsigned                     busy:1;
} ngx_helpdesk_rekey_t;


static void ngx_helpdesk_rekey_tick(ngx_event_t *ev);
static void ngx_helpdesk_rekey_read(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_rekey_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_rekey_next(ngx_flag_t more);


static ngx_helpdesk_rekey_t  ngx_helpdesk_rekey;


ngx_int_t
ngx_helpdesk_rekey_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_secret_ring_t *ring, u_char *proof)
{
    ngx_helpdesk_rekey_t  *rk = &ngx_helpdesk_rekey;

    ngx_memzero(rk, sizeof(ngx_helpdesk_rekey_t));

    if (ring == NULL || ngx_worker != 0) {
        return NGX_OK;
    }

    if (proof[0] == '\0') {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "helpdesk secrets: no rotation of secrets at rest "
                      "without \"helpdesk_provider_key_file\"");
        return NGX_OK;
    }

    rk->ring = ring;
    rk->proof = proof;
    rk->log = cycle->log;

    rk->tick.handler = ngx_helpdesk_rekey_tick;
    rk->tick.data = rk;
    rk->tick.log = cycle->log;
    rk->tick.cancelable = 1;

    ngx_add_timer(&rk->tick, 200);

    return NGX_OK;
}


void
ngx_helpdesk_rekey_exit_worker(void)
{
    ngx_helpdesk_rekey_t  *rk = &ngx_helpdesk_rekey;

    if (rk->tick.timer_set) {
        ngx_del_timer(&rk->tick);
    }

    if (rk->busy) {
        ngx_helpdesk_pg_cancel(&rk->query);
        rk->busy = 0;
    }

    if (rk->pool) {
        ngx_destroy_pool(rk->pool);
        rk->pool = NULL;
    }
}


static void
ngx_helpdesk_rekey_tick(ngx_event_t *ev)
{
    ngx_str_t              v;
    ngx_helpdesk_rekey_t  *rk = &ngx_helpdesk_rekey;

    if (ngx_exiting || rk->busy) {
        return;
    }

    if (rk->pool) {
        ngx_destroy_pool(rk->pool);
    }

    rk->pool = ngx_create_pool(4096, rk->log);
    if (rk->pool == NULL) {
        ngx_add_timer(&rk->tick, NGX_HELPDESK_REKEY_INTERVAL);
        return;
    }

    ngx_memzero(&rk->query, sizeof(ngx_helpdesk_pg_query_t));
    rk->query.sql = "SELECT field, row_id, place, value "
                    "FROM api.secrets_stale($1::bytea, $2, $3, $4::uuid, $5)";
    rk->query.handler = ngx_helpdesk_rekey_read;
    rk->query.log = rk->log;

    v.data = rk->proof;
    v.len = ngx_strlen(rk->proof);
    (void) ngx_helpdesk_pg_param(&rk->query, rk->pool, &v);

    (void) ngx_helpdesk_pg_param(&rk->query, rk->pool,
                                 ngx_helpdesk_secret_current(rk->ring));

    v.data = rk->field;
    v.len = rk->field_len;
    (void) ngx_helpdesk_pg_param(&rk->query, rk->pool, v.len ? &v : NULL);

    v.data = rk->row;
    v.len = rk->row_len;
    (void) ngx_helpdesk_pg_param(&rk->query, rk->pool, v.len ? &v : NULL);

    ngx_str_set(&v, NGX_HELPDESK_REKEY_BATCH);
    (void) ngx_helpdesk_pg_param(&rk->query, rk->pool, &v);

    rk->busy = 1;
    ngx_helpdesk_pg_run(&rk->query);
}


static ngx_str_t
ngx_helpdesk_rekey_value(PGresult *res, int row, int col)
{
    ngx_str_t  s;

    s.data = (u_char *) PQgetvalue(res, row, col);
    s.len = PQgetlength(res, row, col);

    return s;
}


static void
ngx_helpdesk_rekey_read(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                    i, n;
    json_t                *items, *it;
    ngx_int_t              rc;
    ngx_str_t              field, row, place, value, plain, sealed, text;
    ngx_str_t              proof;
    ngx_helpdesk_rekey_t  *rk = &ngx_helpdesk_rekey;

    rk->busy = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQnfields(res) != 4)
    {
        ngx_log_error(NGX_LOG_ERR, rk->log, 0,
                      "helpdesk secrets: cannot read the values to rotate%s%s",
                      res ? ": " : "", res ? PQresultErrorMessage(res) : "");
        ngx_helpdesk_rekey_next(0);
        return;
    }

    n = PQntuples(res);
    rk->rows = n;

    items = json_array();
    if (items == NULL) {
        ngx_helpdesk_rekey_next(0);
        return;
    }

    for (i = 0; i < n; i++) {
        field = ngx_helpdesk_rekey_value(res, i, 0);
        row = ngx_helpdesk_rekey_value(res, i, 1);
        place = ngx_helpdesk_rekey_value(res, i, 2);
        value = ngx_helpdesk_rekey_value(res, i, 3);

        if (field.len > NGX_HELPDESK_REKEY_FIELD_MAX
            || row.len != NGX_HELPDESK_UUID_LEN)
        {
            continue;
        }

        /* the pass goes on after this one, whatever becomes of it */
        rk->field_len = ngx_cpymem(rk->field, field.data, field.len)
                        - rk->field;
        rk->row_len = ngx_cpymem(rk->row, row.data, row.len) - rk->row;

        rc = ngx_helpdesk_secret_decrypt(rk->pool, rk->ring, &place, &value,
                                         &plain);
        if (rc == NGX_DECLINED) {
            rk->failed++;
            ngx_log_error(NGX_LOG_ERR, rk->log, 0,
                          "helpdesk secrets: %V does not decrypt with the "
                          "keys of \"helpdesk_secret_key_file\" (a missing "
                          "key, or a value altered or moved): left as it is",
                          &place);
            continue;
        }

        if (rc != NGX_OK
            || ngx_helpdesk_secret_encrypt(rk->pool, rk->ring, &place, &plain,
                                           &sealed)
               != NGX_OK)
        {
            json_decref(items);
            ngx_helpdesk_rekey_next(0);
            return;
        }

        it = json_pack("{s:s%, s:s%, s:s%, s:s%}",
                       "field", field.data, field.len,
                       "row_id", row.data, row.len,
                       "old", value.data, value.len,
                       "new", sealed.data, sealed.len);

        /* (a "plain:" value's plaintext is the answer's own memory) */
        ngx_explicit_memzero(plain.data, plain.len);

        if (it == NULL || json_array_append_new(items, it) != 0) {
            json_decref(items);
            ngx_helpdesk_rekey_next(0);
            return;
        }
    }

    if (json_array_size(items) == 0) {
        json_decref(items);
        ngx_helpdesk_rekey_next(n == NGX_HELPDESK_REKEY_BATCH_N);
        return;
    }

    rc = ngx_helpdesk_json_dump(rk->pool, items, &text);
    json_decref(items);

    if (rc != NGX_OK) {
        ngx_helpdesk_rekey_next(0);
        return;
    }

    ngx_memzero(&rk->query, sizeof(ngx_helpdesk_pg_query_t));
    rk->query.sql = "SELECT api.secrets_store($1::bytea, $2::jsonb)";
    rk->query.handler = ngx_helpdesk_rekey_stored;
    rk->query.log = rk->log;

    proof.data = rk->proof;
    proof.len = ngx_strlen(rk->proof);
    (void) ngx_helpdesk_pg_param(&rk->query, rk->pool, &proof);
    (void) ngx_helpdesk_pg_param(&rk->query, rk->pool, &text);

    rk->busy = 1;
    ngx_helpdesk_pg_run(&rk->query);
}


static void
ngx_helpdesk_rekey_stored(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_rekey_t  *rk = &ngx_helpdesk_rekey;

    rk->busy = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        ngx_log_error(NGX_LOG_ERR, rk->log, 0,
                      "helpdesk secrets: cannot store the rotated values%s%s",
                      res ? ": " : "", res ? PQresultErrorMessage(res) : "");
        ngx_helpdesk_rekey_next(0);
        return;
    }

    rk->rotated += ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                            PQgetlength(res, 0, 0));

    ngx_helpdesk_rekey_next(rk->rows == NGX_HELPDESK_REKEY_BATCH_N);
}


/* the next batch soon, or the end of the pass and the next one later */

static void
ngx_helpdesk_rekey_next(ngx_flag_t more)
{
    ngx_helpdesk_rekey_t  *rk = &ngx_helpdesk_rekey;

    if (rk->pool) {
        ngx_destroy_pool(rk->pool);
        rk->pool = NULL;
    }

    if (ngx_exiting) {
        return;
    }

    if (more) {
        ngx_add_timer(&rk->tick, 10);
        return;
    }

    if (rk->rotated || rk->failed) {
        ngx_log_error(NGX_LOG_NOTICE, rk->log, 0,
                      "helpdesk secrets: %ui value(s) re-encrypted under key "
                      "\"%V\", %ui could not be read",
                      rk->rotated, ngx_helpdesk_secret_current(rk->ring),
                      rk->failed);
    }

    rk->field_len = 0;
    rk->row_len = 0;
    rk->rotated = 0;
    rk->failed = 0;

    ngx_add_timer(&rk->tick, NGX_HELPDESK_REKEY_INTERVAL);
}
