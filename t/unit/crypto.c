/*
 * lib/ngx_helpdesk_crypto.c: SHA-256 against FIPS 180-2's examples,
 * HMAC-SHA256 against RFC 4231's test cases, and the random generator.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_crypto.h"


typedef struct {
    const char  *name;
    u_char       key[131];
    size_t       key_len;
    const char  *data;          /* NULL: data_byte repeated data_len times */
    u_char       data_byte;
    size_t       data_len;
    const char  *mac;
} ngx_unit_hmac_t;


static void
ngx_unit_sha256(void)
{
    u_char   out[NGX_HELPDESK_SHA256_LEN];
    u_char  *million;

    ngx_helpdesk_sha256((u_char *) "abc", 3, out);
    is_hex(out, sizeof(out),
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "SHA-256 of \"abc\" (FIPS 180-2 B.1)");

    ngx_helpdesk_sha256((u_char *) "", 0, out);
    is_hex(out, sizeof(out),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "SHA-256 of the empty message");

    ngx_helpdesk_sha256((u_char *) "abcdbcdecdefdefgefghfghighijhijkijkljklm"
                        "klmnlmnomnopnopq", 56, out);
    is_hex(out, sizeof(out),
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "SHA-256 of the 448-bit message (FIPS 180-2 B.2)");

    million = malloc(1000000);
    if (million == NULL) {
        abort();
    }

    memset(million, 'a', 1000000);
    ngx_helpdesk_sha256(million, 1000000, out);
    free(million);

    is_hex(out, sizeof(out),
           "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
           "SHA-256 of a million 'a' (FIPS 180-2 B.3)");
}


static void
ngx_unit_hmac(void)
{
    size_t            i, j;
    u_char            out[NGX_HELPDESK_SHA256_LEN], data[64];
    u_char           *d;
    ngx_unit_hmac_t  *t;

    static ngx_unit_hmac_t  tests[] = {
        { "RFC 4231 test case 1", { 0 }, 20, "Hi There", 0, 0,
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },

        { "RFC 4231 test case 2", "Jefe", 4,
          "what do ya want for nothing?", 0, 0,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },

        { "RFC 4231 test case 3", { 0 }, 20, NULL, 0xdd, 50,
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },

        { "RFC 4231 test case 4", { 0 }, 25, NULL, 0xcd, 50,
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },

        { "RFC 4231 test case 6 (a key longer than a block)", { 0 }, 131,
          "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },

        { "RFC 4231 test case 7 (key and data longer than a block)", { 0 },
          131, "This is a test using a larger than block-size key and a "
          "larger than block-size data. The key needs to be hashed before "
          "being used by the HMAC algorithm.", 0, 0,
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" }
    };

    /* the keys made of one byte repeated, or counting up */
    memset(tests[0].key, 0x0b, 20);
    memset(tests[2].key, 0xaa, 20);

    for (j = 0; j < 25; j++) {
        tests[3].key[j] = (u_char) (j + 1);
    }

    memset(tests[4].key, 0xaa, 131);
    memset(tests[5].key, 0xaa, 131);

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        t = &tests[i];

        if (t->data) {
            d = (u_char *) t->data;
            j = strlen(t->data);

        } else {
            memset(data, t->data_byte, t->data_len);
            d = data;
            j = t->data_len;
        }

        memset(out, 0, sizeof(out));

        is_int(ngx_helpdesk_hmac_sha256(t->key, t->key_len, d, j, out),
               NGX_OK, "HMAC-SHA256, %s: NGX_OK", t->name);
        is_hex(out, sizeof(out), t->mac, "HMAC-SHA256, %s", t->name);
    }

    is_int(ngx_helpdesk_hmac_sha256((u_char *) "k", (size_t) 1 << 32,
                                    (u_char *) "", 0, out),
           NGX_ERROR, "HMAC-SHA256: a key over 2^31 bytes is refused");
}


static void
ngx_unit_random(void)
{
    size_t   i, same;
    u_char   a[48], b[48];

    memset(a, 0x5a, sizeof(a));
    memset(b, 0x5a, sizeof(b));

    is_int(ngx_helpdesk_random(a, 32), NGX_OK, "random: 32 bytes");
    is_int(ngx_helpdesk_random(b, 32), NGX_OK, "random: 32 more bytes");

    ok(memcmp(a, b, 32) != 0, "random: two draws differ");

    for (i = 32, same = 0; i < sizeof(a); i++) {
        same += (a[i] == 0x5a && b[i] == 0x5a);
    }

    is_int(same, sizeof(a) - 32, "random: nothing past the length written");

    /* 32 random bytes all equal to the fill is a chance of 2^-256 */
    for (i = 0, same = 0; i < 32; i++) {
        same += (a[i] == 0x5a);
    }

    ok(same < 32, "random: the bytes asked for are written");

    is_int(ngx_helpdesk_random(a, 0), NGX_OK, "random: no bytes");
    is_int(ngx_helpdesk_random(a, (size_t) 1 << 32), NGX_ERROR,
           "random: over 2^31 bytes is refused");
}


int
main(void)
{
    ngx_unit_init();

    ngx_unit_sha256();
    ngx_unit_hmac();
    ngx_unit_random();

    return ngx_unit_done();
}
