/*
 * Plain HTTP (port 80) of a node serving customers' domains
 * (helpdesk_acme_challenge):
 *
 *  - /.well-known/acme-challenge/<token>, the token 16-128 characters of
 *    [A-Za-z0-9_-]: "200 text/plain <token>.<account thumbprint>" when an
 *    order waits on that token (api.acme_http01), whatever the Host, never
 *    redirected; 404 otherwise.  The answer needs no state of this node:
 *    any node computes it from the database, so the CA may reach any one.
 *  - anything else on a name that serves (a custom domain active or
 *    dns_broken, or "<slug>.<base domain>" of an active tenant):
 *    301 to the same path over https; on any other name 404, so that a
 *    name is never redirected before its certificate exists.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_http_helpdesk_request.h"
#include "tls/ngx_helpdesk_acme.h"


#define NGX_HTTP_HELPDESK_ACME_PREFIX  "/.well-known/acme-challenge/"


typedef struct {
    ngx_http_helpdesk_req_t     req;
    ngx_helpdesk_pg_query_t     query;
    ngx_str_t                   token;
    unsigned                    challenge:1;
} ngx_http_helpdesk_acme_http_ctx_t;


static void ngx_http_helpdesk_acme_http_answered(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_http_helpdesk_acme_http_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body, ngx_str_t *location);


ngx_flag_t
ngx_helpdesk_acme_token_valid(u_char *p, size_t len)
{
    size_t  i;

    if (len < 16 || len > 128) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z')
              || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_http_helpdesk_acme_challenge_handler(ngx_http_request_t *r)
{
    ngx_str_t                           v;
    ngx_http_helpdesk_loc_conf_t       *hlcf;
    ngx_http_helpdesk_main_conf_t      *hmcf;
    ngx_http_helpdesk_acme_http_ctx_t  *ctx;

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_acme_http_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_helpdesk_req_init(r, &ctx->req) != NGX_OK) {
        return ctx->req.rc;
    }

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);
    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);

    if (hmcf->provider_proof.len == 0 || !hmcf->pg.set) {
        return NGX_HTTP_NOT_FOUND;
    }

    ctx->query.handler = ngx_http_helpdesk_acme_http_answered;
    ctx->query.data = ctx;
    ctx->query.log = r->connection->log;
    ctx->query.owner = r->pool;

    (void) ngx_helpdesk_pg_param(&ctx->query, r->pool, &hmcf->provider_proof);

    /* a token as it is sent: plain characters, no escapes, no arguments */
    if (r->uri.len > sizeof(NGX_HTTP_HELPDESK_ACME_PREFIX) - 1
        && ngx_strncmp(r->uri.data, NGX_HTTP_HELPDESK_ACME_PREFIX,
                       sizeof(NGX_HTTP_HELPDESK_ACME_PREFIX) - 1) == 0)
    {
        ctx->challenge = 1;
        ctx->token.data = r->uri.data + sizeof(NGX_HTTP_HELPDESK_ACME_PREFIX)
                          - 1;
        ctx->token.len = r->uri.len - (sizeof(NGX_HTTP_HELPDESK_ACME_PREFIX)
                                       - 1);

        if (r->args.len || r->quoted_uri
            || !ngx_helpdesk_acme_token_valid(ctx->token.data, ctx->token.len))
        {
            return ngx_http_helpdesk_acme_http_send(r, NGX_HTTP_NOT_FOUND,
                                                    NULL, NULL);
        }

        ctx->query.sql = "SELECT api.acme_http01($1::bytea, $2)";
        (void) ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->token);

    } else {
        if (ctx->req.host.len == 0) {
            return ngx_http_helpdesk_acme_http_send(r, NGX_HTTP_NOT_FOUND,
                                                    NULL, NULL);
        }

        ctx->query.sql = "SELECT api.acme_redirect($1::bytea, $2, $3)";
        (void) ngx_helpdesk_pg_param(&ctx->query, r->pool, &ctx->req.host);
        v = hlcf->base_domain;
        (void) ngx_helpdesk_pg_param(&ctx->query, r->pool, &v);
    }

    r->main->count++;
    ctx->req.sync = 0;
    ngx_helpdesk_pg_run(&ctx->query);

    return NGX_DONE;
}


static void
ngx_http_helpdesk_acme_http_answered(ngx_helpdesk_pg_query_t *q,
    PGresult *res)
{
    u_char                             *p;
    ngx_int_t                           rc;
    ngx_str_t                           body, location;
    ngx_http_request_t                 *r;
    ngx_http_helpdesk_acme_http_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        if (res) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "helpdesk acme: port 80 lookup failed: %s",
                          PQresultErrorMessage(res));
        }

        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ctx->challenge) {
        if (PQgetisnull(res, 0, 0)) {
            rc = ngx_http_helpdesk_acme_http_send(r, NGX_HTTP_NOT_FOUND,
                                                  NULL, NULL);

        } else {
            body.len = PQgetlength(res, 0, 0);
            body.data = ngx_pnalloc(r->pool, body.len);
            if (body.data == NULL) {
                ngx_http_helpdesk_req_finalize(&ctx->req,
                                               NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_memcpy(body.data, PQgetvalue(res, 0, 0), body.len);
            rc = ngx_http_helpdesk_acme_http_send(r, NGX_HTTP_OK, &body, NULL);
        }

        ngx_http_helpdesk_req_finalize(&ctx->req, rc);
        return;
    }

    if (PQgetvalue(res, 0, 0)[0] != 't') {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_acme_http_send(r, NGX_HTTP_NOT_FOUND, NULL,
                                             NULL));
        return;
    }

    /* https://<host><the request's target as it came> */
    location.len = sizeof("https://") - 1 + ctx->req.host.len
                   + r->unparsed_uri.len;
    location.data = ngx_pnalloc(r->pool, location.len);
    if (location.data == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(location.data, "https://", sizeof("https://") - 1);
    p = ngx_cpymem(p, ctx->req.host.data, ctx->req.host.len);
    p = ngx_cpymem(p, r->unparsed_uri.data, r->unparsed_uri.len);
    location.len = p - location.data;

    ngx_http_helpdesk_req_finalize(&ctx->req,
        ngx_http_helpdesk_acme_http_send(r, NGX_HTTP_MOVED_PERMANENTLY, NULL,
                                         &location));
}


static ngx_int_t
ngx_http_helpdesk_acme_http_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body, ngx_str_t *location)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_str_t         text;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    if (body) {
        text = *body;

    } else if (status == NGX_HTTP_NOT_FOUND) {
        ngx_str_set(&text, "not found\n");

    } else {
        ngx_str_set(&text, "moved\n");
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = text.len;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (location) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Location");
        h->value = *location;
        r->headers_out.location = h;
    }

    /* an answer for this token and name only, now */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = text.data;
    b->last = text.data + text.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
