/*
 * lib/ngx_helpdesk_qr.c: the images' structure (t/whatsapp_qr.t decodes
 * them with zbarimg).  The PNG: its signature, IHDR, IDAT and IEND chunks
 * with their CRCs, a 1-bit grayscale image whose rows inflate to the
 * right size, the quiet zone white and the finder patterns where a QR
 * code has them.  The SVG: its root, viewBox and one path of unit
 * squares, the same modules as the PNG.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_qr.h"

#include <zlib.h>


#define NGX_UNIT_LINK                                                        \
    "https://wa.me/15551234567?text=Hello%20from%20the%20helpdesk"


typedef struct {
    size_t   side;          /* pixels */
    size_t   rowlen;
    u_char  *pixels;        /* rows, each a filter byte and 8 pixels a byte */
    size_t   len;
} ngx_unit_png_t;


static uint32_t
ngx_unit_be32(u_char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


/* 1 for a dark pixel */
static int
ngx_unit_dark(ngx_unit_png_t *png, size_t x, size_t y)
{
    return !(png->pixels[y * png->rowlen + 1 + x / 8] & (0x80 >> (x % 8)));
}


/* the 7x7 finder pattern, its top left corner at module (mx, my) */
static int
ngx_unit_finder(ngx_unit_png_t *png, size_t scale, size_t mx, size_t my)
{
    size_t  x, y, dx, dy, ring;

    for (y = 0; y < 7; y++) {
        for (x = 0; x < 7; x++) {
            dx = x > 3 ? x - 3 : 3 - x;
            dy = y > 3 ? y - 3 : 3 - y;
            ring = ngx_max(dx, dy);

            /* dark, light, dark ring of width 1, dark 3x3 centre */
            if (ngx_unit_dark(png, (mx + x) * scale, (my + y) * scale)
                != (ring != 2))
            {
                return 0;
            }
        }
    }

    return 1;
}


static void
ngx_unit_png(const char *text, ngx_uint_t scale, ngx_unit_png_t *png,
    ngx_pool_t *pool)
{
    u_char      *p, *last;
    size_t       n, modules, x, white;
    uLongf       rawlen;
    uint32_t     len, crc;
    ngx_str_t    t, out;
    ngx_uint_t   i;
    const char  *want[] = { "IHDR", "IDAT", "IEND" };

    t = ngx_unit_str(text);
    png->pixels = NULL;

    if (!is_int(ngx_helpdesk_qr_png(pool, &t, scale, &out), NGX_OK,
                "PNG, scale %lu: made", (unsigned long) scale))
    {
        return;
    }

    ok(out.len > 8 && memcmp(out.data, "\x89PNG\r\n\x1a\n", 8) == 0,
       "PNG, scale %lu: the signature", (unsigned long) scale);

    p = out.data + 8;
    last = out.data + out.len;

    for (i = 0; i < 3; i++) {
        if (!ok(last - p >= 12, "PNG: room for chunk %s", want[i])) {
            return;
        }

        len = ngx_unit_be32(p);

        if (!ok(memcmp(p + 4, want[i], 4) == 0 && last - p >= 12 + len,
                "PNG: chunk %lu is %s, whole", (unsigned long) i + 1,
                want[i]))
        {
            return;
        }

        crc = crc32(crc32(0L, Z_NULL, 0), p + 4, 4 + len);
        is_int(ngx_unit_be32(p + 8 + len), crc, "PNG: %s's CRC", want[i]);

        if (i == 0) {
            is_int(len, 13, "PNG: IHDR of 13 bytes");
            png->side = ngx_unit_be32(p + 8);
            is_int(ngx_unit_be32(p + 12), png->side, "PNG: square");
            ok(p[16] == 1 && p[17] == 0 && p[18] == 0 && p[19] == 0
               && p[20] == 0, "PNG: 1-bit grayscale, deflate, no filter "
               "method but 0, not interlaced");

            modules = png->side / scale;
            ok(png->side % scale == 0 && modules >= 21 + 8
               && modules <= 177 + 8 && (modules - 8 - 21) % 4 == 0,
               "PNG: %lu pixels, %lu modules: a QR code's size and a "
               "quiet zone of 4", (unsigned long) png->side,
               (unsigned long) modules);

            png->rowlen = 1 + (png->side + 7) / 8;

        } else if (i == 1) {
            png->len = png->rowlen * png->side;
            png->pixels = ngx_pnalloc(pool, png->len);
            rawlen = png->len;

            if (png->pixels == NULL) {
                abort();
            }

            is_int(uncompress(png->pixels, &rawlen, p + 8, len), Z_OK,
                   "PNG: IDAT inflates");
            is_int(rawlen, png->len, "PNG: to a row of %lu bytes for each "
                   "of the %lu rows", (unsigned long) png->rowlen,
                   (unsigned long) png->side);

        } else {
            is_int(len, 0, "PNG: IEND is empty");
        }

        p += 12 + len;
    }

    ok(p == last, "PNG: nothing after IEND");

    if (png->pixels == NULL) {
        return;
    }

    for (n = 0, white = 0; n < png->side; n++) {
        white += png->pixels[n * png->rowlen] == 0;     /* filter: none */
    }

    is_int(white, png->side, "PNG: every row unfiltered");

    /* the quiet zone: the first and the last four modules' rows */
    for (n = 0, white = 0; n < 4 * scale; n++) {
        for (x = 0; x < png->side; x++) {
            white += !ngx_unit_dark(png, x, n)
                     + !ngx_unit_dark(png, x, png->side - 1 - n)
                     + !ngx_unit_dark(png, n, x)
                     + !ngx_unit_dark(png, png->side - 1 - n, x);
        }
    }

    is_int(white, 4 * 4 * scale * png->side, "PNG: the quiet zone is white");

    modules = png->side / scale;

    ok(ngx_unit_finder(png, scale, 4, 4), "PNG: the top left finder");
    ok(ngx_unit_finder(png, scale, modules - 4 - 7, 4),
       "PNG: the top right finder");
    ok(ngx_unit_finder(png, scale, 4, modules - 4 - 7),
       "PNG: the bottom left finder");
    ok(!ngx_unit_finder(png, scale, modules - 4 - 7, modules - 4 - 7),
       "PNG: none at the bottom right");
}


static void
ngx_unit_svg(const char *text, ngx_unit_png_t *png, ngx_pool_t *pool)
{
    int          n;
    char        *s, *d;
    size_t       modules, squares, x, y, same;
    ngx_str_t    t, out;
    const char  *head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                        "viewBox=\"0 0 ";

    t = ngx_unit_str(text);

    if (!is_int(ngx_helpdesk_qr_svg(pool, &t, &out), NGX_OK, "SVG: made")) {
        return;
    }

    s = ngx_pnalloc(pool, out.len + 1);
    if (s == NULL) {
        abort();
    }

    ngx_memcpy(s, out.data, out.len);
    s[out.len] = '\0';

    ok(strncmp(s, head, strlen(head)) == 0,
       "SVG: an XML declaration and an <svg> root in the SVG namespace");
    ok(out.len > 7 && strcmp(s + out.len - 7, "</svg>\n") == 0,
       "SVG: closed");
    ok(strstr(s + 1, "<?xml") == NULL && strstr(s + 1, "<svg") == strchr(s,
       '\n') + 1, "SVG: one root");

    modules = 0;
    n = sscanf(s + strlen(head), "%zu %zu\"", &modules, &x);
    ok(n == 2 && x == modules, "SVG: a square viewBox");
    is_int(modules, png ? png->side : modules,
           "SVG: as many modules as the PNG at scale 1");

    d = strstr(s, "<path fill=\"#000\" d=\"");
    if (!ok(d != NULL, "SVG: a black path")) {
        return;
    }

    d += sizeof("<path fill=\"#000\" d=\"") - 1;

    /* only unit squares, each dark in the PNG */
    squares = 0;
    same = 0;

    while (*d == 'M') {
        if (sscanf(d, "M%zu %zuh1v1h-1z%n", &x, &y, &n) != 2) {
            break;
        }

        squares++;
        same += png && x < png->side && y < png->side
                && ngx_unit_dark(png, x, y);
        d += n;
    }

    ok(strcmp(d, "\"/></svg>\n") == 0, "SVG: the path is unit squares only");
    ok(squares > 0, "SVG: %lu squares", (unsigned long) squares);

    if (png == NULL) {
        return;
    }

    for (y = 0, x = 0; y < png->side * png->side; y++) {
        x += ngx_unit_dark(png, y % png->side, y / png->side);
    }

    is_int(same, squares, "SVG: every square dark in the PNG");
    is_int(x, squares, "SVG: as many squares as the PNG has dark pixels");
}


int
main(void)
{
    char            *big;
    ngx_str_t        t, out;
    ngx_pool_t      *pool;
    ngx_unit_png_t   png1, png8;

    ngx_unit_init();

    pool = ngx_unit_pool();

    ngx_unit_png(NGX_UNIT_LINK, 1, &png1, pool);
    ngx_unit_png(NGX_UNIT_LINK, 8, &png8, pool);

    ok(png1.pixels && png8.pixels && png8.side == 8 * png1.side,
       "PNG: scale 8 is eight times as wide");

    ngx_unit_svg(NGX_UNIT_LINK, png1.pixels ? &png1 : NULL, pool);

    ngx_unit_png("https://wa.me/1", 4, &png8, pool);

    /* more than a QR code holds (2331 bytes at level M) */
    big = ngx_pnalloc(pool, 3001);
    if (big == NULL) {
        abort();
    }

    ngx_memset(big, 'a', 3000);
    big[3000] = '\0';
    t = ngx_unit_str(big);

    is_int(ngx_helpdesk_qr_png(pool, &t, 4, &out), NGX_ERROR,
           "PNG: 3000 bytes are too many");
    is_int(ngx_helpdesk_qr_svg(pool, &t, &out), NGX_ERROR,
           "SVG: 3000 bytes are too many");

    ngx_destroy_pool(pool);

    return ngx_unit_done();
}
