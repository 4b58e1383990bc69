/*
 * The email runner.
 *
 * Like the outbox runner (src/jobs/ngx_helpdesk_outbox.c), every worker
 * wakes up every "interval" and claims due mails (api.email_claim: FOR
 * UPDATE SKIP LOCKED with a lease), each one rendered by the database
 * from the tenant's template.  Each one (ngx_helpdesk_email_send.c):
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
 * every attempt.  Tenants whose sender address has no DKIM key get one
 * (ngx_helpdesk_email_dkim.c).
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


/* keys are looked for (see ngx_helpdesk_email_dkim.c) every this many ticks */
#define NGX_HELPDESK_EMAIL_DKIM_TICKS  5

/*
 * The bytes of reply files (in base64) a worker's mail in flight holds at
 * most: the claim takes no more (api.email_claim's p_files).  A reply
 * carries up to 10 MB of files (13.3 MB in base64): one always fits.  Each
 * is held a few times over while it is built and sent.
 */
#define NGX_HELPDESK_EMAIL_FILES_MAX   (16 * 1024 * 1024)


static void ngx_helpdesk_email_tick(ngx_event_t *ev);
static void ngx_helpdesk_email_claimed(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


ngx_helpdesk_email_runner_t  ngx_helpdesk_email_runner;


/*
 * helpdesk_smtp url=... [user=...] [password_file=...] [from=...]
 *               [ca_file=...]
 */

char *
ngx_helpdesk_email_smtp_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_email_conf_t *conf)
{
    u_char     *p;
    ssize_t     n;
    ngx_str_t   s, path;
    ngx_file_t  file;
    u_char      buf[1024];

    if (ngx_strncmp(value->data, "url=", 4) == 0) {
        conf->url.data = value->data + 4;
        conf->url.len = value->len - 4;

        if (!(conf->url.len > 7 && ngx_strncmp(conf->url.data, "smtp://", 7)
                                   == 0)
            && !(conf->url.len > 8
                 && ngx_strncmp(conf->url.data, "smtps://", 8) == 0))
        {
            return "needs an smtp:// (STARTTLS) or smtps:// url";
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "user=", 5) == 0) {
        conf->user.data = value->data + 5;
        conf->user.len = value->len - 5;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "from=", 5) == 0) {
        s.data = value->data + 5;
        s.len = value->len - 5;

        if (!ngx_helpdesk_mail_address_ok(&s)) {
            return "needs an address in from=";
        }

        conf->from = s;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "ca_file=", 8) == 0) {
        conf->ca_file.data = value->data + 8;
        conf->ca_file.len = value->len - 8;

        if (ngx_conf_full_name(cf->cycle, &conf->ca_file, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "password_file=", 14) != 0) {
        return "has an unknown parameter";
    }

    path.data = value->data + 14;
    path.len = value->len - 14;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = path;
    file.log = cf->log;
    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &path);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, buf, sizeof(buf), 0);
    ngx_close_file(file.fd);

    if (n <= 0 || n == (ssize_t) sizeof(buf)) {
        return "has a password file that is empty or too long";
    }

    /* one line; its line end is not part of the password */
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    p = ngx_pnalloc(cf->pool, n);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(p, buf, n);
    ngx_explicit_memzero(buf, sizeof(buf));

    conf->password.data = p;
    conf->password.len = n;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_helpdesk_email_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_email_conf_t *conf)
{
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    ngx_memzero(er, sizeof(ngx_helpdesk_email_runner_t));

    if (conf->outbox == NULL || conf->outbox->proof[0] == '\0') {
        return NGX_OK;      /* the outbox runner said why */
    }

    er->tp = ngx_thread_pool_get(cycle, &conf->thread_pool);
    if (er->tp == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "helpdesk email: thread pool \"%V\" not found",
                      &conf->thread_pool);
        return NGX_ERROR;
    }

    er->conf = conf;
    er->log = cycle->log;
    er->tick.handler = ngx_helpdesk_email_tick;
    er->tick.data = er;
    er->tick.log = cycle->log;
    er->tick.cancelable = 1;
    er->ready = 1;

    ngx_add_timer(&er->tick,
                  100 + (ngx_msec_t) ngx_random() % conf->outbox->interval);

    return NGX_OK;
}


