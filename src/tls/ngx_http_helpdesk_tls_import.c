/*
 * The provider's certificate import: a PEM chain and key checked with
 * OpenSSL before anything of them reaches the database.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/err.h>

#include "ngx_http_helpdesk_module.h"
#include "tls/ngx_http_helpdesk_tls.h"


static ngx_int_t
ngx_http_helpdesk_tls_time(json_t *out, const char *field,
    const ASN1_TIME *t)
{
    char       buf[32];
    struct tm  tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return NGX_ERROR;
    }

    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);

    return json_object_set_new(out, field, json_string(buf)) == 0
           ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_helpdesk_tls_summary(ngx_pool_t *pool, X509 *leaf, json_t *out)
{
    int            n;
    BIO           *bio;
    char          *hex;
    BIGNUM        *bn;
    u_char        *p;
    u_char         md[EVP_MAX_MD_SIZE], fp[2 * EVP_MAX_MD_SIZE];
    unsigned int   mdlen;
    ngx_int_t      rc;

    if (ngx_http_helpdesk_tls_time(out, "not_before",
                                   X509_get0_notBefore(leaf)) != NGX_OK
        || ngx_http_helpdesk_tls_time(out, "not_after",
                                      X509_get0_notAfter(leaf)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (X509_NAME_print_ex(bio, X509_get_issuer_name(leaf), 0,
                           XN_FLAG_RFC2253) >= 0)
    {
        n = BIO_get_mem_data(bio, (char **) &p);
        if (n >= 0 && n <= 1024
            && json_object_set_new(out, "issuer",
                                   json_stringn((char *) p, n)) == 0)
        {
            rc = NGX_OK;
        }
    }

    BIO_free(bio);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    hex = bn ? BN_bn2hex(bn) : NULL;
    BN_free(bn);

    if (hex == NULL) {
        return NGX_ERROR;
    }

    rc = json_object_set_new(out, "serial", json_string(hex)) == 0
         ? NGX_OK : NGX_ERROR;
    OPENSSL_free(hex);

    if (rc != NGX_OK
        || X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1)
    {
        return NGX_ERROR;
    }

    p = ngx_hex_dump(fp, md, mdlen);

    return json_object_set_new(out, "fingerprint",
                               json_stringn((char *) fp, p - fp)) == 0
           ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_helpdesk_tls_check(ngx_pool_t *pool, ngx_str_t *host,
    ngx_str_t *cert_pem, ngx_str_t *key_pem, void *data, const char **reason)
{
    json_t  *out = data;

    int              len;
    BIO             *bio;
    X509            *x, *certs[NGX_HTTP_HELPDESK_TLS_CHAIN_MAX + 1];
    u_char          *der, *p, *q;
    json_t          *chain;
    EVP_PKEY        *pkey;
    ngx_int_t        rc;
    ngx_uint_t       n, i;

    pkey = NULL;
    n = 0;
    rc = NGX_DECLINED;

    if (cert_pem->len > NGX_HTTP_HELPDESK_TLS_PEM_MAX) {
        *reason = "the certificate chain is too large (64 KB at most)";
        return NGX_DECLINED;
    }

    if (key_pem->len > NGX_HTTP_HELPDESK_TLS_KEY_MAX) {
        *reason = "the private key is too large (16 KB at most)";
        return NGX_DECLINED;
    }

    bio = BIO_new_mem_buf(cert_pem->data, cert_pem->len);
    if (bio == NULL) {
        return NGX_ERROR;
    }

    for ( ;; ) {
        x = PEM_read_bio_X509(bio, NULL, ngx_http_helpdesk_tls_no_password,
                              NULL);
        if (x == NULL) {
            break;
        }

        if (n == NGX_HTTP_HELPDESK_TLS_CHAIN_MAX) {
            X509_free(x);
            *reason = "the chain has more than 10 certificates";
            BIO_free(bio);
            goto done;
        }

        certs[n++] = x;
    }

    BIO_free(bio);
    ERR_clear_error();

    if (n == 0) {
        *reason = "the certificate is not a PEM certificate chain";
        goto done;
    }

    bio = BIO_new_mem_buf(key_pem->data, key_pem->len);
    if (bio == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL,
                                   ngx_http_helpdesk_tls_no_password, NULL);
    BIO_free(bio);
    ERR_clear_error();

    if (pkey == NULL) {
        *reason = "the private key is not an unencrypted PEM private key";
        goto done;
    }

    if (X509_check_host(certs[0], (char *) host->data, host->len,
                        X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) != 1)
    {
        *reason = "the certificate (the first of the chain) is not for "
                  "this name (subjectAltName)";
        goto done;
    }

    if (X509_check_private_key(certs[0], pkey) != 1) {
        *reason = "the private key is not the certificate's";
        goto done;
    }

    if (X509_cmp_current_time(X509_get0_notAfter(certs[0])) <= 0) {
        *reason = "the certificate has expired";
        goto done;
    }

    if (X509_cmp_current_time(X509_get0_notBefore(certs[0])) >= 0) {
        *reason = "the certificate is not valid yet";
        goto done;
    }

    rc = NGX_ERROR;

    chain = json_array();
    if (chain == NULL || json_object_set_new(out, "chain", chain) != 0) {
        goto done;
    }

    for (i = 0; i < n; i++) {
        len = i2d_X509(certs[i], NULL);
        if (len <= 0) {
            goto done;
        }

        der = ngx_pnalloc(pool, len);
        p = ngx_pnalloc(pool, 2 * len);
        if (der == NULL || p == NULL) {
            goto done;
        }

        q = der;                /* i2d moves the pointer it is given */
        (void) i2d_X509(certs[i], &q);

        ngx_hex_dump(p, der, len);

        if (json_array_append_new(chain, json_stringn((char *) p, 2 * len))
            != 0)
        {
            goto done;
        }
    }

    /* the key as PKCS#8 PEM, the form the sync opens */
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        goto done;
    }

    if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1) {
        len = BIO_get_mem_data(bio, (char **) &p);

        if (len > 0
            && json_object_set_new(out, "key",
                                   json_stringn((char *) p, len)) == 0
            && ngx_http_helpdesk_tls_summary(pool, certs[0], out) == NGX_OK)
        {
            rc = NGX_OK;
        }
    }

    BIO_free_all(bio);

done:

    for (i = 0; i < n; i++) {
        X509_free(certs[i]);
    }

    EVP_PKEY_free(pkey);
    ERR_clear_error();

    return rc;
}
