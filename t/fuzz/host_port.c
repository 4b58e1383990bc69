/*
 * The port part of a Host header (ngx_http_helpdesk_req_host_port()): the
 * input is the header's value.  What is accepted must be empty, or one to
 * five digits naming 1 to 65535, and must lie inside the value, after its
 * ':'; links to the site are built from it.
 */


#include "ngx_fuzz.h"
#include "ngx_http_helpdesk_module.h"
#include "http/ngx_http_helpdesk_request.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t       i;
    ngx_uint_t   n;
    ngx_str_t    value, port;
    ngx_pool_t  *pool;

    pool = ngx_fuzz_pool();
    value = ngx_fuzz_str(pool, data, size);

    if (ngx_http_helpdesk_req_host_port(value.data, value.data + value.len,
                                        &port)
        == NGX_OK && port.len)
    {
        if (port.len > 5 || port.data <= value.data
            || port.data + port.len != value.data + value.len
            || port.data[-1] != ':')
        {
            abort();
        }

        for (i = 0, n = 0; i < port.len; i++) {
            if (port.data[i] < '0' || port.data[i] > '9') {
                abort();
            }

            n = n * 10 + (port.data[i] - '0');
        }

        if (n == 0 || n > 65535) {
            abort();
        }
    }

    ngx_destroy_pool(pool);

    return 0;
}
