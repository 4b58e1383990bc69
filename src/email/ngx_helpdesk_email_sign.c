/*
 * DKIM (RFC 6376) for the mail built by hand (ngx_helpdesk_email_mime.c):
 * rsa-sha256, relaxed/relaxed, over the headers it writes, the signature
 * header put first; and a tenant's new key.  Pure code with malloc(), for
 * the thread pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ngx_helpdesk_email_mime.h"
#include "ngx_helpdesk_email_mime_int.h"


static void ngx_helpdesk_mail_relaxed_header(ngx_helpdesk_buf_t *b,
    const char *name, ngx_str_t *value);
static void ngx_helpdesk_mail_relaxed_body(ngx_helpdesk_buf_t *b,
    ngx_str_t *body);


ngx_int_t
ngx_helpdesk_mail_sign(ngx_helpdesk_mail_t *m, ngx_helpdesk_mail_header_t *h,
    ngx_uint_t n, ngx_str_t *body, ngx_helpdesk_buf_t *out, char *err,
    size_t size)
{
    BIO                 *bio;
    size_t               siglen;
    EVP_PKEY            *key;
    ngx_str_t            raw, enc, value;
    ngx_uint_t           i;
    EVP_MD_CTX          *md;
    ngx_helpdesk_buf_t   cb, sig;
    unsigned int         len;
    u_char               hash[EVP_MAX_MD_SIZE], bh[64], s[512], b64[700];

    ngx_memzero(&cb, sizeof(ngx_helpdesk_buf_t));
    ngx_memzero(&sig, sizeof(ngx_helpdesk_buf_t));

    /* bh=: the body, relaxed */
    ngx_helpdesk_mail_relaxed_body(&cb, body);

    if (cb.failed
        || EVP_Digest(cb.data, cb.len, hash, &len, EVP_sha256(), NULL) != 1)
    {
        ngx_free(cb.data);
        ngx_cpystrn((u_char *) err, (u_char *) "cannot hash the body", size);
        return NGX_ERROR;
    }

    ngx_free(cb.data);

    raw.data = hash;
    raw.len = len;
    enc.data = bh;
    ngx_encode_base64(&enc, &raw);

    /* the signature's own header, with an empty b= */
    ngx_helpdesk_buf_str(&sig, "v=1; a=rsa-sha256; c=relaxed/relaxed; d=");
    ngx_helpdesk_buf_add(&sig, m->dkim_domain.data, m->dkim_domain.len);
    ngx_helpdesk_buf_str(&sig, "; s=");
    ngx_helpdesk_buf_add(&sig, m->dkim_selector.data, m->dkim_selector.len);
    ngx_helpdesk_buf_add(&sig, s, ngx_sprintf(s, "; t=%T; h=", m->date) - s);

    for (i = 0; i < n; i++) {
        if (i) {
            ngx_helpdesk_buf_add(&sig, ":", 1);
        }

        ngx_strlow(s, (u_char *) h[i].name, ngx_strlen(h[i].name));
        ngx_helpdesk_buf_add(&sig, s, ngx_strlen(h[i].name));
    }

    ngx_helpdesk_buf_str(&sig, "; bh=");
    ngx_helpdesk_buf_add(&sig, enc.data, enc.len);
    ngx_helpdesk_buf_str(&sig, "; b=");

    /* what is signed: the headers relaxed, then this one without CRLF */
    ngx_memzero(&cb, sizeof(ngx_helpdesk_buf_t));

    for (i = 0; i < n; i++) {
        ngx_helpdesk_mail_relaxed_header(&cb, h[i].name, &h[i].value);
        ngx_helpdesk_buf_add(&cb, "\r\n", 2);
    }

    value.data = sig.data;
    value.len = sig.len;
    ngx_helpdesk_mail_relaxed_header(&cb, "DKIM-Signature", &value);

    if (cb.failed || sig.failed) {
        goto failed;
    }

    bio = BIO_new_mem_buf(m->dkim_key.data, (int) m->dkim_key.len);
    if (bio == NULL) {
        goto failed;
    }

    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (key == NULL) {
        ngx_cpystrn((u_char *) err, (u_char *) "the DKIM key does not read",
                    size);
        goto error;
    }

    md = EVP_MD_CTX_new();
    siglen = sizeof(s);

    if (md == NULL
        || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(md, s, &siglen, cb.data, cb.len) != 1)
    {
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(key);
        goto failed;
    }

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);

    raw.data = s;
    raw.len = siglen;
    enc.data = b64;
    ngx_encode_base64(&enc, &raw);

    /*
     * folded where the signed form has one space ("; "), and b= in lines
     * of its own: the relaxed form of what goes out is what was signed
     */
    ngx_helpdesk_buf_str(out, "DKIM-Signature: ");

    for (i = 0; i < sig.len; i++) {
        if (sig.data[i] == ' ' && i && sig.data[i - 1] == ';') {
            ngx_helpdesk_buf_add(out, "\r\n ", 3);
            continue;
        }

        ngx_helpdesk_buf_add(out, &sig.data[i], 1);
    }

    for (i = 0; i < enc.len; i += 64) {
        ngx_helpdesk_buf_add(out, "\r\n ", 3);
        ngx_helpdesk_buf_add(out, enc.data + i, ngx_min(64, enc.len - i));
    }

    ngx_helpdesk_buf_add(out, "\r\n", 2);

    ngx_free(cb.data);
    ngx_free(sig.data);

    return out->failed ? NGX_ERROR : NGX_OK;

