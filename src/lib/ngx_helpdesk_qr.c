/*
 * QR codes for click-to-chat links.
 *
 * libqrencode computes the modules (error correction level M, byte mode);
 * the images are written here.  The PNG is 1-bit grayscale (eight pixels
 * a byte, so even the largest size stays a few hundred kilobytes before
 * compression and takes milliseconds on the event loop), one deflate
 * stream for all rows (zlib), with the chunk CRCs zlib computes.  The SVG
 * draws one path of unit squares, so it scales to any print size.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <qrencode.h>
#include <zlib.h>

#include "ngx_helpdesk_qr.h"


#define NGX_HELPDESK_QR_QUIET  4


static QRcode *
ngx_helpdesk_qr_encode(ngx_pool_t *pool, ngx_str_t *text)
{
    u_char  *s;

    s = ngx_pnalloc(pool, text->len + 1);
    if (s == NULL) {
        return NULL;
    }

    *ngx_cpymem(s, text->data, text->len) = '\0';

    return QRcode_encodeString((char *) s, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
}


static u_char *
ngx_helpdesk_qr_chunk(u_char *p, const char *type, u_char *data, size_t len)
{
    uLong  crc;

    *p++ = (u_char) (len >> 24);
    *p++ = (u_char) (len >> 16);
    *p++ = (u_char) (len >> 8);
    *p++ = (u_char) len;

    crc = crc32(0L, (Bytef *) type, 4);
    p = ngx_cpymem(p, type, 4);

    if (len) {
        crc = crc32(crc, data, (uInt) len);
        p = ngx_cpymem(p, data, len);
    }

    *p++ = (u_char) (crc >> 24);
    *p++ = (u_char) (crc >> 16);
    *p++ = (u_char) (crc >> 8);
    *p++ = (u_char) crc;

    return p;
}


ngx_int_t
ngx_helpdesk_qr_png(ngx_pool_t *pool, ngx_str_t *text, ngx_uint_t scale,
    ngx_str_t *out)
{
    u_char      *raw, *row, *zbuf, *p, ihdr[13];
    size_t       side, rowlen, rawlen;
    uLongf       zlen;
    QRcode      *qr;
    ngx_uint_t   x, y, mx, my, modules;

    qr = ngx_helpdesk_qr_encode(pool, text);
    if (qr == NULL) {
        return NGX_ERROR;
    }

    modules = qr->width + 2 * NGX_HELPDESK_QR_QUIET;
    side = modules * scale;
    rowlen = 1 + (side + 7) / 8;    /* filter byte, then 8 pixels a byte */
    rawlen = rowlen * side;

    raw = ngx_pcalloc(pool, rawlen);
    zlen = compressBound(rawlen);
    zbuf = ngx_pnalloc(pool, zlen);

    if (raw == NULL || zbuf == NULL) {
        QRcode_free(qr);
        return NGX_ERROR;
    }

    for (y = 0; y < side; y++) {
        row = raw + y * rowlen;
        my = y / scale;

        for (x = 0; x < side; x++) {
            mx = x / scale;

            /* a set bit is white: the quiet zone and light modules */
            if (mx < NGX_HELPDESK_QR_QUIET || my < NGX_HELPDESK_QR_QUIET
                || mx >= modules - NGX_HELPDESK_QR_QUIET
                || my >= modules - NGX_HELPDESK_QR_QUIET
                || !(qr->data[(my - NGX_HELPDESK_QR_QUIET) * qr->width
                              + (mx - NGX_HELPDESK_QR_QUIET)] & 1))
            {
                row[1 + x / 8] |= (u_char) (0x80 >> (x % 8));
            }
        }
    }

    QRcode_free(qr);

    if (compress2(zbuf, &zlen, raw, rawlen, 6) != Z_OK) {
        return NGX_ERROR;
    }

    /* width, height, bit depth 1, colour type 0 (gray), deflate, no interlace */
    ihdr[0] = (u_char) (side >> 24);
    ihdr[1] = (u_char) (side >> 16);
    ihdr[2] = (u_char) (side >> 8);
    ihdr[3] = (u_char) side;
    ngx_memcpy(&ihdr[4], &ihdr[0], 4);
    ihdr[8] = 1;
    ihdr[9] = 0;
    ihdr[10] = 0;
    ihdr[11] = 0;
    ihdr[12] = 0;

    out->data = ngx_pnalloc(pool, 8 + 3 * 12 + sizeof(ihdr) + zlen);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, "\x89PNG\r\n\x1a\n", 8);
    p = ngx_helpdesk_qr_chunk(p, "IHDR", ihdr, sizeof(ihdr));
    p = ngx_helpdesk_qr_chunk(p, "IDAT", zbuf, zlen);
    p = ngx_helpdesk_qr_chunk(p, "IEND", NULL, 0);

    out->len = p - out->data;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_qr_svg(ngx_pool_t *pool, ngx_str_t *text, ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    QRcode      *qr;
    ngx_uint_t   x, y, modules, dark;

    qr = ngx_helpdesk_qr_encode(pool, text);
    if (qr == NULL) {
        return NGX_ERROR;
    }

    modules = qr->width + 2 * NGX_HELPDESK_QR_QUIET;

    dark = 0;
    for (y = 0; y < (ngx_uint_t) (qr->width * qr->width); y++) {
        dark += qr->data[y] & 1;
    }

    len = 512 + dark * (2 * NGX_INT_T_LEN + 8);

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        QRcode_free(qr);
        return NGX_ERROR;
    }

    p = ngx_sprintf(out->data,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                    "viewBox=\"0 0 %ui %ui\" shape-rendering=\"crispEdges\">"
                    "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>"
                    "<path fill=\"#000\" d=\"",
                    modules, modules);

    for (y = 0; y < (ngx_uint_t) qr->width; y++) {
        for (x = 0; x < (ngx_uint_t) qr->width; x++) {
            if (qr->data[y * qr->width + x] & 1) {
                p = ngx_sprintf(p, "M%ui %uih1v1h-1z",
                                x + NGX_HELPDESK_QR_QUIET,
                                y + NGX_HELPDESK_QR_QUIET);
            }
        }
    }

    p = ngx_sprintf(p, "\"/></svg>\n");
    out->len = p - out->data;

    QRcode_free(qr);

    return NGX_OK;
}
