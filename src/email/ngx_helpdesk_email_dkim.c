/*
 * The email runner's DKIM keys.
 *
 * A tenant that sets a sender address of its own gets a key for its
 * domain: every few ticks the runner asks the database for (at most two)
 * tenants whose address has none, or one made for another domain
 * (api.email_dkim_wanted); an RSA-2048 key is generated in the thread pool
 * (tens of milliseconds of CPU), sealed here to "email_settings.dkim_key:
 * <tenant>", and stored with its public half (api.email_dkim_store), which
 * keeps it only if the address has not changed meanwhile.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_helpdesk_email_out.h"
#include "ngx_helpdesk_email_int.h"
#include "ngx_helpdesk_email_mime.h"
#include "lib/ngx_helpdesk_secret.h"


typedef struct {
    ngx_pool_t                 *pool;
    ngx_helpdesk_pg_query_t     query;
    ngx_str_t                   tenant;
    ngx_str_t                   domain;
    ngx_str_t                   aad;
    ngx_str_t                   pem;        /* malloc()ed by the task */
    ngx_str_t                   pub;
    ngx_int_t                   rc;
} ngx_helpdesk_email_key_t;


static void ngx_helpdesk_email_wanted(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_email_keygen(void *data, ngx_log_t *log);
static void ngx_helpdesk_email_keyed(ngx_event_t *ev);
static void ngx_helpdesk_email_key_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_email_key_free(ngx_helpdesk_email_key_t *k);


void
ngx_helpdesk_email_want_keys(void)
{
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    if (er->wanting || er->keys || er->conf->outbox->secrets == NULL) {
        return;
    }

    ngx_memzero(&er->wanted, sizeof(ngx_helpdesk_pg_query_t));
    er->wanted.sql = "SELECT tenant_id, domain, key_aad "
                     "FROM api.email_dkim_wanted($1::bytea, 2)";
    er->wanted.handler = ngx_helpdesk_email_wanted;
    er->wanted.log = er->log;
    ngx_helpdesk_email_proof(&er->wanted);

    er->wanting = 1;
    ngx_helpdesk_pg_run(&er->wanted);
}


static void
ngx_helpdesk_email_wanted(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                           i, j;
    ngx_str_t                    *to[3];
    ngx_pool_t                   *pool;
    ngx_thread_task_t            *task;
    ngx_helpdesk_email_key_t     *k;
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    er->wanting = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQnfields(res) != 3)
    {
        return;
    }

    for (i = 0; i < PQntuples(res); i++) {
        pool = ngx_create_pool(1024, er->log);
        if (pool == NULL) {
            return;
        }

        task = ngx_thread_task_alloc(pool, sizeof(ngx_helpdesk_email_key_t));
        if (task == NULL) {
            ngx_destroy_pool(pool);
            return;
        }

        k = task->ctx;
        k->pool = pool;
        to[0] = &k->tenant;
        to[1] = &k->domain;
        to[2] = &k->aad;

        for (j = 0; j < 3; j++) {
            to[j]->len = PQgetlength(res, i, j);
            to[j]->data = ngx_pnalloc(pool, to[j]->len + 1);

            if (to[j]->data == NULL) {
                ngx_destroy_pool(pool);
                return;
            }

            ngx_memcpy(to[j]->data, PQgetvalue(res, i, j), to[j]->len);
        }

        task->handler = ngx_helpdesk_email_keygen;
        task->event.handler = ngx_helpdesk_email_keyed;
        task->event.data = k;

        if (ngx_thread_task_post(er->tp, task) != NGX_OK) {
            ngx_destroy_pool(pool);
            return;
        }

        er->keys++;
    }
}


static void
ngx_helpdesk_email_keygen(void *data, ngx_log_t *log)
{
    ngx_helpdesk_email_key_t  *k = data;

    k->rc = ngx_helpdesk_mail_dkim_key(&k->pem, &k->pub);
}


static void
ngx_helpdesk_email_keyed(ngx_event_t *ev)
{
    ngx_str_t                     sealed;
    ngx_helpdesk_email_key_t     *k = ev->data;
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    if (k->rc != NGX_OK
        || ngx_helpdesk_secret_encrypt(k->pool, er->conf->outbox->secrets,
                                       &k->aad, &k->pem, &sealed)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, er->log, 0,
                      "helpdesk email: cannot make a DKIM key for %V",
                      &k->domain);
        ngx_helpdesk_email_key_free(k);
        return;
    }

    ngx_memzero(&k->query, sizeof(ngx_helpdesk_pg_query_t));
    k->query.sql = "SELECT api.email_dkim_store($1::bytea, $2, $3, $4, $5)";
    k->query.handler = ngx_helpdesk_email_key_stored;
    k->query.data = k;
    k->query.log = er->log;
    ngx_helpdesk_email_proof(&k->query);

    (void) ngx_helpdesk_pg_param(&k->query, k->pool, &k->tenant);
    (void) ngx_helpdesk_pg_param(&k->query, k->pool, &k->domain);
    (void) ngx_helpdesk_pg_param(&k->query, k->pool, &sealed);
    (void) ngx_helpdesk_pg_param(&k->query, k->pool, &k->pub);

    ngx_helpdesk_pg_run(&k->query);
}


static void
ngx_helpdesk_email_key_stored(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_email_key_t  *k = q->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_ERR, q->log, 0,
                      "helpdesk email: cannot store a DKIM key: %s",
                      res ? PQresultErrorMessage(res) : "postgresql unavailable");
    }

    ngx_helpdesk_email_key_free(k);
}


static void
ngx_helpdesk_email_key_free(ngx_helpdesk_email_key_t *k)
{
    if (k->pem.data) {
        ngx_explicit_memzero(k->pem.data, k->pem.len);
        ngx_free(k->pem.data);
    }

    if (k->pub.data) {
        ngx_free(k->pub.data);
    }

    ngx_helpdesk_email_runner.keys--;
    ngx_destroy_pool(k->pool);
}
