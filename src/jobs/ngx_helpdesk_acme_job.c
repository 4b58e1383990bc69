/*
 * The ACME order job (helpdesk_acme).
 *
 * Every worker wakes every "interval": with the CA's directory at hand
 * (fetched at start and daily) and the provider's account (made once, by
 * whichever node gets its lease: the key generated, sealed and stored
 * before newAccount, so a node that dies in between leaves a key the next
 * one registers again; the CA answers the same key with the same
 * account), it claims due orders (api.acme_claim: FOR UPDATE SKIP LOCKED
 * and a lease, so one node works an order at a time) up to "concurrency"
 * in flight, and runs each (ngx_helpdesk_acme_order.c); with the account
 * at hand it also asks the CA's renewal information of live certificates
 * (ngx_helpdesk_acme_ari.c) when the directory has it.  The tick is
 * cancelable: a worker that is shutting down claims nothing new, and
 * leaves the orders it holds to their lease.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "tls/ngx_helpdesk_acme_int.h"
#include "lib/ngx_helpdesk_jose.h"
#include "lib/ngx_helpdesk_secret.h"
#include "ngx_helpdesk_job.h"


/* the directory is read again after a day */
#define NGX_HELPDESK_ACME_DIRECTORY_TTL  86400


typedef struct {
    ngx_helpdesk_acme_conf_t   *conf;
    ngx_log_t                  *log;
    ngx_event_t                 tick;
    ngx_pool_t                 *pool;       /* the job's current step */
    ngx_helpdesk_acme_call_t    call;
    ngx_helpdesk_pg_query_t     query;
    ngx_str_t                   lease;      /* the account's, when held */
    /* that lease kept across ticks (its step's pool is gone): asked back
       after a failed newAccount, so that this worker tries again at once */
    u_char                      held[NGX_HELPDESK_UUID_LEN];
    size_t                      held_len;
    ngx_str_t                   key_sealed;
    ngx_uint_t                  asked;
    unsigned                    busy:1;     /* a step is running */
    unsigned                    ready:1;
    unsigned                    account:1;  /* key and kid at hand */
} ngx_helpdesk_acme_job_t;


static ngx_helpdesk_acme_job_t  ngx_helpdesk_acme_job;

ngx_uint_t  ngx_helpdesk_acme_inflight;


