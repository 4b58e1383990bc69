/*
 * Incremental UTF-8 validation (RFC 3629).
 *
 * The state packs what the next byte must be: the number of continuation
 * bytes still expected (low byte), and the range the very next one must
 * fall in (bits 8-15: lowest, 16-23: highest).  The range is narrower
 * than 0x80-0xbf only for the second byte of a sequence, which is where
 * overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code
 * points past U+10FFFF (F4 90..BF) are told apart.  A state of 0 is a
 * character boundary.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_utf8.h"


#define ngx_helpdesk_utf8_state(need, lo, hi)                                \
    ((uint32_t) (need) | ((uint32_t) (lo) << 8) | ((uint32_t) (hi) << 16))


ngx_int_t
ngx_helpdesk_utf8_feed(ngx_helpdesk_utf8_t *state, const u_char *p,
    size_t len)
{
    u_char        c, lo, hi;
    uint32_t      s, need;
    const u_char *last;

    s = *state;
    last = p + len;

    while (p < last) {
        c = *p++;

        if (s == 0) {

            /* ASCII runs, the common case, go by quickly */
            if (c < 0x80) {
                continue;
            }

            if (c < 0xc2) {
                /* a continuation byte, or C0/C1: an overlong form */
                return NGX_ERROR;
            }

            if (c < 0xe0) {
                s = ngx_helpdesk_utf8_state(1, 0x80, 0xbf);

            } else if (c < 0xf0) {
                s = ngx_helpdesk_utf8_state(2, c == 0xe0 ? 0xa0 : 0x80,
                                            c == 0xed ? 0x9f : 0xbf);

            } else if (c < 0xf5) {
                s = ngx_helpdesk_utf8_state(3, c == 0xf0 ? 0x90 : 0x80,
                                            c == 0xf4 ? 0x8f : 0xbf);

            } else {
                return NGX_ERROR;
            }

            continue;
        }

        need = s & 0xff;
        lo = (u_char) (s >> 8);
        hi = (u_char) (s >> 16);

        if (c < lo || c > hi) {
            return NGX_ERROR;
        }

        need--;
        s = need ? ngx_helpdesk_utf8_state(need, 0x80, 0xbf) : 0;
    }

    *state = s;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_utf8_valid(const u_char *p, size_t len)
{
    ngx_helpdesk_utf8_t  s = NGX_HELPDESK_UTF8_START;

    if (ngx_helpdesk_utf8_feed(&s, p, len) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_helpdesk_utf8_complete(&s) ? NGX_OK : NGX_ERROR;
}
