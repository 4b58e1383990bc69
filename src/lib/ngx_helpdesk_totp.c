/*
 * TOTP (RFC 6238 over RFC 4226): the code of a 30-second step is
 * HMAC-SHA1(secret, step as 8 big-endian bytes), dynamically truncated to
 * 31 bits, modulo 10^6.  Authenticator apps take the secret in base32.
 * One HMAC per step tried: cheap enough for the event loop.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

#include "ngx_helpdesk_totp.h"


static const char  ngx_helpdesk_base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";


ngx_int_t
ngx_helpdesk_totp_secret(ngx_pool_t *pool, ngx_str_t *base32)
{
    u_char      *p;
    ngx_uint_t   i, bits, value;
    u_char       raw[NGX_HELPDESK_TOTP_SECRET_LEN];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, (sizeof(raw) * 8 + 4) / 5);
    if (p == NULL) {
        return NGX_ERROR;
    }

    base32->data = p;
    bits = 0;
    value = 0;

    for (i = 0; i < sizeof(raw); i++) {
        value = (value << 8) | raw[i];
        bits += 8;

        while (bits >= 5) {
            *p++ = ngx_helpdesk_base32[(value >> (bits - 5)) & 31];
            bits -= 5;
        }
    }

    if (bits) {
        *p++ = ngx_helpdesk_base32[(value << (5 - bits)) & 31];
    }

    base32->len = p - base32->data;
    ngx_explicit_memzero(raw, sizeof(raw));

    return NGX_OK;
}


static ngx_int_t
ngx_helpdesk_totp_decode(ngx_str_t *base32, u_char *out, size_t *len)
{
    u_char      c;
    ngx_uint_t  i, bits, value, v;

    bits = 0;
    value = 0;
    *len = 0;

    for (i = 0; i < base32->len; i++) {
        c = ngx_toupper(base32->data[i]);

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= '2' && c <= '7') {
            v = c - '2' + 26;
        } else if (c == '=' || c == ' ') {
            continue;
        } else {
            return NGX_ERROR;
        }

        value = (value << 5) | v;
        bits += 5;

        if (bits >= 8) {
            if (*len == 64) {
                return NGX_ERROR;
            }

            out[(*len)++] = (u_char) (value >> (bits - 8));
            bits -= 8;
        }
    }

    return *len >= 10 ? NGX_OK : NGX_ERROR;
}


static ngx_uint_t
ngx_helpdesk_totp_code(u_char *key, size_t len, uint64_t step)
{
    int           i;
    u_char        msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int  n;
    ngx_uint_t    off, bin;

    for (i = 7; i >= 0; i--) {
        msg[i] = (u_char) (step & 0xff);
        step >>= 8;
    }

    if (HMAC(EVP_sha1(), key, (int) len, msg, sizeof(msg), mac, &n) == NULL
        || n < 20)
    {
        return (ngx_uint_t) -1;
    }

    off = mac[n - 1] & 0x0f;
    bin = ((ngx_uint_t) (mac[off] & 0x7f) << 24)
          | ((ngx_uint_t) mac[off + 1] << 16)
          | ((ngx_uint_t) mac[off + 2] << 8)
          | (ngx_uint_t) mac[off + 3];

    return bin % 1000000;
}


ngx_int_t
ngx_helpdesk_totp_check(ngx_str_t *base32, ngx_str_t *code)
{
    uint64_t  step;

    return ngx_helpdesk_totp_match(base32, code, &step);
}


ngx_int_t
ngx_helpdesk_totp_match(ngx_str_t *base32, ngx_str_t *code,
    uint64_t *matched)
{
    size_t      len;
    ngx_int_t   want, rc;
    uint64_t    step;
    ngx_uint_t  i, match, hit;
    u_char      key[64];

    if (code->len != 6) {
        return NGX_DECLINED;
    }

    for (i = 0; i < 6; i++) {
        if (code->data[i] < '0' || code->data[i] > '9') {
            return NGX_DECLINED;
        }
    }

    want = ngx_atoi(code->data, 6);

    if (ngx_helpdesk_totp_decode(base32, key, &len) != NGX_OK) {
        return NGX_DECLINED;
    }

    step = (uint64_t) ngx_time() / 30;
    match = 0;
    *matched = 0;

    /* every candidate step is computed: no early exit to time */
    for (i = 0; i < 3; i++) {
        hit = (ngx_helpdesk_totp_code(key, len, step - 1 + i)
               == (ngx_uint_t) want);

        /* the latest step that matches (all three cannot in practice) */
        if (hit) {
            *matched = step - 1 + i;
        }

        match |= hit;
    }

    ngx_explicit_memzero(key, sizeof(key));

    rc = match ? NGX_OK : NGX_DECLINED;

    return rc;
}
