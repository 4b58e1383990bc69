/*
 * The email runner: one claimed mail (the claim and the ticks:
 * ngx_helpdesk_email_out.c).
 *
 *   1. the sealed secrets (the tenant's relay password, its DKIM key) are
 *      opened on the event loop (AES-GCM: microseconds);
 *   2. the message is built and DKIM-signed in the thread pool (an RSA
 *      signature costs about a millisecond: not for the event loop);
 *   3. it is submitted by libcurl's SMTP on the event loop, to the
 *      tenant's relay (held to the outbound policy) or the provider's
 *      (helpdesk_smtp, trusted);
 *   4. the outcome is recorded (api.email_result): delivered, retried
 *      with backoff, or dead with its reason; a 5xx refusal is final.
 *
 * The Message-ID is the delivery's id at the sender's domain, the same on
 * every attempt.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_helpdesk_email_out.h"
#include "ngx_helpdesk_email_int.h"
#include "ngx_helpdesk_email_mime.h"
#include "event/ngx_helpdesk_pg.h"
#include "event/ngx_helpdesk_curl.h"
#include "jobs/ngx_helpdesk_outbox_request.h"
#include "lib/ngx_helpdesk_secret.h"


typedef struct {
    ngx_pool_t                 *pool;
    ngx_log_t                  *log;
    ngx_helpdesk_pg_query_t     query;
    ngx_str_t                   col[COL_N];
    ngx_flag_t                  null[COL_N];
    ngx_str_t                   from;
    ngx_str_t                   rcpt;       /* To and Cc, with commas */
    ngx_str_t                   message_id;
    ngx_helpdesk_mail_t         mail;
    ngx_str_t                   message;    /* malloc()ed by the task */
    size_t                      files;      /* counted in the runner's */
    ngx_int_t                   built;
    char                        err[256];
    unsigned                    tenant_relay:1;
    unsigned                    bearer:1;   /* a mailbox's XOAUTH2 */
} ngx_helpdesk_email_t;


static void ngx_helpdesk_email_build(void *data, ngx_log_t *log);
static void ngx_helpdesk_email_built(ngx_event_t *ev);
static void ngx_helpdesk_email_sent(ngx_helpdesk_curl_req_t *req,
    CURLcode result);
static void ngx_helpdesk_email_record(ngx_helpdesk_email_t *e, ngx_flag_t ok,
    ngx_flag_t permanent, long status, const char *error, ngx_msec_t elapsed);
