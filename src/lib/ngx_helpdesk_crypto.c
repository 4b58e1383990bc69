/*
 * Digests and random tokens.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ngx_helpdesk_crypto.h"


void
ngx_helpdesk_sha256(u_char *data, size_t len, u_char *out)
{
    unsigned int  n;

    (void) EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}


ngx_int_t
ngx_helpdesk_hmac_sha256(u_char *key, size_t key_len, u_char *data,
    size_t len, u_char *out)
{
    unsigned int  n;

    if (key_len > NGX_MAX_INT32_VALUE
        || HMAC(EVP_sha256(), key, (int) key_len, data, len, out, &n) == NULL
        || n != NGX_HELPDESK_SHA256_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_random(u_char *out, size_t n)
{
    if (n > NGX_MAX_INT32_VALUE || RAND_bytes(out, (int) n) != 1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
