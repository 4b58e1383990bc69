/*
 * base64url, P-256 keys, the JWK and its thumbprint, ES256 JWS (see
 * ngx_helpdesk_jose.h).  The X.509 half is ngx_helpdesk_jose_x509.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "lib/ngx_helpdesk_jose.h"
#include "lib/ngx_helpdesk_crypto.h"


#define NGX_HELPDESK_P256_COORD  32


static ngx_int_t ngx_helpdesk_b64u_check(ngx_str_t *in);
static void ngx_helpdesk_jose_wipe(void *data);
static ngx_int_t ngx_helpdesk_jose_coords(EVP_PKEY *key,
    u_char x[NGX_HELPDESK_P256_COORD], u_char y[NGX_HELPDESK_P256_COORD]);
static ngx_int_t ngx_helpdesk_jose_is_p256(EVP_PKEY *key);
static u_char *ngx_helpdesk_jose_json_str(u_char *p, ngx_str_t *s);
static size_t ngx_helpdesk_jose_json_len(ngx_str_t *s);


ngx_int_t
ngx_helpdesk_b64u_encode(ngx_pool_t *pool, const u_char *data, size_t len,
    ngx_str_t *out)
{
    ngx_str_t  src;

    out->data = ngx_pnalloc(pool, ngx_base64_encoded_length(len) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    src.data = (u_char *) data;
    src.len = len;

    ngx_encode_base64url(out, &src);
    out->data[out->len] = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_helpdesk_b64u_check(ngx_str_t *in)
{
    size_t   i;
    u_char   c, last;

    static const u_char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    if (in->len % 4 == 1) {
        return NGX_ERROR;
    }

    for (i = 0; i < in->len; i++) {
        c = in->data[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return NGX_ERROR;
        }
    }

    /* the bits past the last whole byte must be zero (one encoding only) */

    if (in->len % 4) {
        last = (u_char) ((u_char *) ngx_strlchr((u_char *) alphabet,
                                                (u_char *) alphabet + 64,
                                                in->data[in->len - 1])
                         - alphabet);

        if ((in->len % 4 == 2 && (last & 0x0f))
            || (in->len % 4 == 3 && (last & 0x03)))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_b64u_decode(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    if (ngx_helpdesk_b64u_check(in) != NGX_OK) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, ngx_base64_decoded_length(in->len) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(out, in) != NGX_OK) {
        return NGX_ERROR;
    }

    out->data[out->len] = '\0';

    return NGX_OK;
}


EVP_PKEY *
ngx_helpdesk_jose_key_generate(void)
{
    return EVP_EC_gen("P-256");
}


static void
ngx_helpdesk_jose_wipe(void *data)
{
    ngx_str_t  *s = data;

    if (s->data && s->len) {
        OPENSSL_cleanse(s->data, s->len);
    }
}


