/*
 * POST /v1/uploads: a file for a later comment or ticket ("attachments").
 *
 * The body is the file as it is (a length or chunked), its media type the
 * request's Content-Type, its name the query parameter "filename"
 * (percent-encoded UTF-8).  Both, and the caller (the key and its scope,
 * by PostgreSQL), are checked before a byte of the body is read; the body
 * is read by the request core up to
 * helpdesk_upload_max_size, as the apps' uploads are.  The database keeps
 * the file for the API key (or the console's agent) that sent it, for a
 * day, until it is attached.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_json.h"
#include "lib/ngx_helpdesk_magic.h"
#include "ngx_http_helpdesk_api.h"


#define NGX_HTTP_HELPDESK_FILENAME_MAX  255     /* bytes, as file systems */
#define NGX_HTTP_HELPDESK_MEDIA_MAX     100


static ngx_int_t ngx_http_helpdesk_api_upload_arg(json_t *args,
    ngx_str_t *name, ngx_str_t *value, json_t *errors);
static ngx_int_t ngx_http_helpdesk_api_upload_type(
    ngx_http_helpdesk_api_ctx_t *ctx, ngx_str_t *type);
static ngx_int_t ngx_http_helpdesk_api_upload_prepare(
    ngx_http_helpdesk_api_ctx_t *ctx);
static ngx_int_t ngx_http_helpdesk_api_upload_refused(ngx_http_request_t *r);
static void ngx_http_helpdesk_api_upload_checked(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


/* the key's (or the session's) check alone: cheap, and no body yet */
static const char  ngx_http_helpdesk_api_upload_check_sql[] =
    "SELECT api.api_key_check($1::bytea, $2, $3::inet)";

static ngx_str_t  ngx_http_helpdesk_api_upload_challenge =
    ngx_string("Bearer realm=\"helpdesk\", error=\"invalid_token\"");


/*
 * The name as it is kept: the last part of a path (a client may send its
 * own path), no control characters, valid UTF-8, not "." or "..".
 */

static ngx_int_t
ngx_http_helpdesk_api_upload_arg(json_t *args, ngx_str_t *name,
    ngx_str_t *value, json_t *errors)
{
    u_char  *p, *base, *last;

    if (name->len != 8 || ngx_strncmp(name->data, "filename", 8) != 0) {
        return NGX_DECLINED;
    }

    base = value->data;
    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (*p == '/' || *p == '\\') {
            base = p + 1;

        } else if (*p < 0x20 || *p == 0x7f) {
            ngx_helpdesk_json_error(errors, "filename",
                                    "must not contain control characters");
            return NGX_OK;
        }
    }

    if (last - base == 0
        || (last - base == 1 && base[0] == '.')
        || (last - base == 2 && base[0] == '.' && base[1] == '.'))
    {
        ngx_helpdesk_json_error(errors, "filename",
                                "must name a file, not a directory");
        return NGX_OK;
    }

    if (last - base > NGX_HTTP_HELPDESK_FILENAME_MAX) {
        ngx_helpdesk_json_error(errors, "filename",
                                "must be at most 255 bytes long");
        return NGX_OK;
    }

    if (ngx_utf8_length(base, last - base) == (size_t) -1) {
        ngx_helpdesk_json_error(errors, "filename",
                                "must be UTF-8, percent-encoded");
        return NGX_OK;
    }

    json_object_set_new(args, "filename",
                        json_stringn((char *) base, last - base));

    return NGX_OK;
}


/* the media type, lower case, without its parameters ("; charset=...") */

