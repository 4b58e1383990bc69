/*
 * The IMAP fetch job.
 *
 * Every worker wakes up every "interval" and claims mailboxes of kind
 * "imap" that are due (api.email_fetch_claim(): FOR UPDATE SKIP LOCKED
 * and a lease with a token, so one run at a time fetches a mailbox,
 * whatever the number of workers and nodes).  A run, on nginx events
 * with libcurl (ngx_helpdesk_curl_imap.c), one step after the other:
 *
 *   STATUS "folder" (UIDVALIDITY UIDNEXT)   the login and the folder are
 *                                           checked; the UIDVALIDITY and
 *                                           the UIDNEXT read
 *   api.email_fetch_begin()                 where to start: past the last
 *                                           UID stored, from the first
 *                                           when the UIDVALIDITY changed
 *   UID FETCH a:b (UID RFC822.SIZE FLAGS)   the messages since, their
 *                                           sizes (before any is read), a
 *                                           window of UIDs at a time up to
 *                                           UIDNEXT, then a:*
 *                                           (ngx_helpdesk_email_fetch_list.c)
 *   then one message at a time, in UID order:
 *     UID FETCH n BODY[]                    (libcurl's; a message over
 *                                           max_size is not read: it is
 *                                           refused with the reason)
 *                                           written to a temporary file
 *     parse                                 GMime, in the thread pool,
 *                                           from that file, as a pushed
 *                                           mail (the same budget)
 *     api.email_fetch_chunk()               the blob in pieces, as a
 *                                           pushed mail's
 *     api.email_fetch_store()               the same ingest as a pushed
 *                                           mail, and the last UID
 *                                           advanced in its transaction
 *     UID STORE n +FLAGS.SILENT (\Seen)     or UID MOVE n "move_to"
 *   api.email_fetch_done()                  the health, the next run, the
 *                                           lease given back
 *
 * What makes it exactly once: the UID is advanced with the stored mail,
 * so a crash refetches at most the one being stored, and that one is a
 * duplicate of its Message-ID in the mailbox; a store made by a run that
 * lost its lease (another node took the mailbox over) fails, and the run
 * ends.  A failed run records why (auth_failed, unreachable, error) and
 * the next one waits 1, 5, 15, then 60 minutes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_email_fetch_int.h"
#include "ngx_helpdesk_job.h"


typedef struct {
    ngx_helpdesk_email_fetch_conf_t  *conf;
    ngx_log_t                        *log;
    ngx_event_t                       tick;
    ngx_helpdesk_pg_query_t           claim;
    ngx_uint_t                        inflight;
    ngx_uint_t                        asked;
    u_char                            nums[2 * NGX_INT_T_LEN];
    unsigned                          claiming:1;
    unsigned                          ready:1;
} ngx_helpdesk_fetch_t;


static void ngx_helpdesk_fetch_tick(ngx_event_t *ev);
static void ngx_helpdesk_fetch_claimed(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_fetch_start(PGresult *res, int row);
static void ngx_helpdesk_fetch_ended(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_fetch_free(ngx_helpdesk_fetch_run_t *run);


static ngx_helpdesk_fetch_t  ngx_helpdesk_fetch;


ngx_helpdesk_email_fetch_conf_t *
ngx_helpdesk_fetch_conf(void)
{
    return ngx_helpdesk_fetch.conf;
}


ngx_int_t
ngx_helpdesk_email_fetch_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_email_fetch_conf_t *conf)
{
    ngx_helpdesk_fetch_t  *hf = &ngx_helpdesk_fetch;

    ngx_memzero(hf, sizeof(ngx_helpdesk_fetch_t));

    if (!conf->enabled || conf->proof == NULL || conf->proof[0] == '\0') {
        return NGX_OK;      /* the outbox's warning says why */
    }

    hf->conf = conf;
    hf->log = cycle->log;

    hf->ready = 1;

    ngx_helpdesk_job_start(&hf->tick, ngx_helpdesk_fetch_tick, hf,
                           cycle->log, conf->interval);

    return NGX_OK;
}


void
ngx_helpdesk_email_fetch_exit_worker(void)
{
    ngx_helpdesk_fetch_t  *hf = &ngx_helpdesk_fetch;

    if (hf->tick.timer_set) {
        ngx_del_timer(&hf->tick);
    }

    hf->ready = 0;
}


static void
ngx_helpdesk_fetch_proof(ngx_helpdesk_pg_query_t *q)
{
    ngx_helpdesk_fetch_t  *hf = &ngx_helpdesk_fetch;

    q->values[0] = (const char *) hf->conf->proof;
    q->lengths[0] = (int) ngx_strlen(hf->conf->proof);
    q->nparams = 1;
}


