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
 * the body where nginx left it, its temporary file, and decodes the
 * attachments into a temporary file of its own), here -> store: the "blob"
 * (the raw message, then the attachments) goes to PostgreSQL in pieces of
 * NGX_HELPDESK_MIME_CHUNK bytes, each read in the thread pool,
 * staged by api.email_inbound_chunk(), the last one with
 * api.email_inbound() (one transaction: the token routes it to its
 * mailbox, whose tenant the rest runs as; ngx_http_helpdesk_email_store.c)
 * -> 201 for a new ticket, 200 for a reply, a duplicate or a mail dropped
 * as noise, with what became of it.  A token that routes nowhere is 404; a
 * body that is no mail message 422; too much mail being parsed, or the
 * database down, 503 with Retry-After (the MTA retries).
 *
 * So the worker's memory for a message does not grow with its size: one
 * piece at a time, in our buffer and then in libpq's (which never gives
 * back what it once grew to: pieces keep it small), and what GMime keeps
 * of the message's structure.  What a parse may still cost (headers are
 * held in memory, up to NGX_HELPDESK_MIME_HEADER_MAX each block) is
 * bounded per worker by the bytes being parsed at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "http/ngx_http_helpdesk_request.h"
#include "http/ngx_http_helpdesk_log.h"
#include "event/ngx_helpdesk_password.h"
#include "lib/ngx_helpdesk_json.h"
#include "lib/ngx_helpdesk_crypto.h"
#include "ngx_helpdesk_mime.h"
#include "ngx_http_helpdesk_email_inbound_int.h"


#define NGX_HTTP_HELPDESK_EMAIL_TOKEN_MIN  16
#define NGX_HTTP_HELPDESK_EMAIL_TOKEN_MAX  64

/*
 * How long a worker that is told to stop (a reload) waits for a mail it is
 * parsing or storing: see ngx_http_helpdesk_email_guard()
 */
#define NGX_HTTP_HELPDESK_EMAIL_GUARD      60000


static ngx_int_t ngx_http_helpdesk_email_start(
    ngx_http_helpdesk_email_ctx_t *ctx);
static void ngx_http_helpdesk_email_body(ngx_http_request_t *r);
static void ngx_http_helpdesk_email_thread(void *data, ngx_log_t *log);
static void ngx_http_helpdesk_email_parsed(ngx_event_t *ev);
static void ngx_http_helpdesk_email_guard(ngx_event_t *ev);


/*
 * At the post-read phase, before nginx picks the location: a request to
 * the (first) inbound location's prefix has its request line redacted.
 */
static ngx_int_t
ngx_http_helpdesk_email_redact(ngx_http_request_t *r)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);

    return ngx_http_helpdesk_log_redact_prefix(r, &hmcf->email_prefix);
}


ngx_int_t
ngx_http_helpdesk_email_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_helpdesk_module);

    if (!hmcf->email_used || hmcf->email_prefix.len == 0) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_helpdesk_email_redact;

    return NGX_OK;
}


void
ngx_http_helpdesk_email_init_process(ngx_cycle_t *cycle)
{
    ngx_helpdesk_mime_init_process();
}

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
    ngx_int_t                  rc;
    ngx_str_t                  allow;
    ngx_table_elt_t           *h;
    ngx_http_request_t        *r = ctx->req.r;
    ngx_pool_cleanup_t        *cln;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    rc = ngx_http_helpdesk_log_path_token(r, NGX_HTTP_HELPDESK_EMAIL_TOKEN_MIN,
                                          NGX_HTTP_HELPDESK_EMAIL_TOKEN_MAX,
                                          &ctx->token);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
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

    ngx_helpdesk_mime_init(&ctx->mime);

    /* in memory, one buffer; past client_body_buffer_size, one file */
    r->request_body_in_single_buf = 1;

    return ngx_http_helpdesk_req_read_body(&ctx->req,
               clcf->client_max_body_size ? clcf->client_max_body_size
                                          : (off_t) 26 * 1024 * 1024,
               ngx_http_helpdesk_email_body);
}


/*
 * From the body's end to the answer, a request has no timer of its own
 * while its tasks run: a worker told to stop (a reload, a graceful
 * shutdown) would exit under it, the mail lost and its socket left open.
 * This timer, not cancelable, keeps the worker until the mail is stored
 * (its cleanup deletes it), or for NGX_HTTP_HELPDESK_EMAIL_GUARD at most.
 */
