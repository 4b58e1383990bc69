/*
 * What the fuzz targets share: nginx's globals set up as a worker has
 * them, a log that writes nowhere, and a request with just the parts the
 * parsers read.  Every string handed to a parser is a pool allocation of
 * exactly its length (the targets are built with NGX_DEBUG_PALLOC, so each
 * is a malloc of its own) and a read past it is caught.
 */

#ifndef _NGX_FUZZ_H_INCLUDED_
#define _NGX_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_log_t         ngx_fuzz_log;
static ngx_open_file_t   ngx_fuzz_log_file;
static ngx_connection_t  ngx_fuzz_connection;


static ngx_inline void
ngx_fuzz_init(void)
{
    ngx_uint_t  n;

    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }

    ngx_time_init();
    ngx_use_stderr = 0;

    ngx_fuzz_log_file.fd = open("/dev/null", O_WRONLY);
    ngx_fuzz_log.file = &ngx_fuzz_log_file;
    ngx_fuzz_log.log_level = NGX_LOG_EMERG;

    ngx_fuzz_connection.fd = (ngx_socket_t) -1;
    ngx_fuzz_connection.log = &ngx_fuzz_log;
}


static ngx_inline ngx_pool_t *
ngx_fuzz_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, &ngx_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    return pool;
}


/* bytes as a string of exactly their length */
static ngx_inline ngx_str_t
ngx_fuzz_str(ngx_pool_t *pool, const uint8_t *data, size_t size)
{
    ngx_str_t  s;

    s.len = size;
    s.data = ngx_pnalloc(pool, size ? size : 1);
    if (s.data == NULL) {
        abort();
    }

    ngx_memcpy(s.data, data, size);

    return s;
}


/* a header value: nginx ends each with a NUL byte, past its length */
static ngx_inline ngx_str_t
ngx_fuzz_value(ngx_pool_t *pool, const uint8_t *data, size_t size)
{
    ngx_str_t  s;

    s.len = size;
    s.data = ngx_pnalloc(pool, size + 1);
    if (s.data == NULL) {
        abort();
    }

    ngx_memcpy(s.data, data, size);
    s.data[size] = '\0';

    return s;
}


/*
 * The next part of an input made of parts separated by NUL bytes (a byte
 * nginx never lets through in a request line or a header).  0 once the
 * input is used up.
 */
static ngx_inline ngx_flag_t
ngx_fuzz_part(const uint8_t **data, size_t *size, const uint8_t **part,
    size_t *len)
{
    const uint8_t  *nul;

    if (*data == NULL) {
        return 0;
    }

    nul = memchr(*data, '\0', *size);

    *part = *data;

    if (nul == NULL) {
        *len = *size;
        *data = NULL;
        *size = 0;

    } else {
        *len = nul - *data;
        *size -= *len + 1;
        *data = nul + 1;
    }

    return 1;
}


static ngx_inline ngx_http_request_t *
ngx_fuzz_request(ngx_pool_t *pool)
{
    ngx_http_request_t  *r;

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (r == NULL) {
        abort();
    }

    r->pool = pool;
    r->main = r;
    r->connection = &ngx_fuzz_connection;
    r->method = NGX_HTTP_GET;

    if (ngx_list_init(&r->headers_in.headers, pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 4,
                         sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_array_init(&r->headers_in.cookies, pool, 2,
                          sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        abort();
    }

    return r;
}


/* a request header, as nginx's header parser leaves it (see above) */
static ngx_inline ngx_table_elt_t *
ngx_fuzz_header(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        abort();
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
    h->lowcase_key = h->key.data;

    return h;
}


#endif /* _NGX_FUZZ_H_INCLUDED_ */
