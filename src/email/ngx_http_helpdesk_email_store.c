/*
 * Mail pushed in, its second half: the parsed message on its way to
 * PostgreSQL (the request and the parse: ngx_http_helpdesk_email_inbound.c).
 *
 * The "blob" (the raw message, then the attachments) goes in pieces of
 * NGX_HELPDESK_MIME_CHUNK bytes, each read in the thread pool, staged by
 * api.email_inbound_chunk(), the last one with api.email_inbound() (one
 * transaction: the token routes it to its mailbox, whose tenant the rest
 * runs as) -> 201 for a new ticket, 200 for a reply, a duplicate or a
 * mail dropped as noise, with what became of it; the database down, 503
 * with Retry-After (the MTA retries).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "http/ngx_http_helpdesk_request.h"
#include "lib/ngx_helpdesk_crypto.h"
#include "ngx_helpdesk_mime.h"
#include "ngx_http_helpdesk_email_inbound_int.h"


static void ngx_http_helpdesk_email_next(ngx_http_helpdesk_email_ctx_t *ctx);
static void ngx_http_helpdesk_email_read(void *data, ngx_log_t *log);
static void ngx_http_helpdesk_email_chunk(ngx_event_t *ev);
static void ngx_http_helpdesk_email_staged(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_email_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


void
ngx_http_helpdesk_email_store(ngx_http_helpdesk_email_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->req.r;
    u_char               id[16];

    ctx->total = ctx->mime.raw_len + ctx->mime.files_len;
    ctx->chunk = ngx_alloc(ngx_min(ctx->total, NGX_HELPDESK_MIME_CHUNK),
                           r->connection->log);

    /* the pieces staged before the last one are this upload's */
    ctx->upload.data = ngx_pnalloc(r->pool, 36);

    if (ctx->chunk == NULL || ctx->upload.data == NULL
        || ngx_helpdesk_random(id, sizeof(id)) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    ctx->upload.len = ngx_sprintf(ctx->upload.data,
                          "%*xs-%*xs-%*xs-%*xs-%*xs", 4, id, 2, id + 4,
                          2, id + 6, 2, id + 8, 6, id + 10)
                      - ctx->upload.data;

    ngx_http_helpdesk_email_next(ctx);
}


/* the blob's next piece, read in the thread pool */
static void
ngx_http_helpdesk_email_next(ngx_http_helpdesk_email_ctx_t *ctx)
{
    ctx->chunk_len = ngx_min(ctx->total - ctx->sent,
                             NGX_HELPDESK_MIME_CHUNK);

    if (ngx_http_helpdesk_email_post(ctx, ngx_http_helpdesk_email_read,
                                     ngx_http_helpdesk_email_chunk)
        != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/* In the thread pool: bytes [sent, sent + chunk_len) of the blob. */
static void
ngx_http_helpdesk_email_read(void *data, ngx_log_t *log)
{
    ngx_http_helpdesk_email_ctx_t  *ctx = data;

    ctx->rc = ngx_helpdesk_mime_read(&ctx->mime, (off_t) ctx->sent,
                                     ctx->chunk, ctx->chunk_len, log);
}


static void
ngx_http_helpdesk_email_chunk(ngx_event_t *ev)
{
    ngx_str_t                       ip;
    ngx_http_request_t             *r;
    ngx_helpdesk_pg_query_t        *q;
    ngx_http_helpdesk_email_ctx_t  *ctx = ev->data;

    r = ctx->req.r;

    if (ngx_http_helpdesk_req_unblock(&ctx->req) != NGX_OK) {
        return;
    }

    if (ctx->rc != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    q = &ctx->query;
    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->data = ctx;
    q->log = r->connection->log;
    q->owner = r->pool;

    if (ctx->sent + ctx->chunk_len < ctx->total) {
        /* a piece staged, in its own statement */
        ctx->seq_text.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (ctx->seq_text.data == NULL) {
            ngx_http_helpdesk_req_finalize(&ctx->req,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ctx->seq_text.len = ngx_sprintf(ctx->seq_text.data, "%ui", ctx->seq)
                            - ctx->seq_text.data;

        q->sql = "SELECT api.email_inbound_chunk($1, $2::uuid, $3::int, "
                 "$4::bytea)";
        q->handler = ngx_http_helpdesk_email_staged;

        if (ngx_helpdesk_pg_param(q, r->pool, &ctx->token_hash) != NGX_OK
            || ngx_helpdesk_pg_param(q, r->pool, &ctx->upload) != NGX_OK
            || ngx_helpdesk_pg_param(q, r->pool, &ctx->seq_text) != NGX_OK
            || ngx_helpdesk_pg_param_binary(q, ctx->chunk, ctx->chunk_len)
               != NGX_OK)
        {
            ngx_http_helpdesk_req_finalize(&ctx->req,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_helpdesk_pg_run(q);
        return;
    }

    /* the last piece, with the message: one transaction */
    q->sql = "SELECT api.email_inbound($1, $2, $3::jsonb, $4::bytea, "
             "$5::uuid)::text";
    q->handler = ngx_http_helpdesk_email_stored;

    ngx_str_null(&ip);
    if (r->connection->sockaddr->sa_family != AF_UNIX) {
        ip = r->connection->addr_text;
    }

    if (ngx_helpdesk_pg_param(q, r->pool, &ctx->token_hash) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &ip) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &ctx->meta) != NGX_OK
        || ngx_helpdesk_pg_param_binary(q, ctx->chunk, ctx->chunk_len)
           != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &ctx->upload) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_email_staged(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
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

    ctx->sent += ctx->chunk_len;
    ctx->seq++;

    ngx_http_helpdesk_email_next(ctx);
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

    /* stored: the files and the buffer are not needed for the answer */
    ngx_http_helpdesk_email_cleanup(ctx);

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