ngx_int_t
ngx_helpdesk_jose_key_to_pem(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *pem)
{
    BIO                 *bio;
    long                 n;
    char                *p;
    ngx_str_t           *wipe;
    ngx_int_t            rc;
    ngx_pool_cleanup_t  *cln;

    if (ngx_helpdesk_jose_is_p256(key) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(pool, sizeof(ngx_str_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    wipe = cln->data;
    ngx_str_null(wipe);
    cln->handler = ngx_helpdesk_jose_wipe;

    /* a secure-heap BIO: its buffer is cleansed when freed */

    bio = BIO_new(BIO_s_secmem());
    if (bio == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        goto done;
    }

    n = BIO_get_mem_data(bio, &p);
    if (n <= 0) {
        goto done;
    }

    pem->data = ngx_pnalloc(pool, n);
    if (pem->data == NULL) {
        goto done;
    }

    ngx_memcpy(pem->data, p, n);
    pem->len = n;
    *wipe = *pem;
    rc = NGX_OK;

done:

    BIO_free(bio);
    ERR_clear_error();

    return rc;
}


EVP_PKEY *
ngx_helpdesk_jose_key_from_pem(const u_char *pem, size_t len)
{
    BIO       *bio;
    EVP_PKEY  *key;

    if (len == 0 || len > 16384) {
        return NULL;
    }

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        return NULL;
    }

    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();

    if (key == NULL) {
        return NULL;
    }

    if (ngx_helpdesk_jose_is_p256(key) != NGX_OK) {
        EVP_PKEY_free(key);
        return NULL;
    }

    return key;
}


EVP_PKEY *
ngx_helpdesk_jose_key_from_jwk(ngx_str_t *x, ngx_str_t *y)
{
    u_char           point[1 + 2 * NGX_HELPDESK_P256_COORD];
    u_char           buf[2][64];
    EVP_PKEY        *key;
    ngx_str_t        dx, dy;
    OSSL_PARAM       params[3];
    EVP_PKEY_CTX    *ctx;

    /* 32 bytes are 43 base64url characters */

    if (x->len != 43 || y->len != 43) {
        return NULL;
    }

    /* decoded on the stack: 32 bytes */

    dx.data = buf[0];
    dy.data = buf[1];

    if (ngx_helpdesk_b64u_check(x) != NGX_OK
        || ngx_helpdesk_b64u_check(y) != NGX_OK
        || ngx_decode_base64url(&dx, x) != NGX_OK
        || ngx_decode_base64url(&dy, y) != NGX_OK
        || dx.len != NGX_HELPDESK_P256_COORD
        || dy.len != NGX_HELPDESK_P256_COORD)
    {
        return NULL;
    }

    point[0] = 0x04;
    ngx_memcpy(point + 1, dx.data, NGX_HELPDESK_P256_COORD);
    ngx_memcpy(point + 1 + NGX_HELPDESK_P256_COORD, dy.data,
               NGX_HELPDESK_P256_COORD);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) "prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();

    key = NULL;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL) {
        return NULL;
    }

    if (EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        key = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();

    return key;
}


static ngx_int_t
ngx_helpdesk_jose_is_p256(EVP_PKEY *key)
{
    char  group[32];

    if (key == NULL || !EVP_PKEY_is_a(key, "EC")) {
        return NGX_ERROR;
    }

    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
                                       group, sizeof(group), NULL)
        != 1)
    {
        ERR_clear_error();
        return NGX_ERROR;
    }

    if (ngx_strcmp(group, "prime256v1") != 0
        && ngx_strcmp(group, "P-256") != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_helpdesk_jose_coords(EVP_PKEY *key, u_char x[NGX_HELPDESK_P256_COORD],
    u_char y[NGX_HELPDESK_P256_COORD])
{
    BIGNUM     *bx, *by;
    ngx_int_t   rc;

    if (ngx_helpdesk_jose_is_p256(key) != NGX_OK) {
        return NGX_ERROR;
    }

    bx = NULL;
    by = NULL;
    rc = NGX_ERROR;

    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1
        && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1
        && BN_bn2binpad(bx, x, NGX_HELPDESK_P256_COORD)
           == NGX_HELPDESK_P256_COORD
        && BN_bn2binpad(by, y, NGX_HELPDESK_P256_COORD)
           == NGX_HELPDESK_P256_COORD)
    {
        rc = NGX_OK;
    }

    BN_free(bx);
    BN_free(by);
    ERR_clear_error();

    return rc;
}


