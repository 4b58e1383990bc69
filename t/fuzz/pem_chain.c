/*
 * The CA's certificate chain (ngx_helpdesk_jose_pem_chain()), then what
 * the ACME client does with it: the leaf check and the ARI certID.  The
 * input is the response body.  A chain taken must hold 1 to
 * NGX_HELPDESK_JOSE_CHAIN_MAX certificates, each of at most
 * NGX_HELPDESK_JOSE_CERT_MAX bytes and each one whole X.509 certificate
 * with nothing after it; a chain refused must say why.  An input starting
 * with a 0x01 byte is DER: the rest is wrapped in one PEM block first, so
 * that mutations reach the certificate parser, the leaf check and the
 * certID rather than stopping at the base64.
 */


#include "ngx_fuzz.h"
#include "lib/ngx_helpdesk_jose.h"

#include <openssl/x509.h>


static EVP_PKEY  *key;


static ngx_str_t
ngx_fuzz_der_pem(ngx_pool_t *pool, const uint8_t *data, size_t size)
{
    u_char     *p;
    size_t      i;
    ngx_str_t   der, b64, pem;

    der.data = (u_char *) data;
    der.len = size;

    b64.data = ngx_pnalloc(pool, ngx_base64_encoded_length(size) + 1);
    pem.data = ngx_pnalloc(pool, ngx_base64_encoded_length(size)
                                 + ngx_base64_encoded_length(size) / 64 + 64);
    if (b64.data == NULL || pem.data == NULL) {
        abort();
    }

    ngx_encode_base64(&b64, &der);

    p = ngx_cpymem(pem.data, "-----BEGIN CERTIFICATE-----\n", 28);

    for (i = 0; i < b64.len; i += 64) {
        p = ngx_cpymem(p, b64.data + i, ngx_min(64, b64.len - i));
        *p++ = '\n';
    }

    p = ngx_cpymem(p, "-----END CERTIFICATE-----\n", 26);
    pem.len = p - pem.data;

    return pem;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();

    key = ngx_helpdesk_jose_key_generate();
    if (key == NULL) {
        abort();
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509                      *x;
    ngx_str_t                  pem, host, *der, id;
    ngx_int_t                  rc;
    ngx_uint_t                 i;
    ngx_pool_t                *pool;
    const char                *reason;
    ngx_array_t               *ders;
    const u_char              *p;
    ngx_helpdesk_jose_leaf_t   leaf;

    pool = ngx_fuzz_pool();

    if (size && data[0] == 0x01) {
        pem = ngx_fuzz_der_pem(pool, data + 1, size - 1);

    } else {
        pem = ngx_fuzz_str(pool, data, size);
    }
    reason = NULL;
    ders = NULL;

    rc = ngx_helpdesk_jose_pem_chain(pool, &pem, &ders, &reason);

    if (rc == NGX_DECLINED) {
        if (reason == NULL || reason[0] == '\0') {
            abort();
        }

    } else if (rc == NGX_OK) {
        if (ders == NULL || ders->nelts == 0
            || ders->nelts > NGX_HELPDESK_JOSE_CHAIN_MAX)
        {
            abort();
        }

        der = ders->elts;

        for (i = 0; i < ders->nelts; i++) {
            if (der[i].len == 0 || der[i].len > NGX_HELPDESK_JOSE_CERT_MAX) {
                abort();
            }

            p = der[i].data;
            x = d2i_X509(NULL, &p, (long) der[i].len);

            if (x == NULL || p != der[i].data + der[i].len) {
                abort();
            }

            X509_free(x);

            if (ngx_helpdesk_jose_ari_cert_id(pool, &der[i], &id) == NGX_OK
                && (id.len < 3 || ngx_strlchr(id.data, id.data + id.len, '.')
                                  == NULL))
            {
                abort();
            }
        }

        ngx_str_set(&host, "shop.example.com");
        reason = NULL;

        rc = ngx_helpdesk_jose_leaf_check(ders, &host, key, ngx_time(), &leaf,
                                          &reason);

        /* the key was made here: no certificate can carry it */

        if (rc != NGX_DECLINED || reason == NULL) {
            abort();
        }

    } else {
        abort();
    }

    ngx_destroy_pool(pool);

    return 0;
}
