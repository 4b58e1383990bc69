/*
 * Mail pushed in: "helpdesk_email_inbound" serves <location>/<token>, one
 * token per mailbox, for an MTA's pipe transport or a provider's
 * inbound-parse service (docs/operations.md).
 *
 *   POST <location>/<token>, Content-Type: message/rfc822, the raw RFC 5322
 *   message as the body (with a length or chunked), up to the location's
 *   client_max_body_size; past client_body_buffer_size nginx keeps it in a
 *   temporary file.
 *
 * Steps: token -> body -> parse (GMime, in the thread pool: the task reads
 * the body from memory or its file into a buffer of its own) -> store
 * (api.email_inbound(), one transaction: the token routes it to its
 * mailbox, whose tenant the rest runs as) -> 201 for a new ticket, 200 for
 * a reply, a duplicate or a mail dropped as noise, with what became of it.
 * A token that routes nowhere is 404; a body that is no mail message 422;
 * the database down 503 (the MTA retries).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "http/ngx_http_helpdesk_request.h"
#include "event/ngx_helpdesk_password.h"
#include "lib/ngx_helpdesk_json.h"
#include "ngx_helpdesk_mime.h"


#define NGX_HTTP_HELPDESK_EMAIL_TOKEN_MIN  16
#define NGX_HTTP_HELPDESK_EMAIL_TOKEN_MAX  64

/* messages a worker parses at once; past it: 503, the MTA retries */
#define NGX_HTTP_HELPDESK_EMAIL_TASKS      4


typedef struct {
    ngx_http_helpdesk_req_t         req;        /* first: the core's */
    ngx_str_t                       token;
    ngx_str_t                       token_hash;
    ngx_chain_t                    *body;
    ngx_helpdesk_mime_t             mime;
    ngx_int_t                       rc;         /* of the task */
    ngx_thread_task_t              *task;
    ngx_helpdesk_pg_query_t         query;
} ngx_http_helpdesk_email_ctx_t;


static ngx_int_t ngx_http_helpdesk_email_start(
    ngx_http_helpdesk_email_ctx_t *ctx);
static void ngx_http_helpdesk_email_body(ngx_http_request_t *r);
static void ngx_http_helpdesk_email_thread(void *data, ngx_log_t *log);
static void ngx_http_helpdesk_email_parsed(ngx_event_t *ev);
static void ngx_http_helpdesk_email_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_email_cleanup(void *data);


static ngx_uint_t  ngx_http_helpdesk_email_tasks;

/* the portal, at the root of the tenant's name */
static ngx_str_t  ngx_http_helpdesk_email_portal = ngx_string("");


ngx_int_t
ngx_http_helpdesk_email_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_helpdesk_email_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_email_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_helpdesk_req_init(r, &ctx->req) != NGX_OK) {
        return ctx->req.rc;
    }

    rc = ngx_http_helpdesk_email_start(ctx);
    ctx->req.sync = 0;

    return rc;
}


static ngx_int_t
ngx_http_helpdesk_email_start(ngx_http_helpdesk_email_ctx_t *ctx)
{
    u_char                    *p, *last;
    ngx_str_t                  allow;
    ngx_table_elt_t           *h;
    ngx_http_request_t        *r = ctx->req.r;
    ngx_pool_cleanup_t        *cln;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* the token: one path segment after the location's prefix */
    p = r->uri.data + clcf->name.len;
    last = r->uri.data + r->uri.len;

    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] != '/'
        && p < last && *p == '/')
    {
        p++;
    }

    ctx->token.data = p;

    while (p < last && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                        || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
    {
        p++;
    }

    ctx->token.len = p - ctx->token.data;

    if (p != last || ctx->token.len < NGX_HTTP_HELPDESK_EMAIL_TOKEN_MIN
        || ctx->token.len > NGX_HTTP_HELPDESK_EMAIL_TOKEN_MAX)
    {
        (void) ngx_http_discard_request_body(r);
        return ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_FOUND, "not-found",
                                         "Not Found", "unknown mailbox", NULL);
    }

    if (r->method != NGX_HTTP_POST) {
        ngx_str_set(&allow, "POST");
        (void) ngx_helpdesk_http_header_out(r, "Allow", &allow);
        (void) ngx_http_discard_request_body(r);
        return ngx_helpdesk_http_problem(r, NGX_HTTP_NOT_ALLOWED,
                                         "method-not-allowed",
                                         "Method Not Allowed",
                                         "a mailbox takes POST", NULL);
    }

    h = r->headers_in.content_type;

    if (h == NULL || h->value.len < sizeof("message/rfc822") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "message/rfc822",
                           sizeof("message/rfc822") - 1) != 0
        || (h->value.len > sizeof("message/rfc822") - 1
            && h->value.data[sizeof("message/rfc822") - 1] != ';'
            && h->value.data[sizeof("message/rfc822") - 1] != ' '))
    {
        (void) ngx_http_discard_request_body(r);
        return ngx_helpdesk_http_problem(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                   "unsupported-media-type", "Unsupported Media Type",
                   "send the raw message as Content-Type: message/rfc822",
                   NULL);
    }

    /* whatever the task left is freed with the request */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_helpdesk_email_cleanup;
    cln->data = ctx;

    return ngx_http_helpdesk_req_read_body(&ctx->req,
               clcf->client_max_body_size ? clcf->client_max_body_size
                                          : (off_t) 26 * 1024 * 1024,
               ngx_http_helpdesk_email_body);
}


