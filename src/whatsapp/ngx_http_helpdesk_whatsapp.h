/*
 * The WhatsApp Business channel: webhook location.
 */

#ifndef _NGX_HTTP_HELPDESK_WHATSAPP_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_WHATSAPP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_helpdesk_whatsapp_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_HELPDESK_WHATSAPP_H_INCLUDED_ */
