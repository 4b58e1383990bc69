/*
 * The DNS check of tenants' own domains.
 *
 * Every worker, each "interval", claims up to NGX_HELPDESK_DOMAIN_CHECK_BATCH
 * domains that are due (api.domain_check_claim: FOR UPDATE SKIP LOCKED and
 * a lease, so that no two workers or nodes check one name at once), asks
 * the configured resolvers four questions per name at once and writes one
 * outcome per name (api.domain_check_result, fenced by the lease's token;
 * the SQL moves the state and plans the next check).  The next claim waits
 * for the batch to be written: the work of a tick is bounded, and a worker
 * never holds more than 4 x the batch questions in flight.
 *
 * The gates, in the order their failure is reported:
 *   proof   the CNAME chain of the name's A or AAAA answer holds the
 *           tenant's target, or TXT _helpdesk-verify.<host> holds the
 *           token                                     -> "proof-missing"
 *   reach   every address of the name (A and AAAA, at the end of its
 *           chain) is one of edge=, and there is one
 *                             -> "points-elsewhere: <the first that is not>"
 *                                "not-reaching-us: no address"
 *   CAA     the first non-empty CAA RRset from the name up to its TLD
 *           (RFC 8659): an unknown critical tag forbids; if it has "issue"
 *           records, one must name a CA of caa= ("issuewild" is for
 *           wildcard names only, and never asked for here)
 *                            -> "caa-forbids: <zone> allows <CAs>"
 * An answer that is not NOERROR or NXDOMAIN, a timeout or any other
 * failure leaves its gate unknown: "dns-error: SERVFAIL CAA example.com".
 * Such an outcome is not ok (no certificate is ordered) and keeps the
 * name's schedule.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>

#include "ngx_helpdesk_domain_check.h"
#include "ngx_helpdesk_domain_check_int.h"
#include "ngx_helpdesk_job.h"
#include "event/ngx_helpdesk_pg.h"


static void ngx_helpdesk_dc_tick(ngx_event_t *ev);
static void ngx_helpdesk_dc_directory_caa(ngx_helpdesk_dc_t *job,
    PGresult *res);
static void ngx_helpdesk_dc_claimed(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_dc_start(ngx_helpdesk_dc_check_t *c);
static void ngx_helpdesk_dc_ask(ngx_helpdesk_dc_check_t *c, ngx_uint_t gate,
    ngx_str_t *name, ngx_uint_t type);
static void ngx_helpdesk_dc_answer(ngx_helpdesk_dns_query_t *q, void *data);
static void ngx_helpdesk_dc_finish(ngx_helpdesk_dc_check_t *c);
static void ngx_helpdesk_dc_written(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_dc_done(ngx_helpdesk_dc_t *job);
static void ngx_helpdesk_dc_stop(ngx_helpdesk_dc_t *job);


static ngx_helpdesk_dc_t  ngx_helpdesk_dc;


ngx_int_t
ngx_helpdesk_domain_check_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_domain_check_conf_t *conf)
{
    ngx_helpdesk_dc_t  *job = &ngx_helpdesk_dc;

    ngx_memzero(job, sizeof(ngx_helpdesk_dc_t));

    if (!conf->enabled || conf->proof == NULL || conf->proof[0] == '\0') {
        return NGX_OK;
    }

    job->conf = conf;
    job->log = cycle->log;

    ngx_helpdesk_job_start(&job->tick, ngx_helpdesk_dc_tick, job, cycle->log,
                           conf->interval);

    return NGX_OK;
}


void
ngx_helpdesk_domain_check_exit_worker(void)
{
    ngx_helpdesk_dc_t  *job = &ngx_helpdesk_dc;

    if (job->tick.timer_set) {
        ngx_del_timer(&job->tick);
    }

    ngx_helpdesk_dc_stop(job);
}


/* every question and statement of the batch forgotten, its memory freed */
static void
ngx_helpdesk_dc_stop(ngx_helpdesk_dc_t *job)
{
    ngx_uint_t                i, g;
    ngx_helpdesk_dc_check_t  *c;

    if (job->claiming) {
        ngx_helpdesk_pg_cancel(&job->query);
        job->claiming = 0;
    }

    for (i = 0; i < job->nchecks; i++) {
        c = &job->checks[i];

        for (g = 0; g < NGX_HELPDESK_DC_GATES; g++) {
            if (c->q[g]) {
                ngx_helpdesk_dns_cancel(c->q[g]);
                c->q[g] = NULL;
            }
        }

        if (c->writing) {
            ngx_helpdesk_pg_cancel(&c->query);
            c->writing = 0;
        }
    }

    job->nchecks = 0;
    job->running = 0;

    if (job->pool) {
        ngx_destroy_pool(job->pool);
        job->pool = NULL;
    }
}


