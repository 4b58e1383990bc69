/*
 * What a stored file really is, from its first bytes: the type a browser
 * may be told, and whether it may show the file in a page.
 */

#ifndef _NGX_HELPDESK_MAGIC_H_INCLUDED_
#define _NGX_HELPDESK_MAGIC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    const char  *type;      /* the Content-Type to send */
    ngx_uint_t   inline_ok; /* a raster image: may be shown in a page */
} ngx_helpdesk_magic_t;


/*
 * The kind of "data", decided by its content only: PNG, JPEG, GIF and
 * WebP images (inline), PDF, Ogg, MP4 and ZIP files (downloads with their
 * type), and everything else -- HTML, SVG, XML, scripts, text, unknown
 * bytes -- application/octet-stream, a download.  The declared type and
 * the file's name are never consulted: they are the uploader's word.
 */
const ngx_helpdesk_magic_t *ngx_helpdesk_magic(const u_char *data,
    size_t len);

/*
 * 1 for a file that is not accepted at all (a program, an installer, a
 * script, a shortcut), by its name, its declared type or, with data, its
 * first bytes.
 */
ngx_flag_t ngx_helpdesk_magic_refused(ngx_str_t *name, ngx_str_t *type,
    const u_char *data, size_t len);


#endif /* _NGX_HELPDESK_MAGIC_H_INCLUDED_ */
