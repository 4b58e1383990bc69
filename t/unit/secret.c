/*
 * lib/ngx_helpdesk_secret.c: the key file's format, AES-256-GCM against
 * a published vector (McGrew and Viega's GCM test case 16, a 256-bit key
 * with associated data), round trips, rotation, and every way a stored
 * value can be wrong: tampered, moved to another row, unknown key.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_secret.h"


#define K1  "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
#define K2  "k2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n"


static ngx_int_t
ngx_unit_ring(ngx_pool_t *pool, const char *text,
    ngx_helpdesk_secret_ring_t *ring, u_char *err)
{
    err[0] = '\0';

    return ngx_helpdesk_secret_ring_parse(pool, (u_char *) text, strlen(text),
                                          ring, err, 256);
}


static void
ngx_unit_parse(void)
{
    ngx_pool_t                  *pool;
    ngx_helpdesk_secret_ring_t   ring;
    u_char                       err[256];

    pool = ngx_unit_pool();

    is_int(ngx_unit_ring(pool, "# keys\n\n" K2 K1, &ring, err), NGX_OK,
           "a file of two keys and a comment is read");
    is_int(ring.keys.nelts, 2, "two keys");
    is_str(ngx_helpdesk_secret_current(&ring)->data,
           ngx_helpdesk_secret_current(&ring)->len, "k2",
           "the first one encrypts");

    is_int(ngx_unit_ring(pool, "", &ring, err), NGX_ERROR,
           "an empty file is refused");
    is_str(err, strlen((char *) err), "no key in the file", "and says so");

    is_int(ngx_unit_ring(pool, "k1 c2hvcnQ=\n", &ring, err), NGX_ERROR,
           "a short key is refused");
    ok(strstr((char *) err, "line 1: the key is not the base64") != NULL,
       "with the line: %s", err);

    is_int(ngx_unit_ring(pool, K1 "k1\n", &ring, err), NGX_ERROR,
           "a line without a key is refused");
    ok(strstr((char *) err, "line 2:") != NULL, "line 2 named: %s", err);

    is_int(ngx_unit_ring(pool, K1 K1, &ring, err), NGX_ERROR,
           "a key id twice is refused");
    ok(strstr((char *) err, "used twice") != NULL, "%s", err);

    is_int(ngx_unit_ring(pool,
                         "k:1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                         &ring, err),
           NGX_ERROR, "a key id with a colon is refused");

    is_int(ngx_unit_ring(pool,
                         "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh!=",
                         &ring, err),
           NGX_ERROR, "a key that is not base64 is refused");

    is_int(ngx_unit_ring(pool, "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
                         "\r\n", &ring, err),
           NGX_OK, "CRLF and no final newline are fine");

    ngx_destroy_pool(pool);
}


/* GCM test case 16 (256-bit key, 96-bit IV, AAD): the known tag */