static void ngx_helpdesk_acme_tick(ngx_event_t *ev);
static void ngx_helpdesk_acme_next(ngx_msec_t delay);
static void ngx_helpdesk_acme_directory(void);
static void ngx_helpdesk_acme_directory_got(ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_account(void);
static void ngx_helpdesk_acme_account_got(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_acme_account_register(void);
static void ngx_helpdesk_acme_account_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_acme_account_made(ngx_helpdesk_acme_call_t *call);
static void ngx_helpdesk_acme_kid_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_acme_claim(void);
static void ngx_helpdesk_acme_claimed(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


ngx_int_t
ngx_helpdesk_acme_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_acme_conf_t *conf)
{
    u_char                      *p, *last;
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    ngx_memzero(job, sizeof(ngx_helpdesk_acme_job_t));
    ngx_memzero(ac, sizeof(ngx_helpdesk_acme_client_t));
    ngx_helpdesk_acme_inflight = 0;
    ngx_helpdesk_acme_ari_reset();

    if (!conf->set || conf->proof.len == 0) {
        return NGX_OK;
    }

    job->conf = conf;
    job->log = cycle->log;
    ac->conf = conf;
    ac->log = cycle->log;

    /* the directory's host: "scheme://host[:port]/..." */
    p = (u_char *) ngx_strstr(conf->directory.data, "://") + 3;
    last = p;
    while (last < conf->directory.data + conf->directory.len
           && *last != '/' && *last != ':' && *last != '?')
    {
        last++;
    }

    ac->dir_host.data = p;
    ac->dir_host.len = last - p;

    job->ready = 1;

    ngx_helpdesk_job_start(&job->tick, ngx_helpdesk_acme_tick, job,
                           cycle->log, conf->interval);

    return NGX_OK;
}


void
ngx_helpdesk_acme_exit_worker(void)
{
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    job->ready = 0;

    if (job->tick.timer_set) {
        ngx_del_timer(&job->tick);
    }

    if (ac->key) {
        EVP_PKEY_free(ac->key);
        ac->key = NULL;
    }
}


void
ngx_helpdesk_acme_proof(ngx_helpdesk_pg_query_t *q)
{
    ngx_helpdesk_acme_job_t  *job = &ngx_helpdesk_acme_job;

    q->values[0] = (const char *) job->conf->proof.data;
    q->lengths[0] = (int) job->conf->proof.len;
    q->nparams = 1;
}


void
ngx_helpdesk_acme_account_lost(void)
{
    ngx_helpdesk_acme_job_t  *job = &ngx_helpdesk_acme_job;

    job->account = 0;
}


static void
ngx_helpdesk_acme_next(ngx_msec_t delay)
{
    ngx_helpdesk_acme_job_t  *job = &ngx_helpdesk_acme_job;

    job->busy = 0;

    if (job->pool) {
        ngx_destroy_pool(job->pool);
        job->pool = NULL;
    }

    if (delay && job->ready && !ngx_exiting) {
        if (job->tick.timer_set) {
            ngx_del_timer(&job->tick);
        }

        ngx_add_timer(&job->tick, delay);
    }
}


static void
ngx_helpdesk_acme_tick(ngx_event_t *ev)
{
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    if (ngx_exiting || !job->ready) {
        return;
    }

    ngx_add_timer(&job->tick, job->conf->interval);

    if (job->account) {
        ngx_helpdesk_acme_ari_run(job->log);
    }

    if (job->busy) {
        return;
    }

    job->pool = ngx_create_pool(4096, job->log);
    if (job->pool == NULL) {
        return;
    }

    job->busy = 1;

    if (ac->dir_pool == NULL
        || ngx_time() - ac->dir_at > NGX_HELPDESK_ACME_DIRECTORY_TTL)
    {
        ngx_helpdesk_acme_directory();
        return;
    }

    if (!job->account) {
        ngx_helpdesk_acme_account();
        return;
    }

    ngx_helpdesk_acme_claim();
}


/* the directory ------------------------------------------------------- */

static void
ngx_helpdesk_acme_directory(void)
{
    ngx_helpdesk_acme_job_t  *job = &ngx_helpdesk_acme_job;

    ngx_memzero(&job->call, sizeof(ngx_helpdesk_acme_call_t));
    job->call.pool = job->pool;
    job->call.log = job->log;
    job->call.url = job->conf->directory;
    job->call.get = 1;
    job->call.handler = ngx_helpdesk_acme_directory_got;

    ngx_helpdesk_acme_send(&job->call);
}


static ngx_int_t
ngx_helpdesk_acme_dir_url(ngx_pool_t *pool, json_t *dir, const char *name,
    ngx_str_t *to)
{
    ngx_str_t  v;

    ngx_helpdesk_acme_json_str(dir, name, &v);

    to->len = v.len;
    to->data = ngx_pnalloc(pool, v.len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, v.data, v.len);
    to->data[v.len] = '\0';

    return NGX_OK;
}


static void
ngx_helpdesk_acme_directory_got(ngx_helpdesk_acme_call_t *call)
{
    size_t                       i;
    json_t                      *meta, *caa, *v;
    ngx_str_t                   *s;
    ngx_pool_t                  *pool;
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    if (call->result != CURLE_OK || call->status != 200 || call->json == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "helpdesk acme: cannot read the directory %V: %s "
                      "(status %l)", &job->conf->directory,
                      call->result != CURLE_OK ? call->error
                                               : "not a directory",
                      call->status);
        ngx_helpdesk_acme_next(0);
        return;
    }

    pool = ngx_create_pool(1024, job->log);
    if (pool == NULL) {
        ngx_helpdesk_acme_next(0);
        return;
    }

    if (ngx_helpdesk_acme_dir_url(pool, call->json, "newNonce",
                                  &ac->new_nonce) != NGX_OK
        || ngx_helpdesk_acme_dir_url(pool, call->json, "newAccount",
                                     &ac->new_account) != NGX_OK
        || ngx_helpdesk_acme_dir_url(pool, call->json, "newOrder",
                                     &ac->new_order) != NGX_OK
        || ngx_helpdesk_acme_dir_url(pool, call->json, "revokeCert",
                                     &ac->revoke_cert) != NGX_OK
        || ngx_helpdesk_acme_dir_url(pool, call->json, "renewalInfo",
                                     &ac->renewal_info) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        ngx_helpdesk_acme_next(0);
        return;
    }

    if (ac->new_nonce.len == 0 || ac->new_account.len == 0
        || ac->new_order.len == 0)
    {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "helpdesk acme: the directory %V lacks newNonce, "
                      "newAccount or newOrder", &job->conf->directory);
        ngx_destroy_pool(pool);
        ngx_helpdesk_acme_next(0);
        return;
    }

    ac->caa = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    if (ac->caa == NULL) {
        ngx_destroy_pool(pool);
        ngx_helpdesk_acme_next(0);
        return;
    }

    meta = json_object_get(call->json, "meta");
    caa = meta ? json_object_get(meta, "caaIdentities") : NULL;

    if (caa && json_is_array(caa)) {
        json_array_foreach(caa, i, v) {
            if (!json_is_string(v) || i >= 16) {
                continue;
            }

            s = ngx_array_push(ac->caa);
            if (s == NULL) {
                break;
            }

            s->len = json_string_length(v);
            s->data = ngx_pstrdup(pool, &(ngx_str_t) { s->len,
                                      (u_char *) json_string_value(v) });
            if (s->data == NULL) {
                ac->caa->nelts--;
                break;
            }
        }
    }

    if (ac->dir_pool) {
        ngx_destroy_pool(ac->dir_pool);
    }

    ac->dir_pool = pool;
    ac->dir_at = ngx_time();

    ngx_log_error(NGX_LOG_INFO, job->log, 0,
                  "helpdesk acme: directory %V read", &job->conf->directory);

    /* on with the account at once */
    ngx_destroy_pool(job->pool);
    job->pool = ngx_create_pool(4096, job->log);
    if (job->pool == NULL) {
        job->busy = 0;
        return;
    }

    if (!job->account) {
        ngx_helpdesk_acme_account();
        return;
    }

    ngx_helpdesk_acme_claim();
}


