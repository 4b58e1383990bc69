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

/*
 * The request line nginx names in each line it logs of the request, with
 * everything from "token" on in the path replaced by "[redacted]".
 */
ngx_int_t ngx_http_helpdesk_log_redact_line(ngx_http_request_t *r,
    u_char *token);

/*
 * At the post-read phase (before nginx picks a location, so before any
 * line it logs of a body buffered to a file or one too large): a request
 * under "prefix" has its request line redacted from the prefix's end.
 */
ngx_int_t ngx_http_helpdesk_log_redact_prefix(ngx_http_request_t *r,
    ngx_str_t *prefix);

/*
 * The token of a location that takes its credential in the path (a
 * mailbox's inbound address, a WhatsApp webhook): the one path segment
 * after the location's prefix, of letters, digits, "-" and "_", "min" to
 * "max" long.  The request line is redacted from where it starts, a token
 * or not.  NGX_OK; NGX_DECLINED: not a token; NGX_ERROR.
 */
ngx_int_t ngx_http_helpdesk_log_path_token(ngx_http_request_t *r,
    size_t min, size_t max, ngx_str_t *token);


#endif /* _NGX_HTTP_HELPDESK_LOG_H_INCLUDED_ */