static void
ngx_unit_vector(void)
{
    u_char                      *raw;
    ngx_str_t                    aad, value, plain, src, dst;
    ngx_pool_t                  *pool;
    ngx_helpdesk_secret_ring_t   ring;
    u_char                       err[256];
    u_char                       text[128];

    static const char  key[] = "k "
        "/v/pkoZlcxxtao+UZzCDCP7/6ZKGZXMcbWqPlGcwgwg=";
    static const u_char  iv[] = {
        0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad,
        0xde, 0xca, 0xf8, 0x88 };
    static const u_char  a[] = {
        0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef,
        0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef,
        0xab, 0xad, 0xda, 0xd2 };
    static const u_char  c[] = {
        0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56, 0x7d, 0x07,
        0xf4, 0x7f, 0x37, 0xa3, 0x2a, 0x84, 0x42, 0x7d,
        0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9,
        0x75, 0x98, 0xa2, 0xbd, 0x25, 0x55, 0xd1, 0xaa,
        0x8c, 0xb0, 0x8e, 0x48, 0x59, 0x0d, 0xbb, 0x3d,
        0xa7, 0xb0, 0x8b, 0x10, 0x56, 0x82, 0x88, 0x38,
        0xc5, 0xf6, 0x1e, 0x63, 0x93, 0xba, 0x7a, 0x0a,
        0xbc, 0xc9, 0xf6, 0x62,
        /* the tag */
        0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68,
        0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55, 0x1b };

    pool = ngx_unit_pool();

    is_int(ngx_unit_ring(pool, key, &ring, err), NGX_OK, "the test key");

    raw = ngx_pnalloc(pool, sizeof(iv) + sizeof(c));
    memcpy(raw, iv, sizeof(iv));
    memcpy(raw + sizeof(iv), c, sizeof(c));

    src.data = raw;
    src.len = sizeof(iv) + sizeof(c);
    value.data = ngx_pnalloc(pool, 5 + ngx_base64_encoded_length(src.len));
    memcpy(value.data, "v1:k:", 5);
    dst.data = value.data + 5;
    ngx_encode_base64(&dst, &src);
    value.len = 5 + dst.len;

    aad.data = (u_char *) a;
    aad.len = sizeof(a);

    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &plain),
           NGX_OK, "test case 16 decrypts");
    ngx_hex_dump(text, plain.data, ngx_min(plain.len, 60));
    is_str(text, 2 * ngx_min(plain.len, 60),
           "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
           "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
           "into its plaintext");

    aad.len--;
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &plain),
           NGX_DECLINED, "with other associated data it is refused");

    ngx_destroy_pool(pool);
}