/* the account --------------------------------------------------------- */

static u_char *
ngx_helpdesk_acme_num(ngx_pool_t *pool, ngx_uint_t n, ngx_str_t *v)
{
    v->data = ngx_pnalloc(pool, NGX_INT_T_LEN);
    if (v->data == NULL) {
        return NULL;
    }

    v->len = ngx_sprintf(v->data, "%ui", n) - v->data;

    return v->data;
}


static void
ngx_helpdesk_acme_account(void)
{
    ngx_str_t                 v;
    ngx_helpdesk_acme_job_t  *job = &ngx_helpdesk_acme_job;

    ngx_memzero(&job->query, sizeof(ngx_helpdesk_pg_query_t));
    job->query.sql = "SELECT account_id, key_sealed, kid_url, thumbprint, "
                     "lease_token "
                     "FROM api.acme_account($1::bytea, $2, $3, $4, $5, "
                     "$6::uuid)";
    job->query.handler = ngx_helpdesk_acme_account_got;
    job->query.log = job->log;

    ngx_helpdesk_acme_proof(&job->query);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool,
                                 &job->conf->directory);
    (void) ngx_helpdesk_acme_num(job->pool, NGX_HELPDESK_ACME_LEASE, &v);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);
    (void) ngx_helpdesk_acme_num(job->pool, job->conf->orders, &v);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);
    (void) ngx_helpdesk_acme_num(job->pool, job->conf->orders_period / 1000,
                                 &v);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);
    v.data = job->held;
    v.len = job->held_len;
    (void) ngx_helpdesk_pg_param(&job->query, job->pool,
                                 v.len ? &v : NULL);

    ngx_helpdesk_pg_run(&job->query);
}


