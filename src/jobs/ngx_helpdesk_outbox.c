/*
 * The outbox runner.
 *
 * Every worker wakes up every "interval", claims due rows from
 * helpdesk.outbox (FOR UPDATE SKIP LOCKED, with a lease, so any number of
 * workers and nodes share the work and none sends a row another holds),
 * delivers each one with libcurl, and records the outcome with
 * outbox.outbox_result(), which retries with exponential backoff and
 * jitter, dead-letters after "attempts", and disables an endpoint after
 * "disable_after" consecutive failures.
 *
 * A worker that stops mid-delivery leaves its rows "sending"; when their
 * lease runs out another worker claims them again.  Delivery is therefore
 * at least once, and every delivery carries a stable id for receivers to
 * deduplicate.  A shutting-down worker claims nothing new but finishes
 * the deliveries it has started.
 *
 * Event webhooks are signed: X-Helpdesk-Signature is
 * "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), with the
 * timestamp (Unix seconds) in X-Helpdesk-Timestamp.
 *
 * Secrets (a webhook's signing secret, a WhatsApp credential) come from
 * the database sealed, with the place they were stored at; they are
 * opened here, just before the request is made, and a value that does
 * not open (a key missing from the key file, a value altered or moved) is
 * a failed attempt that says so, never a request without its secret.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>

#include "ngx_helpdesk_outbox.h"
#include "event/ngx_helpdesk_pg.h"
#include "event/ngx_helpdesk_curl.h"
#include "ngx_helpdesk_outbox_request.h"
#include "ngx_helpdesk_job.h"


/* what a reply is read for (a WhatsApp id, a media URL); the tenant is
 * shown less of it: see outbox.excerpt() */
#define NGX_HELPDESK_OUTBOX_RESPONSE_MAX  1024

/* a downloaded file: WhatsApp's largest media are documents of 100 MB;
 * the helpdesk keeps attachments up to this size */
#define NGX_HELPDESK_OUTBOX_DOWNLOAD_MAX  (32 * 1024 * 1024)

/*
 * outbox_claim() answers tenant, outbox id, ..., delivery id, event,
 * method, url, headers, body, secret, binary, provider url, secret's place,
 * auth header, body's place: fifteen columns, read by number in
 * ngx_helpdesk_outbox_start()
 */
#define NGX_HELPDESK_OUTBOX_CLAIM_COLUMNS  15


typedef struct {
    ngx_pool_t                 *pool;
    ngx_log_t                  *log;
    ngx_helpdesk_pg_query_t     query;
    ngx_str_t                   tenant;
    ngx_str_t                   outbox_id;
    ngx_str_t                   delivery_id;
    ngx_str_t                   event;
    ngx_str_t                   method;
    ngx_str_t                   url;
    ngx_str_t                   headers;
    ngx_str_t                   body;
    ngx_str_t                   secret;     /* sealed, then opened */
    ngx_str_t                   secret_aad;
    ngx_str_t                   auth_header;
    ngx_helpdesk_curl_req_t    *req;        /* kept for a download's bytes */
    unsigned                    binary:1;
} ngx_helpdesk_delivery_t;


typedef struct {
    ngx_helpdesk_outbox_conf_t *conf;
    ngx_log_t                  *log;
    ngx_event_t                 tick;
    ngx_helpdesk_pg_query_t     claim;
    ngx_pool_t                 *pool;       /* for the claim's parameters */
    ngx_helpdesk_pg_query_t     schedule;
    ngx_msec_t                  scheduled;  /* when checks were last queued */
    u_char                      interval[NGX_INT_T_LEN + 1];
    ngx_uint_t                  inflight;
    ngx_uint_t                  asked;
    unsigned                    claiming:1;
    unsigned                    scheduling:1;
    unsigned                    ready:1;
} ngx_helpdesk_outbox_t;