static void
ngx_helpdesk_dc_tick(ngx_event_t *ev)
{
    u_char              *p;
    ngx_str_t            v;
    ngx_uint_t           room, lease;
    ngx_helpdesk_dc_t   *job = ev->data;
    u_char               buf[NGX_INT_T_LEN];

    if (ngx_exiting || job->claiming || job->running) {
        return;
    }

    /* room for 4 questions per domain beside the other users' */
    room = NGX_HELPDESK_DNS_INFLIGHT_MAX - ngx_helpdesk_dns_inflight();
    job->limit = ngx_min(room / NGX_HELPDESK_DC_GATES,
                         NGX_HELPDESK_DOMAIN_CHECK_BATCH);

    if (job->limit == 0) {
        ngx_add_timer(&job->tick, job->conf->interval);
        return;
    }

    job->pool = ngx_create_pool(4096, job->log);
    if (job->pool == NULL) {
        ngx_add_timer(&job->tick, job->conf->interval);
        return;
    }

    /*
     * the lease covers the slowest check sized for: every try of every
     * server timing out, for the addresses and then each CAA level
     */
    lease = NGX_HELPDESK_DNS_TRIES * job->conf->servers->nelts
            * job->conf->timeout * (1 + NGX_HELPDESK_DC_LEVELS) / 1000 + 10;
    lease = ngx_min(lease, 3600);

    ngx_memzero(&job->query, sizeof(ngx_helpdesk_pg_query_t));
    job->query.sql = "SELECT tenant_id, hostname, cname_target, txt_name, "
                     "txt_value, lease_token, "
                     "array_to_string(api.acme_caa_identities($1::bytea), ',') "
                     "FROM api.domain_check_claim($1::bytea, $2::int, $3::int)";
    job->query.handler = ngx_helpdesk_dc_claimed;
    job->query.data = job;
    job->query.log = job->log;

    v.data = job->conf->proof;
    v.len = ngx_strlen(job->conf->proof);
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);

    p = ngx_sprintf(buf, "%ui", job->limit);
    v.data = buf;
    v.len = p - buf;
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);

    p = ngx_sprintf(buf, "%ui", lease);
    v.len = p - buf;
    (void) ngx_helpdesk_pg_param(&job->query, job->pool, &v);

    job->claiming = 1;
    ngx_helpdesk_pg_run(&job->query);
}


static void
ngx_helpdesk_dc_claimed(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    int                       i, n;
    ngx_uint_t                rows;
    ngx_helpdesk_dc_t        *job = q->data;
    ngx_helpdesk_dc_check_t  *c;

    job->claiming = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQnfields(res) != 7)
    {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "helpdesk domains: cannot claim the domains to check%s%s",
                      res ? ": " : "", res ? PQresultErrorMessage(res) : "");
        ngx_helpdesk_dc_done(job);
        return;
    }

    n = PQntuples(res);
    rows = 0;

    job->caa = job->conf->caa;

    if (n && job->conf->caa_default) {
        ngx_helpdesk_dc_directory_caa(job, res);
    }

    for (i = 0; i < n && rows < NGX_HELPDESK_DOMAIN_CHECK_BATCH; i++) {
        c = &job->checks[rows];
        ngx_memzero(c, sizeof(ngx_helpdesk_dc_check_t));
        c->job = job;

        if (ngx_helpdesk_pg_value(job->pool, res, i, 0, &c->tenant) != NGX_OK
            || ngx_helpdesk_pg_value(job->pool, res, i, 1, &c->host) != NGX_OK
            || ngx_helpdesk_pg_value(job->pool, res, i, 2, &c->target)
               != NGX_OK
            || ngx_helpdesk_pg_value(job->pool, res, i, 3, &c->txt_name)
               != NGX_OK
            || ngx_helpdesk_pg_value(job->pool, res, i, 4, &c->txt_value)
               != NGX_OK
            || ngx_helpdesk_pg_value(job->pool, res, i, 5, &c->lease)
               != NGX_OK)
        {
            /* its lease runs out and another claim takes it */
            continue;
        }

        rows++;
    }

    job->nchecks = rows;
    job->running = rows;

    if (rows == 0) {
        ngx_helpdesk_dc_done(job);
        return;
    }

    /* every handler comes from a posted event: none runs in this loop */
    for (i = 0; i < (int) rows; i++) {
        ngx_helpdesk_dc_start(&job->checks[i]);
    }
}


