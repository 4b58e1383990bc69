/*
 * The X.509 half of ngx_helpdesk_jose.h: the CSR sent to finalize an
 * order, the PEM chain the CA returns, the checks of its leaf, and the
 * ARI certID.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/ngx_helpdesk_jose.h"


#define NGX_HELPDESK_PEM_BEGIN  "-----BEGIN CERTIFICATE-----"
#define NGX_HELPDESK_PEM_END    "-----END CERTIFICATE-----"


static X509 *ngx_helpdesk_jose_d2i(ngx_str_t *der);
static ngx_int_t ngx_helpdesk_jose_time(const ASN1_TIME *t, time_t *out);
static ngx_int_t ngx_helpdesk_jose_pem_block(ngx_pool_t *pool, u_char **pos,
    u_char *last, ngx_str_t *der, const char **reason);


ngx_int_t
ngx_helpdesk_jose_csr(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *host,
    ngx_str_t *der)
{
    X509_REQ                    *req;
    X509_NAME                   *name;
    ngx_int_t                    rc;
    GENERAL_NAME                *gn;
    ASN1_IA5STRING              *ia5;
    GENERAL_NAMES               *san;
    STACK_OF(X509_EXTENSION)    *exts;

    if (host->len == 0 || host->len > 253) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    san = NULL;
    exts = NULL;

    req = X509_REQ_new();
    if (req == NULL) {
        return NGX_ERROR;
    }

    if (X509_REQ_set_version(req, 0) != 1
        || X509_REQ_set_pubkey(req, key) != 1)
    {
        goto done;
    }

    /* CN is at most 64 characters (RFC 5280 ub-common-name); the SAN rules */

    if (host->len <= 64) {
        name = X509_REQ_get_subject_name(req);

        if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, host->data,
                                       (int) host->len, -1, 0)
            != 1)
        {
            goto done;
        }
    }

    san = GENERAL_NAMES_new();
    gn = GENERAL_NAME_new();
    ia5 = ASN1_IA5STRING_new();

    if (san == NULL || gn == NULL || ia5 == NULL
        || ASN1_STRING_set(ia5, host->data, (int) host->len) != 1)
    {
        GENERAL_NAME_free(gn);
        ASN1_IA5STRING_free(ia5);
        goto done;
    }

    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);

    if (sk_GENERAL_NAME_push(san, gn) == 0) {
        GENERAL_NAME_free(gn);
        goto done;
    }

    exts = sk_X509_EXTENSION_new_null();
    if (exts == NULL
        || X509V3_add1_i2d(&exts, NID_subject_alt_name, san, 0, 0) != 1
        || X509_REQ_add_extensions(req, exts) != 1
        || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
    {
        goto done;
    }

    rc = ngx_helpdesk_jose_i2d(pool, CHECKED_I2D_OF(X509_REQ, i2d_X509_REQ),
                               req, der);

done:

    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(san);
    X509_REQ_free(req);
    ERR_clear_error();

    return rc;
}


/* one whole certificate, nothing after it */

static X509 *
ngx_helpdesk_jose_d2i(ngx_str_t *der)
{
    X509          *x;
    const u_char  *p;

    if (der->len == 0 || der->len > NGX_HELPDESK_JOSE_CERT_MAX) {
        return NULL;
    }

    p = der->data;

    x = d2i_X509(NULL, &p, (long) der->len);
    if (x == NULL) {
        ERR_clear_error();
        return NULL;
    }

    if (p != der->data + der->len) {
        X509_free(x);
        return NULL;
    }

    return x;
}


