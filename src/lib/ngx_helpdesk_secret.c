/*
 * Secrets at rest: AES-256-GCM (OpenSSL EVP) under a ring of keys.
 *
 * The stored form names its version and key, so keys can be rotated: a
 * new key put first in the key file encrypts from then on, the old ones
 * keep decrypting until every value was rewritten under the new one.
 * The associated data binds a ciphertext to its table, column and row;
 * the row ids are random UUIDs, unique across tenants, so a value moved
 * to another tenant's row, or to another field, fails its tag.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_helpdesk_secret.h"


#define NGX_HELPDESK_SECRET_V1     "v1:"
#define NGX_HELPDESK_SECRET_PLAIN  "plain:"


static ngx_int_t ngx_helpdesk_secret_parse_line(ngx_pool_t *pool,
    u_char *p, u_char *last, ngx_helpdesk_secret_ring_t *ring,
    const char **why);
static ngx_helpdesk_secret_key_t *ngx_helpdesk_secret_find(
    ngx_helpdesk_secret_ring_t *ring, u_char *id, size_t len);
static ngx_int_t ngx_helpdesk_secret_gcm(ngx_uint_t enc, u_char *key,
    u_char *nonce, ngx_str_t *aad, u_char *in, size_t len, u_char *out,
    u_char *tag);


ngx_int_t
ngx_helpdesk_secret_ring_parse(ngx_pool_t *pool, u_char *text, size_t len,
    ngx_helpdesk_secret_ring_t *ring, u_char *err, size_t size)
{
    u_char      *p, *last, *eol, *e;
    ngx_uint_t   line;
    const char  *why;

    if (ngx_array_init(&ring->keys, pool, 2,
                       sizeof(ngx_helpdesk_secret_key_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = text;
    last = text + len;

    for (line = 1; p < last; line++, p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        e = eol;
        while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }

        while (p < e && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == e || *p == '#') {
            continue;
        }

        why = NULL;

        if (ngx_helpdesk_secret_parse_line(pool, p, e, ring, &why) != NGX_OK)
        {
            if (why == NULL) {
                return NGX_ERROR;
            }

            e = ngx_snprintf(err, size - 1, "line %ui: %s", line, why);
            *e = '\0';
            return NGX_ERROR;
        }
    }

    if (ring->keys.nelts == 0) {
        e = ngx_snprintf(err, size - 1, "no key in the file");
        *e = '\0';
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_helpdesk_secret_parse_line(ngx_pool_t *pool, u_char *p, u_char *last,
    ngx_helpdesk_secret_ring_t *ring, const char **why)
{
    u_char                     *id, *sp;
    ngx_str_t                   src, dst;
    ngx_helpdesk_secret_key_t  *k;
    u_char                      buf[64];

    id = p;

    for (sp = p; sp < last && *sp != ' ' && *sp != '\t'; sp++) {
        if (!((*sp >= 'a' && *sp <= 'z') || (*sp >= 'A' && *sp <= 'Z')
              || (*sp >= '0' && *sp <= '9') || *sp == '_' || *sp == '-'))
        {
            *why = "a key id is 1 to 32 of A-Z, a-z, 0-9, \"_\" and \"-\"";
            return NGX_DECLINED;
        }
    }

    if (sp == last) {
        *why = "expected \"<key id> <base64 of 32 bytes>\"";
        return NGX_DECLINED;
    }

    if (sp - id > NGX_HELPDESK_SECRET_ID_MAX) {
        *why = "a key id is 1 to 32 of A-Z, a-z, 0-9, \"_\" and \"-\"";
        return NGX_DECLINED;
    }

    if (ngx_helpdesk_secret_find(ring, id, sp - id)) {
        *why = "the key id is used twice";
        return NGX_DECLINED;
    }

    src.data = sp;
    while (src.data < last && (*src.data == ' ' || *src.data == '\t')) {
        src.data++;
    }

    src.len = last - src.data;

    /* 32 bytes are 44 base64 characters */
    if (src.len != 44 || ngx_strlchr(src.data, last, ' ')
        || ngx_strlchr(src.data, last, '\t'))
    {
        *why = "the key is not the base64 of 32 bytes "
               "(openssl rand -base64 32)";
        return NGX_DECLINED;
    }

    dst.data = buf;

    if (ngx_decode_base64(&dst, &src) != NGX_OK
        || dst.len != NGX_HELPDESK_SECRET_KEY_LEN)
    {
        *why = "the key is not the base64 of 32 bytes "
               "(openssl rand -base64 32)";
        return NGX_DECLINED;
    }

    k = ngx_array_push(&ring->keys);
    if (k == NULL) {
        return NGX_ERROR;
    }

    k->id.len = sp - id;
    k->id.data = ngx_pnalloc(pool, k->id.len);
    if (k->id.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(k->id.data, id, k->id.len);
    ngx_memcpy(k->key, buf, NGX_HELPDESK_SECRET_KEY_LEN);
    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_OK;
}


