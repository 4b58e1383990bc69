/*
 * lib/ngx_helpdesk_jose.c and ngx_helpdesk_jose_x509.c: base64url; the
 * ES256 example of RFC 7515 A.3 verified through our r || s conversion;
 * the RFC 7638 thumbprint of an EC key (RFC 7638 §3.1's own vector is an
 * RSA key, so the EC vector here is A.3's key, its thumbprint computed
 * with "openssl dgst -sha256 -binary | basenc --base64url" over the exact
 * JSON, and a fresh key's thumbprint computed the same way from the
 * coordinates "openssl pkey -pubout" gives); our JWS verified by the
 * openssl command; our CSR checked by "openssl req -verify".  The chain,
 * leaf and ARI functions are t/unit/jose_x509.c's.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_jose.h"

#include <openssl/pem.h>
#include <openssl/x509.h>


/* RFC 7515 A.3 */
#define A3_X      "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y      "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_INPUT  "eyJhbGciOiJFUzI1NiJ9" \
                  ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6" \
                  "Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define A3_SIG    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8" \
                  "ISlSApmWQxfKTUJqPP3-Kg6NU1Q"

/* A.3's public key's RFC 7638 thumbprint, by openssl (see above) */
#define A3_THUMB  "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"


static char  dir[] = "/tmp/jose-unit-XXXXXX";


/* a shell command's first line of output (trailing newline cut), or "" */
static char *
sh(char *buf, size_t size, const char *fmt, ...)
{
    FILE     *f;
    char      cmd[4096];
    size_t    n;
    va_list   args;

    va_start(args, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, args);
    va_end(args);

    buf[0] = '\0';

    f = popen(cmd, "r");
    if (f == NULL) {
        return buf;
    }

    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    pclose(f);

    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }

    return buf;
}


static void
put(const char *name, const u_char *data, size_t len)
{
    FILE  *f;
    char   path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "w");
    if (f == NULL || fwrite(data, 1, len, f) != len) {
        abort();
    }

    fclose(f);
}


static ngx_str_t
get(ngx_pool_t *pool, const char *name)
{
    FILE       *f;
    char        path[256];
    ngx_str_t   s;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    s.data = ngx_pnalloc(pool, 65536);
    s.len = 0;

    f = fopen(path, "r");
    if (f != NULL) {
        s.len = fread(s.data, 1, 65536, f);
        fclose(f);
    }

    return s;
}


static void
test_b64u(void)
{
    ngx_pool_t  *pool;
    ngx_str_t    out, in;
    u_char       bytes[] = { 0xfb, 0xff };

    pool = ngx_unit_pool();

    ngx_helpdesk_b64u_encode(pool, (u_char *) "", 0, &out);
    is_str(out.data, out.len, "", "b64u of nothing");
    ngx_helpdesk_b64u_encode(pool, (u_char *) "f", 1, &out);
    is_str(out.data, out.len, "Zg", "b64u of f has no padding");
    ngx_helpdesk_b64u_encode(pool, (u_char *) "foo", 3, &out);
    is_str(out.data, out.len, "Zm9v", "b64u of foo");
    ngx_helpdesk_b64u_encode(pool, bytes, 2, &out);
    is_str(out.data, out.len, "-_8", "b64u uses - and _");

    in = ngx_unit_str("-_8");
    is_int(ngx_helpdesk_b64u_decode(pool, &in, &out), NGX_OK, "decodes -_8");
    is_hex(out.data, out.len, "fbff", "to its bytes");

    in = ngx_unit_str("Zm8");
    is_int(ngx_helpdesk_b64u_decode(pool, &in, &out), NGX_OK, "decodes Zm8");
    is_str(out.data, out.len, "fo", "to fo");

    in = ngx_unit_str("Zg==");
    is_int(ngx_helpdesk_b64u_decode(pool, &in, &out), NGX_ERROR,
           "padding is refused");
    in = ngx_unit_str("Z");
    is_int(ngx_helpdesk_b64u_decode(pool, &in, &out), NGX_ERROR,
           "one character is refused");
    in = ngx_unit_str("Zh");
    is_int(ngx_helpdesk_b64u_decode(pool, &in, &out), NGX_ERROR,
           "non-zero unused bits are refused");
    in = ngx_unit_str("Zm9v\n");
    is_int(ngx_helpdesk_b64u_decode(pool, &in, &out), NGX_ERROR,
           "whitespace is refused");
    in = ngx_unit_str("+/8");
    is_int(ngx_helpdesk_b64u_decode(pool, &in, &out), NGX_ERROR,
           "the standard alphabet's + and / are refused");

    ngx_destroy_pool(pool);
}


