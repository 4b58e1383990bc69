/*
 * The portal's, the console's and the chat widget's pages and assets,
 * embedded into the module at build time by src/tools/embed.pl.
 */

#ifndef _NGX_HELPDESK_WWW_H_INCLUDED_
#define _NGX_HELPDESK_WWW_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    ngx_str_t   name;       /* path under src/www, e.g. "portal/app.js" */
    ngx_str_t   url;        /* versioned URL; empty for HTML templates */
    ngx_str_t   type;       /* Content-Type */
    ngx_str_t   etag;       /* strong, quoted */
    ngx_str_t   body;
    ngx_uint_t  immutable;
    ngx_str_t   gzip;       /* the body gzipped at build time, or empty */
    ngx_str_t   gzip_etag;  /* strong, quoted: the gzip copy's own */
} ngx_helpdesk_www_file_t;


extern const ngx_helpdesk_www_file_t  ngx_helpdesk_www_files[];


#endif /* _NGX_HELPDESK_WWW_H_INCLUDED_ */