static ngx_int_t
ngx_http_helpdesk_api_upload_type(ngx_http_helpdesk_api_ctx_t *ctx,
    ngx_str_t *type)
{
    u_char              *p, *last, *slash;
    ngx_http_request_t  *r = ctx->req.r;

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.content_type->value.data;
    last = ngx_strlchr(p, p + r->headers_in.content_type->value.len, ';');

    if (last == NULL) {
        last = p + r->headers_in.content_type->value.len;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    if (last - p == 0 || last - p > NGX_HTTP_HELPDESK_MEDIA_MAX) {
        return NGX_DECLINED;
    }

    type->data = ngx_pnalloc(r->pool, last - p);
    if (type->data == NULL) {
        return NGX_ERROR;
    }

    type->len = last - p;
    ngx_strlow(type->data, p, type->len);

    slash = NULL;

    for (p = type->data; p < type->data + type->len; p++) {
        if (*p == '/' && slash == NULL) {
            slash = p;
            continue;
        }

        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || (*p && ngx_strchr("!#$&^_.+-", *p))))
        {
            return NGX_DECLINED;
        }
    }

    if (slash == NULL || slash == type->data
        || slash == type->data + type->len - 1)
    {
        return NGX_DECLINED;
    }

    /* a form's envelope is not a file: the body is the file itself */
    if (type->len >= 10 && ngx_strncmp(type->data, "multipart/", 10) == 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_helpdesk_api_upload_start(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t              *name;
    ngx_int_t            rc;
    ngx_str_t            type, fname;
    ngx_http_request_t  *r = ctx->req.r;

    rc = ngx_http_helpdesk_api_upload_type(ctx, &type);

    if (rc == NGX_ERROR) {
        ctx->final_rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        (void) ngx_http_discard_request_body(r);
        ctx->final_rc = ngx_helpdesk_http_problem(r,
                            NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                            "unsupported-media-type", "Unsupported Media Type",
                            "send the file as it is, with its media type as "
                            "Content-Type (such as \"application/pdf\"); "
                            "forms (multipart) are not taken", NULL);
        return NGX_DECLINED;
    }

    ctx->args = json_object();
    if (ctx->args == NULL) {
        ctx->final_rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    if (ngx_http_helpdesk_api_query(ctx, ngx_http_helpdesk_api_upload_arg)
        != NGX_OK)
    {
        ctx->final_rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    name = json_object_get(ctx->args, "filename");

    if (name == NULL && json_array_size(ctx->errors) == 0) {
        ngx_helpdesk_json_error(ctx->errors, "filename",
                                "is required: the file's name, as the query "
                                "parameter \"filename\"");
    }

    if (json_array_size(ctx->errors)) {
        (void) ngx_http_discard_request_body(r);
        r->keepalive = 0;
        ctx->final_rc = ngx_helpdesk_http_problem(r,
                            NGX_HTTP_UNPROCESSABLE_ENTITY,
                            "validation-error", "Validation Error",
                            "the request has invalid fields; see \"errors\"",
                            json_pack("{s:O}", "errors", ctx->errors));
        return NGX_DECLINED;
    }

    fname.data = (u_char *) json_string_value(name);
    fname.len = json_string_length(name);

    if (ngx_helpdesk_magic_refused(&fname, &type, NULL, 0)) {
        ctx->final_rc = ngx_http_helpdesk_api_upload_refused(r);
        return NGX_DECLINED;
    }

    json_object_set_new(ctx->args, "content_type",
                        json_stringn((char *) type.data, type.len));

    return NGX_OK;
}


/*
 * Any Bearer token gets a request this far: before up to
 * helpdesk_upload_max_size of body is read (to a temporary file, past
 * client_body_buffer_size), the key, its scope and its tenant are checked
 * by PostgreSQL, or the console's session in Redis first; a refusal is
 * answered at once, the body never read.  The statement that keeps the
 * file checks them again, as every call does.
 */

ngx_int_t
ngx_http_helpdesk_api_upload_admit(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_http_request_t  *r = ctx->req.r;

    /* a length over the limit needs no database to be refused */
    if (r->headers_in.content_length_n > (off_t) ctx->req.hlcf->upload_max) {
        return ngx_http_helpdesk_req_read_body(&ctx->req,
                                         (off_t) ctx->req.hlcf->upload_max,
                                         ngx_http_helpdesk_api_body_handler);
    }

    r->main->count++;
    ngx_http_helpdesk_api_upload_check(ctx);

    return NGX_DONE;
}


void
ngx_http_helpdesk_api_upload_check(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_str_t                 v;
    ngx_http_request_t       *r = ctx->req.r;
    ngx_helpdesk_pg_query_t  *q = &ctx->query;

    if (ctx->agent_token.len && !ctx->agent_checked) {
        /* its answer comes back here (ngx_http_helpdesk_api_session.c) */
        ngx_http_helpdesk_api_session_check(ctx);
        return;
    }

    if (r->connection->sockaddr->sa_family != AF_UNIX) {
        ctx->req.ip = r->connection->addr_text;
    }

    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->handler = ngx_http_helpdesk_api_upload_checked;
    q->data = ctx;
    q->log = r->connection->log;
    q->owner = r->pool;
    q->sql = ngx_http_helpdesk_api_upload_check_sql;

    ngx_helpdesk_pg_param(q, r->pool, &ctx->key_hash_param);
    v.data = (u_char *) ctx->op->scope;
    v.len = ngx_strlen(ctx->op->scope);
    ngx_helpdesk_pg_param(q, r->pool, &v);
    ngx_helpdesk_pg_param(q, r->pool, ctx->req.ip.len ? &ctx->req.ip : NULL);

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_api_upload_checked(ngx_helpdesk_pg_query_t *q,
    PGresult *res)
{
    ngx_int_t                     rc;
    ngx_http_request_t           *r;
    ngx_http_helpdesk_api_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (q->status == NGX_HELPDESK_PG_TIMEOUT) {
        rc = ngx_helpdesk_http_problem(r, NGX_HTTP_GATEWAY_TIME_OUT,
                 "dependency-timeout", "Gateway Timeout",
                 "postgresql did not answer in time",
                 json_pack("{s:s}", "dependency", "postgresql"));

    } else if (q->status != NGX_HELPDESK_PG_OK) {
        rc = ngx_http_helpdesk_api_unavailable(ctx, "postgresql",
                 q->status == NGX_HELPDESK_PG_BUSY
                 ? 1 : ngx_helpdesk_pg_retry_after());

    } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* 401 or 403: no body read, and no keep-alive to read it for */
        r->keepalive = 0;
        rc = ngx_helpdesk_http_sql_problem(r, res,
                                     &ngx_http_helpdesk_api_upload_challenge);

    } else {
        ctx->admitted = 1;
        rc = ngx_http_helpdesk_req_read_body(&ctx->req,
                                         (off_t) ctx->req.hlcf->upload_max,
                                         ngx_http_helpdesk_api_body_handler);
        ngx_http_helpdesk_req_resume(&ctx->req, rc);
        return;
    }

    ngx_http_helpdesk_api_finalize(ctx, rc);
}


static ngx_int_t
ngx_http_helpdesk_api_upload_refused(ngx_http_request_t *r)
{
    (void) ngx_http_discard_request_body(r);
    r->keepalive = 0;

    return ngx_helpdesk_http_problem(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
               "file-type-refused", "Unsupported Media Type",
               "programs and scripts cannot be attached; send a document, "
               "an image or a compressed file instead", NULL);
}


/* the body is in: not empty, and no program by its first bytes */

static ngx_int_t
ngx_http_helpdesk_api_upload_prepare(ngx_http_helpdesk_api_ctx_t *ctx)
{
    json_t     *name, *type;
    ngx_str_t   fname, ftype;

    if (ctx->raw_body.len == 0) {
        ngx_helpdesk_json_error(ctx->errors, "body", "the file is empty");
        return NGX_OK;
    }

    name = json_object_get(ctx->args, "filename");
    type = json_object_get(ctx->args, "content_type");

    fname.data = (u_char *) json_string_value(name);
    fname.len = json_string_length(name);
    ftype.data = (u_char *) json_string_value(type);
    ftype.len = json_string_length(type);

    if (ngx_helpdesk_magic_refused(&fname, &ftype, ctx->raw_body.data,
                                   ctx->raw_body.len))
    {
        ngx_http_helpdesk_api_finalize(ctx,
            ngx_http_helpdesk_api_upload_refused(ctx->req.r));
        return NGX_DONE;
    }

    return NGX_OK;
}


#define TENANT  NGX_HTTP_HELPDESK_AUTH_TENANT

static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_upload_ops[] = {
    { NGX_HTTP_POST, 201, "upload.create", "tickets:write", TENANT,
      ngx_http_helpdesk_api_upload_prepare, NULL,
      "SELECT body, location FROM api.api_upload"
      "($1::bytea, $2, $3::inet, $4::jsonb, $5::bytea)",
      NULL, NULL, 1 },
    { 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, 0 }
};

#undef TENANT


const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_upload_routes[] = {
    { "/v1/uploads", ngx_http_helpdesk_api_upload_ops },
    { NULL, NULL }
};
