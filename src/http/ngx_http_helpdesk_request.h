/*
 * The request core: what every surface (the REST API, the portal and the
 * console, the WhatsApp webhook) does the same way with a request.
 *
 *  - the Host, checked once: a port part that is not a port is refused,
 *    and links back to us are built from the checked parts only;
 *  - one body reader with a limit per operation, for bodies with a length
 *    and chunked ones alike, answering 413 as a problem document;
 *  - nginx's own error answers (a bad chunk, a body past the limit found
 *    while reading) on these locations become problem documents too;
 *  - finalizing from asynchronous completions, and holding the request
 *    while a thread-pool task runs, so that nginx never frees a request
 *    something still uses;
 *  - Retry-After.
 *
 * Each surface's per-request context starts with ngx_http_helpdesk_req_t
 * and is the module's context of the request.
 */

#ifndef _NGX_HTTP_HELPDESK_REQUEST_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_REQUEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_helpdesk_module.h"


typedef struct {
    ngx_http_request_t             *r;
    ngx_http_helpdesk_loc_conf_t   *hlcf;

    ngx_str_t                       host;       /* lower case, no port */
    ngx_str_t                       port;       /* digits, or empty */
    ngx_str_t                       ip;
    ngx_flag_t                      tls;

    ngx_int_t                       rc;         /* of an early answer */

    off_t                           body_limit; /* the operation's */
    off_t                           body_seen;
    ngx_str_t                       problem;    /* replaces an nginx page */
    ngx_str_t                       cors;       /* the origin it goes to */

    ngx_queue_t                     wake;       /* see req_wake() */

    /*
     * For the record of a refusal (req_refused()): the surface ("api",
     * "portal", "console"; NULL: not recorded), and the API credential's
     * SHA-256 and visible prefix when there is one.
     */
    const char                     *surface;
    u_char                         *key_hash;
    ngx_str_t                       key_prefix;

    unsigned                        sync:1;     /* in the content handler */
    unsigned                        waking:1;
    unsigned                        wake_cleanup:1;
    unsigned                        too_large:1;
    unsigned                        blocked:1;  /* a thread task runs */
    unsigned                        refused:1;  /* recorded once */
} ngx_http_helpdesk_req_t;


/*
 * Fills req for r and makes it the module's context.  NGX_OK, or
 * NGX_DECLINED when the request was answered already (a Host that is
 * refused): the content handler then returns req->rc.
 */
ngx_int_t ngx_http_helpdesk_req_init(ngx_http_request_t *r,
    ngx_http_helpdesk_req_t *req);

/*
 * Records a refusal (401 or 403) of the request with a statement of its
 * own, api.audit_refusal(): the request's transaction, if any, rolled
 * back.  Nobody waits for it; at most a few run at once per worker, and
 * the refusals met meanwhile are counted into the next.  Called by the
 * problem documents' writer, so every surface's refusals are recorded in
 * this one place.
 */
void ngx_http_helpdesk_req_refused(ngx_http_request_t *r, ngx_uint_t status,
    const char *reason);

/*
 * Reads the body, at most "limit" bytes however it is sent.  Returns what
 * a content handler returns (NGX_DONE, or an answer such as 413); "post"
 * runs once the body is in.  May be called from a completion: then pass
 * the result to ngx_http_helpdesk_req_resume().
 */
ngx_int_t ngx_http_helpdesk_req_read_body(ngx_http_helpdesk_req_t *req,
    off_t limit, ngx_http_client_body_handler_pt post);

/* The body read by ngx_http_helpdesk_req_read_body(), in memory. */
ngx_int_t ngx_http_helpdesk_req_body(ngx_http_helpdesk_req_t *req,
    ngx_str_t *out);

/*
 * After an asynchronous step that held the request (r->main->count) has
 * started the body reading: rc is what ngx_http_helpdesk_req_read_body()
 * returned.
 */
void ngx_http_helpdesk_req_resume(ngx_http_helpdesk_req_t *req, ngx_int_t rc);

/*
 * Ends the request with rc.  From a completion (a PostgreSQL answer, a
 * Redis reply, a task), it also runs what nginx posted meanwhile, as
 * nginx's own event handlers do.
 */
void ngx_http_helpdesk_req_finalize(ngx_http_helpdesk_req_t *req,
    ngx_int_t rc);

/*
 * Runs the request's posted requests from the top of the event loop; for
 * code that finalizes a request from a timer or a completion by itself:
 * call it just before finalizing.
 */
void ngx_http_helpdesk_req_wake(ngx_http_helpdesk_req_t *req);

/*
 * A thread-pool task works on memory of the request: while it runs nginx
 * must not free the request (r->main->blocked).  unblock returns NGX_OK
 * when the request goes on, or NGX_DECLINED when nginx ended it meanwhile
 * (it has been finalized: do nothing more with it).
 */
void ngx_http_helpdesk_req_block(ngx_http_helpdesk_req_t *req);
ngx_int_t ngx_http_helpdesk_req_unblock(ngx_http_helpdesk_req_t *req);

/* The port part of a Host value: NGX_OK (port may be empty), NGX_DECLINED */
ngx_int_t ngx_http_helpdesk_req_host_port(u_char *p, u_char *last,
    ngx_str_t *port);

/*
 * args.link: what links back to the tenant are built from by the
 * database ({"scheme", "port", "base", "path"}): the configured scheme
 * and port (helpdesk_link_scheme), the base domain and the path of what
 * is linked to.  The name is the tenant's own (portal.tenant_origin()),
 * never the request's Host.  A link to the agent console, where it has
 * names of its own (helpdesk_agent_console_host), is on those only.  Set
 * over whatever the client sent.
 */
ngx_int_t ngx_http_helpdesk_req_link(ngx_http_helpdesk_req_t *req,
    json_t *args, ngx_str_t *path, ngx_flag_t console);

/* Retry-After: seconds (at least 1). */
ngx_int_t ngx_http_helpdesk_req_retry_after(ngx_http_request_t *r,
    ngx_uint_t seconds);

/*
 * 503 naming the dependency ("postgresql", "redis") that is down or
 * saturated, with Retry-After: the answer every surface gives for it.
 */
ngx_int_t ngx_http_helpdesk_req_unavailable(ngx_http_request_t *r,
    const char *dependency, ngx_uint_t seconds);

/* Whether Content-Type is application/json (or any "+json" with plus). */
ngx_flag_t ngx_http_helpdesk_req_json_type(ngx_http_request_t *r,
    ngx_flag_t plus);

/* ngx_http_helpdesk_route.c: paths, methods and query strings */

typedef ngx_int_t (*ngx_http_helpdesk_arg_pt)(void *data, ngx_str_t *name,
    ngx_str_t *value, ngx_flag_t has_value);

ngx_flag_t ngx_http_helpdesk_route_match(const char *pattern, u_char *p,
    u_char *last, ngx_str_t *params, ngx_uint_t max, ngx_uint_t *n);
ngx_flag_t ngx_http_helpdesk_route_method(ngx_http_request_t *r,
    ngx_uint_t method);

/* 404, or 405 with Allow when "allowed" (methods) is not empty */
ngx_int_t ngx_http_helpdesk_route_miss(ngx_http_request_t *r,
    ngx_uint_t allowed);

ngx_int_t ngx_http_helpdesk_route_args(ngx_http_request_t *r,
    ngx_http_helpdesk_arg_pt each, void *data);

/* postconfiguration: the body-limit and error-document filters */
ngx_int_t ngx_http_helpdesk_req_filters_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_HELPDESK_REQUEST_H_INCLUDED_ */