ngx_int_t
ngx_helpdesk_jose_jwk(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *jwk)
{
    u_char     x[NGX_HELPDESK_P256_COORD], y[NGX_HELPDESK_P256_COORD];
    u_char     bx[48], by[48];
    ngx_str_t  sx, sy, rx, ry;

    if (ngx_helpdesk_jose_coords(key, x, y) != NGX_OK) {
        return NGX_ERROR;
    }

    rx.data = x;
    rx.len = sizeof(x);
    ry.data = y;
    ry.len = sizeof(y);
    sx.data = bx;
    sy.data = by;

    ngx_encode_base64url(&sx, &rx);
    ngx_encode_base64url(&sy, &ry);

    jwk->data = ngx_pnalloc(pool, sizeof("{\"crv\":\"P-256\",\"kty\":\"EC\","
                                         "\"x\":\"\",\"y\":\"\"}")
                                  + sx.len + sy.len);
    if (jwk->data == NULL) {
        return NGX_ERROR;
    }

    jwk->len = ngx_sprintf(jwk->data,
                           "{\"crv\":\"P-256\",\"kty\":\"EC\","
                           "\"x\":\"%V\",\"y\":\"%V\"}%Z", &sx, &sy)
               - jwk->data - 1;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_jose_thumbprint(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *out)
{
    u_char     digest[NGX_HELPDESK_SHA256_LEN];
    ngx_str_t  jwk;

    if (ngx_helpdesk_jose_jwk(pool, key, &jwk) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_helpdesk_sha256(jwk.data, jwk.len, digest);

    return ngx_helpdesk_b64u_encode(pool, digest, sizeof(digest), out);
}


/* a JSON string's characters, escaped (the quotes are the caller's) */

static size_t
ngx_helpdesk_jose_json_len(ngx_str_t *s)
{
    size_t  i, n;

    for (i = 0, n = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\') {
            n += 2;

        } else if (s->data[i] < 0x20 || s->data[i] == 0x7f) {
            n += 6;

        } else {
            n++;
        }
    }

    return n;
}


static u_char *
ngx_helpdesk_jose_json_str(u_char *p, ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\') {
            *p++ = '\\';
            *p++ = s->data[i];

        } else if (s->data[i] < 0x20 || s->data[i] == 0x7f) {
            p = ngx_sprintf(p, "\\u%04xi", (ngx_int_t) s->data[i]);

        } else {
            *p++ = s->data[i];
        }
    }

    return p;
}