/* the lease: long enough for the longest step, a message's body */
static ngx_msec_t
ngx_helpdesk_fetch_lease(void)
{
    return 10 * ngx_helpdesk_fetch.conf->timeout;
}


static void
ngx_helpdesk_fetch_tick(ngx_event_t *ev)
{
    ngx_str_t              v;
    ngx_helpdesk_fetch_t  *hf = &ngx_helpdesk_fetch;

    if (ngx_exiting || !hf->ready) {
        return;
    }

    ngx_add_timer(&hf->tick, hf->conf->interval);

    if (hf->claiming || hf->inflight >= hf->conf->batch) {
        return;
    }

    ngx_memzero(&hf->claim, sizeof(ngx_helpdesk_pg_query_t));
    hf->claim.sql = "SELECT tenant_id, mailbox_id, url, username, password, "
                    "move_to, lease_token, kind, client_id, client_secret, "
                    "refresh_token, access_token, access_ttl, code, verifier, "
                    "state_hash, redirect_uri "
                    "FROM api.email_fetch_claim($1::bytea, $2, $3)";
    hf->claim.handler = ngx_helpdesk_fetch_claimed;
    hf->claim.log = hf->log;

    ngx_helpdesk_fetch_proof(&hf->claim);

    hf->asked = hf->conf->batch - hf->inflight;

    /* the numbers live in the job, the query's parameters point at them */
    v.data = hf->nums;
    v.len = ngx_sprintf(v.data, "%ui", hf->asked) - v.data;
    hf->claim.values[1] = (const char *) v.data;
    hf->claim.lengths[1] = (int) v.len;

    v.data = hf->nums + NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%M", ngx_helpdesk_fetch_lease()) - v.data;
    hf->claim.values[2] = (const char *) v.data;
    hf->claim.lengths[2] = (int) v.len;
    hf->claim.nparams = 3;

    hf->claiming = 1;
    ngx_helpdesk_pg_run(&hf->claim);
}


static void
ngx_helpdesk_fetch_claimed(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                    i, n;
    ngx_helpdesk_fetch_t  *hf = &ngx_helpdesk_fetch;

    hf->claiming = 0;

    if (res == NULL) {
        return;     /* PostgreSQL is away: the next tick */
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 17) {
        ngx_log_error(NGX_LOG_ERR, hf->log, 0,
                      "helpdesk email fetch: claim failed: %s",
                      ngx_helpdesk_fetch_pg_error(res));
        return;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        ngx_helpdesk_fetch_start(res, i);
    }
}


static ngx_int_t
ngx_helpdesk_fetch_copy(ngx_helpdesk_fetch_run_t *run, PGresult *res, int row,
    int col, ngx_str_t *to)
{
    return ngx_helpdesk_pg_value(run->pool, res, row, col, to);
}