static void ngx_helpdesk_email_recorded(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_email_done(ngx_helpdesk_email_t *e);
static void ngx_helpdesk_email_cleanup(void *data);
static void ngx_helpdesk_email_forget(ngx_helpdesk_email_t *e);


void
ngx_helpdesk_email_start(PGresult *res, int row)
{
    u_char                       *at, *p;
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_pool_t                   *pool;
    ngx_str_t                    *c;
    ngx_pool_cleanup_t           *cln;
    ngx_thread_task_t            *task;
    ngx_helpdesk_email_t         *e;
    ngx_helpdesk_email_conf_t    *conf;
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    conf = er->conf;

    pool = ngx_create_pool(4096, er->log);
    if (pool == NULL) {
        return;
    }

    task = ngx_thread_task_alloc(pool, sizeof(ngx_helpdesk_email_t));
    cln = ngx_pool_cleanup_add(pool, 0);

    if (task == NULL || cln == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    e = task->ctx;
    e->pool = pool;
    e->log = er->log;
    er->inflight++;

    cln->handler = ngx_helpdesk_email_cleanup;
    cln->data = e;

    c = e->col;

    for (i = 0; i < COL_N; i++) {
        e->null[i] = PQgetisnull(res, row, i);
        c[i].len = PQgetlength(res, row, i);
        c[i].data = ngx_pnalloc(pool, c[i].len + 1);

        if (c[i].data == NULL) {
            ngx_helpdesk_email_done(e);
            return;
        }

        ngx_memcpy(c[i].data, PQgetvalue(res, row, i), c[i].len);
        c[i].data[c[i].len] = '\0';
    }

    e->tenant_relay = !e->null[COL_SMTP_URL];
    e->bearer = e->tenant_relay && c[COL_BEARER].len
                && c[COL_BEARER].data[0] == 't';

    e->files = c[COL_FILES].len;
    er->files += e->files;

    if (e->null[COL_SUBJECT] || e->null[COL_RCPT]) {
        ngx_helpdesk_email_record(e, 0, 1, 0, "nothing to send: a mail of "
                                  "an unknown kind, or without a recipient",
                                  0);
        return;
    }

    if (!e->tenant_relay && conf->url.len == 0) {
        /* the relay went between claim and now: tried again later */
        ngx_helpdesk_email_record(e, 0, 0, 0, "no relay: the tenant has none "
                                  "and helpdesk_smtp is not configured", 0);
        return;
    }

    e->from = e->null[COL_FROM] ? conf->from : c[COL_FROM];

    if (e->from.len == 0) {
        ngx_helpdesk_email_record(e, 0, 1, 0, "no sender address: the "
                                  "tenant has none and helpdesk_smtp has no "
                                  "from=", 0);
        return;
    }

    if (e->bearer && e->null[COL_SMTP_PASSWORD]) {
        /* retried: the mailbox may be authorised again meanwhile */
        ngx_helpdesk_email_record(e, 0, 0, 0, "the mailbox mail is sent "
                                  "through is not authorised: authorise it "
                                  "again", 0);
        return;
    }

    /* sealed secrets, opened just before use */
    rc = NGX_OK;

    if (!e->null[COL_SMTP_PASSWORD]) {
        rc = ngx_helpdesk_outbox_open(pool, e->log, conf->outbox->secrets,
                                      &c[COL_SMTP_AAD], &c[COL_SMTP_PASSWORD]);
    }

    if (rc == NGX_OK && !e->null[COL_DKIM_KEY]) {
        rc = ngx_helpdesk_outbox_open(pool, e->log, conf->outbox->secrets,
                                      &c[COL_DKIM_AAD], &c[COL_DKIM_KEY]);
    }

    if (rc != NGX_OK) {
        ngx_helpdesk_email_record(e, 0, 0, 0, rc == NGX_DECLINED
                                  ? "a stored secret does not decrypt (a key "
                                    "missing from the key file, or a value "
                                    "altered or moved)"
                                  : "out of memory", 0);
        return;
    }

    /* <delivery id@sender's domain>: the same on every attempt */
    at = ngx_strlchr(e->from.data, e->from.data + e->from.len, '@');

    p = ngx_pnalloc(pool, c[COL_DELIVERY].len + e->from.len);
    if (p == NULL || at == NULL) {
        ngx_helpdesk_email_record(e, 0, 1, 0, "the sender address has no "
                                  "domain", 0);
        return;
    }

    e->message_id.data = p;
    p = ngx_cpymem(p, c[COL_DELIVERY].data, c[COL_DELIVERY].len);
    p = ngx_cpymem(p, at, e->from.data + e->from.len - at);
    e->message_id.len = p - e->message_id.data;

    e->mail.from_name = c[COL_FROM_NAME];
    e->mail.from_address = e->from;
    e->mail.reply_to = c[COL_REPLY_TO];
    e->mail.to = c[COL_RCPT];
    e->mail.subject = c[COL_SUBJECT];
    e->mail.text = c[COL_TEXT];
    e->mail.html = c[COL_HTML];
    e->mail.message_id = e->message_id;
    e->mail.date = ngx_time();
    e->mail.cc = c[COL_CC];
    e->mail.in_reply_to = c[COL_IN_REPLY_TO];
    e->mail.references = c[COL_REFS];
    e->mail.human = (c[COL_HUMAN].len && c[COL_HUMAN].data[0] == 't');
    e->mail.files = c[COL_FILES];

    /* every recipient, for the envelope */
    e->rcpt = c[COL_RCPT];

    if (c[COL_CC].len) {
        p = ngx_pnalloc(pool, c[COL_RCPT].len + 1 + c[COL_CC].len);
        if (p == NULL) {
            ngx_helpdesk_email_record(e, 0, 0, 0, "out of memory", 0);
            return;
        }

        e->rcpt.data = p;
        p = ngx_cpymem(p, c[COL_RCPT].data, c[COL_RCPT].len);
        *p++ = ',';
        p = ngx_cpymem(p, c[COL_CC].data, c[COL_CC].len);
        e->rcpt.len = p - e->rcpt.data;
    }

    if (!e->null[COL_DKIM_KEY] && !e->null[COL_DKIM_SELECTOR]) {
        e->mail.dkim_key = c[COL_DKIM_KEY];
        e->mail.dkim_selector = c[COL_DKIM_SELECTOR];
        e->mail.dkim_domain.data = at + 1;
        e->mail.dkim_domain.len = e->from.data + e->from.len - at - 1;
    }

    task->handler = ngx_helpdesk_email_build;
    task->event.handler = ngx_helpdesk_email_built;
    task->event.data = e;

    if (ngx_thread_task_post(er->tp, task) != NGX_OK) {
        ngx_helpdesk_email_record(e, 0, 0, 0, "the thread pool's queue is "
                                  "full", 0);
    }
}


/* in the thread pool: nothing here touches the pool or the log */

static void
ngx_helpdesk_email_build(void *data, ngx_log_t *log)
{
    ngx_helpdesk_email_t  *e = data;

    e->built = ngx_helpdesk_mail_build(&e->mail, &e->message, e->err,
                                       sizeof(e->err));
}


static void
ngx_helpdesk_email_built(ngx_event_t *ev)
{
    ngx_helpdesk_email_t         *e = ev->data;
    ngx_int_t                     rc;
    ngx_helpdesk_curl_req_t      *req;
    ngx_helpdesk_email_conf_t    *conf = ngx_helpdesk_email_runner.conf;
    ngx_str_t                    *c = e->col;

    /* the key's plaintext is no longer needed */
    if (e->mail.dkim_key.len) {
        ngx_explicit_memzero(e->mail.dkim_key.data, e->mail.dkim_key.len);
    }

    if (e->built != NGX_OK) {
        ngx_helpdesk_email_record(e, 0, 1, 0, e->err, 0);
        return;
    }

    req = ngx_helpdesk_curl_smtp(e->log,
                                 e->tenant_relay ? &c[COL_SMTP_URL]
                                                 : &conf->url,
                                 !e->tenant_relay, &e->from, &e->rcpt,
                                 &e->message, conf->outbox->timeout);
    if (req == NULL) {
        ngx_helpdesk_email_record(e, 0, 0, 0, "cannot start the request", 0);
        return;
    }

    req->handler = ngx_helpdesk_email_sent;
    req->data = e;

    if (e->tenant_relay && !e->null[COL_SMTP_USER]) {
        rc = ngx_helpdesk_curl_login(req, &c[COL_SMTP_USER],
                                     &c[COL_SMTP_PASSWORD], e->bearer);

        /* libcurl keeps its own copy (CURLOPT_PASSWORD, _XOAUTH2_BEARER) */
        ngx_helpdesk_email_forget(e);

        if (rc != NGX_OK) {
            goto failed;
        }
    }

    if (e->bearer && conf->oauth_ca_file.len) {
        /* the CA of helpdesk_email_fetch's ca_file=, NUL-terminated */
        curl_easy_setopt(req->easy, CURLOPT_CAINFO,
                         (char *) conf->oauth_ca_file.data);
    }

    if (!e->tenant_relay && conf->ca_file.len) {
        /* a string of the configuration: NUL-terminated by the parser */
        curl_easy_setopt(req->easy, CURLOPT_CAINFO,
                         (char *) conf->ca_file.data);
    }

    if (!e->tenant_relay && conf->user.len) {
        if (ngx_helpdesk_curl_login(req, &conf->user, &conf->password, 0)
            != NGX_OK)
        {
            goto failed;
        }
    }

    if (ngx_helpdesk_curl_start(req) == NGX_OK) {
        return;
    }

failed:

    ngx_helpdesk_curl_free(req);
    ngx_helpdesk_email_record(e, 0, 0, 0, "cannot start the request", 0);
}


static void
ngx_helpdesk_email_sent(ngx_helpdesk_curl_req_t *req, CURLcode result)
{
    u_char                *p;
    long                   status;
    ngx_flag_t             permanent;
    ngx_msec_t             elapsed;
    ngx_helpdesk_email_t  *e = req->data;
    u_char                 why[CURL_ERROR_SIZE + 64];

    status = req->status;
    elapsed = req->elapsed;

    if (result == CURLE_OK) {
        ngx_helpdesk_curl_free(req);
        ngx_helpdesk_email_record(e, 1, 0, status, NULL, elapsed);
        return;
    }

    /*
     * the relay refused the mail itself (5xx to MAIL, RCPT or DATA): no
     * retry changes its mind; a refused login, a relay away, a 4xx may
     * pass later
     */
    permanent = (status >= 500 && status < 600
                 && result != CURLE_LOGIN_DENIED);

    p = ngx_snprintf(why, sizeof(why) - 1, "%s%s", req->error,
                     req->refused ? " (the relay's address)" : "");
    *p = '\0';

    ngx_helpdesk_curl_free(req);
    ngx_helpdesk_email_record(e, 0, permanent, status, (char *) why, elapsed);
}


static void
ngx_helpdesk_email_record(ngx_helpdesk_email_t *e, ngx_flag_t ok,
    ngx_flag_t permanent, long status, const char *error, ngx_msec_t elapsed)
{
    u_char                      *p;
    ngx_str_t                    v, text;
    ngx_helpdesk_outbox_conf_t  *oc = ngx_helpdesk_email_runner.conf->outbox;

    if (error) {
        ngx_log_error(NGX_LOG_INFO, e->log, 0,
                      "helpdesk email: %V to %V: %s", &e->col[COL_EVENT],
                      &e->col[COL_RCPT], error);
    }

    ngx_memzero(&e->query, sizeof(ngx_helpdesk_pg_query_t));
    e->query.sql = "SELECT api.email_result($1::bytea, $2, $3, $4, $5, $6, "
                   "$7, $8, $9, $10, $11, $12, $13, $14, $15)";
    e->query.handler = ngx_helpdesk_email_recorded;
    e->query.data = e;
    e->query.log = e->log;

    ngx_helpdesk_email_proof(&e->query);
    (void) ngx_helpdesk_pg_param(&e->query, e->pool, &e->col[COL_TENANT]);
    (void) ngx_helpdesk_pg_param(&e->query, e->pool, &e->col[COL_OUTBOX]);

    ngx_str_set(&v, "f");
    if (ok) {
        ngx_str_set(&v, "t");
    }
    (void) ngx_helpdesk_pg_param(&e->query, e->pool, &v);

    ngx_str_set(&v, "f");
    if (permanent) {
        ngx_str_set(&v, "t");
    }
    (void) ngx_helpdesk_pg_param(&e->query, e->pool, &v);

    p = ngx_pnalloc(e->pool, 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        ngx_helpdesk_email_done(e);
        return;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%l", status) - p;
    (void) ngx_helpdesk_pg_param(&e->query, e->pool, &v);

    if (error) {
        v.data = (u_char *) error;
        v.len = ngx_strlen(error);

        /* the reason as printable UTF-8, like a receiver's words */
        if (ngx_helpdesk_outbox_printable(e->pool, &v, &text) != NGX_OK) {
            ngx_helpdesk_email_done(e);
            return;
        }

        (void) ngx_helpdesk_pg_param(&e->query, e->pool, &text);

    } else {
        (void) ngx_helpdesk_pg_param(&e->query, e->pool, NULL);
    }

    v.data = p + NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%M", elapsed) - v.data;
    (void) ngx_helpdesk_pg_param(&e->query, e->pool, &v);

    if (e->bearer) {
        ngx_str_set(&v, "mailbox");
    } else if (e->tenant_relay) {
        ngx_str_set(&v, "tenant");
    } else {
        ngx_str_set(&v, "provider");
    }
    (void) ngx_helpdesk_pg_param(&e->query, e->pool, &v);

    (void) ngx_helpdesk_pg_param(&e->query, e->pool,
                                 e->message_id.len ? &e->message_id : NULL);

    if (ngx_helpdesk_outbox_retry_params(&e->query, e->pool, oc) != NGX_OK) {
        ngx_helpdesk_email_done(e);
        return;
    }

    /* what a delivered mail is recorded under, to know it if it returns */
    (void) ngx_helpdesk_pg_param(&e->query, e->pool,
                                 e->from.len ? &e->from : NULL);
    (void) ngx_helpdesk_pg_param(&e->query, e->pool, e->null[COL_SUBJECT]
                                 ? NULL : &e->col[COL_SUBJECT]);

    ngx_helpdesk_pg_run(&e->query);
}


static void
ngx_helpdesk_email_recorded(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_email_t  *e = q->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the row stays claimed; its lease brings it back */
        ngx_log_error(NGX_LOG_ERR, e->log, 0,
                      "helpdesk email: cannot record %V: %s",
                      &e->col[COL_DELIVERY],
                      res ? PQresultErrorMessage(res) : "postgresql unavailable");
    }

    ngx_helpdesk_email_done(e);
}


static void
ngx_helpdesk_email_done(ngx_helpdesk_email_t *e)
{
    ngx_helpdesk_email_runner.inflight--;
    ngx_helpdesk_email_runner.files -= e->files;
    ngx_destroy_pool(e->pool);
}


/* the relay's password or the mailbox's token, opened: wiped */
static void
ngx_helpdesk_email_forget(ngx_helpdesk_email_t *e)
{
    ngx_str_t  *pw = &e->col[COL_SMTP_PASSWORD];

    if (pw->data && pw->len) {
        ngx_explicit_memzero(pw->data, pw->len);
        pw->len = 0;
    }
}


static void
ngx_helpdesk_email_cleanup(void *data)
{
    ngx_helpdesk_email_t  *e = data;

    /* a mail that ended before its request took the password */
    ngx_helpdesk_email_forget(e);

    if (e->message.data) {
        ngx_free(e->message.data);
        e->message.data = NULL;
    }
}
