/*
 * lib/ngx_helpdesk_jose_x509.c: a chain issued by a CA made here with the
 * openssl command, from our own CSR (so its leaf carries our key); the
 * PEM chain parser on it and on hostile input; the leaf checks (host, key,
 * validity, signatures along the chain); the ARI certID of RFC 9773
 * §4.1's example, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", from a
 * certificate made with that AKI keyIdentifier and serial 0x87654321.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_jose.h"


#define HOST  "shop.example.com"


static char  dir[] = "/tmp/jose-x509-XXXXXX";


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

    s.data = ngx_pnalloc(pool, 1024 * 1024);
    s.len = 0;

    f = fopen(path, "r");
    if (f != NULL) {
        s.len = fread(s.data, 1, 1024 * 1024, f);
        fclose(f);
    }

    return s;
}


static ngx_str_t
cat(ngx_pool_t *pool, const char *a, const char *b, const char *c)
{
    ngx_str_t  s;

    s.len = strlen(a) + strlen(b) + strlen(c);
    s.data = ngx_pnalloc(pool, s.len + 1);
    ngx_sprintf(s.data, "%s%s%s%Z", a, b, c);

    return s;
}


/* the chain's refusal and its reason */
static void
refused(ngx_pool_t *pool, ngx_str_t *pem, const char *want, const char *name)
{
    const char   *reason;
    ngx_array_t  *ders;

    reason = "";

    is_int(ngx_helpdesk_jose_pem_chain(pool, pem, &ders, &reason),
           NGX_DECLINED, "refused: %s", name);
    ok(strstr(reason, want) != NULL, "  because %s (%s)", want, reason);
}