static void
test_rfc7515_a3(void)
{
    u_char       raw[64];
    EVP_PKEY    *key, *other;
    ngx_str_t    x, y, input, sig, bad, rawsig, der;
    ngx_pool_t  *pool;

    pool = ngx_unit_pool();

    x = ngx_unit_str(A3_X);
    y = ngx_unit_str(A3_Y);

    key = ngx_helpdesk_jose_key_from_jwk(&x, &y);
    ok(key != NULL, "A.3's JWK gives a P-256 public key");

    input = ngx_unit_str(A3_INPUT);
    sig = ngx_unit_str(A3_SIG);

    is_int(ngx_helpdesk_jose_es256_verify(pool, key, &input, &sig), NGX_OK,
           "A.3's signature verifies through r||s -> DER");

    bad.data = ngx_pnalloc(pool, sig.len);
    bad.len = sig.len;
    ngx_memcpy(bad.data, sig.data, sig.len);
    bad.data[10] = bad.data[10] == 'A' ? 'B' : 'A';

    is_int(ngx_helpdesk_jose_es256_verify(pool, key, &input, &bad),
           NGX_DECLINED, "a changed signature does not");

    input.len--;
    is_int(ngx_helpdesk_jose_es256_verify(pool, key, &input, &sig),
           NGX_DECLINED, "nor a changed input");
    input.len++;

    other = ngx_helpdesk_jose_key_generate();
    is_int(ngx_helpdesk_jose_es256_verify(pool, other, &input, &sig),
           NGX_DECLINED, "nor another key");
    EVP_PKEY_free(other);

    bad = ngx_unit_str("DtEhU3ljbEg8L38VWAfUAqOyKAM6");
    is_int(ngx_helpdesk_jose_es256_verify(pool, key, &input, &bad),
           NGX_ERROR, "a short signature is an error");

    /* r||s -> DER -> r||s is the identity */

    ngx_helpdesk_b64u_decode(pool, &sig, &rawsig);
    ngx_helpdesk_jose_sig_raw_to_der(pool, rawsig.data, &der);
    is_int(ngx_helpdesk_jose_sig_der_to_raw(der.data, der.len, raw), NGX_OK,
           "DER back to r||s");
    ok(ngx_memcmp(raw, rawsig.data, 64) == 0, "the same r||s");

    is_int(ngx_helpdesk_jose_sig_der_to_raw(der.data, der.len - 1, raw),
           NGX_ERROR, "a truncated DER signature is refused");

    {
        u_char  *longer = ngx_pnalloc(pool, der.len + 1);

        ngx_memcpy(longer, der.data, der.len);
        longer[der.len] = 0;
        is_int(ngx_helpdesk_jose_sig_der_to_raw(longer, der.len + 1, raw),
               NGX_ERROR, "bytes after a DER signature are refused");
    }

    ngx_helpdesk_jose_thumbprint(pool, key, &x);
    is_str(x.data, x.len, A3_THUMB, "A.3 key's RFC 7638 thumbprint");

    ngx_helpdesk_jose_jwk(pool, key, &x);
    is_str(x.data, x.len,
           "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" A3_X "\",\"y\":\""
           A3_Y "\"}", "its JWK, members in order");

    EVP_PKEY_free(key);

    /* a point off the curve, a short coordinate */

    x = ngx_unit_str(A3_X);
    y = ngx_unit_str("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1");
    key = ngx_helpdesk_jose_key_from_jwk(&x, &y);
    ok(key == NULL, "a point off the curve is refused");
    EVP_PKEY_free(key);

    y = ngx_unit_str("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a");
    key = ngx_helpdesk_jose_key_from_jwk(&x, &y);
    ok(key == NULL, "a short coordinate is refused");
    EVP_PKEY_free(key);

    ngx_destroy_pool(pool);
}


