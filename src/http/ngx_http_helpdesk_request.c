/*
 * The request core (see the header for what it covers).
 *
 * Bodies.  nginx reads a body into client_body_buffer_size and spills the
 * rest to a temporary file; the module leaves both at the location's
 * values, so a body never costs more memory than that, whatever the
 * operation's limit.  The location's client_max_body_size becomes the
 * largest limit of any of its operations (an outer bound nginx checks
 * itself); each operation's own limit is enforced by a request body filter
 * that counts what arrives (ngx_http_helpdesk_filter.c, with the filters
 * that turn nginx's own error pages into problem documents).  An
 * operation that needs the body as one string (JSON, a signature over the
 * bytes) gets it from memory, or read back from the temporary file.
 *
 * Completions.  A PostgreSQL answer or a Redis reply arrives on events
 * that are not the client connection's, so after finalizing from there the
 * requests nginx posted meanwhile (a termination is one) must be run, as
 * nginx's upstream module does; inside the content handler nginx does it
 * itself on the way out.  They are never run from where we finalize: that
 * may be deep inside a call of nginx's own (a body read whose handler ran
 * at once) which still uses the request when we return to it, and running
 * a posted termination there frees the request under its feet.  So the
 * request joins a queue before it is finalized, and one posted event runs
 * the queue from the top of the event loop.  A request freed meanwhile
 * leaves the queue by a cleanup of its pool, so the queue only ever holds
 * live requests (and their connections, which outlive them).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_request.h"
#include "ngx_http_helpdesk_log.h"
#include "http/ngx_helpdesk_http.h"


static ngx_int_t ngx_http_helpdesk_req_check_host(ngx_http_request_t *r,
    ngx_http_helpdesk_req_t *req);
static ngx_int_t ngx_http_helpdesk_req_too_large(ngx_http_helpdesk_req_t *req);
static void ngx_http_helpdesk_req_wake_handler(ngx_event_t *ev);
static void ngx_http_helpdesk_req_unwake(void *data);
static void ngx_http_helpdesk_req_refusal_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


static ngx_queue_t   ngx_http_helpdesk_req_wakes;
static ngx_event_t   ngx_http_helpdesk_req_wake_ev;

/* refusals being recorded, and those not sent meanwhile (see below) */
#define NGX_HTTP_HELPDESK_REFUSALS_INFLIGHT  4

static ngx_uint_t    ngx_http_helpdesk_req_refusals;
static ngx_uint_t    ngx_http_helpdesk_req_refusals_skipped;

static const char  ngx_http_helpdesk_req_refusal_sql[] =
    "SELECT api.audit_refusal($1, $2, $3, $4::bytea, $5, $6::inet, $7, $8, "
    "$9::int, $10, $11::int)";




ngx_int_t
ngx_http_helpdesk_req_init(ngx_http_request_t *r, ngx_http_helpdesk_req_t *req)
{
    req->r = r;
    req->hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);
    req->sync = 1;

    /* a unix socket has no address to record */
    if (r->connection->sockaddr->sa_family != AF_UNIX) {
        req->ip = r->connection->addr_text;
    }

#if (NGX_HTTP_SSL)
    req->tls = r->connection->ssl ? 1 : 0;
#endif

    ngx_http_set_ctx(r, req, ngx_http_helpdesk_module);

    if (ngx_http_helpdesk_req_check_host(r, req) != NGX_OK) {
        /* answered: the content handler returns req->rc */
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * nginx checks the host part of Host and keeps it, lower-cased, in
 * headers_in.server; it never looks at what follows the ':'.  We do:
 * "host:8443" is fine, "host:" is the empty port RFC 3986 allows, and
 * anything else ("host:@evil", "host:x", "host:99999") is refused, so no
 * link we build can carry it.
 */

static ngx_int_t
ngx_http_helpdesk_req_check_host(ngx_http_request_t *r,
    ngx_http_helpdesk_req_t *req)
{
    ngx_str_t  *value;

    req->host = r->headers_in.server;
    ngx_str_null(&req->port);

    if (r->headers_in.host == NULL) {
        return NGX_OK;
    }

    value = &r->headers_in.host->value;

    if (ngx_http_helpdesk_req_host_port(value->data, value->data + value->len,
                                        &req->port)
        == NGX_OK)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "helpdesk: client sent a Host with an invalid port");

    (void) ngx_http_discard_request_body(r);
    r->keepalive = 0;

    req->rc = ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid-host", "Bad Request",
                                        "the Host header's port is not a port",
                                        NULL);
    return NGX_DECLINED;
}