/* the account key, opened from its sealed form */
static ngx_int_t
ngx_helpdesk_acme_open_key(ngx_pool_t *pool, ngx_str_t *account,
    ngx_str_t *sealed, EVP_PKEY **key)
{
    ngx_int_t                  rc;
    ngx_str_t                  aad, plain;
    ngx_helpdesk_acme_job_t   *job = &ngx_helpdesk_acme_job;
    u_char                     buf[NGX_HELPDESK_SECRET_AAD_MAX];

    ngx_helpdesk_secret_aad(&aad, buf, "acme_accounts", "key", account);

    rc = ngx_helpdesk_secret_decrypt(pool, job->conf->secrets, &aad, sealed,
                                     &plain);
    if (rc != NGX_OK) {
        return rc;
    }

    *key = ngx_helpdesk_jose_key_from_pem(plain.data, plain.len);
    OPENSSL_cleanse(plain.data, plain.len);

    return *key ? NGX_OK : NGX_DECLINED;
}


static void
ngx_helpdesk_acme_account_got(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_str_t                    id, sealed, kid, thumb, lease;
    EVP_PKEY                    *key;
    ngx_pool_t                  *pool;
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1 || PQnfields(res) != 5)
    {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "helpdesk acme: cannot read the account: %s",
                      res ? PQresultErrorMessage(res)
                          : "postgresql unavailable");
        ngx_helpdesk_acme_next(0);
        return;
    }

    if (ngx_helpdesk_pg_value(job->pool, res, 0, 0, &id) != NGX_OK
        || ngx_helpdesk_pg_value(job->pool, res, 0, 1, &sealed) != NGX_OK
        || ngx_helpdesk_pg_value(job->pool, res, 0, 2, &kid) != NGX_OK
        || ngx_helpdesk_pg_value(job->pool, res, 0, 3, &thumb) != NGX_OK
        || ngx_helpdesk_pg_value(job->pool, res, 0, 4, &lease) != NGX_OK)
    {
        ngx_helpdesk_acme_next(0);
        return;
    }

    if (kid.len == 0 && lease.len == 0) {
        /* another node makes it: ask again on the next tick */
        ngx_helpdesk_acme_next(0);
        return;
    }

    key = NULL;

    if (sealed.len) {
        switch (ngx_helpdesk_acme_open_key(job->pool, &id, &sealed, &key)) {
        case NGX_OK:
            break;
        case NGX_DECLINED:
            ngx_log_error(NGX_LOG_ALERT, job->log, 0,
                          "helpdesk acme: the account key does not open "
                          "(a key missing from helpdesk_secret_key_file?)");
            ngx_helpdesk_acme_next(0);
            return;
        default:
            ngx_helpdesk_acme_next(0);
            return;
        }
    }

    /* the account as the worker keeps it */
    pool = ngx_create_pool(1024, job->log);
    if (pool == NULL) {
        if (key) {
            EVP_PKEY_free(key);
        }
        ngx_helpdesk_acme_next(0);
        return;
    }

    if (ac->acct_pool) {
        ngx_destroy_pool(ac->acct_pool);
    }

    if (ac->key) {
        EVP_PKEY_free(ac->key);
    }

    ac->acct_pool = pool;
    ac->key = key;
    ac->account_id.data = ngx_pstrdup(pool, &id);
    ac->account_id.len = id.len;
    ac->kid.data = ngx_pstrdup(pool, &kid);
    ac->kid.len = kid.len;
    ngx_str_null(&ac->thumbprint);

    if (ac->account_id.data == NULL || (kid.len && ac->kid.data == NULL)) {
        ngx_helpdesk_acme_next(0);
        return;
    }

    job->lease = lease;
    job->key_sealed = sealed;

    job->held_len = 0;
    if (kid.len == 0 && lease.len <= sizeof(job->held)) {
        job->held_len = lease.len;
        ngx_memcpy(job->held, lease.data, lease.len);
    }

    if (key) {
        if (ngx_helpdesk_jose_thumbprint(pool, key, &ac->thumbprint)
            != NGX_OK)
        {
            ngx_helpdesk_acme_next(0);
            return;
        }
    }

    if (kid.len) {
        job->account = 1;
        ngx_helpdesk_acme_claim();
        return;
    }

    ngx_helpdesk_acme_account_register();
}