static void
test_keys(void)
{
    char         out[512];
    EVP_PKEY    *key, *back;
    ngx_str_t    pem, jwk, jwk2, thumb;
    ngx_pool_t  *pool;

    pool = ngx_unit_pool();

    key = ngx_helpdesk_jose_key_generate();
    ok(key != NULL, "a key is generated");

    is_int(ngx_helpdesk_jose_key_to_pem(pool, key, &pem), NGX_OK,
           "to PEM");
    ok(pem.len > 28 && ngx_strncmp(pem.data, "-----BEGIN PRIVATE KEY-----",
                                   27) == 0, "PKCS#8 PEM");

    back = ngx_helpdesk_jose_key_from_pem(pem.data, pem.len);
    ok(back != NULL && EVP_PKEY_eq(key, back) == 1,
       "read back, the same key");

    ngx_helpdesk_jose_jwk(pool, key, &jwk);
    ngx_helpdesk_jose_jwk(pool, back, &jwk2);
    ok(jwk.len == jwk2.len && ngx_memcmp(jwk.data, jwk2.data, jwk.len) == 0,
       "the same JWK");
    EVP_PKEY_free(back);

    /* the thumbprint, computed by openssl from the coordinates alone */

    put("k.pem", pem.data, pem.len);
    ngx_helpdesk_jose_thumbprint(pool, key, &thumb);

    sh(out, sizeof(out),
       "cd %s && openssl pkey -in k.pem -pubout -outform DER | tail -c 64 "
       "> xy && x=$(head -c 32 xy | basenc --base64url | tr -d '=') && "
       "y=$(tail -c 32 xy | basenc --base64url | tr -d '=') && "
       "printf '{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%%s\",\"y\":\"%%s\"}'"
       " $x $y | openssl dgst -sha256 -binary | basenc --base64url "
       "| tr -d '='", dir);

    ok(strlen(out) == 43, "openssl computes a thumbprint");
    is_str(thumb.data, thumb.len, out, "ours is the same");

    /* refusals: another curve, RSA, garbage */

    sh(out, sizeof(out), "cd %s && openssl genpkey -algorithm EC -pkeyopt "
       "ec_paramgen_curve:P-384 -out p384.pem 2>&1 && openssl genpkey "
       "-algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa.pem 2>&1",
       dir);

    pem = get(pool, "p384.pem");
    back = ngx_helpdesk_jose_key_from_pem(pem.data, pem.len);
    ok(pem.len && back == NULL, "a P-384 key is refused");
    EVP_PKEY_free(back);

    pem = get(pool, "rsa.pem");
    back = ngx_helpdesk_jose_key_from_pem(pem.data, pem.len);
    ok(pem.len && back == NULL, "an RSA key is refused");
    EVP_PKEY_free(back);

    is_int(ngx_helpdesk_jose_jwk(pool, NULL, &jwk), NGX_ERROR,
           "no JWK without a key");

    back = ngx_helpdesk_jose_key_from_pem((u_char *) "garbage", 7);
    ok(back == NULL, "garbage is refused");

    EVP_PKEY_free(key);
    ngx_destroy_pool(pool);
}


/* r||s to DER by hand, for the openssl command */

static size_t
der_int(u_char *p, const u_char *n)
{
    size_t  i, len;

    for (i = 0; i < 31 && n[i] == 0; i++) { /* void */ }

    len = 32 - i + (n[i] & 0x80 ? 1 : 0);
    p[0] = 0x02;
    p[1] = (u_char) len;

    if (n[i] & 0x80) {
        p[2] = 0;
        ngx_memcpy(p + 3, n + i, 32 - i);

    } else {
        ngx_memcpy(p + 2, n + i, 32 - i);
    }

    return 2 + len;
}


static ngx_str_t
member(ngx_pool_t *pool, ngx_str_t *json, const char *name)
{
    char       key[64];
    u_char    *p, *q;
    ngx_str_t  s;

    snprintf(key, sizeof(key), "\"%s\":\"", name);
    ngx_str_null(&s);

    p = (u_char *) ngx_strnstr(json->data, key, json->len);
    if (p == NULL) {
        return s;
    }

    p += strlen(key);
    q = ngx_strlchr(p, json->data + json->len, '"');
    if (q == NULL) {
        return s;
    }

    s.data = p;
    s.len = q - p;

    return s;
}