/*
 * The port part of a Host value, if any, into port: NGX_OK for none, ""
 * after a ':', or 1 to 65535 in at most five digits; NGX_DECLINED for
 * anything else, an unclosed or ill-followed IPv6 literal included.
 */

ngx_int_t
ngx_http_helpdesk_req_host_port(u_char *p, u_char *last, ngx_str_t *port)
{
    u_char      *colon;
    ngx_uint_t   n;

    ngx_str_null(port);

    if (p < last && *p == '[') {
        p = ngx_strlchr(p, last, ']');
        if (p == NULL) {
            return NGX_DECLINED;
        }

        colon = (p + 1 < last) ? p + 1 : NULL;

        if (colon && *colon != ':') {
            return NGX_DECLINED;
        }

    } else {
        colon = ngx_strlchr(p, last, ':');
    }

    if (colon == NULL) {
        return NGX_OK;
    }

    p = colon + 1;

    if (last - p > 5) {
        return NGX_DECLINED;
    }

    for (n = 0; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_DECLINED;
        }

        n = n * 10 + (*p - '0');
    }

    if (n > 65535 || (n == 0 && last - colon > 1)) {
        return NGX_DECLINED;
    }

    port->data = colon + 1;
    port->len = last - colon - 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_helpdesk_req_link(ngx_http_helpdesk_req_t *req, json_t *args,
    ngx_str_t *path, ngx_flag_t console)
{
    json_t                        *link;
    ngx_str_t                     *base;
    ngx_flag_t                     own;
    ngx_http_helpdesk_loc_conf_t  *hlcf = req->hlcf;

    base = &hlcf->base_domain;
    own = 1;

    /* the console on names of its own: <slug>.<console host>, no other */
    if (console && hlcf->console_host.len) {
        base = &hlcf->console_host;
        own = 0;
    }

    link = json_pack("{s:s, s:s#, s:s#, s:b}",
                     "scheme", hlcf->link_https ? "https" : "http",
                     "base", base->data ? (char *) base->data : "",
                     (int) base->len,
                     "path", (char *) path->data, (int) path->len,
                     "domains", (int) own);
    if (link == NULL) {
        return NGX_ERROR;
    }

    if (hlcf->link_port
        && json_object_set_new(link, "port",
                               json_integer((json_int_t) hlcf->link_port))
           != 0)
    {
        json_decref(link);
        return NGX_ERROR;
    }

    return json_object_set_new(args, "link", link) == 0 ? NGX_OK : NGX_ERROR;
}


/* bodies */

