/*
 * $helpdesk_log_uri: the request's URI with its secrets taken out, for
 * access logs.
 */

#ifndef _NGX_HTTP_HELPDESK_LOG_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_LOG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_helpdesk_log_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_HELPDESK_LOG_H_INCLUDED_ */