static void ngx_helpdesk_outbox_tick(ngx_event_t *ev);
static void ngx_helpdesk_outbox_claimed(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_outbox_start(PGresult *res, int row);
static void ngx_helpdesk_outbox_sent(ngx_helpdesk_curl_req_t *req,
    CURLcode result);
static void ngx_helpdesk_outbox_record(ngx_helpdesk_delivery_t *d,
    ngx_flag_t ok, long status, const char *error, ngx_msec_t elapsed,
    ngx_str_t *response);
static void ngx_helpdesk_outbox_recorded(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_outbox_done(ngx_helpdesk_delivery_t *d);
static void ngx_helpdesk_outbox_schedule(void);
static void ngx_helpdesk_outbox_proof(ngx_helpdesk_pg_query_t *q);
static void ngx_helpdesk_outbox_scheduled(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


static ngx_helpdesk_outbox_t  ngx_helpdesk_outbox;


void
ngx_helpdesk_outbox_defaults(ngx_helpdesk_outbox_conf_t *conf)
{
    conf->interval = 1000;
    conf->batch = 32;
    conf->timeout = 10000;
    conf->attempts = 12;
    conf->backoff = 5000;
    conf->max_backoff = 3600000;
    conf->disable_after = 50;
    conf->health = 300000;
}


static ngx_helpdesk_job_param_t  ngx_helpdesk_outbox_params[] = {
    { ngx_string("interval="),
      offsetof(ngx_helpdesk_outbox_conf_t, interval), 0 },
    { ngx_string("timeout="),
      offsetof(ngx_helpdesk_outbox_conf_t, timeout), 0 },
    { ngx_string("backoff="),
      offsetof(ngx_helpdesk_outbox_conf_t, backoff), 0 },
    { ngx_string("max_backoff="),
      offsetof(ngx_helpdesk_outbox_conf_t, max_backoff), 0 },
    { ngx_string("health="),
      offsetof(ngx_helpdesk_outbox_conf_t, health), 0 },
    { ngx_string("batch="),
      offsetof(ngx_helpdesk_outbox_conf_t, batch), 100000 },
    { ngx_string("attempts="),
      offsetof(ngx_helpdesk_outbox_conf_t, attempts), 100000 },
    { ngx_string("disable_after="),
      offsetof(ngx_helpdesk_outbox_conf_t, disable_after), 100000 },
    { ngx_null_string, 0, 0 }
};


char *
ngx_helpdesk_outbox_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_outbox_conf_t *conf)
{
    return ngx_helpdesk_job_param(value, ngx_helpdesk_outbox_params, conf);
}


ngx_int_t
ngx_helpdesk_outbox_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_outbox_conf_t *conf)
{
    ngx_helpdesk_outbox_t  *ob = &ngx_helpdesk_outbox;

    ngx_memzero(ob, sizeof(ngx_helpdesk_outbox_t));

    if (conf->proof[0] == '\0') {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "helpdesk outbox: not started: the runner proves "
                      "itself to the database with the provider key "
                      "(helpdesk_provider_key_file)");
        return NGX_OK;
    }

    ob->conf = conf;
    ob->log = cycle->log;

    ob->ready = 1;

    ngx_helpdesk_job_start(&ob->tick, ngx_helpdesk_outbox_tick, ob,
                           cycle->log, conf->interval);

    return NGX_OK;
}


/* the first parameter of every statement of the runner */
static void
ngx_helpdesk_outbox_proof(ngx_helpdesk_pg_query_t *q)
{
    ngx_helpdesk_outbox_t  *ob = &ngx_helpdesk_outbox;

    q->values[0] = (const char *) ob->conf->proof;
    q->lengths[0] = (int) ngx_strlen(ob->conf->proof);
    q->nparams = 1;
}


void
ngx_helpdesk_outbox_exit_worker(void)
{
    ngx_helpdesk_outbox_t  *ob = &ngx_helpdesk_outbox;

    if (ob->tick.timer_set) {
        ngx_del_timer(&ob->tick);
    }

    ob->ready = 0;
}