static void
ngx_http_helpdesk_email_cleanup(void *data)
{
    ngx_http_helpdesk_email_ctx_t  *ctx = data;

    ngx_helpdesk_mime_free(&ctx->mime);
}


static void
ngx_http_helpdesk_email_body(ngx_http_request_t *r)
{
    u_char                         *p;
    off_t                           size;
    ngx_chain_t                    *cl;
    ngx_thread_pool_t              *tp;
    ngx_thread_task_t              *task;
    ngx_http_helpdesk_email_ctx_t  *ctx;
    u_char                          digest[NGX_HELPDESK_SHA256_LEN];

    ctx = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    if (r->request_body == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                "not-a-message", "Unprocessable Content",
                "the body is empty: send the raw message", NULL));
        return;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size == 0) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                "not-a-message", "Unprocessable Content",
                "the body is empty: send the raw message", NULL));
        return;
    }

    /* the database keeps the token's SHA-256 only */
    ctx->token_hash.len = 7 + 2 * NGX_HELPDESK_SHA256_LEN;
    ctx->token_hash.data = ngx_pnalloc(r->pool, ctx->token_hash.len);
    if (ctx->token_hash.data == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_sha256(ctx->token.data, ctx->token.len, digest);
    p = ngx_cpymem(ctx->token_hash.data, "sha256:", 7);
    ngx_hex_dump(p, digest, sizeof(digest));

    tp = ngx_helpdesk_thread_pool();

    if (tp == NULL
        || ngx_http_helpdesk_email_tasks >= NGX_HTTP_HELPDESK_EMAIL_TASKS)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "helpdesk email: %ui messages being parsed, "
                      "this one refused for now", ngx_http_helpdesk_email_tasks);
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_req_unavailable(r, "parser", 5));
        return;
    }

    /* room for the raw message and, after it, its decoded attachments */
    ctx->mime.blob_size = ngx_helpdesk_mime_blob(size);
    ctx->mime.raw_len = (size_t) size;
    ctx->mime.blob = ngx_alloc(ctx->mime.blob_size, r->connection->log);
    if (ctx->mime.blob == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    task = ngx_thread_task_alloc(r->pool, 0);
    if (task == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->task = task;
    ctx->body = r->request_body->bufs;
    task->ctx = ctx;
    task->handler = ngx_http_helpdesk_email_thread;
    task->event.handler = ngx_http_helpdesk_email_parsed;
    task->event.data = ctx;
    task->event.log = r->connection->log;

    if (ngx_thread_task_post(tp, task) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_email_tasks++;

    /* the task reads the request's body: nginx must not free it meanwhile */
    ngx_http_helpdesk_req_block(&ctx->req);
}


/* In the thread pool: the body into the blob, then parsed. */
static void
ngx_http_helpdesk_email_thread(void *data, ngx_log_t *log)
{
    off_t                           off;
    ssize_t                         n;
    size_t                          at, want;
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_http_helpdesk_email_ctx_t  *ctx = data;

    at = 0;

    for (cl = ctx->body; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            want = b->last - b->pos;
            if (at + want > ctx->mime.raw_len) {
                goto failed;
            }
            ngx_memcpy(ctx->mime.blob + at, b->pos, want);
            at += want;
            continue;
        }

        want = (size_t) (b->file_last - b->file_pos);
        if (at + want > ctx->mime.raw_len) {
            goto failed;
        }

        off = b->file_pos;

        while (want) {
            n = pread(b->file->fd, ctx->mime.blob + at, want, off);
            if (n <= 0) {
                ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                              "helpdesk email: reading the body's file failed");
                goto failed;
            }
            at += n;
            off += n;
            want -= n;
        }
    }

    if (at != ctx->mime.raw_len) {
        goto failed;
    }

    ctx->rc = ngx_helpdesk_mime_parse(&ctx->mime);
    return;

failed:

    ctx->rc = NGX_ERROR;
}