static void
ngx_http_helpdesk_email_guard(ngx_event_t *ev)
{
    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "helpdesk email: the mail is still being parsed or stored");
}


void
ngx_http_helpdesk_email_cleanup(void *data)
{
    ngx_http_helpdesk_email_ctx_t  *ctx = data;

    if (ctx->guard.timer_set) {
        ngx_del_timer(&ctx->guard);
    }

    /* never while a task runs: the request is blocked until it is done */

    if (ctx->parsing) {
        ngx_helpdesk_mime_budget_give(ctx->mime.raw_len);
        ctx->parsing = 0;
    }

    ngx_helpdesk_mime_free(&ctx->mime);

    if (ctx->chunk) {
        ngx_free(ctx->chunk);
        ctx->chunk = NULL;
    }
}


static void
ngx_http_helpdesk_email_body(ngx_http_request_t *r)
{
    u_char                         *p, *dir;
    off_t                           size;
    ngx_chain_t                    *cl;
    ngx_http_core_loc_conf_t       *clcf;
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

    /* the worker's budget of messages being parsed (taken last, below) */
    if (ngx_helpdesk_thread_pool() == NULL
        || ngx_helpdesk_mime_budget_take((size_t) size, r->connection->log)
           != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_req_unavailable(r, "parser", 5));
        return;
    }

    /* the attachments' file goes where nginx keeps the bodies' */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    dir = ngx_pnalloc(r->pool, clcf->client_body_temp_path->name.len + 1);
    if (dir == NULL) {
        ngx_helpdesk_mime_budget_give((size_t) size);
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    (void) ngx_cpystrn(dir, clcf->client_body_temp_path->name.data,
                       clcf->client_body_temp_path->name.len + 1);

    ctx->mime.body = r->request_body->bufs;
    ctx->mime.raw_len = (size_t) size;
    ctx->mime.temp_dir = (const char *) dir;

    if (ngx_http_helpdesk_email_post(ctx, ngx_http_helpdesk_email_thread,
                                     ngx_http_helpdesk_email_parsed)
        != NGX_OK)
    {
        ngx_helpdesk_mime_budget_give((size_t) size);
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->guard.handler = ngx_http_helpdesk_email_guard;
    ctx->guard.data = ctx;
    ctx->guard.log = r->connection->log;
    ngx_add_timer(&ctx->guard, NGX_HTTP_HELPDESK_EMAIL_GUARD);

    ctx->parsing = 1;
}


/*
 * A task in the thread pool.  The request is blocked until its handler
 * has run on the event loop: nginx neither frees it nor the body the task
 * reads, whatever the client does meanwhile.
 */
ngx_int_t
ngx_http_helpdesk_email_post(ngx_http_helpdesk_email_ctx_t *ctx,
    ngx_http_helpdesk_email_task_pt handler, ngx_event_handler_pt done)
{
    ngx_http_request_t  *r = ctx->req.r;

    if (ctx->task == NULL) {
        ctx->task = ngx_thread_task_alloc(r->pool, 0);
        if (ctx->task == NULL) {
            return NGX_ERROR;
        }
    }

    ctx->task->ctx = ctx;
    ctx->task->handler = handler;
    ctx->task->event.handler = done;
    ctx->task->event.data = ctx;
    ctx->task->event.log = r->connection->log;

    if (ngx_thread_task_post(ngx_helpdesk_thread_pool(), ctx->task) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_helpdesk_req_block(&ctx->req);

    return NGX_OK;
}


/* In the thread pool: the message parsed. */
static void
ngx_http_helpdesk_email_thread(void *data, ngx_log_t *log)
{
    ngx_http_helpdesk_email_ctx_t  *ctx = data;

    ctx->rc = ngx_helpdesk_mime_parse(&ctx->mime);

    if (ctx->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "helpdesk email: the message's files failed");
    }
}


static void
ngx_http_helpdesk_email_parsed(ngx_event_t *ev)
{
    ngx_http_request_t             *r;
    ngx_http_helpdesk_email_ctx_t  *ctx = ev->data;

    ngx_helpdesk_mime_budget_give(ctx->mime.raw_len);
    ctx->parsing = 0;

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
        || ngx_helpdesk_json_dump(r->pool, ctx->mime.meta, &ctx->meta)
           != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    json_decref(ctx->mime.meta);
    ctx->mime.meta = NULL;

    ngx_http_helpdesk_email_store(ctx);
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