static void
ngx_helpdesk_outbox_tick(ngx_event_t *ev)
{
    u_char                 *p;
    ngx_str_t               v;
    ngx_helpdesk_outbox_t  *ob = &ngx_helpdesk_outbox;

    if (ngx_exiting || !ob->ready) {
        return;
    }

    ngx_add_timer(&ob->tick, ob->conf->interval);

    /* queue the periodic checks a fifth of their interval apart */
    if (!ob->scheduling
        && ngx_current_msec - ob->scheduled >= ob->conf->health / 5)
    {
        ngx_helpdesk_outbox_schedule();
    }

    if (ob->claiming || ob->inflight >= ob->conf->batch) {
        return;
    }

    if (ob->pool) {
        ngx_destroy_pool(ob->pool);
    }

    ob->pool = ngx_create_pool(512, ob->log);
    if (ob->pool == NULL) {
        return;
    }

    ngx_memzero(&ob->claim, sizeof(ngx_helpdesk_pg_query_t));
    ob->claim.sql = "SELECT tenant_id, outbox_id, kind, delivery_id, "
                    "event_type, method, url, headers, body, secret, "
                    "binary_response, provider_url, secret_aad, auth_header, "
                    "body_aad "
                    "FROM api.outbox_claim($1::bytea, $2, $3)";
    ob->claim.handler = ngx_helpdesk_outbox_claimed;
    ob->claim.log = ob->log;

    ob->asked = ob->conf->batch - ob->inflight;

    ngx_helpdesk_outbox_proof(&ob->claim);

    p = ngx_pnalloc(ob->pool, 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%ui", ob->asked) - p;
    (void) ngx_helpdesk_pg_param(&ob->claim, ob->pool, &v);

    /* the lease: one attempt's timeout and a margin to record it */
    v.data = p + NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%M", ob->conf->timeout + 30000) - v.data;
    (void) ngx_helpdesk_pg_param(&ob->claim, ob->pool, &v);

    ob->claiming = 1;
    ngx_helpdesk_pg_run(&ob->claim);
}


static void
ngx_helpdesk_outbox_schedule(void)
{
    ngx_str_t               v;
    ngx_helpdesk_outbox_t  *ob = &ngx_helpdesk_outbox;

    ngx_memzero(&ob->schedule, sizeof(ngx_helpdesk_pg_query_t));
    ob->schedule.sql = "SELECT api.outbox_schedule($1::bytea, $2)";
    ob->schedule.handler = ngx_helpdesk_outbox_scheduled;
    ob->schedule.log = ob->log;

    /* a constant of the configuration: kept in the runner, not a pool */
    v.data = ob->interval;
    v.len = ngx_sprintf(ob->interval, "%M", ob->conf->health) - ob->interval;
    ob->interval[v.len] = '\0';
    ngx_helpdesk_outbox_proof(&ob->schedule);
    ob->schedule.values[1] = (const char *) v.data;
    ob->schedule.lengths[1] = (int) v.len;
    ob->schedule.nparams = 2;

    ob->scheduling = 1;
    ob->scheduled = ngx_current_msec;
    ngx_helpdesk_pg_run(&ob->schedule);
}


static void
ngx_helpdesk_outbox_scheduled(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_outbox_t  *ob = &ngx_helpdesk_outbox;

    ob->scheduling = 0;

    if (res && PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_ERR, ob->log, 0,
                      "helpdesk outbox: cannot queue health checks: %s",
                      PQresultErrorMessage(res));
    }
}


static void
ngx_helpdesk_outbox_claimed(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                     i, n;
    ngx_helpdesk_outbox_t  *ob = &ngx_helpdesk_outbox;

    ob->claiming = 0;

    if (res == NULL) {
        return;     /* PostgreSQL is away: try again on the next tick */
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_ERR, ob->log, 0,
                      "helpdesk outbox: claim failed: %s",
                      PQresultErrorMessage(res));
        return;
    }

    n = PQntuples(res);

    if (n > 0 && PQnfields(res) < NGX_HELPDESK_OUTBOX_CLAIM_COLUMNS) {
        ngx_log_error(NGX_LOG_ALERT, ob->log, 0,
                      "helpdesk outbox: claim answered %d columns",
                      PQnfields(res));
        return;
    }

    for (i = 0; i < n; i++) {
        ngx_helpdesk_outbox_start(res, i);
    }

    if ((ngx_uint_t) n == ob->asked && ob->ready && !ngx_exiting) {
        /* there may be more: look again as soon as there is room */
        if (ob->tick.timer_set) {
            ngx_del_timer(&ob->tick);
        }

        ngx_add_timer(&ob->tick, 1);
    }
}


