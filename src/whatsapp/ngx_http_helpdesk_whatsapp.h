/*
 * The WhatsApp Business channel: webhook location.
 */

#ifndef _NGX_HTTP_HELPDESK_WHATSAPP_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_WHATSAPP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_helpdesk_whatsapp_handler(ngx_http_request_t *r);

/* the webhook's token out of the request line nginx logs, from the start */
ngx_int_t ngx_http_helpdesk_whatsapp_postconfiguration(ngx_conf_t *cf);

/* the parts of a delivery that are parsed in C (exposed for t/fuzz) */
ngx_int_t ngx_http_helpdesk_whatsapp_signature(ngx_str_t *secret,
    ngx_str_t *body, ngx_str_t *header);
ngx_int_t ngx_http_helpdesk_whatsapp_payload(ngx_str_t *body, u_char *detail,
    size_t size);
ngx_int_t ngx_http_helpdesk_whatsapp_unescape(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *out);


#endif /* _NGX_HTTP_HELPDESK_WHATSAPP_H_INCLUDED_ */
