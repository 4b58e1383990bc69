/*
 * The Cloud API's X-Hub-Signature-256 check
 * (ngx_http_helpdesk_whatsapp_signature()).  The input is the app secret,
 * the header's value and the body, separated by NUL bytes (no header when
 * there is no second part).  What it accepts must be "sha256=" and the
 * HMAC-SHA256 of the body in hex, in either case; and the right signature
 * for the input's secret and body, in the case the input's last byte
 * picks, must be accepted.
 */


#include "ngx_fuzz.h"
#include "whatsapp/ngx_http_helpdesk_whatsapp.h"

#include <openssl/hmac.h>
#include <openssl/evp.h>


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    return 0;
}


/* "sha256=<hex>" of the body's HMAC, into 7 + 64 bytes */
static void
ngx_fuzz_sign(ngx_str_t *secret, ngx_str_t *body, u_char *out)
{
    unsigned int  len;
    u_char        mac[EVP_MAX_MD_SIZE];

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len, body->data,
             body->len, mac, &len) == NULL || len != 32)
    {
        abort();
    }

    ngx_hex_dump(ngx_cpymem(out, "sha256=", 7), mac, 32);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          len;
    uint8_t         last;
    ngx_int_t       rc;
    ngx_str_t       secret, header, body, *h;
    ngx_uint_t      i;
    ngx_pool_t     *pool;
    const uint8_t  *part;
    u_char          expect[7 + 64];

    if (size == 0) {
        return 0;
    }

    last = data[size - 1];
    pool = ngx_fuzz_pool();

    (void) ngx_fuzz_part(&data, &size, &part, &len);
    secret = ngx_fuzz_str(pool, part, len);

    h = NULL;
    ngx_str_null(&body);

    if (ngx_fuzz_part(&data, &size, &part, &len)) {
        header = ngx_fuzz_value(pool, part, len);
        h = &header;
    }

    if (ngx_fuzz_part(&data, &size, &part, &len)) {
        body = ngx_fuzz_str(pool, part, len);
    }

    if (body.data == NULL) {
        body = ngx_fuzz_str(pool, (uint8_t *) "", 0);
    }

    rc = ngx_http_helpdesk_whatsapp_signature(&secret, &body, h);

    if (rc == NGX_OK) {
        /* accepted: it must be the right one */
        if (h == NULL || secret.len == 0 || h->len != sizeof(expect)) {
            abort();
        }

        ngx_fuzz_sign(&secret, &body, expect);

        if (ngx_strncasecmp(h->data, expect, sizeof(expect)) != 0) {
            abort();
        }

    } else if (rc != NGX_DECLINED) {
        abort();
    }

    if (secret.len == 0) {
        ngx_destroy_pool(pool);
        return 0;
    }

    /* the right signature, in the case the last byte's bits pick */
    ngx_fuzz_sign(&secret, &body, expect);
    header = ngx_fuzz_value(pool, expect, sizeof(expect));

    for (i = 0; i < sizeof(expect); i++) {
        if ((last >> (i % 8)) & 1) {
            header.data[i] = ngx_toupper(header.data[i]);
        }
    }

    if (ngx_http_helpdesk_whatsapp_signature(&secret, &body, &header)
        != NGX_OK)
    {
        abort();
    }

    ngx_destroy_pool(pool);

    return 0;
}
