/*
 * Between the mail built by hand (ngx_helpdesk_email_mime.c) and its DKIM
 * signature (ngx_helpdesk_email_sign.c).
 */

#ifndef _NGX_HELPDESK_EMAIL_MIME_INT_H_INCLUDED_
#define _NGX_HELPDESK_EMAIL_MIME_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_email_mime.h"


/* a growing malloc()ed buffer; "failed" once an allocation failed */
typedef struct {
    u_char     *data;
    size_t      len;
    size_t      cap;
    ngx_flag_t  failed;
} ngx_helpdesk_buf_t;


typedef struct {
    const char  *name;
    ngx_str_t    value;         /* as written, folded, without the CRLF */
} ngx_helpdesk_mail_header_t;


void ngx_helpdesk_buf_add(ngx_helpdesk_buf_t *b, const void *p, size_t n);
void ngx_helpdesk_buf_str(ngx_helpdesk_buf_t *b, const char *s);

/*
 * The DKIM-Signature header over the n headers h (in that order) and the
 * body, appended to "out"; NGX_ERROR with a reason in "err".
 */
ngx_int_t ngx_helpdesk_mail_sign(ngx_helpdesk_mail_t *m,
    ngx_helpdesk_mail_header_t *h, ngx_uint_t n, ngx_str_t *body,
    ngx_helpdesk_buf_t *out, char *err, size_t size);


#endif /* _NGX_HELPDESK_EMAIL_MIME_INT_H_INCLUDED_ */