ngx_int_t
ngx_helpdesk_jose_pem_chain(ngx_pool_t *pool, ngx_str_t *pem,
    ngx_array_t **ders, const char **reason)
{
    u_char       *p, *last;
    ngx_int_t     rc;
    ngx_str_t    *der;
    ngx_array_t  *a;

    if (pem->len > NGX_HELPDESK_JOSE_PEM_MAX) {
        *reason = "the certificate chain is too large";
        return NGX_DECLINED;
    }

    a = ngx_array_create(pool, 4, sizeof(ngx_str_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    p = pem->data;
    last = pem->data + pem->len;

    for ( ;; ) {
        while (p < last
               && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        {
            p++;
        }

        if (p == last) {
            break;
        }

        if (a->nelts == NGX_HELPDESK_JOSE_CHAIN_MAX) {
            *reason = "the certificate chain has too many certificates";
            return NGX_DECLINED;
        }

        der = ngx_array_push(a);
        if (der == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_helpdesk_jose_pem_block(pool, &p, last, der, reason);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (a->nelts == 0) {
        *reason = "the certificate chain is empty";
        return NGX_DECLINED;
    }

    *ders = a;

    return NGX_OK;
}


/*
 * One "CERTIFICATE" block at *pos (after whitespace): its base64 lines
 * decoded, strictly (padding only at the end), and parsed as one X.509
 * certificate.  *pos is left after the END line.
 */

static ngx_int_t
ngx_helpdesk_jose_pem_block(ngx_pool_t *pool, u_char **pos, u_char *last,
    ngx_str_t *der, const char **reason)
{
    u_char     *p, *b, c;
    size_t      n, pad;
    X509       *x;
    ngx_str_t   b64;

    p = *pos;

    if ((size_t) (last - p) < sizeof(NGX_HELPDESK_PEM_BEGIN) - 1
        || ngx_memcmp(p, NGX_HELPDESK_PEM_BEGIN,
                      sizeof(NGX_HELPDESK_PEM_BEGIN) - 1)
           != 0)
    {
        *reason = "the certificate chain holds something other than "
                  "certificates";
        return NGX_DECLINED;
    }

    p += sizeof(NGX_HELPDESK_PEM_BEGIN) - 1;

    if (p < last && *p == '\r') {
        p++;
    }

    if (p == last || *p++ != '\n') {
        *reason = "a certificate's PEM header is malformed";
        return NGX_DECLINED;
    }

    /* at most the base64 of CERT_MAX bytes, with line breaks */

    b64.data = ngx_pnalloc(pool, ngx_base64_encoded_length(
                                     NGX_HELPDESK_JOSE_CERT_MAX) + 4);
    if (b64.data == NULL) {
        return NGX_ERROR;
    }

    b = b64.data;
    n = 0;
    pad = 0;

    for ( ;; ) {
        if (p == last) {
            *reason = "a certificate's PEM block is not terminated";
            return NGX_DECLINED;
        }

        if (*p == '-') {
            break;
        }

        c = *p++;

        if (c == '\r' || c == '\n') {
            continue;
        }

        if (c == '=') {
            if (++pad > 2) {
                goto bad;
            }

        } else if (pad
                   || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                        || (c >= '0' && c <= '9') || c == '+' || c == '/'))
        {
            goto bad;
        }

        if (n == ngx_base64_encoded_length(NGX_HELPDESK_JOSE_CERT_MAX)) {
            *reason = "a certificate in the chain is too large";
            return NGX_DECLINED;
        }

        b[n++] = c;
    }

    if ((size_t) (last - p) < sizeof(NGX_HELPDESK_PEM_END) - 1
        || ngx_memcmp(p, NGX_HELPDESK_PEM_END,
                      sizeof(NGX_HELPDESK_PEM_END) - 1)
           != 0)
    {
        *reason = "a certificate's PEM block is malformed";
        return NGX_DECLINED;
    }

    p += sizeof(NGX_HELPDESK_PEM_END) - 1;

    if (p < last && *p != '\r' && *p != '\n') {
        *reason = "a certificate's PEM trailer is malformed";
        return NGX_DECLINED;
    }

    *pos = p;

    if (n == 0 || n % 4) {
        goto bad;
    }

    b64.len = n;

    der->data = ngx_pnalloc(pool, ngx_base64_decoded_length(n));
    if (der->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64(der, &b64) != NGX_OK) {
        goto bad;
    }

    x = ngx_helpdesk_jose_d2i(der);
    if (x == NULL) {
        *reason = "a certificate in the chain does not parse";
        return NGX_DECLINED;
    }

    X509_free(x);

    return NGX_OK;

bad:

    *reason = "a certificate's base64 is malformed";
    return NGX_DECLINED;
}


static ngx_int_t
ngx_helpdesk_jose_time(const ASN1_TIME *t, time_t *out)
{
    struct tm  tm;

    ngx_memzero(&tm, sizeof(struct tm));

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    *out = timegm(&tm);

    return *out == (time_t) -1 ? NGX_ERROR : NGX_OK;
}


ngx_int_t
ngx_helpdesk_jose_leaf_check(ngx_array_t *ders, ngx_str_t *host,
    EVP_PKEY *key, time_t now, ngx_helpdesk_jose_leaf_t *leaf,
    const char **reason)
{
    X509        *x, *issuer;
    ngx_int_t    rc;
    ngx_str_t   *der;
    ngx_uint_t   i;

    der = ders->elts;

    if (ders->nelts == 0 || host->len == 0) {
        *reason = "the certificate chain is empty";
        return NGX_DECLINED;
    }

    x = ngx_helpdesk_jose_d2i(&der[0]);
    if (x == NULL) {
        *reason = "the certificate does not parse";
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    issuer = NULL;

    if (X509_check_host(x, (const char *) host->data, host->len,
                        X509_CHECK_FLAG_NEVER_CHECK_SUBJECT
                        | X509_CHECK_FLAG_NO_WILDCARDS, NULL)
        != 1)
    {
        *reason = "the certificate does not name the host";
        goto done;
    }

    if (key == NULL || X509_get0_pubkey(x) == NULL
        || EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1)
    {
        *reason = "the certificate is not for the key it was ordered with";
        goto done;
    }

    if (ngx_helpdesk_jose_time(X509_get0_notBefore(x), &leaf->not_before)
        != NGX_OK
        || ngx_helpdesk_jose_time(X509_get0_notAfter(x), &leaf->not_after)
           != NGX_OK)
    {
        *reason = "the certificate's validity does not parse";
        goto done;
    }

    if (leaf->not_before > now) {
        *reason = "the certificate is not valid yet";
        goto done;
    }

    if (leaf->not_after <= now) {
        *reason = "the certificate has expired";
        goto done;
    }

    /* each certificate signed by the next one's key */

    for (i = 1; i < ders->nelts; i++) {
        issuer = ngx_helpdesk_jose_d2i(&der[i]);
        if (issuer == NULL) {
            *reason = "a certificate in the chain does not parse";
            goto done;
        }

        if (X509_verify(x, X509_get0_pubkey(issuer)) != 1) {
            *reason = "the chain's certificates do not sign each other";
            goto done;
        }

        X509_free(x);
        x = issuer;
        issuer = NULL;
    }

    rc = NGX_OK;

done:

    X509_free(issuer);
    X509_free(x);
    ERR_clear_error();

    return rc;
}


ngx_int_t
ngx_helpdesk_jose_ari_cert_id(ngx_pool_t *pool, ngx_str_t *der,
    ngx_str_t *out)
{
    int                        n;
    u_char                    *p, *buf;
    size_t                     hlen, clen;
    X509                      *x;
    ngx_int_t                  rc;
    ngx_str_t                  aki, serial;
    const ASN1_INTEGER        *sn;
    const ASN1_OCTET_STRING   *kid;

    x = ngx_helpdesk_jose_d2i(der);
    if (x == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    buf = NULL;

    kid = X509_get0_authority_key_id(x);
    sn = X509_get0_serialNumber(x);

    if (kid == NULL || ASN1_STRING_length(kid) <= 0 || sn == NULL) {
        goto done;
    }

    /* the serial's DER INTEGER, without its tag and length octets */

    n = i2d_ASN1_INTEGER((ASN1_INTEGER *) sn, &buf);
    if (n < 3 || buf[0] != V_ASN1_INTEGER) {
        rc = NGX_ERROR;
        goto done;
    }

    if (buf[1] < 0x80) {
        hlen = 2;
        clen = buf[1];

    } else if (buf[1] == 0x81 && n > 3) {
        hlen = 3;
        clen = buf[2];

    } else {
        goto done;
    }

    if (hlen + clen != (size_t) n || clen == 0) {
        goto done;
    }

    rc = NGX_ERROR;

    if (ngx_helpdesk_b64u_encode(pool, ASN1_STRING_get0_data(kid),
                                 ASN1_STRING_length(kid), &aki)
        != NGX_OK
        || ngx_helpdesk_b64u_encode(pool, buf + hlen, clen, &serial) != NGX_OK)
    {
        goto done;
    }

    out->len = aki.len + 1 + serial.len;
    out->data = ngx_pnalloc(pool, out->len + 1);
    if (out->data == NULL) {
        goto done;
    }

    p = ngx_cpymem(out->data, aki.data, aki.len);
    *p++ = '.';
    p = ngx_cpymem(p, serial.data, serial.len);
    *p = '\0';

    rc = NGX_OK;

done:

    OPENSSL_free(buf);
    X509_free(x);
    ERR_clear_error();

    return rc;
}