void
ngx_helpdesk_email_exit_worker(void)
{
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    if (er->tick.timer_set) {
        ngx_del_timer(&er->tick);
    }

    er->ready = 0;
}


void
ngx_helpdesk_email_proof(ngx_helpdesk_pg_query_t *q)
{
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    q->values[0] = (const char *) er->conf->outbox->proof;
    q->lengths[0] = (int) ngx_strlen(er->conf->outbox->proof);
    q->nparams = 1;
}


static void
ngx_helpdesk_email_tick(ngx_event_t *ev)
{
    u_char                       *p;
    ngx_str_t                     v;
    ngx_helpdesk_outbox_conf_t   *oc;
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    if (ngx_exiting || !er->ready) {
        return;
    }

    oc = er->conf->outbox;
    ngx_add_timer(&er->tick, oc->interval);

    if (er->ticks++ % NGX_HELPDESK_EMAIL_DKIM_TICKS == 0) {
        ngx_helpdesk_email_want_keys();
    }

    if (er->claiming || er->inflight >= oc->batch) {
        return;
    }

    if (er->pool) {
        ngx_destroy_pool(er->pool);
    }

    er->pool = ngx_create_pool(512, er->log);
    if (er->pool == NULL) {
        return;
    }

    ngx_memzero(&er->claim, sizeof(ngx_helpdesk_pg_query_t));
    er->claim.sql = "SELECT * FROM api.email_claim($1::bytea, $2, $3, $4, "
                    "$5)";
    er->claim.handler = ngx_helpdesk_email_claimed;
    er->claim.log = er->log;
    ngx_helpdesk_email_proof(&er->claim);

    er->asked = oc->batch - er->inflight;

    p = ngx_pnalloc(er->pool, 3 * NGX_INT_T_LEN);
    if (p == NULL) {
        return;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%ui", er->asked) - p;
    (void) ngx_helpdesk_pg_param(&er->claim, er->pool, &v);

    /* the lease: building, one attempt, and a margin to record it */
    v.data = p + NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%M", oc->timeout + 30000) - v.data;
    (void) ngx_helpdesk_pg_param(&er->claim, er->pool, &v);

    /* without a relay of the provider's, only tenants' own relays */
    ngx_str_set(&v, "f");
    if (er->conf->url.len) {
        ngx_str_set(&v, "t");
    }
    (void) ngx_helpdesk_pg_param(&er->claim, er->pool, &v);

    /* the files it may still take in */
    v.data = p + 2 * NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%uz",
                        er->files < NGX_HELPDESK_EMAIL_FILES_MAX
                        ? NGX_HELPDESK_EMAIL_FILES_MAX - er->files : 0)
            - v.data;
    (void) ngx_helpdesk_pg_param(&er->claim, er->pool, &v);

    er->claiming = 1;
    ngx_helpdesk_pg_run(&er->claim);
}


static void
ngx_helpdesk_email_claimed(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                           i, n;
    ngx_helpdesk_email_runner_t  *er = &ngx_helpdesk_email_runner;

    er->claiming = 0;

    if (res == NULL) {
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_ERR, er->log, 0,
                      "helpdesk email: claim failed: %s",
                      PQresultErrorMessage(res));
        return;
    }

    n = PQntuples(res);

    if (n > 0 && PQnfields(res) != COL_N) {
        ngx_log_error(NGX_LOG_ALERT, er->log, 0,
                      "helpdesk email: claim answered %d columns",
                      PQnfields(res));
        return;
    }

    for (i = 0; i < n; i++) {
        ngx_helpdesk_email_start(res, i);
    }

    if ((ngx_uint_t) n == er->asked && er->ready && !ngx_exiting) {
        if (er->tick.timer_set) {
            ngx_del_timer(&er->tick);
        }

        ngx_add_timer(&er->tick, 1);
    }
}