static void
ngx_helpdesk_fetch_start(PGresult *res, int row)
{
    ngx_int_t                  rc;
    ngx_str_t                  sealed;
    ngx_pool_t                *pool;
    ngx_helpdesk_fetch_t      *hf = &ngx_helpdesk_fetch;
    ngx_helpdesk_fetch_run_t  *run;

    pool = ngx_create_pool(4096, hf->log);
    if (pool == NULL) {
        return;     /* the lease brings the mailbox back */
    }

    run = ngx_pcalloc(pool, sizeof(ngx_helpdesk_fetch_run_t));
    if (run == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    run->pool = pool;
    run->log = hf->log;
    run->file.fd = NGX_INVALID_FILE;
    run->started = ngx_current_msec;
    ngx_helpdesk_mime_init(&run->mime);
    hf->inflight++;

    if (ngx_helpdesk_fetch_copy(run, res, row, 0, &run->tenant) != NGX_OK
        || ngx_helpdesk_fetch_copy(run, res, row, 1, &run->mailbox) != NGX_OK
        || ngx_helpdesk_fetch_copy(run, res, row, 3, &run->user) != NGX_OK
        || ngx_helpdesk_fetch_copy(run, res, row, 4, &sealed) != NGX_OK
        || ngx_helpdesk_fetch_copy(run, res, row, 5, &run->move_to) != NGX_OK
        || ngx_helpdesk_fetch_copy(run, res, row, 6, &run->token) != NGX_OK
        || ngx_array_init(&run->msgs, pool, 16,
                          sizeof(ngx_helpdesk_fetch_msg_t)) != NGX_OK)
    {
        ngx_helpdesk_fetch_free(run);
        return;
    }

    run->lease.data = ngx_pnalloc(pool, NGX_INT_T_LEN);
    if (run->lease.data == NULL) {
        ngx_helpdesk_fetch_free(run);
        return;
    }

    run->lease.len = ngx_sprintf(run->lease.data, "%M",
                                 ngx_helpdesk_fetch_lease())
                     - run->lease.data;

    run->url.url.len = PQgetlength(res, row, 2);
    run->url.url.data = (u_char *) PQgetvalue(res, row, 2);

    if (ngx_helpdesk_curl_imap_url(pool, &run->url.url, &run->url) != NGX_OK) {
        ngx_helpdesk_fetch_end(run, "error", "the URL cannot be read");
        return;
    }

    if (PQgetisnull(res, row, 3)) {
        ngx_helpdesk_fetch_end(run, "auth_failed", "no username");
        return;
    }

    /* a provider's mailbox: a token first */
    run->oauth = ngx_helpdesk_email_oauth_provider(hf->conf,
                                               (u_char *) PQgetvalue(res, row, 7),
                                               PQgetlength(res, row, 7));
    if (run->oauth) {
        run->access_ttl = PQgetisnull(res, row, 12)
                          ? -1
                          : ngx_atoi((u_char *) PQgetvalue(res, row, 12),
                                     PQgetlength(res, row, 12));

        if (ngx_helpdesk_fetch_copy(run, res, row, 8, &run->client_id) != NGX_OK
            || ngx_helpdesk_fetch_copy(run, res, row, 9, &run->client_secret)
               != NGX_OK
            || ngx_helpdesk_fetch_copy(run, res, row, 10, &run->refresh_token)
               != NGX_OK
            || ngx_helpdesk_fetch_copy(run, res, row, 11, &run->access_token)
               != NGX_OK
            || ngx_helpdesk_fetch_copy(run, res, row, 13, &run->code) != NGX_OK
            || ngx_helpdesk_fetch_copy(run, res, row, 14, &run->verifier)
               != NGX_OK
            || ngx_helpdesk_fetch_copy(run, res, row, 15, &run->state_hash)
               != NGX_OK
            || ngx_helpdesk_fetch_copy(run, res, row, 16, &run->redirect_uri)
               != NGX_OK)
        {
            ngx_helpdesk_fetch_end(run, "error", "out of memory");
            return;
        }

        ngx_helpdesk_fetch_oauth(run);
        return;
    }

    if (PQgetisnull(res, row, 4)) {
        ngx_helpdesk_fetch_end(run, "auth_failed", "no username or password");
        return;
    }

    /* the password, sealed to its row and column */
    rc = ngx_helpdesk_fetch_open(run, "email_mailboxes", "password",
                                 &run->mailbox, &sealed, &run->password);
    if (rc != NGX_OK) {
        ngx_helpdesk_fetch_end(run, "error", rc == NGX_DECLINED
                               ? "the stored password does not decrypt (a key "
                                 "missing from the key file, or a value "
                                 "altered or moved)"
                               : "out of memory");
        return;
    }

    ngx_helpdesk_fetch_login(run);
}


/* a value opened: sealed to "<table>.<column>:<row>" */
ngx_int_t
ngx_helpdesk_fetch_open(ngx_helpdesk_fetch_run_t *run, const char *table,
    const char *column, ngx_str_t *row, ngx_str_t *sealed, ngx_str_t *plain)
{
    ngx_str_t              aad;
    ngx_helpdesk_fetch_t  *hf = &ngx_helpdesk_fetch;
    u_char                 buf[NGX_HELPDESK_SECRET_AAD_MAX];

    if (hf->conf->secrets == NULL) {
        return NGX_DECLINED;
    }

    ngx_helpdesk_secret_aad(&aad, buf, table, column, row);

    return ngx_helpdesk_secret_decrypt(run->pool, hf->conf->secrets, &aad,
                                       sealed, plain);
}


const char *
ngx_helpdesk_fetch_pg_error(PGresult *res)
{
    const char  *msg;

    if (res == NULL) {
        return "PostgreSQL is unavailable";
    }

    msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (msg == NULL || *msg == '\0') {
        msg = PQresultErrorMessage(res);
    }

    return (msg && *msg) ? msg : "no error message (an unexpected answer)";
}


/* The run's end, recorded; the run is freed when PostgreSQL answers. */
void
ngx_helpdesk_fetch_end(ngx_helpdesk_fetch_run_t *run, const char *state,
    const char *fmt, ...)
{
    u_char                   *p;
    va_list                   args;
    ngx_str_t                 v;
    uint64_t                  listed;
    ngx_uint_t                level;
    ngx_helpdesk_pg_query_t  *q;

    if (run->req) {
        ngx_helpdesk_curl_free(run->req);
        run->req = NULL;
    }

    ngx_helpdesk_fetch_msg_free(run);

    run->state = state;
    run->why.len = 0;

    if (fmt) {
        va_start(args, fmt);
        p = ngx_vslprintf(run->reason, run->reason + sizeof(run->reason),
                          fmt, args);
        va_end(args);

        run->why.data = run->reason;
        run->why.len = p - run->reason;

        level = (ngx_strcmp(state, "error") == 0) ? NGX_LOG_ERR
                                                  : NGX_LOG_WARN;
        ngx_log_error(level, run->log, 0, "helpdesk email fetch: mailbox %V: %s: %V",
                      &run->mailbox, state, &run->why);
    }

    q = ngx_helpdesk_fetch_query(run, "SELECT api.email_fetch_done($1::bytea,"
                                 " $2, $3, $4, $5, $6, $7, $8, $9)",
                                 ngx_helpdesk_fetch_ended);
    if (q == NULL) {
        ngx_helpdesk_fetch_free(run);
        return;
    }

    v.data = (u_char *) state;
    v.len = ngx_strlen(state);
    (void) ngx_helpdesk_pg_param(q, run->pool, &v);
    (void) ngx_helpdesk_pg_param(q, run->pool, run->why.len ? &run->why : NULL);

    /*
     * How far the run went: below the first message it left for the next
     * run, or as far as it listed when it took every message listed (the
     * messages left as read before the mailbox was connected included).
     */
    if (ngx_strcmp(state, "ok") == 0) {
        if (run->next < run->msgs.nelts) {
            listed = ngx_helpdesk_fetch_msg(run)->uid - 1;

        } else if (run->cut) {
            listed = run->cut - 1;

        } else {
            listed = run->listed_to;
        }

        (void) ngx_helpdesk_fetch_num(run, listed);

    } else {
        (void) ngx_helpdesk_pg_param(q, run->pool, NULL);
    }

    ngx_str_set(&v, "f");
    if (run->more && ngx_strcmp(state, "ok") == 0) {
        ngx_str_set(&v, "t");
    }

    (void) ngx_helpdesk_pg_param(q, run->pool, &v);

    ngx_helpdesk_pg_run(q);
}


static void
ngx_helpdesk_fetch_ended(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_fetch_run_t  *run = q->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the lease brings the mailbox back */
        ngx_log_error(NGX_LOG_ERR, run->log, 0,
                      "helpdesk email fetch: mailbox %V: cannot record the "
                      "run: %s", &run->mailbox,
                      ngx_helpdesk_fetch_pg_error(res));
    }

    ngx_helpdesk_fetch_free(run);
}


