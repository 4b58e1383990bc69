/*
 * Markdown to HTML for knowledge-base articles, with cmark.
 */

#ifndef _NGX_HELPDESK_MARKDOWN_H_INCLUDED_
#define _NGX_HELPDESK_MARKDOWN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Renders CommonMark into HTML in "pool".  Raw HTML in the source is
 * dropped and links or images with javascript:, vbscript:, file: or
 * data: (other than images) URLs are emptied, so the result can be put
 * into a page as it is.
 */
ngx_int_t ngx_helpdesk_markdown_html(ngx_pool_t *pool, u_char *md, size_t len,
    ngx_str_t *html);


#endif /* _NGX_HELPDESK_MARKDOWN_H_INCLUDED_ */