static void
test_chain(void)
{
    char                      out[4096];
    char                     *leaf, *ca, *ca2, *s;
    EVP_PKEY                 *key, *other;
    ngx_str_t                 pem, csr, host, *der, file, big;
    ngx_uint_t                i;
    ngx_pool_t               *pool;
    const char               *reason;
    ngx_array_t              *ders;
    ngx_helpdesk_jose_leaf_t  lf;

    pool = ngx_unit_pool();
    key = ngx_helpdesk_jose_key_generate();
    other = ngx_helpdesk_jose_key_generate();

    host = ngx_unit_str(HOST);
    ngx_helpdesk_jose_csr(pool, key, &host, &csr);
    put("csr.der", csr.data, csr.len);

    sh(out, sizeof(out),
       "cd %s && for c in ca ca2; do openssl req -x509 -new -newkey ec "
       "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $c.key -subj "
       "/CN=$c -days 30 -out $c.pem 2>&1 || echo FAIL; done; "
       "openssl x509 -req -inform DER -in csr.der -CA ca.pem -CAkey ca.key "
       "-days 30 -set_serial 0x1234 -copy_extensions copy -out leaf.pem 2>&1"
       " || echo FAIL; openssl x509 -in leaf.pem -outform DER -out leaf.der",
       dir);
    if (!ok(strstr(out, "FAIL") == NULL, "openssl issued a chain")) {
        printf("# %s\n", out);
    }

    file = get(pool, "leaf.pem");
    leaf = (char *) file.data;
    leaf[file.len] = '\0';
    file = get(pool, "ca.pem");
    ca = (char *) file.data;
    ca[file.len] = '\0';
    file = get(pool, "ca2.pem");
    ca2 = (char *) file.data;
    ca2[file.len] = '\0';

    pem = cat(pool, leaf, ca, "");
    is_int(ngx_helpdesk_jose_pem_chain(pool, &pem, &ders, &reason), NGX_OK,
           "leaf + CA parses");
    is_int(ders->nelts, 2, "two certificates");
    der = ders->elts;
    file = get(pool, "leaf.der");
    ok(der[0].len == file.len
       && ngx_memcmp(der[0].data, file.data, file.len) == 0,
       "the first is the leaf's DER, as openssl has it");

    is_int(ngx_helpdesk_jose_leaf_check(ders, &host, key, time(NULL), &lf,
                                        &reason), NGX_OK, "the leaf checks");
    ok(lf.not_before <= time(NULL) && lf.not_before > time(NULL) - 3600,
       "not_before is about now");
    ok(lf.not_after > time(NULL) + 29 * 86400
       && lf.not_after <= time(NULL) + 30 * 86400 + 60,
       "not_after is in 30 days");

#define LEAF_REFUSED(h, k, now, want, name)                                   \
    host = ngx_unit_str(h);                                                   \
    reason = "";                                                              \
    is_int(ngx_helpdesk_jose_leaf_check(ders, &host, k, now, &lf, &reason),   \
           NGX_DECLINED, name);                                               \
    ok(strstr(reason, want) != NULL, "  %s", reason)

    LEAF_REFUSED("other.example.com", key, time(NULL),
                 "does not name the host", "another host");
    LEAF_REFUSED("example.com", key, time(NULL),
                 "does not name the host", "the parent domain");
    LEAF_REFUSED("SHOP.example.com.x", key, time(NULL),
                 "does not name the host", "a longer name");
    LEAF_REFUSED(HOST, other, time(NULL), "not for the key",
                 "another key");
    LEAF_REFUSED(HOST, key, lf.not_after + 1, "expired", "after not_after");
    LEAF_REFUSED(HOST, key, lf.not_before - 1, "not valid yet",
                 "before not_before");

    pem = cat(pool, leaf, ca2, "");
    ngx_helpdesk_jose_pem_chain(pool, &pem, &ders, &reason);
    LEAF_REFUSED(HOST, key, time(NULL), "do not sign each other",
                 "leaf + a CA that did not issue it");

    pem = cat(pool, ca, leaf, "");
    ngx_helpdesk_jose_pem_chain(pool, &pem, &ders, &reason);
    LEAF_REFUSED(HOST, key, time(NULL), "does not name the host",
                 "CA first");

    pem = cat(pool, leaf, "", "");
    ngx_helpdesk_jose_pem_chain(pool, &pem, &ders, &reason);
    host = ngx_unit_str(HOST);
    is_int(ngx_helpdesk_jose_leaf_check(ders, &host, key, time(NULL), &lf,
                                        &reason), NGX_OK,
           "a leaf alone checks");

    /* CRLF, no final newline, blank lines between */

    sh(out, sizeof(out), "cd %s && sed 's/$/\\r/' leaf.pem > crlf.pem && "
       "printf '\\r\\n\\n' >> crlf.pem && head -c -1 ca.pem >> crlf.pem", dir);
    pem = get(pool, "crlf.pem");
    is_int(ngx_helpdesk_jose_pem_chain(pool, &pem, &ders, &reason), NGX_OK,
           "CRLF lines, blank lines, no final newline");
    is_int(ders->nelts, 2, "still two");

    /* hostile */

    pem = ngx_unit_str("");
    refused(pool, &pem, "empty", "nothing");
    pem = ngx_unit_str(" \r\n\n\t");
    refused(pool, &pem, "empty", "whitespace only");
    pem = ngx_unit_str("garbage");
    refused(pool, &pem, "other than certificates", "garbage");

    pem = cat(pool, "hello\n", leaf, "");
    refused(pool, &pem, "other than certificates", "text before");
    pem = cat(pool, leaf, "hello\n", ca);
    refused(pool, &pem, "other than certificates", "text between");
    pem = cat(pool, leaf, ca, "x");
    refused(pool, &pem, "other than certificates", "text after");

    s = ngx_pnalloc(pool, strlen(leaf) + 1);
    ngx_memcpy(s, leaf, strlen(leaf) - 26);
    s[strlen(leaf) - 26] = '\0';
    pem = cat(pool, s, "", "");
    refused(pool, &pem, "not terminated", "no END line");

    pem = cat(pool, s, "-----END X509 CRL-----\n", "");
    refused(pool, &pem, "malformed", "another END");

    pem = cat(pool, s, "-----END CERTIFICATE-----xyz\n", "");
    refused(pool, &pem, "trailer is malformed", "text after END");

    pem = cat(pool, "-----BEGIN CERTIFICATE----- \n", leaf + 28, "");
    refused(pool, &pem, "header is malformed", "text after BEGIN");

    file = get(pool, "leaf.pem");
    file.data[40] = '*';
    refused(pool, &file, "base64 is malformed", "a * in the base64");

    file = get(pool, "leaf.pem");
    file.data[40] = '=';
    refused(pool, &file, "base64 is malformed", "= in the middle");

    sh(out, sizeof(out), "cd %s && openssl genpkey -algorithm EC -pkeyopt "
       "ec_paramgen_curve:P-256 -out k.pem && cat k.pem ca.pem > kc.pem",
       dir);
    pem = get(pool, "kc.pem");
    refused(pool, &pem, "other than certificates", "a private key block");

    pem = ngx_unit_str("-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQh\n"
                       "-----END CERTIFICATE-----\n");
    refused(pool, &pem, "does not parse", "base64 that is no certificate");

    sh(out, sizeof(out), "cd %s && (cat leaf.der; printf 'xyz') | "
       "base64 -w 64 > t.b64 && (echo '-----BEGIN CERTIFICATE-----'; "
       "cat t.b64; echo '-----END CERTIFICATE-----') > trail.pem", dir);
    pem = get(pool, "trail.pem");
    refused(pool, &pem, "does not parse", "bytes after the certificate");

    sh(out, sizeof(out), "cd %s && (echo '-----BEGIN CERTIFICATE-----'; "
       "head -c 17000 /dev/zero | base64 -w 64; "
       "echo '-----END CERTIFICATE-----') > big.pem", dir);
    pem = get(pool, "big.pem");
    refused(pool, &pem, "too large", "a 17,000-byte block");

    big.len = 0;
    big.data = ngx_pnalloc(pool, 11 * strlen(ca) + 1);
    for (i = 0; i < 11; i++) {
        big.len = ngx_cpymem(big.data + big.len, ca, strlen(ca)) - big.data;
    }

    refused(pool, &big, "too many", "eleven certificates");
    big.len -= strlen(ca);
    is_int(ngx_helpdesk_jose_pem_chain(pool, &big, &ders, &reason), NGX_OK,
           "ten are taken");

    big.data = ngx_pnalloc(pool, NGX_HELPDESK_JOSE_PEM_MAX + 1);
    ngx_memset(big.data, '\n', NGX_HELPDESK_JOSE_PEM_MAX + 1);
    big.len = NGX_HELPDESK_JOSE_PEM_MAX + 1;
    refused(pool, &big, "too large", "more than 256 KB");

    /* the leaf check on a garbled DER */

    pem = cat(pool, leaf, "", "");
    ngx_helpdesk_jose_pem_chain(pool, &pem, &ders, &reason);
    der = ders->elts;
    der[0].len -= 5;
    LEAF_REFUSED(HOST, key, time(NULL), "does not parse", "a cut DER");

    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    ngx_destroy_pool(pool);
}