static void
test_jws(void)
{
    char                        out[512];
    u_char                      der[80], *p;
    EVP_PKEY                   *key;
    ngx_str_t                   body, prot, payload, sig, hdr, raw, pem;
    ngx_str_t                   input, jwk;
    ngx_pool_t                 *pool;
    ngx_helpdesk_jws_header_t   h;

    pool = ngx_unit_pool();
    key = ngx_helpdesk_jose_key_generate();

    h.nonce = ngx_unit_str("oFvnlFP1wIhRlYS2jTaXbA");
    h.url = ngx_unit_str("https://ca.example/acme/new-order");
    h.kid = ngx_unit_str("https://ca.example/acme/acct/1");
    payload = ngx_unit_str("{\"identifiers\":[]}");

    is_int(ngx_helpdesk_jose_jws(pool, key, &h, &payload, &body), NGX_OK,
           "a JWS with kid");
    ok(body.len && body.data[0] == '{' && body.data[body.len - 1] == '}',
       "a JSON object");

    prot = member(pool, &body, "protected");
    sig = member(pool, &body, "signature");
    ngx_helpdesk_b64u_decode(pool, &prot, &hdr);
    is_str(hdr.data, hdr.len,
           "{\"alg\":\"ES256\",\"kid\":\"https://ca.example/acme/acct/1\","
           "\"nonce\":\"oFvnlFP1wIhRlYS2jTaXbA\","
           "\"url\":\"https://ca.example/acme/new-order\"}",
           "the protected header");

    raw = member(pool, &body, "payload");
    ngx_helpdesk_b64u_decode(pool, &raw, &hdr);
    is_str(hdr.data, hdr.len, "{\"identifiers\":[]}", "the payload");

    /* openssl verifies it: signing input and DER signature in files */

    input.len = prot.len + 1 + raw.len;
    input.data = ngx_pnalloc(pool, input.len);
    p = ngx_cpymem(input.data, prot.data, prot.len);
    *p++ = '.';
    ngx_memcpy(p, raw.data, raw.len);
    put("input", input.data, input.len);

    ngx_helpdesk_b64u_decode(pool, &sig, &raw);
    is_int(raw.len, 64, "the signature is r||s, 64 bytes");

    p = der + 2;
    p += der_int(p, raw.data);
    p += der_int(p, raw.data + 32);
    der[0] = 0x30;
    der[1] = (u_char) (p - der - 2);
    put("sig.der", der, p - der);

    ngx_helpdesk_jose_key_to_pem(pool, key, &pem);
    put("jws.pem", pem.data, pem.len);

    sh(out, sizeof(out), "cd %s && openssl pkey -in jws.pem -pubout "
       "-out jws.pub && openssl dgst -sha256 -verify jws.pub "
       "-signature sig.der input 2>&1", dir);
    is_str((u_char *) out, strlen(out), "Verified OK",
           "openssl verifies our signature");

    der[p - der - 1] ^= 1;
    put("sig.der", der, p - der);
    sh(out, sizeof(out), "cd %s && openssl dgst -sha256 -verify jws.pub "
       "-signature sig.der input 2>&1 | head -1", dir);
    is_str((u_char *) out, strlen(out), "Verification failure",
           "and not a changed one");

    /* POST-as-GET with the jwk; no nonce; JSON escaping */

    ngx_str_null(&h.kid);
    ngx_str_null(&h.nonce);
    h.url = ngx_unit_str("https://ca.example/a\"b\\c");
    ngx_str_null(&payload);

    is_int(ngx_helpdesk_jose_jws(pool, key, &h, &payload, &body), NGX_OK,
           "a POST-as-GET JWS with jwk");
    ok(ngx_strnstr(body.data, "\"payload\":\"\"", body.len) != NULL,
       "the payload is \"\"");

    prot = member(pool, &body, "protected");
    ngx_helpdesk_b64u_decode(pool, &prot, &hdr);
    ngx_helpdesk_jose_jwk(pool, key, &jwk);

    input.len = sizeof("{\"alg\":\"ES256\",\"jwk\":,\"url\":"
                       "\"https://ca.example/a\\\"b\\\\c\"}") - 1 + jwk.len;
    input.data = ngx_pnalloc(pool, input.len + 1);
    ngx_sprintf(input.data, "{\"alg\":\"ES256\",\"jwk\":%V,\"url\":"
                "\"https://ca.example/a\\\"b\\\\c\"}%Z", &jwk);
    is_str(hdr.data, hdr.len, (char *) input.data,
           "the header holds the jwk, the url escaped, no nonce");

    /* and it verifies through our own path */

    sig = member(pool, &body, "signature");
    input.len = prot.len + 1;
    input.data = ngx_pnalloc(pool, input.len);
    p = ngx_cpymem(input.data, prot.data, prot.len);
    *p = '.';
    is_int(ngx_helpdesk_jose_es256_verify(pool, key, &input, &sig), NGX_OK,
           "and verifies");

    ngx_str_null(&h.url);
    is_int(ngx_helpdesk_jose_jws(pool, key, &h, &payload, &body), NGX_ERROR,
           "no JWS without a url");

    EVP_PKEY_free(key);
    ngx_destroy_pool(pool);
}