ngx_int_t
ngx_http_helpdesk_req_read_body(ngx_http_helpdesk_req_t *req, off_t limit,
    ngx_http_client_body_handler_pt post)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r = req->r;

    req->body_limit = limit;
    req->body_seen = 0;

    if (r->headers_in.content_length_n > limit) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "helpdesk: body of %O bytes over the limit of %O",
                      r->headers_in.content_length_n, limit);
        return ngx_http_helpdesk_req_too_large(req);
    }

    rc = ngx_http_read_client_request_body(r, post);

    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE && req->too_large) {
        /* found in what had already arrived with the headers */
        return ngx_http_helpdesk_req_too_large(req);
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_helpdesk_req_too_large(ngx_http_helpdesk_req_t *req)
{
    off_t                limit = req->body_limit;
    ngx_http_request_t  *r = req->r;
    u_char               detail[128];

    (void) ngx_http_discard_request_body(r);
    r->keepalive = 0;

    if (limit >= 1024 * 1024 && limit % (1024 * 1024) == 0) {
        ngx_snprintf(detail, sizeof(detail), "the body is larger than this "
                     "operation accepts (%O MB at most)%Z", limit >> 20);

    } else if (limit >= 1024) {
        ngx_snprintf(detail, sizeof(detail), "the body is larger than this "
                     "operation accepts (%O KB at most)%Z", limit >> 10);

    } else {
        ngx_snprintf(detail, sizeof(detail), "the body is larger than this "
                     "operation accepts (%O bytes at most)%Z", limit);
    }

    return ngx_helpdesk_http_problem(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "payload-too-large", "Payload Too Large",
                                     (char *) detail,
                                     json_pack("{s:I}", "limit",
                                               (json_int_t) limit));
}


void
ngx_http_helpdesk_req_resume(ngx_http_helpdesk_req_t *req, ngx_int_t rc)
{
    /*
     * The body reading holds the request now (NGX_DONE) or has answered
     * it: either way the hold of the step that started it is released.
     */
    ngx_http_helpdesk_req_finalize(req, rc);
}


ngx_int_t
ngx_http_helpdesk_req_body(ngx_http_helpdesk_req_t *req, ngx_str_t *out)
{
    u_char              *p;
    off_t                len;
    ssize_t              n;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r = req->r;

    ngx_str_set(out, "");

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > req->body_limit) {
        return NGX_DECLINED;
    }

    if (len == 0) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        out->data = cl->buf->pos;
        out->len = (size_t) len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    out->len = (size_t) len;

    /*
     * What did not fit client_body_buffer_size was written to the
     * temporary file a moment ago: reading it back comes from the page
     * cache, bounded by the operation's limit.
     */
    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            if (b->pos != b->last) {    /* the last, empty buffer: no memory */
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "helpdesk: request body file read %z of %O bytes",
                          n, b->file_last - b->file_pos);
            return NGX_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


/* completions */

void
ngx_http_helpdesk_req_finalize(ngx_http_helpdesk_req_t *req, ngx_int_t rc)
{
    ngx_flag_t           sync;
    ngx_connection_t    *c;
    ngx_http_request_t  *r = req->r;

    c = r->connection;
    sync = req->sync;

    /*
     * Answered before the body was read (a session or a CSRF token
     * refused first): the body is read and dropped, so that on a
     * keep-alive connection it is not taken for the next request.
     */
    if (rc != NGX_DONE && r == r->main && r->request_body == NULL
        && !r->discard_body
        && (r->headers_in.content_length_n > 0 || r->headers_in.chunked))
    {
        /* no "100 Continue" after an answer: the client need not send */
        r->expect_tested = 1;

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE && r->header_sent) {
        rc = NGX_ERROR;

    } else if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        rc = ngx_helpdesk_http_problem(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                 "internal-error", "Internal Server Error",
                 "the request failed; the error was logged", NULL);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "helpdesk: finalize %i%s", rc, sync ? "" : " (async)");

    if (!sync) {
        /* before: finalizing may free the request, and req with it */
        ngx_http_helpdesk_req_wake(req);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * Runs the request's posted requests soon, from the top of the event loop
 * (see the opening comment).  Call it before finalizing.
 */

void
ngx_http_helpdesk_req_wake(ngx_http_helpdesk_req_t *req)
{
    ngx_pool_cleanup_t  *cln;

    if (req->waking) {
        return;
    }

    if (!req->wake_cleanup) {
        cln = ngx_pool_cleanup_add(req->r->pool, 0);
        if (cln == NULL) {
            return;
        }

        cln->handler = ngx_http_helpdesk_req_unwake;
        cln->data = req;
        req->wake_cleanup = 1;
    }

    if (ngx_http_helpdesk_req_wakes.next == NULL) {
        ngx_queue_init(&ngx_http_helpdesk_req_wakes);
    }

    ngx_queue_insert_tail(&ngx_http_helpdesk_req_wakes, &req->wake);
    req->waking = 1;

    if (!ngx_http_helpdesk_req_wake_ev.posted) {
        ngx_http_helpdesk_req_wake_ev.handler =
                                         ngx_http_helpdesk_req_wake_handler;
        ngx_http_helpdesk_req_wake_ev.log = ngx_cycle->log;
        ngx_post_event(&ngx_http_helpdesk_req_wake_ev, &ngx_posted_events);
    }
}


static void
ngx_http_helpdesk_req_unwake(void *data)
{
    ngx_http_helpdesk_req_t  *req = data;

    if (req->waking) {
        ngx_queue_remove(&req->wake);
        req->waking = 0;
    }
}


static void
ngx_http_helpdesk_req_wake_handler(ngx_event_t *ev)
{
    ngx_queue_t              *q;
    ngx_connection_t         *c;
    ngx_http_helpdesk_req_t  *req;

    while (!ngx_queue_empty(&ngx_http_helpdesk_req_wakes)) {
        q = ngx_queue_head(&ngx_http_helpdesk_req_wakes);
        req = ngx_queue_data(q, ngx_http_helpdesk_req_t, wake);

        ngx_queue_remove(q);
        req->waking = 0;

        /* may free the request: nothing of req is used after it */
        c = req->r->connection;
        ngx_http_run_posted_requests(c);
    }
}


void
ngx_http_helpdesk_req_block(ngx_http_helpdesk_req_t *req)
{
    req->r->main->blocked++;
    req->blocked = 1;
}


ngx_int_t
ngx_http_helpdesk_req_unblock(ngx_http_helpdesk_req_t *req)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r = req->r;

    c = r->connection;

    r->main->blocked--;
    req->blocked = 0;

    if (!c->error) {
        return NGX_OK;
    }

    /* nginx ended the request while the task ran: finish that now */

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "helpdesk: request ended while its task ran");

    ngx_http_helpdesk_req_wake(req);
    ngx_http_finalize_request(r, NGX_ERROR);

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_helpdesk_req_retry_after(ngx_http_request_t *r, ngx_uint_t seconds)
{
    ngx_str_t  v;

    v.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    v.len = ngx_sprintf(v.data, "%ui", seconds ? seconds : 1) - v.data;

    return ngx_helpdesk_http_header_out(r, "Retry-After", &v);
}


ngx_int_t
ngx_http_helpdesk_req_unavailable(ngx_http_request_t *r,
    const char *dependency, ngx_uint_t seconds)
{
    u_char  detail[128];

    if (ngx_http_helpdesk_req_retry_after(r, seconds) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_snprintf(detail, sizeof(detail) - 1,
                 "%s is unavailable; retry in %ui s%Z", dependency,
                 seconds ? seconds : 1);

    return ngx_helpdesk_http_problem(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "dependency-unavailable",
                                     "Service Unavailable", (char *) detail,
                                     json_pack("{s:s}", "dependency",
                                               dependency));
}


ngx_flag_t
ngx_http_helpdesk_req_json_type(ngx_http_request_t *r, ngx_flag_t plus)
{
    u_char     *p, *last;
    ngx_str_t  *type;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    type = &r->headers_in.content_type->value;
    p = type->data;
    last = ngx_strlchr(p, p + type->len, ';');

    if (last == NULL) {
        last = p + type->len;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    if (last - p == 16
        && ngx_strncasecmp(p, (u_char *) "application/json", 16) == 0)
    {
        return 1;
    }

    return plus && last - p > 17
           && ngx_strncasecmp(last - 5, (u_char *) "+json", 5) == 0;
}


/*
 * A refusal's record.  The request's own statement, if it ran, rolled back
 * with its refusal; this is a second, small one that outlives the request
 * (a pool of its own, no owner) and that nobody waits for.  So that a
 * flood of refusals cannot become a flood of statements, at most
 * NGX_HTTP_HELPDESK_REFUSALS_INFLIGHT run at once per worker; those met
 * meanwhile are counted and added to the next one sent.  The database
 * keeps one row per tenant, minute, address and key prefix, counting the
 * rest (sql/tickets/refusals.sql).
 */

void
ngx_http_helpdesk_req_refused(ngx_http_request_t *r, ngx_uint_t status,
    const char *reason)
{
    u_char                         *p;
    ngx_str_t                       v;
    ngx_pool_t                     *pool;
    ngx_http_helpdesk_req_t        *req;
    ngx_helpdesk_pg_query_t        *q;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    req = ngx_http_get_module_ctx(r->main, ngx_http_helpdesk_module);

    if (req == NULL || req->surface == NULL || req->refused) {
        return;
    }

    req->refused = 1;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);
    if (!hmcf->pg.set) {
        return;
    }

    if (ngx_http_helpdesk_req_refusals >= NGX_HTTP_HELPDESK_REFUSALS_INFLIGHT)
    {
        /*
         * counted here only: the next row sent may be another tenant's,
         * which must not carry this one's refusals
         */
        ngx_http_helpdesk_req_refusals_skipped++;
        return;
    }

    if (ngx_http_helpdesk_req_refusals_skipped) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "helpdesk: %ui refusals not recorded while %ui were "
                      "being written", ngx_http_helpdesk_req_refusals_skipped,
                      (ngx_uint_t) NGX_HTTP_HELPDESK_REFUSALS_INFLIGHT);
        ngx_http_helpdesk_req_refusals_skipped = 0;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    q = ngx_pcalloc(pool, sizeof(ngx_helpdesk_pg_query_t));
    p = ngx_pnalloc(pool, 2 + 2 * NGX_HELPDESK_SHA256_LEN + 2 * NGX_INT_T_LEN);
    if (q == NULL || p == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    q->sql = ngx_http_helpdesk_req_refusal_sql;
    q->handler = ngx_http_helpdesk_req_refusal_done;
    q->data = pool;
    q->log = ngx_cycle->log;

    v.data = (u_char *) req->surface;
    v.len = ngx_strlen(req->surface);
    (void) ngx_helpdesk_pg_param(q, pool, &v);
    (void) ngx_helpdesk_pg_param(q, pool, req->host.len ? &req->host : NULL);
    (void) ngx_helpdesk_pg_param(q, pool, req->hlcf->base_domain.len
                                          ? &req->hlcf->base_domain : NULL);

    if (req->key_hash) {
        v.data = p;
        p = ngx_cpymem(p, "\\x", 2);
        p = ngx_hex_dump(p, req->key_hash, NGX_HELPDESK_SHA256_LEN);
        v.len = p - v.data;
        (void) ngx_helpdesk_pg_param(q, pool, &v);

    } else {
        (void) ngx_helpdesk_pg_param(q, pool, NULL);
    }

    (void) ngx_helpdesk_pg_param(q, pool, &req->key_prefix);
    (void) ngx_helpdesk_pg_param(q, pool, req->ip.len ? &req->ip : NULL);
    (void) ngx_helpdesk_pg_param(q, pool, &r->method_name);

    /* the path as the access log shows it: tokens in it are redacted */
    if (ngx_http_helpdesk_log_redact(r, 0, &v) != NGX_OK) {
        v = r->uri;
        v.len = ngx_min(v.len, 1);
    }

    (void) ngx_helpdesk_pg_param(q, pool, &v);

    v.data = p;
    v.len = ngx_sprintf(p, "%ui", status) - p;
    p += v.len;
    (void) ngx_helpdesk_pg_param(q, pool, &v);

    v.data = (u_char *) reason;
    v.len = ngx_strlen(reason);
    (void) ngx_helpdesk_pg_param(q, pool, &v);

    ngx_str_set(&v, "1");
    (void) ngx_helpdesk_pg_param(q, pool, &v);

    ngx_http_helpdesk_req_refusals++;

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_req_refusal_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_http_helpdesk_req_refusals--;

    if (q->status != NGX_HELPDESK_PG_OK
        || PQresultStatus(res) != PGRES_TUPLES_OK)
    {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "helpdesk: a refusal was not recorded: %s",
                      res ? PQresultErrorMessage(res) : "no connection");
    }

    ngx_destroy_pool(q->data);
}
