/*
 * UTF-8 validation that can stop anywhere and go on with the next bytes:
 * a WebSocket text message arrives in fragments, and a fragment in reads
 * that may split a character anywhere.
 */

#ifndef _NGX_HELPDESK_UTF8_H_INCLUDED_
#define _NGX_HELPDESK_UTF8_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* where a validation stands between two calls; 0 before the first byte */
typedef uint32_t  ngx_helpdesk_utf8_t;

#define NGX_HELPDESK_UTF8_START  0


/*
 * Feeds len bytes: NGX_OK while what was seen can still be (the start
 * of) valid UTF-8 (RFC 3629: shortest forms only, no surrogates, nothing
 * past U+10FFFF), NGX_ERROR as soon as it cannot.  After NGX_ERROR the
 * state is undefined.
 */
ngx_int_t ngx_helpdesk_utf8_feed(ngx_helpdesk_utf8_t *state, const u_char *p,
    size_t len);

/* Whether the bytes fed so far end on a character's boundary. */
#define ngx_helpdesk_utf8_complete(state)  (*(state) == 0)

/* One whole string. */
ngx_int_t ngx_helpdesk_utf8_valid(const u_char *p, size_t len);


#endif /* _NGX_HELPDESK_UTF8_H_INCLUDED_ */
