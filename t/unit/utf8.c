/*
 * lib/ngx_helpdesk_utf8.c: UTF-8 validated in pieces, as a WebSocket's
 * fragments and reads cut it; the cases of RFC 3629 and of the Autobahn
 * test suite's section 6 (boundaries, overlong forms, surrogates, code
 * points past U+10FFFF), whole and split at every byte.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_utf8.h"


/* valid: whole, and cut at every place into two and into single bytes */

static void
ngx_unit_utf8(const char *s, size_t len, ngx_int_t valid, const char *name)
{
    size_t               i, cut;
    ngx_int_t            rc, whole;
    ngx_helpdesk_utf8_t  st;
    ngx_flag_t           same = 1;

    whole = ngx_helpdesk_utf8_valid((const u_char *) s, len);
    ok(whole == valid, "%s: %s", name, valid == NGX_OK ? "valid" : "invalid");

    for (cut = 0; cut <= len; cut++) {
        st = NGX_HELPDESK_UTF8_START;
        rc = ngx_helpdesk_utf8_feed(&st, (const u_char *) s, cut);

        if (rc == NGX_OK) {
            rc = ngx_helpdesk_utf8_feed(&st, (const u_char *) s + cut,
                                        len - cut);
        }

        if (rc == NGX_OK && !ngx_helpdesk_utf8_complete(&st)) {
            rc = NGX_ERROR;
        }

        if (rc != valid) {
            same = 0;
        }
    }

    st = NGX_HELPDESK_UTF8_START;
    rc = NGX_OK;

    for (i = 0; i < len && rc == NGX_OK; i++) {
        rc = ngx_helpdesk_utf8_feed(&st, (const u_char *) s + i, 1);
    }

    if (rc == NGX_OK && !ngx_helpdesk_utf8_complete(&st)) {
        rc = NGX_ERROR;
    }

    if (rc != valid) {
        same = 0;
    }

    ok(same, "%s: the same answer however it is cut", name);
}


#define ngx_unit_valid(s, name)                                              \
    ngx_unit_utf8(s, sizeof(s) - 1, NGX_OK, name)
#define ngx_unit_invalid(s, name)                                            \
    ngx_unit_utf8(s, sizeof(s) - 1, NGX_ERROR, name)


int
main(void)
{
    ngx_helpdesk_utf8_t  st;

    ngx_unit_init();

    ngx_unit_valid("", "the empty string");
    ngx_unit_valid("Hello, world", "ASCII");
    ngx_unit_valid("\x00\x7f", "NUL and DEL");
    ngx_unit_valid("Ol\xc3\xa1, mundo! \xc2\xbfQu\xc3\xa9 tal?",
                   "Portuguese and Spanish");
    ngx_unit_valid("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
                   "Greek (Autobahn 6.2)");
    ngx_unit_valid("\xf0\x9f\x92\xad chat", "an emoji (4 bytes)");
    ngx_unit_valid("\xc2\x80", "U+0080, the first of two bytes");
    ngx_unit_valid("\xdf\xbf", "U+07FF, the last of two bytes");
    ngx_unit_valid("\xe0\xa0\x80", "U+0800, the first of three bytes");
    ngx_unit_valid("\xed\x9f\xbf", "U+D7FF, just below the surrogates");
    ngx_unit_valid("\xee\x80\x80", "U+E000, just above them");
    ngx_unit_valid("\xef\xbf\xbf", "U+FFFF");
    ngx_unit_valid("\xef\xbb\xbf", "a byte-order mark");
    ngx_unit_valid("\xf0\x90\x80\x80", "U+10000, the first of four bytes");
    ngx_unit_valid("\xf4\x8f\xbf\xbf", "U+10FFFF, the last code point");

    ngx_unit_invalid("\x80", "a lone continuation byte");
    ngx_unit_invalid("\xbf", "another");
    ngx_unit_invalid("ab\xc3", "a sequence cut at the end");
    ngx_unit_invalid("\xe2\x82", "three bytes, cut after two");
    ngx_unit_invalid("\xf0\x9f\x92", "four bytes, cut after three");
    ngx_unit_invalid("\xc3\x28", "a continuation that is not one");
    ngx_unit_invalid("\xc0\xaf", "an overlong '/' in two bytes");
    ngx_unit_invalid("\xc1\xbf", "an overlong form starting C1");
    ngx_unit_invalid("\xe0\x80\xaf", "an overlong '/' in three bytes");
    ngx_unit_invalid("\xe0\x9f\xbf", "an overlong U+07FF in three bytes");
    ngx_unit_invalid("\xf0\x80\x80\xaf", "an overlong '/' in four bytes");
    ngx_unit_invalid("\xf0\x8f\xbf\xbf", "an overlong U+FFFF in four bytes");
    ngx_unit_invalid("\xed\xa0\x80", "U+D800, a surrogate");
    ngx_unit_invalid("\xed\xbf\xbf", "U+DFFF, a surrogate");
    ngx_unit_invalid("\xed\xa0\x80\xed\xb0\x80", "a surrogate pair");
    ngx_unit_invalid("\xf4\x90\x80\x80", "U+110000, past the last");
    ngx_unit_invalid("\xf5\x80\x80\x80", "a lead byte F5");
    ngx_unit_invalid("\xf8\x88\x80\x80\x80", "five bytes");
    ngx_unit_invalid("\xfe", "FE");
    ngx_unit_invalid("\xff", "FF");
    ngx_unit_invalid("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0"
                     "\x80\x65\x64\x69\x74\x65\x64",
                     "Greek, then a surrogate (Autobahn 6.4)");

    /* stops at the first byte that cannot be, wherever the rest is */
    st = NGX_HELPDESK_UTF8_START;
    ok(ngx_helpdesk_utf8_feed(&st, (const u_char *) "\xce", 1) == NGX_OK
       && !ngx_helpdesk_utf8_complete(&st),
       "a lead byte: fine so far, not complete");
    ok(ngx_helpdesk_utf8_feed(&st, (const u_char *) "\xba", 1) == NGX_OK
       && ngx_helpdesk_utf8_complete(&st), "its continuation completes it");
    ok(ngx_helpdesk_utf8_feed(&st, (const u_char *) "\xe0\x80", 2)
       == NGX_ERROR, "an overlong form is refused at its second byte");

    return ngx_unit_done();
}