static void
ngx_helpdesk_fetch_free(ngx_helpdesk_fetch_run_t *run)
{
    ngx_helpdesk_fetch_t  *hf = &ngx_helpdesk_fetch;

    if (run->req) {
        ngx_helpdesk_curl_free(run->req);
    }

    ngx_helpdesk_fetch_msg_free(run);

    if (run->password.len) {
        ngx_explicit_memzero(run->password.data, run->password.len);
    }

    if (run->req_token) {
        ngx_helpdesk_curl_free(run->req_token);
    }

    hf->inflight--;
    ngx_destroy_pool(run->pool);
}


void
ngx_helpdesk_fetch_release(ngx_helpdesk_fetch_run_t *run)
{
    ngx_helpdesk_fetch_free(run);
}


/*
 * A statement of the run: the proof, the tenant, the mailbox, the lease's
 * token and length are its first five parameters.
 */
ngx_helpdesk_pg_query_t *
ngx_helpdesk_fetch_query(ngx_helpdesk_fetch_run_t *run, const char *sql,
    ngx_helpdesk_pg_handler_pt handler)
{
    ngx_helpdesk_pg_query_t  *q = &run->query;

    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->sql = sql;
    q->handler = handler;
    q->data = run;
    q->log = run->log;

    ngx_helpdesk_fetch_proof(q);

    if (ngx_helpdesk_pg_param(q, run->pool, &run->tenant) != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &run->mailbox) != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &run->token) != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &run->lease) != NGX_OK)
    {
        return NULL;
    }

    return q;
}


ngx_int_t
ngx_helpdesk_fetch_num(ngx_helpdesk_fetch_run_t *run, uint64_t n)
{
    ngx_str_t  v;

    v.data = ngx_pnalloc(run->pool, NGX_INT64_LEN);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    v.len = ngx_sprintf(v.data, "%uL", n) - v.data;

    return ngx_helpdesk_pg_param(&run->query, run->pool, &v);
}
