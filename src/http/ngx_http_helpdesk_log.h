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

/*
 * The request's URI (with its arguments when args is set) with the
 * secrets in it replaced, as $helpdesk_log_uri shows it; in r->pool.
 */
ngx_int_t ngx_http_helpdesk_log_redact(ngx_http_request_t *r,
    ngx_flag_t args, ngx_str_t *out);


#endif /* _NGX_HTTP_HELPDESK_LOG_H_INCLUDED_ */