static void
test_csr(void)
{
    char         out[4096];
    EVP_PKEY    *key;
    ngx_str_t    der, host, pem;
    ngx_pool_t  *pool;

    pool = ngx_unit_pool();
    key = ngx_helpdesk_jose_key_generate();

    host = ngx_unit_str("shop.example.com");
    is_int(ngx_helpdesk_jose_csr(pool, key, &host, &der), NGX_OK,
           "a CSR");
    put("csr.der", der.data, der.len);

    sh(out, sizeof(out), "cd %s && openssl req -inform DER -in csr.der "
       "-verify -noout 2>&1", dir);
    ok(strstr(out, "verify OK") != NULL, "openssl req -verify: %s", out);

    sh(out, sizeof(out), "cd %s && openssl req -inform DER -in csr.der "
       "-noout -text 2>&1 | grep -E 'DNS:|Subject:|Signature Algorithm' "
       "| LC_ALL=C sort -u | tr -s ' ' | tr '\\n' '|'", dir);
    is_str((u_char *) out, strlen(out),
           " DNS:shop.example.com| Subject: CN = shop.example.com|"
           " Signature Algorithm: ecdsa-with-SHA256|",
           "one dNSName, CN, ECDSA with SHA-256");

    ngx_helpdesk_jose_key_to_pem(pool, key, &pem);
    put("csr.pem", pem.data, pem.len);
    sh(out, sizeof(out), "cd %s && openssl req -inform DER -in csr.der "
       "-pubkey -noout | openssl pkey -pubin -outform DER | sha256sum && "
       "openssl pkey -in csr.pem -pubout -outform DER | sha256sum", dir);
    /* two lines of "<64 hex>  -" */
    ok(strlen(out) == 135 && ngx_strncmp(out, out + 68, 64) == 0,
       "the CSR holds our public key");

    host = ngx_unit_str("a-very-long-label-that-goes-on-and-on-and-on.and-still"
                        "-more.example.com");
    is_int(ngx_helpdesk_jose_csr(pool, key, &host, &der), NGX_OK,
           "a CSR for a name longer than 64");
    put("csr.der", der.data, der.len);
    sh(out, sizeof(out), "cd %s && openssl req -inform DER -in csr.der "
       "-verify -noout -text 2>&1 | grep -cE 'verify OK|DNS:a-very-long"
       "-label-that-goes-on-and-on-and-on.and-still-more.example.com$|CN ='",
       dir);
    is_str((u_char *) out, strlen(out), "2", "verifies, SAN only, no CN");

    EVP_PKEY_free(key);
    ngx_destroy_pool(pool);
}


int
main(void)
{
    char  out[256];

    ngx_unit_init();

    if (mkdtemp(dir) == NULL) {
        return 1;
    }

    test_b64u();
    test_rfc7515_a3();
    test_keys();
    test_jws();
    test_csr();

    sh(out, sizeof(out), "rm -rf %s", dir);

    return ngx_unit_done();
}