/*
 * No caa= in the configuration: the CA identities the ACME directories in
 * use publish (meta.caaIdentities, kept with their accounts), comma
 * separated in the claim's last column; none published keeps the default.
 */
static void
ngx_helpdesk_dc_directory_caa(ngx_helpdesk_dc_t *job, PGresult *res)
{
    u_char       *p, *last, *comma;
    ngx_str_t     list, *id;
    ngx_array_t  *a;

    if (ngx_helpdesk_pg_value(job->pool, res, 0, 6, &list) != NGX_OK
        || list.len == 0)
    {
        return;
    }

    a = ngx_array_create(job->pool, 4, sizeof(ngx_str_t));
    if (a == NULL) {
        return;
    }

    p = list.data;
    last = list.data + list.len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma > p) {
            id = ngx_array_push(a);
            if (id == NULL) {
                return;
            }

            id->data = p;
            id->len = comma - p;
        }

        p = comma + 1;
    }

    if (a->nelts) {
        job->caa = a;
    }
}

static void
ngx_helpdesk_dc_start(ngx_helpdesk_dc_check_t *c)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->job->log, 0,
                   "helpdesk domains: checking %V", &c->host);

    c->caa_name = c->host;

    ngx_helpdesk_dc_ask(c, NGX_HELPDESK_DC_A, &c->host, NGX_HELPDESK_DNS_A);
    ngx_helpdesk_dc_ask(c, NGX_HELPDESK_DC_AAAA, &c->host,
                        NGX_HELPDESK_DNS_AAAA);
    ngx_helpdesk_dc_ask(c, NGX_HELPDESK_DC_TXT, &c->txt_name,
                        NGX_HELPDESK_DNS_TXT);
    ngx_helpdesk_dc_ask(c, NGX_HELPDESK_DC_CAA, &c->caa_name,
                        NGX_HELPDESK_DNS_CAA);

    if (c->pending == 0) {
        ngx_helpdesk_dc_finish(c);
    }
}


static void
ngx_helpdesk_dc_ask(ngx_helpdesk_dc_check_t *c, ngx_uint_t gate,
    ngx_str_t *name, ngx_uint_t type)
{
    ngx_helpdesk_domain_check_conf_t  *conf = c->job->conf;

    c->q[gate] = ngx_helpdesk_dns_query(name, type, conf->servers,
                                        conf->timeout, ngx_helpdesk_dc_answer,
                                        c, c->job->log);
    if (c->q[gate] == NULL) {
        ngx_str_set(&c->error[gate], "out of memory");
        return;
    }

    c->pending++;
}


/* "what TYPE name" for a dns-error reason */
static void
ngx_helpdesk_dc_error(ngx_helpdesk_dc_check_t *c, ngx_uint_t gate,
    ngx_helpdesk_dns_query_t *q, const char *what)
{
    u_char  *p;
    size_t   len;

    len = ngx_strlen(what) + 1 + 5 + 1 + q->name.len;

    p = ngx_pnalloc(c->job->pool, len);
    if (p == NULL) {
        ngx_str_set(&c->error[gate], "out of memory");
        return;
    }

    c->error[gate].data = p;
    c->error[gate].len = ngx_snprintf(p, len, "%s %s %V", what,
                                      ngx_helpdesk_dns_type_text(q->type),
                                      &q->name)
                         - p;
}