static ngx_int_t
ngx_helpdesk_outbox_copy(ngx_helpdesk_delivery_t *d, PGresult *res, int row,
    int col, ngx_str_t *to)
{
    return ngx_helpdesk_pg_value(d->pool, res, row, col, to);
}


static void
ngx_helpdesk_outbox_start(PGresult *res, int row)
{
    u_char                    *p;
    time_t                     now;
    ngx_int_t                  rc;
    ngx_pool_t                *pool;
    ngx_str_t                  signed_text, place;
    const char                *error;
    unsigned int               len;
    ngx_helpdesk_delivery_t   *d;
    ngx_helpdesk_curl_req_t   *req;
    ngx_helpdesk_outbox_t     *ob = &ngx_helpdesk_outbox;
    u_char                     mac[EVP_MAX_MD_SIZE];
    u_char                     hex[2 * EVP_MAX_MD_SIZE + 1];

    pool = ngx_create_pool(2048, ob->log);
    if (pool == NULL) {
        return;
    }

    d = ngx_pcalloc(pool, sizeof(ngx_helpdesk_delivery_t));
    if (d == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    d->pool = pool;
    d->log = ob->log;
    ob->inflight++;

    if (ngx_helpdesk_outbox_copy(d, res, row, 0, &d->tenant) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 1, &d->outbox_id) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 3, &d->delivery_id) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 4, &d->event) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 5, &d->method) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 6, &d->url) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 7, &d->headers) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 8, &d->body) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 9, &d->secret) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 12, &d->secret_aad) != NGX_OK
        || ngx_helpdesk_outbox_copy(d, res, row, 13, &d->auth_header)
           != NGX_OK)
    {
        ngx_helpdesk_outbox_done(d);
        return;
    }

    if (PQgetisnull(res, row, 6) || PQgetisnull(res, row, 5)) {
        ngx_helpdesk_outbox_record(d, 0, 0, "nothing to send: the target is "
                                   "disabled or deleted", 0, NULL);
        return;
    }

    d->binary = (PQgetvalue(res, row, 10)[0] == 't');

    /* the sealed secret, and a body that is one, opened */
    rc = NGX_OK;

    if (!PQgetisnull(res, row, 9)) {
        rc = ngx_helpdesk_outbox_open(pool, ob->log, ob->conf->secrets,
                                      &d->secret_aad, &d->secret);
    }

    if (rc == NGX_OK && !PQgetisnull(res, row, 14)
        && !PQgetisnull(res, row, 8))
    {
        place.data = (u_char *) PQgetvalue(res, row, 14);
        place.len = PQgetlength(res, row, 14);
        rc = ngx_helpdesk_outbox_open_url_body(pool, ob->log,
                                               ob->conf->secrets, &place,
                                               &d->body);
    }

    if (rc != NGX_OK) {
        ngx_helpdesk_outbox_record(d, 0, 0, rc == NGX_DECLINED
                                   ? "the stored secret does not decrypt "
                                     "(a key missing from the key file, "
                                     "or a value altered or moved)"
                                   : "out of memory", 0, NULL);
        return;
    }

    req = ngx_helpdesk_curl_create(ob->log, (char *) d->method.data, &d->url,
                                   PQgetisnull(res, row, 8) ? NULL : &d->body,
                                   ob->conf->timeout,
                                   d->binary ? NGX_HELPDESK_OUTBOX_DOWNLOAD_MAX
                                             : NGX_HELPDESK_OUTBOX_RESPONSE_MAX);
    if (req == NULL) {
        ngx_helpdesk_outbox_record(d, 0, 0, "out of memory", 0, NULL);
        return;
    }

    req->handler = ngx_helpdesk_outbox_sent;
    req->data = d;

    /* a provider's media URL: only on the provider's own hosts */
    if (!PQgetisnull(res, row, 11) && PQgetvalue(res, row, 11)[0] == 't') {
        error = ngx_helpdesk_outbox_media_host(req, ob->conf->media_hosts);

        if (error) {
            ngx_helpdesk_curl_free(req);
            ngx_helpdesk_outbox_record(d, 0, 0, error, 0, NULL);
            return;
        }
    }

    error = ngx_helpdesk_outbox_headers(&d->headers, req);

    if (error) {
        ngx_helpdesk_curl_free(req);
        ngx_helpdesk_outbox_record(d, 0, 0, error, 0, NULL);
        return;
    }

    if (!PQgetisnull(res, row, 13)) {

        /* a provider's API: the credential in its header */
        if (PQgetisnull(res, row, 9)) {
            ngx_helpdesk_curl_free(req);
            ngx_helpdesk_outbox_record(d, 0, 0, "the connection has no "
                                       "credentials", 0, NULL);
            return;
        }

        /* as for the other headers: no value may start a header of its own */
        for (p = d->secret.data; p < d->secret.data + d->secret.len; p++) {
            if (*p < 0x20 || *p == 0x7f) {
                ngx_helpdesk_curl_free(req);
                ngx_helpdesk_outbox_record(d, 0, 0, "refused: a header value "
                                           "contains control characters", 0,
                                           NULL);
                return;
            }
        }

        if (ngx_helpdesk_curl_header(req, "%V%V", &d->auth_header,
                                     &d->secret)
            != NGX_OK)
        {
            goto failed;
        }

    } else if (!PQgetisnull(res, row, 9)) {

        /* an event webhook: sign "<timestamp>.<body>" */
        now = ngx_time();

        signed_text.len = NGX_TIME_T_LEN + 1 + d->body.len;
        signed_text.data = ngx_pnalloc(pool, signed_text.len);
        if (signed_text.data == NULL) {
            goto failed;
        }

        p = ngx_sprintf(signed_text.data, "%T.%V", now, &d->body);
        signed_text.len = p - signed_text.data;

        if (HMAC(EVP_sha256(), d->secret.data, (int) d->secret.len,
                 signed_text.data, signed_text.len, mac, &len) == NULL)
        {
            goto failed;
        }

        *ngx_hex_dump(hex, mac, len) = '\0';

        if (ngx_helpdesk_curl_header(req, "X-Helpdesk-Timestamp: %T", now)
            != NGX_OK
            || ngx_helpdesk_curl_header(req,
                                        "X-Helpdesk-Signature: sha256=%s", hex)
               != NGX_OK)
        {
            goto failed;
        }
    }

    if (ngx_helpdesk_curl_start(req) != NGX_OK) {
        goto failed;
    }

    return;

