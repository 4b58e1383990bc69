/*
 * The outbox runner's requests: their headers, a provider's media URL,
 * the answer kept as text.
 */

#ifndef _NGX_HELPDESK_OUTBOX_REQUEST_H_INCLUDED_
#define _NGX_HELPDESK_OUTBOX_REQUEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "event/ngx_helpdesk_curl.h"
#include "event/ngx_helpdesk_pg.h"
#include "lib/ngx_helpdesk_secret.h"
#include "ngx_helpdesk_outbox.h"


/*
 * Adds "headers" (a JSON list of [name, value] pairs) to "req": NULL, or
 * why the request is refused (a malformed list, a name that is not a
 * token, a value with a control character).
 */
const char *ngx_helpdesk_outbox_headers(ngx_str_t *headers,
    ngx_helpdesk_curl_req_t *req);

/* NULL when req's host is one of "media_hosts", otherwise why not */
const char *ngx_helpdesk_outbox_media_host(ngx_helpdesk_curl_req_t *req,
    ngx_array_t *media_hosts);

/*
 * A sealed value of the delivery into its plaintext, in place; "place" is
 * where it was stored (its associated data).  NGX_DECLINED, logged with
 * the place, when it does not open with the keys.
 */
ngx_int_t ngx_helpdesk_outbox_open(ngx_pool_t *pool, ngx_log_t *log,
    ngx_helpdesk_secret_ring_t *ring, ngx_str_t *place, ngx_str_t *value);

/* A body that is a sealed URL (a provider's webhook) into {"url": ...}. */
ngx_int_t ngx_helpdesk_outbox_open_url_body(ngx_pool_t *pool, ngx_log_t *log,
    ngx_helpdesk_secret_ring_t *ring, ngx_str_t *place, ngx_str_t *body);

ngx_int_t ngx_helpdesk_outbox_printable(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out);

/*
 * The retry policy an attempt's result is recorded with: "attempts",
 * "backoff" and "max_backoff" of "conf" as the next three parameters of
 * "q" (api.outbox_result(), api.email_result()).
 */
ngx_int_t ngx_helpdesk_outbox_retry_params(ngx_helpdesk_pg_query_t *q,
    ngx_pool_t *pool, ngx_helpdesk_outbox_conf_t *conf);


#endif /* _NGX_HELPDESK_OUTBOX_REQUEST_H_INCLUDED_ */
