/*
 * The WhatsApp webhook's deliveries: the body check a POST goes through
 * before it is stored (ngx_http_helpdesk_whatsapp_payload(), whose reason
 * must fit its buffer), and the verification handshake's query
 * (hub.mode, hub.verify_token, hub.challenge, each URL-decoded).
 */


#include "ngx_fuzz.h"
#include "whatsapp/ngx_http_helpdesk_whatsapp.h"


static ngx_str_t  ngx_fuzz_args[] = {
    ngx_string("hub.mode"),
    ngx_string("hub.verify_token"),
    ngx_string("hub.challenge")
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t            body, arg, value;
    ngx_uint_t           i;
    ngx_pool_t          *pool;
    ngx_http_request_t  *r;
    u_char               detail[256];

    pool = ngx_fuzz_pool();

    body = ngx_fuzz_str(pool, data, size);
    ngx_memset(detail, 'x', sizeof(detail));

    if (ngx_http_helpdesk_whatsapp_payload(&body, detail, sizeof(detail))
        != NGX_OK
        && memchr(detail, '\0', sizeof(detail)) == NULL)
    {
        abort();
    }

    r = ngx_fuzz_request(pool);
    r->args = ngx_fuzz_str(pool, data, size);

    for (i = 0; i < sizeof(ngx_fuzz_args) / sizeof(ngx_fuzz_args[0]); i++) {
        if (ngx_http_arg(r, ngx_fuzz_args[i].data, ngx_fuzz_args[i].len, &arg)
            != NGX_OK)
        {
            continue;
        }

        if (ngx_http_helpdesk_whatsapp_unescape(r, &arg, &value) != NGX_OK
            || value.len > arg.len)
        {
            abort();
        }
    }

    ngx_destroy_pool(pool);

    return 0;
}
