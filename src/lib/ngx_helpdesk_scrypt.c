/*
 * scrypt password hashes through OpenSSL.
 *
 * A hash is stored as "$scrypt$ln=15,r=8,p=1$<salt>$<key>" (base64, no
 * padding): the cost travels with the hash, so it can be raised later and
 * old hashes still check.  The cost a stored hash may ask for is bounded
 * (ln 10 to 20, r 1 to 32, p 1 to 16, and OpenSSL's memory limit below),
 * so a tampered row cannot make one check take minutes or gigabytes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

#include "ngx_helpdesk_scrypt.h"


#define NGX_HELPDESK_SCRYPT_MAXMEM  (256 * 1024 * 1024)


static ngx_int_t ngx_helpdesk_scrypt_decode(u_char *start, u_char *end,
    u_char *out, size_t max, size_t *len);
static u_char *ngx_helpdesk_scrypt_encode(u_char *p, u_char *data,
    size_t len);


/* a hash of nothing useful: its key is 32 zero bytes */
static ngx_str_t  ngx_helpdesk_scrypt_dummy_hash = ngx_string(
    "$scrypt$ln=15,r=8,p=1$bm90IGEgcmVhbCBzYWx0$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");


ngx_int_t
ngx_helpdesk_scrypt_new(ngx_helpdesk_scrypt_t *s)
{
    ngx_memzero(s, sizeof(ngx_helpdesk_scrypt_t));

    s->ln = NGX_HELPDESK_SCRYPT_LN;
    s->r = NGX_HELPDESK_SCRYPT_R;
    s->p = NGX_HELPDESK_SCRYPT_P;
    s->salt_len = NGX_HELPDESK_SCRYPT_SALT_LEN;
    s->key_len = NGX_HELPDESK_SCRYPT_KEY_LEN;

    if (RAND_bytes(s->salt, NGX_HELPDESK_SCRYPT_SALT_LEN) != 1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_scrypt_parse(ngx_str_t *hash, ngx_helpdesk_scrypt_t *s)
{
    u_char     *p, *last, *salt, *key;
    ngx_int_t   ln, r, par;

    p = hash->data;
    last = p + hash->len;

    if (hash->len > NGX_HELPDESK_SCRYPT_HASH_MAX
        || hash->len < sizeof("$scrypt$ln=") - 1
        || ngx_strncmp(p, "$scrypt$ln=", 11) != 0)
    {
        return NGX_ERROR;
    }

    p += 11;
    salt = ngx_strlchr(p, last, ',');
    if (salt == NULL || (ln = ngx_atoi(p, salt - p)) == NGX_ERROR
        || ln < 10 || ln > 20 || last - salt < 3 || ngx_strncmp(salt, ",r=", 3))
    {
        return NGX_ERROR;
    }

    p = salt + 3;
    salt = ngx_strlchr(p, last, ',');
    if (salt == NULL || (r = ngx_atoi(p, salt - p)) == NGX_ERROR
        || r < 1 || r > 32 || last - salt < 3 || ngx_strncmp(salt, ",p=", 3))
    {
        return NGX_ERROR;
    }

    p = salt + 3;
    salt = ngx_strlchr(p, last, '$');
    if (salt == NULL || (par = ngx_atoi(p, salt - p)) == NGX_ERROR
        || par < 1 || par > 16)
    {
        return NGX_ERROR;
    }

    salt++;
    key = ngx_strlchr(salt, last, '$');
    if (key == NULL) {
        return NGX_ERROR;
    }

    /* a key shorter than 128 bits would be too easy to match by chance */
    if (ngx_helpdesk_scrypt_decode(salt, key, s->salt, sizeof(s->salt),
                                   &s->salt_len)
        != NGX_OK
        || ngx_helpdesk_scrypt_decode(key + 1, last, s->key, sizeof(s->key),
                                      &s->key_len)
           != NGX_OK
        || s->key_len < 16)
    {
        return NGX_ERROR;
    }

    s->ln = ln;
    s->r = r;
    s->p = par;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_scrypt_format(ngx_pool_t *pool, ngx_helpdesk_scrypt_t *s,
    ngx_str_t *hash)
{
    u_char  *p;
    size_t   len;

    len = sizeof("$scrypt$ln=,r=,p=$$") - 1 + 3 * NGX_INT_T_LEN
          + ngx_base64_encoded_length(s->salt_len)
          + ngx_base64_encoded_length(s->key_len);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    hash->data = p;

    p = ngx_sprintf(p, "$scrypt$ln=%ui,r=%ui,p=%ui$", s->ln, s->r, s->p);
    p = ngx_helpdesk_scrypt_encode(p, s->salt, s->salt_len);
    *p++ = '$';
    p = ngx_helpdesk_scrypt_encode(p, s->key, s->key_len);

    hash->len = p - hash->data;

    return NGX_OK;
}


void
ngx_helpdesk_scrypt_dummy(ngx_helpdesk_scrypt_t *s)
{
    (void) ngx_helpdesk_scrypt_parse(&ngx_helpdesk_scrypt_dummy_hash, s);
}


ngx_int_t
ngx_helpdesk_scrypt_derive(ngx_helpdesk_scrypt_t *s, u_char *password,
    size_t len, u_char *out)
{
    if (s->ln > 63
        || EVP_PBE_scrypt((const char *) password, len, s->salt, s->salt_len,
                          (uint64_t) 1 << s->ln, s->r, s->p,
                          NGX_HELPDESK_SCRYPT_MAXMEM, out, s->key_len)
           != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_scrypt_verify(ngx_helpdesk_scrypt_t *s, u_char *password,
    size_t len)
{
    ngx_int_t  rc;
    u_char     key[NGX_HELPDESK_SCRYPT_BUF_LEN];

    if (s->key_len > sizeof(key)
        || ngx_helpdesk_scrypt_derive(s, password, len, key) != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_helpdesk_scrypt_equal(key, s->key, s->key_len)
         ? NGX_OK : NGX_DECLINED;

    ngx_explicit_memzero(key, sizeof(key));

    return rc;
}


/* no early exit: how long a comparison takes tells nothing of the key */
ngx_flag_t
ngx_helpdesk_scrypt_equal(u_char *a, u_char *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}


/* base64 without its padding, which the stored form leaves out */
static ngx_int_t
ngx_helpdesk_scrypt_decode(u_char *start, u_char *end, u_char *out,
    size_t max, size_t *len)
{
    u_char     buf[96];
    size_t     n;
    ngx_str_t  src, dst;

    n = end - start;
    if (n == 0 || n + 3 > sizeof(buf)) {
        return NGX_ERROR;
    }

    ngx_memcpy(buf, start, n);
    while (n % 4) {
        buf[n++] = '=';
    }

    if (ngx_base64_decoded_length(n) > max) {
        return NGX_ERROR;
    }

    src.data = buf;
    src.len = n;
    dst.data = out;

    if (ngx_decode_base64(&dst, &src) != NGX_OK) {
        return NGX_ERROR;
    }

    *len = dst.len;

    return NGX_OK;
}


static u_char *
ngx_helpdesk_scrypt_encode(u_char *p, u_char *data, size_t len)
{
    ngx_str_t  src, dst;

    src.data = data;
    src.len = len;
    dst.data = p;

    ngx_encode_base64(&dst, &src);

    while (dst.len && dst.data[dst.len - 1] == '=') {
        dst.len--;
    }

    return p + dst.len;
}