/* the lease is held: the key stored first (made if there is none yet) */
static void
ngx_helpdesk_acme_account_register(void)
{
    ngx_str_t                    pem, aad, sealed;
    EVP_PKEY                    *key;
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;
    u_char                       buf[NGX_HELPDESK_SECRET_AAD_MAX];

    if (ac->key) {
        /* stored before a crash or a lost account: newAccount again */
        ngx_helpdesk_acme_account_stored(NULL, NULL);
        return;
    }

    key = ngx_helpdesk_jose_key_generate();
    if (key == NULL) {
        ngx_helpdesk_acme_next(0);
        return;
    }

    ac->key = key;

    ngx_helpdesk_secret_aad(&aad, buf, "acme_accounts", "key",
                            &ac->account_id);

    if (ngx_helpdesk_jose_key_to_pem(job->pool, key, &pem) != NGX_OK
        || ngx_helpdesk_secret_encrypt(job->pool, job->conf->secrets, &aad,
                                       &pem, &sealed) != NGX_OK
        || ngx_helpdesk_jose_thumbprint(ac->acct_pool, key, &ac->thumbprint)
           != NGX_OK)
    {
        EVP_PKEY_free(ac->key);
        ac->key = NULL;
        ngx_helpdesk_acme_next(0);
        return;
    }

    ngx_memzero(&job->query, sizeof(ngx_helpdesk_pg_query_t));
    job->query.sql = "SELECT api.acme_account_store($1::bytea, $2, $3, $4, "
                     "$5, NULL, NULL)";
    job->query.handler = ngx_helpdesk_acme_account_stored;
    job->query.log = job->log;

    ngx_helpdesk_acme_proof(&job->query);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &ac->account_id);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &job->lease);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &sealed);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &ac->thumbprint);

    ngx_helpdesk_pg_run(&job->query);
}


static void
ngx_helpdesk_acme_account_stored(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    u_char                      *p;
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    if (q && (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)) {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "helpdesk acme: cannot store the account key: %s",
                      res ? PQresultErrorMessage(res)
                          : "postgresql unavailable");

        /* not stored: never used */
        EVP_PKEY_free(ac->key);
        ac->key = NULL;
        ngx_helpdesk_acme_next(0);
        return;
    }

    ngx_memzero(&job->call, sizeof(ngx_helpdesk_acme_call_t));
    job->call.pool = job->pool;
    job->call.log = job->log;
    job->call.url = ac->new_account;
    job->call.jwk = 1;
    job->call.handler = ngx_helpdesk_acme_account_made;

    job->call.payload.data = ngx_pnalloc(job->pool,
                                         job->conf->contact.len + 80);
    if (job->call.payload.data == NULL) {
        ngx_helpdesk_acme_next(0);
        return;
    }

    p = ngx_sprintf(job->call.payload.data,
                    "{\"termsOfServiceAgreed\":true,"
                    "\"contact\":[\"mailto:%V\"]}", &job->conf->contact);
    job->call.payload.len = p - job->call.payload.data;

    ngx_helpdesk_acme_send(&job->call);
}


