/*
 * The request core's filters.
 *
 * A request body filter counts every body byte as it arrives, after nginx
 * has taken the chunked framing off, against the operation's limit set by
 * ngx_http_helpdesk_req_read_body(): a chunked body meets the same limit
 * as one with a length.
 *
 * Errors nginx answers itself on our locations (a malformed chunk, a body
 * found too large while reading, a request timeout) would be HTML pages; a
 * header and a body filter turn them into problem documents, so an API
 * client always gets application/problem+json.  The apps' pages keep
 * nginx's HTML; their JSON calls get documents too.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_request.h"
#include "http/ngx_helpdesk_http.h"


static ngx_int_t ngx_http_helpdesk_req_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_helpdesk_req_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_helpdesk_req_output_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_flag_t ngx_http_helpdesk_req_wants_problem(ngx_http_request_t *r);


static ngx_http_request_body_filter_pt  ngx_http_next_request_body_filter;
static ngx_http_output_header_filter_pt ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt   ngx_http_next_body_filter;


typedef struct {
    ngx_uint_t      status;
    const char     *slug;
    const char     *title;
    const char     *detail;
} ngx_http_helpdesk_req_error_t;


static const ngx_http_helpdesk_req_error_t  ngx_http_helpdesk_req_errors[] = {
    { 400, "bad-request", "Bad Request",
      "the request is malformed (its headers or its body's framing)" },
    { 404, "not-found", "Not Found", "nothing is at this path" },
    { 405, "method-not-allowed", "Method Not Allowed",
      "this path does not take this method" },
    { 408, "request-timeout", "Request Timeout",
      "the request did not arrive in time" },
    { 411, "length-required", "Length Required",
      "send the body with a Content-Length or chunked" },
    { 413, "payload-too-large", "Payload Too Large",
      "the body is larger than this operation accepts" },
    { 414, "uri-too-long", "URI Too Long", "the path is too long" },
    { 494, "bad-request", "Bad Request", "a request header is too large" },
    { 500, "internal-error", "Internal Server Error",
      "the request failed; the error was logged" },
    { 503, "service-unavailable", "Service Unavailable",
      "the service is busy; try again shortly" },
    { 0, "error", "Error", "the request could not be served" }
};


/*
 * Counts every body byte as it arrives, after nginx has taken the chunked
 * framing off, against the operation's limit.
 */

static ngx_int_t
ngx_http_helpdesk_req_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t              *cl;
    ngx_http_helpdesk_req_t  *req;

    req = ngx_http_get_module_ctx(r->main, ngx_http_helpdesk_module);

    if (req == NULL || req->body_limit == 0) {
        return ngx_http_next_request_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        req->body_seen += ngx_buf_size(cl->buf);
    }

    if (req->body_seen > req->body_limit) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "helpdesk: client sent a body over the limit of %O",
                      req->body_limit);

        req->too_large = 1;
        r->lingering_close = 1;

        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    return ngx_http_next_request_body_filter(r, in);
}


/* nginx's own error pages, as problem documents */

static ngx_flag_t
ngx_http_helpdesk_req_wants_problem(ngx_http_request_t *r)
{
    ngx_str_t                     *prefix;
    ngx_http_helpdesk_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);

    if (hlcf == NULL) {
        return 0;
    }

    if (hlcf->api || hlcf->whatsapp || hlcf->chat || hlcf->email) {
        return 1;
    }

    if (!hlcf->portal) {
        return 0;
    }

    /* the apps' JSON calls (and the console's REST API); pages keep HTML */
    prefix = &hlcf->app_prefix;

    return r->uri.len >= prefix->len + 7
           && (ngx_strncmp(r->uri.data + prefix->len, "/_/api/", 7) == 0
               || (hlcf->console && r->uri.len >= prefix->len + 8
                   && ngx_strncmp(r->uri.data + prefix->len, "/_/rest/", 8)
                      == 0));
}


static ngx_int_t
ngx_http_helpdesk_req_header_filter(ngx_http_request_t *r)
{
    u_char                               *p;
    size_t                                len;
    ngx_str_t                             vary;
    ngx_http_helpdesk_req_t              *req;
    const ngx_http_helpdesk_req_error_t  *e;

    if (r != r->main || r->err_status < NGX_HTTP_BAD_REQUEST
        || !ngx_http_helpdesk_req_wants_problem(r))
    {
        return ngx_http_next_header_filter(r);
    }

    req = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    if (req == NULL) {
        req = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_req_t));
        if (req == NULL) {
            return NGX_ERROR;
        }

        req->r = r;
        ngx_http_set_ctx(r, req, ngx_http_helpdesk_module);
    }

    for (e = ngx_http_helpdesk_req_errors; e->status; e++) {
        if (e->status == (ngx_uint_t) r->err_status) {
            break;
        }
    }

    len = sizeof("{\"type\": \"\", \"title\": \"\", \"status\": , "
                 "\"detail\": \"\"}\n") - 1
          + sizeof(NGX_HELPDESK_PROBLEM_TYPE) - 1 + ngx_strlen(e->slug)
          + ngx_strlen(e->title) + NGX_INT_T_LEN + ngx_strlen(e->detail);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    req->problem.data = p;
    p = ngx_sprintf(p, "{\"type\": \"%s%s\", \"title\": \"%s\", "
                    "\"status\": %i, \"detail\": \"%s\"}\n",
                    NGX_HELPDESK_PROBLEM_TYPE, e->slug, e->title,
                    r->err_status, e->detail);
    req->problem.len = p - req->problem.data;

    ngx_str_set(&r->headers_out.content_type, "application/problem+json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    r->headers_out.content_length_n = req->problem.len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (r->header_only) {
        ngx_str_null(&req->problem);
    }

    /* a page of another origin reads its refusals too (the chat's CORS) */
    if (req->cors.len) {
        if (ngx_helpdesk_http_header_out(r, "Access-Control-Allow-Origin",
                                         &req->cors)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_str_set(&vary, "Origin");

        if (ngx_helpdesk_http_header_out(r, "Vary", &vary) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_helpdesk_req_output_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                *b;
    ngx_chain_t               out;
    ngx_http_helpdesk_req_t  *req;

    if (r != r->main || r->err_status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_body_filter(r, in);
    }

    req = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    if (req == NULL || req->problem.data == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (req->problem.len == 0) {
        /* sent already: nginx's page is dropped */
        return ngx_http_next_body_filter(r, NULL);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = req->problem.data;
    b->last = req->problem.data + req->problem.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    req->problem.len = 0;

    return ngx_http_next_body_filter(r, &out);
}


ngx_int_t
ngx_http_helpdesk_req_filters_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_helpdesk_req_body_filter;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_helpdesk_req_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_helpdesk_req_output_filter;

    return NGX_OK;
}