static void
ngx_helpdesk_dc_answer(ngx_helpdesk_dns_query_t *q, void *data)
{
    ngx_helpdesk_dc_check_t  *c = data;

    u_char                     *dot;
    ngx_str_t                  *s;
    ngx_uint_t                  gate, i;
    ngx_helpdesk_dns_answer_t  *ans;

    for (gate = 0; gate < NGX_HELPDESK_DC_GATES; gate++) {
        if (c->q[gate] == q) {
            break;
        }
    }

    if (gate == NGX_HELPDESK_DC_GATES) {
        return;
    }

    c->q[gate] = NULL;      /* freed when this returns */
    ans = &q->answer;

    if (q->status == NGX_BUSY) {
        ngx_helpdesk_dc_error(c, gate, q, "too many questions in flight for");

    } else if (q->status != NGX_OK) {
        ngx_helpdesk_dc_error(c, gate, q, q->error ? q->error : "no answer");

    } else if (ans->rcode != NGX_HELPDESK_DNS_NOERROR
               && ans->rcode != NGX_HELPDESK_DNS_NXDOMAIN)
    {
        ngx_helpdesk_dc_error(c, gate, q,
                              ngx_helpdesk_dns_rcode_text(ans->rcode));

    } else {
        switch (gate) {

        case NGX_HELPDESK_DC_A:
        case NGX_HELPDESK_DC_AAAA:
            s = ans->chain.elts;
            for (i = 0; i < ans->chain.nelts; i++) {
                if (s[i].len == c->target.len
                    && ngx_strncasecmp(s[i].data, c->target.data,
                                       s[i].len) == 0)
                {
                    c->proven = 1;
                }
            }

            ngx_helpdesk_dc_addresses(c, ans);
            break;

        case NGX_HELPDESK_DC_TXT:
            s = ans->txt.elts;
            for (i = 0; i < ans->txt.nelts; i++) {
                if (s[i].len == c->txt_value.len
                    && ngx_strncmp(s[i].data, c->txt_value.data, s[i].len)
                       == 0)
                {
                    c->proven = 1;
                }
            }
            break;

        default: /* NGX_HELPDESK_DC_CAA */
            if (ngx_helpdesk_dc_caa(c, ans) == NGX_OK) {
                break;
            }

            /* no CAA here: the parent, up to the TLD */
            dot = ngx_strlchr(c->caa_name.data,
                              c->caa_name.data + c->caa_name.len, '.');
            if (dot == NULL) {
                break;
            }

            c->caa_name.len -= dot + 1 - c->caa_name.data;
            c->caa_name.data = dot + 1;

            c->pending--;
            ngx_helpdesk_dc_ask(c, NGX_HELPDESK_DC_CAA, &c->caa_name,
                                NGX_HELPDESK_DNS_CAA);
            if (c->pending) {
                return;
            }

            ngx_helpdesk_dc_finish(c);
            return;
        }
    }

    if (--c->pending == 0) {
        ngx_helpdesk_dc_finish(c);
    }
}