static void
ngx_http_helpdesk_email_parsed(ngx_event_t *ev)
{
    ngx_str_t                       meta, ip;
    ngx_http_request_t             *r;
    ngx_helpdesk_pg_query_t        *q;
    ngx_http_helpdesk_email_ctx_t  *ctx = ev->data;

    ngx_http_helpdesk_email_tasks--;
    r = ctx->req.r;

    if (ngx_http_helpdesk_req_unblock(&ctx->req) != NGX_OK) {
        return;     /* the client left; the pool's cleanup frees the rest */
    }

    if (ctx->rc == NGX_DECLINED) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_UNPROCESSABLE_ENTITY,
                "not-a-message", "Unprocessable Content", ctx->mime.error,
                NULL));
        return;
    }

    /* where the tenant's portal is, for the links of the mails sent back */
    if (ctx->rc != NGX_OK
        || ngx_http_helpdesk_req_link(&ctx->req, ctx->mime.meta,
                                      &ngx_http_helpdesk_email_portal, 0)
           != NGX_OK
        || ngx_helpdesk_json_dump(r->pool, ctx->mime.meta, &meta) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    q = &ctx->query;
    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->sql = "SELECT api.email_inbound($1, $2, $3::jsonb, $4::bytea)::text";
    q->handler = ngx_http_helpdesk_email_stored;
    q->data = ctx;
    q->log = r->connection->log;
    q->owner = r->pool;

    ngx_str_null(&ip);
    if (r->connection->sockaddr->sa_family != AF_UNIX) {
        ip = r->connection->addr_text;
    }

    if (ngx_helpdesk_pg_param(q, r->pool, &ctx->token_hash) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &ip) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &meta) != NGX_OK
        || ngx_helpdesk_pg_param_binary(q, ctx->mime.blob, ctx->mime.blob_len)
           != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_email_stored(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    u_char                         *p;
    size_t                          len;
    ngx_uint_t                      status;
    ngx_http_request_t             *r;
    ngx_http_helpdesk_email_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (res == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_req_unavailable(r, "postgresql",
                                              ngx_helpdesk_pg_retry_after()));
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                 ngx_helpdesk_http_sql_problem(r, res, NULL));
        return;
    }

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* stored: the blob is no longer needed while the answer goes out */
    ngx_helpdesk_mime_free(&ctx->mime);

    len = PQgetlength(res, 0, 0);
    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(p, PQgetvalue(res, 0, 0), len);
    p[len] = '\n';

    status = (ngx_strlcasestrn(p, p + len, (u_char *) "\"outcome\": \"created\"",
                               sizeof("\"outcome\": \"created\"") - 2)
              || ngx_strlcasestrn(p, p + len,
                                  (u_char *) "\"outcome\": \"follow_up\"",
                                  sizeof("\"outcome\": \"follow_up\"") - 2))
             ? NGX_HTTP_CREATED : NGX_HTTP_OK;

    ngx_http_helpdesk_req_finalize(&ctx->req,
        ngx_helpdesk_http_send(r, status, "application/json", p, len + 1));
}


/* helpdesk_email_inbound;  in a prefix location such as /api/v1/email/inbound/ */
char *
ngx_http_helpdesk_email_inbound(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf = conf;

    u_char                         *p;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    if (hlcf->email != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named || clcf->regex || clcf->exact_match) {
        return "must be in a prefix location such as "
               "\"location /api/v1/email/inbound/\"";
    }

    hlcf->email = 1;
    clcf->handler = ngx_http_helpdesk_email_handler;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_helpdesk_module);
    hmcf->email_used = 1;

    /* the inbound URLs the API hands out are built on the first one */
    if (hmcf->email_prefix.len == 0) {
        p = ngx_pnalloc(cf->pool, clcf->name.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        hmcf->email_prefix.data = p;
        p = ngx_cpymem(p, clcf->name.data, clcf->name.len);

        if (clcf->name.len == 0 || clcf->name.data[clcf->name.len - 1] != '/') {
            *p++ = '/';
        }

        hmcf->email_prefix.len = p - hmcf->email_prefix.data;
    }

    return NGX_CONF_OK;
}