ngx_int_t
ngx_helpdesk_jose_jws(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_helpdesk_jws_header_t *hdr, ngx_str_t *payload, ngx_str_t *body)
{
    u_char      *p, *der;
    u_char       raw[NGX_HELPDESK_JOSE_ES256_LEN];
    size_t       len, der_len;
    ngx_int_t    rc;
    ngx_str_t    jwk, prot, b64prot, b64payload, b64sig, input;
    EVP_MD_CTX  *md;

    if (hdr->url.len == 0) {
        return NGX_ERROR;
    }

    ngx_str_null(&jwk);

    if (hdr->kid.len == 0
        && ngx_helpdesk_jose_jwk(pool, key, &jwk) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the protected header */

    len = sizeof("{\"alg\":\"ES256\",\"nonce\":\"\",\"url\":\"\","
                 "\"kid\":\"\"}")
          + ngx_helpdesk_jose_json_len(&hdr->nonce)
          + ngx_helpdesk_jose_json_len(&hdr->url)
          + ngx_helpdesk_jose_json_len(&hdr->kid) + jwk.len;

    prot.data = ngx_pnalloc(pool, len);
    if (prot.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(prot.data, "{\"alg\":\"ES256\"",
                   sizeof("{\"alg\":\"ES256\"") - 1);

    if (hdr->kid.len) {
        p = ngx_cpymem(p, ",\"kid\":\"", sizeof(",\"kid\":\"") - 1);
        p = ngx_helpdesk_jose_json_str(p, &hdr->kid);
        *p++ = '"';

    } else {
        p = ngx_cpymem(p, ",\"jwk\":", sizeof(",\"jwk\":") - 1);
        p = ngx_cpymem(p, jwk.data, jwk.len);
    }

    if (hdr->nonce.len) {
        p = ngx_cpymem(p, ",\"nonce\":\"", sizeof(",\"nonce\":\"") - 1);
        p = ngx_helpdesk_jose_json_str(p, &hdr->nonce);
        *p++ = '"';
    }

    p = ngx_cpymem(p, ",\"url\":\"", sizeof(",\"url\":\"") - 1);
    p = ngx_helpdesk_jose_json_str(p, &hdr->url);
    p = ngx_cpymem(p, "\"}", 2);

    prot.len = p - prot.data;

    if (ngx_helpdesk_b64u_encode(pool, prot.data, prot.len, &b64prot)
        != NGX_OK
        || ngx_helpdesk_b64u_encode(pool, payload->data, payload->len,
                                    &b64payload)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the signing input: ASCII(b64(protected) "." b64(payload)) */

    input.len = b64prot.len + 1 + b64payload.len;
    input.data = ngx_pnalloc(pool, input.len);
    if (input.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(input.data, b64prot.data, b64prot.len);
    *p++ = '.';
    ngx_memcpy(p, b64payload.data, b64payload.len);

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    der = NULL;

    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(md, NULL, &der_len, input.data, input.len) != 1)
    {
        goto done;
    }

    der = ngx_pnalloc(pool, der_len);
    if (der == NULL) {
        goto done;
    }

    if (EVP_DigestSign(md, der, &der_len, input.data, input.len) != 1
        || ngx_helpdesk_jose_sig_der_to_raw(der, der_len, raw) != NGX_OK
        || ngx_helpdesk_b64u_encode(pool, raw, sizeof(raw), &b64sig) != NGX_OK)
    {
        goto done;
    }

    len = sizeof("{\"protected\":\"\",\"payload\":\"\",\"signature\":\"\"}")
          + b64prot.len + b64payload.len + b64sig.len;

    body->data = ngx_pnalloc(pool, len);
    if (body->data == NULL) {
        goto done;
    }

    body->len = ngx_sprintf(body->data,
                            "{\"protected\":\"%V\",\"payload\":\"%V\","
                            "\"signature\":\"%V\"}",
                            &b64prot, &b64payload, &b64sig)
                - body->data;
    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return rc;
}


ngx_int_t
ngx_helpdesk_jose_sig_der_to_raw(const u_char *der, size_t len,
    u_char raw[NGX_HELPDESK_JOSE_ES256_LEN])
{
    const u_char   *p;
    ngx_int_t       rc;
    ECDSA_SIG      *sig;
    const BIGNUM   *r, *s;

    p = der;

    sig = d2i_ECDSA_SIG(NULL, &p, (long) len);
    if (sig == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    /* the whole input, and numbers that fit the curve's 32 bytes */

    if (p == der + len) {
        ECDSA_SIG_get0(sig, &r, &s);

        if (BN_bn2binpad(r, raw, 32) == 32
            && BN_bn2binpad(s, raw + 32, 32) == 32)
        {
            rc = NGX_OK;
        }
    }

    ECDSA_SIG_free(sig);
    ERR_clear_error();

    return rc;
}


ngx_int_t
ngx_helpdesk_jose_sig_raw_to_der(ngx_pool_t *pool,
    const u_char raw[NGX_HELPDESK_JOSE_ES256_LEN], ngx_str_t *der)
{
    BIGNUM     *r, *s;
    ngx_int_t   rc;
    ECDSA_SIG  *sig;

    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);

    rc = NGX_ERROR;

    if (sig == NULL || r == NULL || s == NULL
        || ECDSA_SIG_set0(sig, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        goto done;
    }

    /* sig owns r and s now */

    rc = ngx_helpdesk_jose_i2d(pool, CHECKED_I2D_OF(ECDSA_SIG, i2d_ECDSA_SIG),
                               sig, der);

done:

    ECDSA_SIG_free(sig);
    ERR_clear_error();

    return rc;
}


ngx_int_t
ngx_helpdesk_jose_i2d(ngx_pool_t *pool, i2d_of_void *i2d, const void *obj,
    ngx_str_t *der)
{
    int      n;
    u_char  *p;

    n = i2d(obj, NULL);
    if (n <= 0) {
        return NGX_ERROR;
    }

    der->data = ngx_pnalloc(pool, n);
    if (der->data == NULL) {
        return NGX_ERROR;
    }

    p = der->data;
    der->len = i2d(obj, &p);

    return ((int) der->len == n) ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_helpdesk_jose_es256_verify(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *input, ngx_str_t *sig)
{
    int          ok;
    ngx_str_t    raw, der;
    EVP_MD_CTX  *md;

    if (ngx_helpdesk_b64u_decode(pool, sig, &raw) != NGX_OK
        || raw.len != NGX_HELPDESK_JOSE_ES256_LEN
        || ngx_helpdesk_jose_sig_raw_to_der(pool, raw.data, &der) != NGX_OK)
    {
        return NGX_ERROR;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    ok = -1;

    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1) {
        ok = EVP_DigestVerify(md, der.data, der.len, input->data,
                              input->len);
    }

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    if (ok < 0) {
        return NGX_ERROR;
    }

    return ok == 1 ? NGX_OK : NGX_DECLINED;
}