static void
ngx_helpdesk_acme_account_made(ngx_helpdesk_acme_call_t *call)
{
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    if (call->result != CURLE_OK
        || (call->status != 200 && call->status != 201)
        || !ngx_helpdesk_acme_url_ok(&call->location))
    {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "helpdesk acme: newAccount failed: %s%V %V (status %l)",
                      call->result != CURLE_OK ? call->error : "",
                      &call->problem_type, &call->problem_detail,
                      call->status);
        ngx_helpdesk_acme_next(0);
        return;
    }

    ac->kid.data = ngx_pstrdup(ac->acct_pool, &call->location);
    if (ac->kid.data == NULL) {
        ngx_helpdesk_acme_next(0);
        return;
    }

    ac->kid.len = call->location.len;

    ngx_memzero(&job->query, sizeof(ngx_helpdesk_pg_query_t));
    job->query.sql = "SELECT api.acme_account_store($1::bytea, $2, $3, NULL, "
                     "NULL, $4, NULL)";
    job->query.handler = ngx_helpdesk_acme_kid_stored;
    job->query.log = job->log;

    ngx_helpdesk_acme_proof(&job->query);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &ac->account_id);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &job->lease);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &ac->kid);

    ngx_helpdesk_pg_run(&job->query);
}


static void
ngx_helpdesk_acme_kid_stored(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "helpdesk acme: cannot store the account: %s",
                      res ? PQresultErrorMessage(res)
                          : "postgresql unavailable");
        ngx_helpdesk_acme_next(0);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, job->log, 0,
                  "helpdesk acme: account %V at the CA", &ac->kid);

    job->account = 1;
    job->held_len = 0;
    ngx_helpdesk_acme_claim();
}


/* the orders ---------------------------------------------------------- */

static void
ngx_helpdesk_acme_claim(void)
{
    ngx_str_t                    v;
    ngx_helpdesk_acme_job_t     *job = &ngx_helpdesk_acme_job;
    ngx_helpdesk_acme_client_t  *ac = &ngx_helpdesk_acme_client;

    if (ngx_helpdesk_acme_inflight >= job->conf->concurrency) {
        ngx_helpdesk_acme_next(0);
        return;
    }

    job->asked = job->conf->concurrency - ngx_helpdesk_acme_inflight;

    ngx_memzero(&job->query, sizeof(ngx_helpdesk_pg_query_t));
    job->query.sql = "SELECT tenant_id, hostname, kind, step, lease_token, "
                     "attempts, order_url, array_to_json(authz_urls), "
                     "challenge_url, token, finalize_url, cert_url, "
                     "key_sealed, replaces, cert_der "
                     "FROM api.acme_claim($1::bytea, $2, $3, $4, $5, $6, $7)";
    job->query.handler = ngx_helpdesk_acme_claimed;
    job->query.log = job->log;

    ngx_helpdesk_acme_proof(&job->query);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &ac->account_id);
    (void) ngx_helpdesk_acme_num(job->pool, job->asked, &v);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);
    (void) ngx_helpdesk_acme_num(job->pool, NGX_HELPDESK_ACME_LEASE, &v);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);
    (void) ngx_helpdesk_acme_num(job->pool, job->conf->name_failures, &v);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);
    (void) ngx_helpdesk_acme_num(job->pool, job->conf->name_period / 1000, &v);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);
    ngx_str_set(&v, "false");
    if (job->conf->dns_checks) {
        ngx_str_set(&v, "true");
    }
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);

    ngx_helpdesk_pg_run(&job->query);
}


static void
ngx_helpdesk_acme_claimed(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                       i, n;
    ngx_helpdesk_acme_job_t  *job = &ngx_helpdesk_acme_job;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, job->log, 0,
                          "helpdesk acme: claim failed: %s",
                          PQresultErrorMessage(res));
        }

        ngx_helpdesk_acme_next(0);
        return;
    }

    n = PQntuples(res);

    for (i = 0; i < n && PQnfields(res) == 15; i++) {
        ngx_helpdesk_acme_order_start(res, i);
    }

    /* there may be more: look again soon */
    ngx_helpdesk_acme_next((ngx_uint_t) n == job->asked ? 1 : 0);
}
