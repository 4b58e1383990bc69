/*
 * Outbound HTTP: libcurl's multi-socket interface on nginx events.
 */

#ifndef _NGX_HELPDESK_CURL_H_INCLUDED_
#define _NGX_HELPDESK_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <curl/curl.h>


typedef struct ngx_helpdesk_curl_req_s  ngx_helpdesk_curl_req_t;

/*
 * Called once per request, from the event loop.  "result" is CURLE_OK
 * when an HTTP response arrived (whatever its status), otherwise the
 * transfer failed and req->error says why.
 */
typedef void (*ngx_helpdesk_curl_handler_pt)(ngx_helpdesk_curl_req_t *req,
    CURLcode result);


struct ngx_helpdesk_curl_req_s {
    CURL                           *easy;
    struct curl_slist              *headers;
    ngx_helpdesk_curl_handler_pt    handler;
    void                           *data;
    ngx_log_t                      *log;

    long                            status;     /* HTTP status */
    ngx_str_t                       body;       /* response, bounded */
    size_t                          body_max;
    size_t                          body_cap;
    unsigned                        truncated:1;
    unsigned                        running:1;  /* in the multi handle */
    ngx_msec_t                      started;
    ngx_msec_t                      elapsed;
    char                            error[CURL_ERROR_SIZE];

    ngx_str_t                       request_body;
};


ngx_int_t ngx_helpdesk_curl_init_worker(ngx_cycle_t *cycle);
void ngx_helpdesk_curl_exit_worker(void);

/*
 * A request to "url" with "method" (NULL: GET), the given body (copied),
 * a total timeout, and room for "body_max" bytes of response.
 */
ngx_helpdesk_curl_req_t *ngx_helpdesk_curl_create(ngx_log_t *log,
    const char *method, ngx_str_t *url, ngx_str_t *body, ngx_msec_t timeout,
    size_t body_max);
ngx_int_t ngx_helpdesk_curl_header(ngx_helpdesk_curl_req_t *req,
    const char *fmt, ...);
ngx_int_t ngx_helpdesk_curl_start(ngx_helpdesk_curl_req_t *req);

/* Gives up a transfer, started or not: no handler call; req is freed. */
void ngx_helpdesk_curl_cancel(ngx_helpdesk_curl_req_t *req);
void ngx_helpdesk_curl_free(ngx_helpdesk_curl_req_t *req);
ngx_uint_t ngx_helpdesk_curl_active(void);


#endif /* _NGX_HELPDESK_CURL_H_INCLUDED_ */
