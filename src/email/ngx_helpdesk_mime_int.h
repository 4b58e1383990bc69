/*
 * What the parser's files share (src/email/ngx_helpdesk_mime*.c): GMime
 * types, so not in ngx_helpdesk_mime.h, which the inbound location
 * includes.
 */

#ifndef _NGX_HELPDESK_MIME_INT_H_INCLUDED_
#define _NGX_HELPDESK_MIME_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <gmime/gmime.h>


/* ngx_helpdesk_mime_raw.c */
GMimeStream *ngx_helpdesk_mime_source(ngx_chain_t *body);
ngx_int_t ngx_helpdesk_mime_scan(GMimeStream *stream, size_t len,
    u_char *digest, const char **error);


#endif /* _NGX_HELPDESK_MIME_INT_H_INCLUDED_ */
