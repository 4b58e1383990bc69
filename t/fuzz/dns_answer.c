/*
 * A DNS answer (ngx_helpdesk_dns_answer_parse()): the input's first two
 * octets choose the question's type (of A, AAAA, CNAME, TXT, CAA), the
 * rest is the message, read as the answer to id 0x1234 for "a.example".
 * Whatever is accepted must hold together: names within 253 characters
 * of text, a chain of at most 8 links ending at "final", a CAA issuer
 * inside its value.
 */


#include "ngx_fuzz.h"
#include "lib/ngx_helpdesk_dns.h"


static volatile ngx_uint_t  ngx_fuzz_sink;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ngx_uint_t     types[] = { 1, 28, 5, 16, 257 };
    ngx_str_t                   msg, name, *s, issuer;
    size_t                      k;
    ngx_uint_t                  i, n, type;
    ngx_pool_t                 *pool;
    const char                 *err;
    ngx_helpdesk_dns_caa_t     *caa;
    ngx_helpdesk_dns_answer_t   ans;

    if (size < 2) {
        return 0;
    }

    type = types[(data[0] ^ data[1]) % 5];

    pool = ngx_fuzz_pool();
    msg.len = size - 2;
    msg.data = ngx_alloc(msg.len ? msg.len : 1, &ngx_fuzz_log);
    if (msg.data == NULL) {
        abort();
    }

    ngx_memcpy(msg.data, data + 2, msg.len);
    name.data = (u_char *) "A.example.";
    name.len = sizeof("A.example.") - 1;

    if (ngx_helpdesk_dns_answer_parse(pool, msg.data, msg.len, 0x1234, &name,
                                      type, &ans, &err)
        == NGX_OK)
    {
        if (ans.rcode > 15 || ans.name.len != 9
            || ngx_memcmp(ans.name.data, "a.example", 9) != 0
            || ans.chain.nelts > NGX_HELPDESK_DNS_CHAIN_MAX)
        {
            abort();
        }

        s = ans.chain.elts;

        for (i = 0; i < ans.chain.nelts; i++) {
            if (s[i].len > 253) {
                abort();
            }
        }

        if (ans.chain.nelts
            && (ans.final.data != s[ans.chain.nelts - 1].data
                || ans.final.len != s[ans.chain.nelts - 1].len))
        {
            abort();
        }

        if ((ans.truncated || ans.rcode)
            && (ans.a.nelts || ans.aaaa.nelts || ans.txt.nelts
                || ans.caa.nelts || ans.chain.nelts))
        {
            abort();
        }

        caa = ans.caa.elts;

        for (i = 0; i < ans.caa.nelts; i++) {
            if (caa[i].tag.len == 0 || caa[i].tag.len > 15) {
                abort();
            }

            if (ngx_helpdesk_dns_caa_issuer(&caa[i].value, &issuer) == NGX_OK
                && (issuer.data < caa[i].value.data
                    || issuer.data + issuer.len
                       > caa[i].value.data + caa[i].value.len))
            {
                abort();
            }
        }

        /* nothing points into the message: read after it is freed */
        ngx_free(msg.data);
        msg.data = NULL;

        n = 0;
        s = ans.txt.elts;
        for (i = 0; i < ans.txt.nelts; i++) {
            for (k = 0; k < s[i].len; k++) {
                n += s[i].data[k];
            }
        }

        for (i = 0; i < ans.caa.nelts; i++) {
            for (k = 0; k < caa[i].value.len; k++) {
                n += caa[i].value.data[k];
            }

            n += caa[i].tag.data[caa[i].tag.len - 1];
        }

        for (k = 0; k < ans.final.len; k++) {
            n += ans.final.data[k];
        }

        ngx_fuzz_sink = n;
    }

    ngx_free(msg.data);
    ngx_destroy_pool(pool);

    return 0;
}