static void
ngx_unit_round_trip(void)
{
    u_char                      *p;
    ngx_str_t                    aad, aad2, row, row2, plain, value, value2;
    ngx_str_t                    out;
    ngx_pool_t                  *pool;
    ngx_helpdesk_secret_ring_t   ring, old, other;
    u_char                       err[256];
    u_char                       b1[NGX_HELPDESK_SECRET_AAD_MAX];
    u_char                       b2[NGX_HELPDESK_SECRET_AAD_MAX];

    pool = ngx_unit_pool();

    ngx_unit_ring(pool, K1, &old, err);
    ngx_unit_ring(pool, K2 K1, &ring, err);
    ngx_unit_ring(pool, K2, &other, err);

    row = ngx_unit_str("6f1c2a30-6d5e-4f0a-9a55-0c1d2e3f4a5b");
    row2 = ngx_unit_str("0a0b0c0d-6d5e-4f0a-9a55-0c1d2e3f4a5b");
    ngx_helpdesk_secret_aad(&aad, b1, "webhook_endpoints", "secret", &row);
    ngx_helpdesk_secret_aad(&aad2, b2, "webhook_endpoints", "secret", &row2);
    is_str(aad.data, aad.len,
           "webhook_endpoints.secret:6f1c2a30-6d5e-4f0a-9a55-0c1d2e3f4a5b",
           "the associated data names table, column and row");

    plain = ngx_unit_str("whsec_a-secret");

    is_int(ngx_helpdesk_secret_encrypt(pool, &old, &aad, &plain, &value),
           NGX_OK, "encrypted under k1");
    ok(value.len > 6 && ngx_strncmp(value.data, "v1:k1:", 6) == 0,
       "the value says v1 and its key id");
    ok(ngx_strlcasestrn(value.data, value.data + value.len,
                        (u_char *) "whsec", 4) == NULL,
       "and not the secret");

    is_int(ngx_helpdesk_secret_encrypt(pool, &old, &aad, &plain, &value2),
           NGX_OK, "encrypted again");
    ok(value.len == value2.len
       && ngx_memcmp(value.data, value2.data, value.len) != 0,
       "a fresh nonce: another ciphertext");

    is_int(ngx_helpdesk_secret_decrypt(pool, &old, &aad, &value, &out),
           NGX_OK, "it decrypts");
    is_str(out.data, out.len, "whsec_a-secret", "into the secret");

    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_OK, "a ring with a newer key still decrypts k1's");
    ok(!ngx_helpdesk_secret_is_current(&ring, &value),
       "but it is not under the current key");
    ok(ngx_helpdesk_secret_is_current(&old, &value), "k1's ring: it is");

    is_int(ngx_helpdesk_secret_decrypt(pool, &other, &aad, &value, &out),
           NGX_DECLINED, "a ring without k1 refuses it");

    is_int(ngx_helpdesk_secret_decrypt(pool, &old, &aad2, &value, &out),
           NGX_DECLINED, "moved to another row: refused");

    ngx_helpdesk_secret_aad(&aad2, b2, "webhook_endpoints", "url", &row);
    is_int(ngx_helpdesk_secret_decrypt(pool, &old, &aad2, &value, &out),
           NGX_DECLINED, "moved to another column: refused");

    /* the tag's last character, and a byte of the ciphertext */
    p = value.data + value.len - 3;
    *p = (*p == 'A') ? 'B' : 'A';
    is_int(ngx_helpdesk_secret_decrypt(pool, &old, &aad, &value, &out),
           NGX_DECLINED, "a tampered tag is refused");
    *p = value2.data[value.len - 3];

    is_int(ngx_helpdesk_secret_encrypt(pool, &ring, &aad, &plain, &value),
           NGX_OK, "encrypted under the new key");
    ok(ngx_strncmp(value.data, "v1:k2:", 6) == 0, "k2 it is");
    ok(ngx_helpdesk_secret_is_current(&ring, &value), "the current key");

    value.data[8] ^= 1;
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_DECLINED, "a changed ciphertext is refused");

    value = ngx_unit_str("plain:legacy");
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_OK, "a value from before encryption is read");
    is_str(out.data, out.len, "legacy", "without its marker");
    ok(!ngx_helpdesk_secret_is_current(&ring, &value), "and is rotated");

    value = ngx_unit_str("legacy");
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_DECLINED, "an unmarked value is refused");

    value = ngx_unit_str("v1:k2:");
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_DECLINED, "an empty ciphertext is refused");

    value = ngx_unit_str("v1:k2:!!!!");
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_DECLINED, "a ciphertext that is not base64 is refused");

    value = ngx_unit_str("v1:k3:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_DECLINED, "an unknown key is refused");

    value = ngx_unit_str("v1k2");
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_DECLINED, "a value without its parts is refused");

    plain = ngx_unit_str("");
    is_int(ngx_helpdesk_secret_encrypt(pool, &ring, &aad, &plain, &value),
           NGX_OK, "an empty secret is encrypted");
    is_int(ngx_helpdesk_secret_decrypt(pool, &ring, &aad, &value, &out),
           NGX_OK, "and decrypted");
    is_int(out.len, 0, "empty");

    plain.len = NGX_HELPDESK_SECRET_MAX + 1;
    plain.data = ngx_pcalloc(pool, plain.len);
    is_int(ngx_helpdesk_secret_encrypt(pool, &ring, &aad, &plain, &value),
           NGX_ERROR, "a secret over the limit is refused");

    ngx_destroy_pool(pool);
}


static void
ngx_unit_row_id(void)
{
    size_t   i;
    u_char   a[NGX_HELPDESK_UUID_LEN], b[NGX_HELPDESK_UUID_LEN];
    int      good;

    is_int(ngx_helpdesk_secret_row_id(a), NGX_OK, "a row id");
    is_int(ngx_helpdesk_secret_row_id(b), NGX_OK, "another");
    ok(ngx_memcmp(a, b, sizeof(a)) != 0, "they differ");

    good = 1;
    for (i = 0; i < sizeof(a); i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            good &= (a[i] == '-');

        } else {
            good &= ((a[i] >= '0' && a[i] <= '9')
                     || (a[i] >= 'a' && a[i] <= 'f'));
        }
    }

    ok(good, "lower-case 8-4-4-4-12 hex, as PostgreSQL prints a uuid: %.*s",
       (int) sizeof(a), a);
    ok(a[14] == '4' && (a[19] == '8' || a[19] == '9' || a[19] == 'a'
                        || a[19] == 'b'), "version 4, RFC 4122 variant");
}


int
main(void)
{
    ngx_unit_init();

    ngx_unit_parse();
    ngx_unit_vector();
    ngx_unit_round_trip();
    ngx_unit_row_id();

    return ngx_unit_done();
}