static void
ngx_helpdesk_dc_finish(ngx_helpdesk_dc_check_t *c)
{
    u_char             *p;
    char               *json;
    json_t             *out;
    ngx_str_t           v, *error;
    ngx_helpdesk_dc_t  *job = c->job;
    u_char              reason[512];

    p = NULL;
    error = c->error;

    if (!c->proven) {
        if (error[NGX_HELPDESK_DC_A].len) {
            p = ngx_slprintf(reason, reason + sizeof(reason), "dns-error: %V",
                             &error[NGX_HELPDESK_DC_A]);
        } else if (error[NGX_HELPDESK_DC_AAAA].len) {
            p = ngx_slprintf(reason, reason + sizeof(reason), "dns-error: %V",
                             &error[NGX_HELPDESK_DC_AAAA]);
        } else if (error[NGX_HELPDESK_DC_TXT].len) {
            p = ngx_slprintf(reason, reason + sizeof(reason), "dns-error: %V",
                             &error[NGX_HELPDESK_DC_TXT]);
        } else {
            p = ngx_cpymem(reason, "proof-missing", 13);
        }

    } else if (error[NGX_HELPDESK_DC_A].len
               || error[NGX_HELPDESK_DC_AAAA].len)
    {
        p = ngx_slprintf(reason, reason + sizeof(reason), "dns-error: %V",
                         error[NGX_HELPDESK_DC_A].len
                         ? &error[NGX_HELPDESK_DC_A]
                         : &error[NGX_HELPDESK_DC_AAAA]);

    } else if (c->elsewhere.len) {
        p = ngx_slprintf(reason, reason + sizeof(reason),
                         "points-elsewhere: %V", &c->elsewhere);

    } else if (c->addresses == 0) {
        p = ngx_cpymem(reason, "not-reaching-us: no address", 27);

    } else if (error[NGX_HELPDESK_DC_CAA].len) {
        p = ngx_slprintf(reason, reason + sizeof(reason), "dns-error: %V",
                         &error[NGX_HELPDESK_DC_CAA]);

    } else if (c->caa_forbids.len) {
        p = ngx_slprintf(reason, reason + sizeof(reason), "caa-forbids: %V",
                         &c->caa_forbids);
    }

    out = json_object();
    if (out == NULL
        || json_object_set_new(out, "ok", json_boolean(p == NULL)) != 0
        || (p && json_object_set_new(out, "reason",
                                     json_stringn((char *) reason,
                                                  p - reason))
                 != 0))
    {
        json_decref(out);
        goto failed;
    }

    json = json_dumps(out, JSON_COMPACT);
    json_decref(out);

    if (json == NULL) {
        goto failed;
    }

    v.len = ngx_strlen(json);
    v.data = ngx_pnalloc(job->pool, v.len);
    if (v.data == NULL) {
        free(json);
        goto failed;
    }

    ngx_memcpy(v.data, json, v.len);
    free(json);

    ngx_log_error(NGX_LOG_INFO, job->log, 0,
                  "helpdesk domains: %V of tenant %V checked: %V",
                  &c->host, &c->tenant, &v);

    ngx_memzero(&c->query, sizeof(ngx_helpdesk_pg_query_t));
    c->query.sql = "SELECT api.domain_check_result($1::bytea, $2::uuid, $3, "
                   "$4::uuid, $5::jsonb)";
    c->query.handler = ngx_helpdesk_dc_written;
    c->query.data = c;
    c->query.log = job->log;

    (void) ngx_helpdesk_pg_param(&c->query, job->pool,
                                 &(ngx_str_t) { ngx_strlen(job->conf->proof),
                                                job->conf->proof });
    (void) ngx_helpdesk_pg_param(&c->query, job->pool, &c->tenant);
    (void) ngx_helpdesk_pg_param(&c->query, job->pool, &c->host);
    (void) ngx_helpdesk_pg_param(&c->query, job->pool, &c->lease);
    (void) ngx_helpdesk_pg_param(&c->query, job->pool, &v);

    c->writing = 1;
    ngx_helpdesk_pg_run(&c->query);
    return;

failed:

    /* not written: the lease runs out and the name is checked again */
    ngx_log_error(NGX_LOG_ERR, job->log, 0,
                  "helpdesk domains: out of memory checking %V", &c->host);

    if (--job->running == 0) {
        ngx_helpdesk_dc_done(job);
    }
}


static void
ngx_helpdesk_dc_written(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_dc_check_t  *c = q->data;
    ngx_helpdesk_dc_t        *job = c->job;

    c->writing = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "helpdesk domains: cannot write the check of %V%s%s",
                      &c->host, res ? ": " : "",
                      res ? PQresultErrorMessage(res) : "");

    } else if (PQgetisnull(res, 0, 0)) {
        ngx_log_error(NGX_LOG_INFO, job->log, 0,
                      "helpdesk domains: the check of %V outlived its lease: "
                      "not written", &c->host);

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, job->log, 0,
                       "helpdesk domains: %V is %s", &c->host,
                       PQgetvalue(res, 0, 0));
    }

    if (--job->running == 0) {
        ngx_helpdesk_dc_done(job);
    }
}


/* the batch is over: its memory freed, the next tick planned */
static void
ngx_helpdesk_dc_done(ngx_helpdesk_dc_t *job)
{
    ngx_uint_t  full;

    full = (job->nchecks == job->limit);

    ngx_helpdesk_dc_stop(job);

    if (ngx_exiting) {
        return;
    }

    /* a full batch: more may be due, the next claim comes soon */
    ngx_add_timer(&job->tick, full ? 100 : job->conf->interval);
}