static void
test_ari(void)
{
    char         out[4096];
    ngx_str_t    der, id;
    ngx_pool_t  *pool;

    pool = ngx_unit_pool();

    sh(out, sizeof(out),
       "cd %s && printf '[req]\\ndistinguished_name=dn\\nx509_extensions=ext"
       "\\nprompt=no\\n[dn]\\nCN=ari.example\\n[ext]\\n"
       "authorityKeyIdentifier=DER:30:16:80:14:69:88:5B:6B:87:46:40:41:E1:"
       "B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4\\n' > ari.cnf && "
       "openssl req -x509 -new -key k.pem -config ari.cnf -set_serial "
       "0x87654321 -days 1 -outform DER -out ari.der 2>&1 || echo FAIL; "
       "printf '[req]\\ndistinguished_name=dn\\nprompt=no\\n[dn]\\nCN=n\\n'"
       " > noaki.cnf && openssl req -x509 -new -key k.pem -config noaki.cnf "
       "-days 1 -outform DER -out noaki.der 2>&1 || echo FAIL", dir);
    if (!ok(strstr(out, "FAIL") == NULL, "openssl made the certificates")) {
        printf("# %s\n", out);
    }

    der = get(pool, "ari.der");
    is_int(ngx_helpdesk_jose_ari_cert_id(pool, &der, &id), NGX_OK,
           "a certID");
    is_str(id.data, id.len, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
           "RFC 9773's example certID");

    der = get(pool, "noaki.der");
    is_int(ngx_helpdesk_jose_ari_cert_id(pool, &der, &id), NGX_DECLINED,
           "none without an AKI keyIdentifier");

    /* the leaf of test_chain(): serial 0x1234, AKI = the CA's SKI */

    sh(out, sizeof(out), "cd %s && openssl x509 -in ca.pem -noout -ext "
       "subjectKeyIdentifier | tail -1 | tr -d ' :\\n' | perl -ne 'print pack \"H*\", $_' | "
       "basenc --base64url | tr -d '='", dir);

    der = get(pool, "leaf.der");
    ngx_helpdesk_jose_ari_cert_id(pool, &der, &id);
    ok(strlen(out) == 27 && id.len == 27 + 4
       && ngx_strncmp(id.data, out, 27) == 0
       && ngx_strncmp(id.data + 27, ".EjQ", 4) == 0,
       "the issued leaf's certID: %s.EjQ", out);

    der.len = 20;
    is_int(ngx_helpdesk_jose_ari_cert_id(pool, &der, &id), NGX_DECLINED,
           "none from a cut DER");

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

    test_chain();
    test_ari();

    sh(out, sizeof(out), "rm -rf %s", dir);

    return ngx_unit_done();
}