failed:

    ngx_cpystrn((u_char *) err, (u_char *) "cannot sign the mail", size);

error:

    ngx_free(cb.data);
    ngx_free(sig.data);

    return NGX_ERROR;
}


/*
 * RFC 6376 3.4.2: the name in lower case, a colon, the value unfolded,
 * each run of spaces and tabs one space, none at its start or end.
 */

static void
ngx_helpdesk_mail_relaxed_header(ngx_helpdesk_buf_t *b, const char *name,
    ngx_str_t *value)
{
    u_char      c;
    size_t      i;
    ngx_flag_t  space;

    for (i = 0; name[i]; i++) {
        c = ngx_tolower(name[i]);
        ngx_helpdesk_buf_add(b, &c, 1);
    }

    ngx_helpdesk_buf_add(b, ":", 1);

    space = 0;

    for (i = 0; i < value->len; i++) {
        c = value->data[i];

        if (c == '\r' || c == '\n') {
            continue;
        }

        if (c == ' ' || c == '\t') {
            space = 1;
            continue;
        }

        if (space && b->len && b->data[b->len - 1] != ':') {
            ngx_helpdesk_buf_add(b, " ", 1);
        }

        space = 0;
        ngx_helpdesk_buf_add(b, &c, 1);
    }
}


/*
 * RFC 6376 3.4.4: in each line, runs of spaces and tabs one space and
 * none at its end; no empty lines at the end; a CRLF at the end.
 */

static void
ngx_helpdesk_mail_relaxed_body(ngx_helpdesk_buf_t *b, ngx_str_t *body)
{
    u_char      c;
    size_t      i;
    ngx_flag_t  space;

    space = 0;

    for (i = 0; i < body->len; i++) {
        c = body->data[i];

        if (c == ' ' || c == '\t') {
            space = 1;
            continue;
        }

        if (c == '\r' && i + 1 < body->len && body->data[i + 1] == '\n') {
            space = 0;      /* no space at a line's end */
            ngx_helpdesk_buf_add(b, "\r\n", 2);
            i++;
            continue;
        }

        if (space) {
            ngx_helpdesk_buf_add(b, " ", 1);
            space = 0;
        }

        ngx_helpdesk_buf_add(b, &c, 1);
    }

    if (b->failed) {
        return;
    }

    while (b->len >= 4 && ngx_strncmp(b->data + b->len - 4, "\r\n\r\n", 4) == 0)
    {
        b->len -= 2;
    }

    if (b->len == 2 && ngx_strncmp(b->data, "\r\n", 2) == 0) {
        b->len = 0;
    }

    if (b->len && (b->len < 2
                   || ngx_strncmp(b->data + b->len - 2, "\r\n", 2) != 0))
    {
        ngx_helpdesk_buf_add(b, "\r\n", 2);
    }
}


ngx_int_t
ngx_helpdesk_mail_dkim_key(ngx_str_t *pem, ngx_str_t *pub)
{
    BIO           *bio;
    int            der_len;
    char          *data;
    long           n;
    u_char        *der, *p;
    EVP_PKEY      *key;
    ngx_str_t      raw;
    ngx_int_t      rc;

    rc = NGX_ERROR;
    der = NULL;
    bio = NULL;

    key = EVP_RSA_gen(2048);
    if (key == NULL) {
        return NGX_ERROR;
    }

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL
        || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
    {
        goto done;
    }

    n = BIO_get_mem_data(bio, &data);

    pem->data = malloc(n);
    if (pem->data == NULL) {
        goto done;
    }

    ngx_memcpy(pem->data, data, n);
    pem->len = n;

    der_len = i2d_PUBKEY(key, NULL);
    if (der_len <= 0) {
        goto done;
    }

    der = malloc(der_len);
    if (der == NULL) {
        goto done;
    }

    p = der;
    i2d_PUBKEY(key, &p);

    pub->data = malloc(ngx_base64_encoded_length(der_len));
    if (pub->data == NULL) {
        goto done;
    }

    raw.data = der;
    raw.len = der_len;
    ngx_encode_base64(pub, &raw);

    rc = NGX_OK;

done:

    if (rc != NGX_OK && pem->data) {
        ngx_explicit_memzero(pem->data, pem->len);
        ngx_free(pem->data);
        pem->data = NULL;
    }

    ngx_free(der);
    BIO_free(bio);
    EVP_PKEY_free(key);

    return rc;
}
