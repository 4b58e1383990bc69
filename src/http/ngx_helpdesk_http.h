/*
 * Small HTTP helpers shared by every channel: responses, RFC 9457
 * problem documents, header access.
 */

#ifndef _NGX_HELPDESK_HTTP_H_INCLUDED_
#define _NGX_HELPDESK_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>
#include <libpq-fe.h>


#define NGX_HELPDESK_PROBLEM_TYPE  "https://nginx-helpdesk.org/problems/"

#ifndef NGX_HTTP_UNPROCESSABLE_ENTITY
#define NGX_HTTP_UNPROCESSABLE_ENTITY  422
#endif


ngx_int_t ngx_helpdesk_http_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *body, size_t len);

/*
 * Sends an application/problem+json document.  "slug" names the problem
 * type; "extra" (may be NULL) is merged into the document and released.
 */
ngx_int_t ngx_helpdesk_http_problem(ngx_http_request_t *r, ngx_uint_t status,
    const char *slug, const char *title, const char *detail, json_t *extra);

ngx_table_elt_t *ngx_helpdesk_http_header_in(ngx_http_request_t *r,
    const char *name, size_t len);
ngx_int_t ngx_helpdesk_http_header_out(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
ngx_table_elt_t *ngx_helpdesk_http_header_sent(ngx_http_request_t *r,
    const char *name);

/*
 * A stored file from a (filename, content_type, data) row.  Its type is
 * decided by its content, never by the stored type: a real PNG, JPEG, GIF
 * or WebP image inline, anything else a download, application/octet-stream
 * unless it is a known inert kind; always nosniff and a sandbox policy.
 */
ngx_int_t ngx_helpdesk_http_send_file(ngx_http_request_t *r, PGresult *res);

/* "Content-Security-Policy: sandbox; default-src 'none'", replacing any */
ngx_int_t ngx_helpdesk_http_file_csp(ngx_http_request_t *r);


/* A failed statement as a problem document; "challenge" for 401s or NULL. */
ngx_int_t ngx_helpdesk_http_sql_problem(ngx_http_request_t *r, PGresult *res,
    ngx_str_t *challenge);


#endif /* _NGX_HELPDESK_HTTP_H_INCLUDED_ */
