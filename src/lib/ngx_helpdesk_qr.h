/*
 * QR codes as PNG and SVG images, with libqrencode and zlib.
 */

#ifndef _NGX_HELPDESK_QR_H_INCLUDED_
#define _NGX_HELPDESK_QR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Renders "text" as a QR code with a 4-module quiet zone, "scale" pixels
 * per module (PNG) into out, allocated from pool.
 */
ngx_int_t ngx_helpdesk_qr_png(ngx_pool_t *pool, ngx_str_t *text,
    ngx_uint_t scale, ngx_str_t *out);
ngx_int_t ngx_helpdesk_qr_svg(ngx_pool_t *pool, ngx_str_t *text,
    ngx_str_t *out);


#endif /* _NGX_HELPDESK_QR_H_INCLUDED_ */
