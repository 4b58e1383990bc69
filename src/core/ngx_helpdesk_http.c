/*
 * Responses and RFC 9457 problem documents.
 *
 * Every error a client can see is a problem document: a "type" URI whose
 * last segment is a stable slug clients can switch on, a short "title",
 * the HTTP "status", a "detail" written for a person, and the request
 * path as "instance".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_helpdesk_http.h"


ngx_int_t
ngx_helpdesk_http_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;

    if (status == NGX_HTTP_UNPROCESSABLE_ENTITY) {
        /* nginx knows no reason phrase for it */
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Content");
    }
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = len;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_helpdesk_http_problem(ngx_http_request_t *r, ngx_uint_t status,
    const char *slug, const char *title, const char *detail, json_t *extra)
{
    char      *text;
    u_char    *body, *type;
    size_t     len;
    json_t    *doc;
    ngx_str_t  instance;

    type = ngx_pnalloc(r->pool, sizeof(NGX_HELPDESK_PROBLEM_TYPE)
                                + ngx_strlen(slug));
    if (type == NULL) {
        json_decref(extra);
        return NGX_ERROR;
    }

    ngx_sprintf(type, NGX_HELPDESK_PROBLEM_TYPE "%s%Z", slug);

    instance = r->uri;

    doc = json_pack("{s:s, s:s, s:i, s:s, s:s%}",
                    "type", (char *) type,
                    "title", title,
                    "status", (int) status,
                    "detail", detail ? detail : title,
                    "instance", (char *) instance.data, instance.len);
    if (doc == NULL) {
        json_decref(extra);
        return NGX_ERROR;
    }

    if (extra) {
        json_object_update(doc, extra);
        json_decref(extra);
    }

    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);
    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(body, text, len);
    body[len] = '\n';
    free(text);

    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return ngx_helpdesk_http_send(r, status, "application/problem+json",
                                  body, len + 1);
}


ngx_table_elt_t *
ngx_helpdesk_http_header_in(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


ngx_int_t
ngx_helpdesk_http_header_out(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/*
 * The request body, read into memory, as one string.  NGX_DECLINED when
 * nginx spooled it to a file (the locations that call this size their
 * buffer to their limit, so it does not happen).
 */

ngx_int_t
ngx_helpdesk_http_body_text(ngx_http_request_t *r, ngx_str_t *out)
{
    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl;

    ngx_str_set(out, "");

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    if (r->request_body->temp_file) {
        return NGX_DECLINED;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return NGX_DECLINED;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len == 0) {
        return NGX_OK;
    }

    if (r->request_body->bufs->next == NULL) {
        out->data = r->request_body->bufs->buf->pos;
        out->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    out->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    return NGX_OK;
}
