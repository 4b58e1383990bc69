/*
 * JOSE and X.509 pieces an ACME client needs (RFC 7515, 7517, 7638, 8555,
 * 9773), on OpenSSL 3's EVP interfaces: base64url, P-256 keys, the JWK and
 * its thumbprint, flattened ES256 JWS, a CSR for one DNS name, a PEM
 * certificate chain as DER, checks of the issued leaf, the ARI certID.
 *
 * Memory: every ngx_str_t / ngx_array_t result lives in the pool given to
 * the call.  An EVP_PKEY * result is the caller's: EVP_PKEY_free() it.
 * Serialised private keys (PEM) are wiped (OPENSSL_cleanse) when their pool
 * is destroyed, and the intermediate buffers at once.  No function blocks
 * or logs; none keeps state between calls.
 */

#ifndef _NGX_HELPDESK_JOSE_H_INCLUDED_
#define _NGX_HELPDESK_JOSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>


/* a PEM chain: at most this many certificates, each at most this long */
#define NGX_HELPDESK_JOSE_CHAIN_MAX       10
#define NGX_HELPDESK_JOSE_CERT_MAX        16384
#define NGX_HELPDESK_JOSE_PEM_MAX         (256 * 1024)

/* r || s of an ES256 signature */
#define NGX_HELPDESK_JOSE_ES256_LEN       64


typedef struct {
    ngx_str_t   nonce;      /* empty: no "nonce" member */
    ngx_str_t   url;
    ngx_str_t   kid;        /* empty: the key's "jwk" instead */
} ngx_helpdesk_jws_header_t;


typedef struct {
    time_t      not_before;
    time_t      not_after;
} ngx_helpdesk_jose_leaf_t;


/*
 * base64url without padding (RFC 7515 §2).  Decoding is strict: no '=',
 * no whitespace, no character outside the alphabet, and the unused low
 * bits of the last character must be zero.  Results in pool.
 */
ngx_int_t ngx_helpdesk_b64u_encode(ngx_pool_t *pool, const u_char *data,
    size_t len, ngx_str_t *out);
ngx_int_t ngx_helpdesk_b64u_decode(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out);

/* a fresh P-256 key, NULL on failure; the caller frees it */
EVP_PKEY *ngx_helpdesk_jose_key_generate(void);

/*
 * The private key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY") in pool;
 * the pool's cleanup wipes it.  Copy it elsewhere only to seal it.
 */
ngx_int_t ngx_helpdesk_jose_key_to_pem(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *pem);

/*
 * A private key from PEM (PKCS#8 or SEC1): NULL unless it is a P-256 key.
 * The caller frees it.
 */
EVP_PKEY *ngx_helpdesk_jose_key_from_pem(const u_char *pem, size_t len);

/*
 * A public P-256 key from a JWK's base64url "x" and "y" (32 bytes each,
 * the point must be on the curve); NULL otherwise.  The caller frees it.
 */
EVP_PKEY *ngx_helpdesk_jose_key_from_jwk(ngx_str_t *x, ngx_str_t *y);

/*
 * The public JWK, members in lexicographic order and no whitespace:
 * {"crv":"P-256","kty":"EC","x":"…","y":"…"} - also the exact input of its
 * RFC 7638 thumbprint.  In pool.
 */
ngx_int_t ngx_helpdesk_jose_jwk(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *jwk);

/* RFC 7638: base64url(SHA-256(JWK above)), 43 characters, in pool */
ngx_int_t ngx_helpdesk_jose_thumbprint(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *out);

/*
 * A flattened JWS (RFC 7515 §7.2.2) signed with ES256:
 * {"protected":"…","payload":"…","signature":"…"}, the protected header
 * {"alg":"ES256", "nonce", "url", and "kid" or "jwk"}.  An empty payload
 * gives "payload":"" (ACME's POST-as-GET).  In pool.
 */
ngx_int_t ngx_helpdesk_jose_jws(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_helpdesk_jws_header_t *hdr, ngx_str_t *payload, ngx_str_t *body);

/*
 * ES256 signature conversions: OpenSSL's DER ECDSA-Sig-Value to the JWS
 * form r || s (two 32-byte big-endian numbers) and back.  raw_to_der's
 * out is in pool.
 */
ngx_int_t ngx_helpdesk_jose_sig_der_to_raw(const u_char *der, size_t len,
    u_char raw[NGX_HELPDESK_JOSE_ES256_LEN]);
ngx_int_t ngx_helpdesk_jose_sig_raw_to_der(ngx_pool_t *pool,
    const u_char raw[NGX_HELPDESK_JOSE_ES256_LEN], ngx_str_t *der);

/*
 * An OpenSSL object's DER by its i2d function (CHECKED_I2D_OF(type, i2d)),
 * in pool: NGX_ERROR when i2d fails or writes another length than it
 * announced.
 */
ngx_int_t ngx_helpdesk_jose_i2d(ngx_pool_t *pool, i2d_of_void *i2d,
    const void *obj, ngx_str_t *der);

/*
 * Verifies a compact or flattened JWS's signature: input is the signing
 * input ("<protected>.<payload>", base64url), sig the base64url r || s.
 * NGX_OK when it verifies under key, NGX_DECLINED when it does not,
 * NGX_ERROR on bad input.  Temporaries in pool.
 */
ngx_int_t ngx_helpdesk_jose_es256_verify(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *input, ngx_str_t *sig);

/*
 * A PKCS#10 request (SHA-256, signed by key) for one DNS name: SAN
 * dNSName=host, subject CN=host when it fits (64 characters), DER in pool.
 * host must already be normalised.
 */
ngx_int_t ngx_helpdesk_jose_csr(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *host, ngx_str_t *der);

/*
 * A PEM certificate chain (application/pem-certificate-chain) to an array
 * of ngx_str_t, each one certificate's DER, in the order given (leaf
 * first).  Only "CERTIFICATE" blocks and whitespace between them; strict
 * base64; each block must be one whole X.509 certificate; at most
 * NGX_HELPDESK_JOSE_CHAIN_MAX of them, each at most ..._CERT_MAX bytes.
 * NGX_DECLINED (with *reason) for a chain refused, NGX_ERROR on memory.
 * In pool.
 */
ngx_int_t ngx_helpdesk_jose_pem_chain(ngx_pool_t *pool, ngx_str_t *pem,
    ngx_array_t **ders, const char **reason);

/*
 * The issued chain checked against what was ordered: the leaf (ders[0])
 * names host among its dNSName SANs (exactly, no wildcard), its public key
 * is key, now lies within its validity, and each certificate is signed by
 * the next one's key.  NGX_OK fills leaf, NGX_DECLINED sets *reason (a
 * static string).  Allocates nothing that outlives the call.
 */
ngx_int_t ngx_helpdesk_jose_leaf_check(ngx_array_t *ders, ngx_str_t *host,
    EVP_PKEY *key, time_t now, ngx_helpdesk_jose_leaf_t *leaf,
    const char **reason);

/*
 * The ACME Renewal Information certID (RFC 9773 §4.1) of a certificate:
 * base64url(AKI keyIdentifier) "." base64url(serial's DER content bytes).
 * NGX_DECLINED when the certificate has no AKI keyIdentifier.  In pool.
 */
ngx_int_t ngx_helpdesk_jose_ari_cert_id(ngx_pool_t *pool, ngx_str_t *der,
    ngx_str_t *out);


#endif /* _NGX_HELPDESK_JOSE_H_INCLUDED_ */