ngx_str_t *
ngx_helpdesk_secret_current(ngx_helpdesk_secret_ring_t *ring)
{
    ngx_helpdesk_secret_key_t  *k = ring->keys.elts;

    return &k[0].id;
}


static ngx_helpdesk_secret_key_t *
ngx_helpdesk_secret_find(ngx_helpdesk_secret_ring_t *ring, u_char *id,
    size_t len)
{
    ngx_uint_t                  i;
    ngx_helpdesk_secret_key_t  *k = ring->keys.elts;

    for (i = 0; i < ring->keys.nelts; i++) {
        if (k[i].id.len == len && ngx_memcmp(k[i].id.data, id, len) == 0) {
            return &k[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_helpdesk_secret_row_id(u_char *buf)
{
    u_char  *p;
    u_char   b[16];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return NGX_ERROR;
    }

    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;

    p = ngx_hex_dump(buf, b, 4);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 4, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 6, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, b + 8, 2);
    *p++ = '-';
    (void) ngx_hex_dump(p, b + 10, 6);

    return NGX_OK;
}


void
ngx_helpdesk_secret_aad(ngx_str_t *aad, u_char *buf, const char *table,
    const char *column, ngx_str_t *row)
{
    size_t  n;

    n = ngx_min(row->len, 64);

    aad->data = buf;
    aad->len = ngx_snprintf(buf, NGX_HELPDESK_SECRET_AAD_MAX, "%s.%s:%*s",
                            table, column, n, row->data) - buf;
}


ngx_int_t
ngx_helpdesk_secret_encrypt(ngx_pool_t *pool, ngx_helpdesk_secret_ring_t *ring,
    ngx_str_t *aad, ngx_str_t *plain, ngx_str_t *out)
{
    u_char                     *p, *raw;
    ngx_str_t                   src, dst;
    ngx_helpdesk_secret_key_t  *k;

    if (plain->len > NGX_HELPDESK_SECRET_MAX || ring->keys.nelts == 0) {
        return NGX_ERROR;
    }

    k = ring->keys.elts;

    src.len = NGX_HELPDESK_SECRET_NONCE_LEN + plain->len
              + NGX_HELPDESK_SECRET_TAG_LEN;
    raw = ngx_pnalloc(pool, src.len);
    if (raw == NULL) {
        return NGX_ERROR;
    }

    if (RAND_bytes(raw, NGX_HELPDESK_SECRET_NONCE_LEN) != 1) {
        return NGX_ERROR;
    }

    if (ngx_helpdesk_secret_gcm(1, k->key, raw, aad, plain->data, plain->len,
                                raw + NGX_HELPDESK_SECRET_NONCE_LEN,
                                raw + NGX_HELPDESK_SECRET_NONCE_LEN
                                + plain->len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    src.data = raw;

    out->len = sizeof(NGX_HELPDESK_SECRET_V1) - 1 + k->id.len + 1
               + ngx_base64_encoded_length(src.len);
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, NGX_HELPDESK_SECRET_V1,
                   sizeof(NGX_HELPDESK_SECRET_V1) - 1);
    p = ngx_cpymem(p, k->id.data, k->id.len);
    *p++ = ':';

    dst.data = p;
    ngx_encode_base64(&dst, &src);
    out->len = p + dst.len - out->data;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_secret_decrypt(ngx_pool_t *pool, ngx_helpdesk_secret_ring_t *ring,
    ngx_str_t *aad, ngx_str_t *value, ngx_str_t *plain)
{
    u_char                     *p, *last, *colon, *raw;
    size_t                      n;
    ngx_str_t                   src, dst;
    ngx_helpdesk_secret_key_t  *k;

    p = value->data;
    last = value->data + value->len;
    n = sizeof(NGX_HELPDESK_SECRET_PLAIN) - 1;

    if (value->len >= n && ngx_strncmp(p, NGX_HELPDESK_SECRET_PLAIN, n) == 0)
    {
        plain->data = p + n;
        plain->len = value->len - n;
        return NGX_OK;
    }

    n = sizeof(NGX_HELPDESK_SECRET_V1) - 1;

    if (value->len < n || ngx_strncmp(p, NGX_HELPDESK_SECRET_V1, n) != 0
        || ring == NULL || ring->keys.nelts == 0)
    {
        return NGX_DECLINED;
    }

    p += n;

    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL) {
        return NGX_DECLINED;
    }

    k = ngx_helpdesk_secret_find(ring, p, colon - p);
    if (k == NULL) {
        return NGX_DECLINED;
    }

    src.data = colon + 1;
    src.len = last - src.data;

    if (src.len > ngx_base64_encoded_length(NGX_HELPDESK_SECRET_NONCE_LEN
                                            + NGX_HELPDESK_SECRET_MAX
                                            + NGX_HELPDESK_SECRET_TAG_LEN))
    {
        return NGX_DECLINED;
    }

    raw = ngx_pnalloc(pool, ngx_base64_decoded_length(src.len) + 1);
    if (raw == NULL) {
        return NGX_ERROR;
    }

    dst.data = raw;

    if (ngx_decode_base64(&dst, &src) != NGX_OK
        || dst.len < NGX_HELPDESK_SECRET_NONCE_LEN
                     + NGX_HELPDESK_SECRET_TAG_LEN)
    {
        return NGX_DECLINED;
    }

    n = dst.len - NGX_HELPDESK_SECRET_NONCE_LEN - NGX_HELPDESK_SECRET_TAG_LEN;

    /* decrypted in place; a NUL after it for the callers that need one */
    plain->data = ngx_pnalloc(pool, n + 1);
    if (plain->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_helpdesk_secret_gcm(0, k->key, raw, aad,
                                raw + NGX_HELPDESK_SECRET_NONCE_LEN, n,
                                plain->data,
                                raw + NGX_HELPDESK_SECRET_NONCE_LEN + n)
        != NGX_OK)
    {
        ngx_explicit_memzero(plain->data, n);
        return NGX_DECLINED;
    }

    plain->data[n] = '\0';
    plain->len = n;

    return NGX_OK;
}


ngx_uint_t
ngx_helpdesk_secret_is_current(ngx_helpdesk_secret_ring_t *ring,
    ngx_str_t *value)
{
    size_t      n;
    ngx_str_t  *id;

    n = sizeof(NGX_HELPDESK_SECRET_V1) - 1;
    id = ngx_helpdesk_secret_current(ring);

    return value->len > n + id->len
           && ngx_strncmp(value->data, NGX_HELPDESK_SECRET_V1, n) == 0
           && ngx_strncmp(value->data + n, id->data, id->len) == 0
           && value->data[n + id->len] == ':';
}


static ngx_int_t
ngx_helpdesk_secret_gcm(ngx_uint_t enc, u_char *key, u_char *nonce,
    ngx_str_t *aad, u_char *in, size_t len, u_char *out, u_char *tag)
{
    int              n;
    ngx_int_t        rc;
    EVP_CIPHER_CTX  *c;

    c = EVP_CIPHER_CTX_new();
    if (c == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, (int) enc)
        != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN,
                               NGX_HELPDESK_SECRET_NONCE_LEN, NULL) != 1
        || EVP_CipherInit_ex(c, NULL, NULL, key, nonce, (int) enc) != 1)
    {
        goto done;
    }

    if (EVP_CipherUpdate(c, NULL, &n, aad->data, (int) aad->len) != 1) {
        goto done;
    }

    if (len && EVP_CipherUpdate(c, out, &n, in, (int) len) != 1) {
        goto done;
    }

    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG,
                                    NGX_HELPDESK_SECRET_TAG_LEN, tag) != 1)
    {
        goto done;
    }

    /* on decryption, this is where the tag is checked */
    if (EVP_CipherFinal_ex(c, out + len, &n) != 1) {
        goto done;
    }

    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG,
                                   NGX_HELPDESK_SECRET_TAG_LEN, tag) != 1)
    {
        goto done;
    }

    rc = NGX_OK;

done:

    EVP_CIPHER_CTX_free(c);
    return rc;
}