failed:

    ngx_helpdesk_curl_free(req);
    ngx_helpdesk_outbox_record(d, 0, 0, "cannot start the request", 0, NULL);
}


static void
ngx_helpdesk_outbox_sent(ngx_helpdesk_curl_req_t *req, CURLcode result)
{
    ngx_flag_t                ok;
    ngx_helpdesk_delivery_t  *d = req->data;

    ok = (result == CURLE_OK && req->status >= 200 && req->status < 300);

    if (ok && d->binary && req->truncated) {
        ngx_helpdesk_outbox_record(d, 0, req->status, "the file is larger than "
                                   "the helpdesk keeps", req->elapsed, NULL);
        ngx_helpdesk_curl_free(req);
        return;
    }

    /* a download's bytes go to PostgreSQL as they are: keep the request */
    if (ok && d->binary) {
        d->req = req;
    }

    ngx_helpdesk_outbox_record(d, ok, req->status,
                               result == CURLE_OK ? NULL : req->error,
                               req->elapsed, d->req ? NULL : &req->body);

    if (d->req == NULL) {
        ngx_helpdesk_curl_free(req);
    }
}


static void
ngx_helpdesk_outbox_record(ngx_helpdesk_delivery_t *d, ngx_flag_t ok,
    long status, const char *error, ngx_msec_t elapsed, ngx_str_t *response)
{
    u_char                   *p;
    ngx_str_t                 v, text;
    ngx_helpdesk_outbox_t    *ob = &ngx_helpdesk_outbox;
    ngx_helpdesk_outbox_conf_t *conf = ob->conf;

    ngx_memzero(&d->query, sizeof(ngx_helpdesk_pg_query_t));
    d->query.sql = "SELECT api.outbox_result($1::bytea, $2, $3, $4, $5, $6, "
                   "$7, $8, $9, $10, $11, $12, $13)";
    d->query.handler = ngx_helpdesk_outbox_recorded;
    d->query.data = d;
    d->query.log = d->log;

    ngx_helpdesk_outbox_proof(&d->query);
    (void) ngx_helpdesk_pg_param(&d->query, d->pool, &d->tenant);
    (void) ngx_helpdesk_pg_param(&d->query, d->pool, &d->outbox_id);

    ngx_str_set(&v, "f");
    if (ok) {
        ngx_str_set(&v, "t");
    }
    (void) ngx_helpdesk_pg_param(&d->query, d->pool, &v);

    p = ngx_pnalloc(d->pool, 3 * NGX_INT_T_LEN);
    if (p == NULL) {
        ngx_helpdesk_outbox_done(d);
        return;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%l", status) - p;
    (void) ngx_helpdesk_pg_param(&d->query, d->pool, &v);

    if (error) {
        v.data = (u_char *) error;
        v.len = ngx_strlen(error);
        (void) ngx_helpdesk_pg_param(&d->query, d->pool, &v);

    } else {
        (void) ngx_helpdesk_pg_param(&d->query, d->pool, NULL);
    }

    v.data = p + NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%M", elapsed) - v.data;
    (void) ngx_helpdesk_pg_param(&d->query, d->pool, &v);

    if (response && response->len) {
        /* the receiver's words, as printable UTF-8 */
        if (ngx_helpdesk_outbox_printable(d->pool, response, &text) != NGX_OK)
        {
            ngx_helpdesk_outbox_done(d);
            return;
        }

        (void) ngx_helpdesk_pg_param(&d->query, d->pool, &text);

    } else {
        (void) ngx_helpdesk_pg_param(&d->query, d->pool, NULL);
    }

    if (ngx_helpdesk_outbox_retry_params(&d->query, d->pool, conf) != NGX_OK)
    {
        ngx_helpdesk_outbox_done(d);
        return;
    }

    v.data = p + 2 * NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%ui", conf->disable_after) - v.data;
    (void) ngx_helpdesk_pg_param(&d->query, d->pool, &v);

    if (d->req) {
        ngx_helpdesk_pg_param_binary(&d->query, d->req->body.data
                                                ? d->req->body.data
                                                : (u_char *) "",
                                     d->req->body.len);
    } else {
        (void) ngx_helpdesk_pg_param(&d->query, d->pool, NULL);
    }

    ngx_helpdesk_pg_run(&d->query);
}


static void
ngx_helpdesk_outbox_recorded(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_delivery_t  *d = q->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the row stays claimed; its lease brings it back */
        ngx_log_error(NGX_LOG_ERR, d->log, 0,
                      "helpdesk outbox: cannot record delivery %V: %s",
                      &d->delivery_id,
                      res ? PQresultErrorMessage(res) : "postgresql unavailable");

    } else if (PQntuples(res) == 1 && PQnfields(res) >= 1) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, d->log, 0,
                       "helpdesk outbox: %V %V: %s", &d->event,
                       &d->delivery_id, PQgetvalue(res, 0, 0));
    }

    ngx_helpdesk_outbox_done(d);
}


static void
ngx_helpdesk_outbox_done(ngx_helpdesk_delivery_t *d)
{
    ngx_helpdesk_outbox_t  *ob = &ngx_helpdesk_outbox;

    if (d->req) {
        ngx_helpdesk_curl_free(d->req);
    }

    ob->inflight--;
    ngx_destroy_pool(d->pool);
}
