/*
 * Markdown to HTML with cmark, in its safe mode (the default since 0.29):
 * raw HTML blocks and inline HTML become comments, and dangerous URL
 * schemes are removed.  Invalid UTF-8 is replaced, not passed on.  An
 * article is at most a few hundred kilobytes (the API's body limit), which
 * cmark renders in well under a millisecond per ten kilobytes, so this
 * runs on the event loop.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <cmark.h>

#include "ngx_helpdesk_markdown.h"


ngx_int_t
ngx_helpdesk_markdown_html(ngx_pool_t *pool, u_char *md, size_t len,
    ngx_str_t *html)
{
    char    *out;
    size_t   n;

    out = cmark_markdown_to_html((const char *) md, len,
                                 CMARK_OPT_DEFAULT | CMARK_OPT_VALIDATE_UTF8);
    if (out == NULL) {
        return NGX_ERROR;
    }

    n = ngx_strlen(out);

    html->data = ngx_pnalloc(pool, n + 1);
    if (html->data == NULL) {
        free(out);
        return NGX_ERROR;
    }

    ngx_memcpy(html->data, out, n + 1);
    html->len = n;

    free(out);

    return NGX_OK;
}
