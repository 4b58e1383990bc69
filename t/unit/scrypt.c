/*
 * lib/ngx_helpdesk_scrypt.c: RFC 7914's scrypt vectors (the three that
 * run in well under a second), the stored form parsed and formatted both
 * ways, hashes made elsewhere (Python's hashlib.scrypt) verified,
 * malformed or too costly hashes refused, the comparison.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_scrypt.h"


/* "correct horse", ln=10 */
#define NGX_UNIT_HASH10                                                       \
    "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"                          \
    "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI"

/* "hunter2hunter2", at the cost of the module's own hashes */
#define NGX_UNIT_HASH15                                                       \
    "$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$"                          \
    "nwjZKDNgVjCvL7zUhup2BjxuSm1VXYwEdFh11W039vo"


static ngx_int_t
ngx_unit_parse(const char *hash, ngx_helpdesk_scrypt_t *s)
{
    ngx_str_t  h;

    h = ngx_unit_str(hash);

    return ngx_helpdesk_scrypt_parse(&h, s);
}


static void
ngx_unit_rfc7914(void)
{
    size_t                  i;
    u_char                  out[64];
    ngx_helpdesk_scrypt_t   s;

    static const struct {
        const char  *password;
        const char  *salt;
        ngx_uint_t   ln, r, p;
        const char  *key;
    } v[] = {
        { "", "", 4, 1, 1,
          "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
          "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906" },
        { "password", "NaCl", 10, 8, 16,
          "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
          "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640" },
        { "pleaseletmein", "SodiumChloride", 14, 8, 1,
          "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
          "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887" }
    };

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ngx_memzero(&s, sizeof(s));
        s.ln = v[i].ln;
        s.r = v[i].r;
        s.p = v[i].p;
        s.salt_len = strlen(v[i].salt);
        memcpy(s.salt, v[i].salt, s.salt_len);
        s.key_len = 64;

        memset(out, 0, sizeof(out));

        is_int(ngx_helpdesk_scrypt_derive(&s, (u_char *) v[i].password,
                                          strlen(v[i].password), out),
               NGX_OK, "RFC 7914 N=%lu r=%lu p=%lu: derived",
               1ul << v[i].ln, (unsigned long) v[i].r,
               (unsigned long) v[i].p);
        is_hex(out, 64, v[i].key, "RFC 7914 N=%lu r=%lu p=%lu: the key",
               1ul << v[i].ln, (unsigned long) v[i].r,
               (unsigned long) v[i].p);

        /* the same key, verified */
        memcpy(s.key, out, 64);
        is_int(ngx_helpdesk_scrypt_verify(&s, (u_char *) v[i].password,
                                          strlen(v[i].password)),
               NGX_OK, "RFC 7914 N=%lu: verified", 1ul << v[i].ln);
    }
}


static void
ngx_unit_stored(void)
{
    ngx_str_t               h;
    ngx_pool_t             *pool;
    ngx_helpdesk_scrypt_t   s, t;

    pool = ngx_unit_pool();

    is_int(ngx_unit_parse(NGX_UNIT_HASH10, &s), NGX_OK, "ln=10 hash parsed");
    ok(s.ln == 10 && s.r == 8 && s.p == 1, "its cost");
    is_str(s.salt, s.salt_len, "saltsaltsaltsalt", "its salt");
    is_int(s.key_len, 32, "its key: 32 bytes");

    is_int(ngx_helpdesk_scrypt_verify(&s, (u_char *) "correct horse", 13),
           NGX_OK, "the right password verifies");
    is_int(ngx_helpdesk_scrypt_verify(&s, (u_char *) "correct horsf", 13),
           NGX_DECLINED, "a wrong password does not");
    is_int(ngx_helpdesk_scrypt_verify(&s, (u_char *) "correct hors", 12),
           NGX_DECLINED, "nor a prefix of the right one");
    is_int(ngx_helpdesk_scrypt_verify(&s, (u_char *) "", 0), NGX_DECLINED,
           "nor an empty one");

    is_int(ngx_helpdesk_scrypt_format(pool, &s, &h), NGX_OK, "formatted");
    is_str(h.data, h.len, NGX_UNIT_HASH10, "formatted as it was stored");

    is_int(ngx_unit_parse(NGX_UNIT_HASH15, &s), NGX_OK, "ln=15 hash parsed");
    is_int(ngx_helpdesk_scrypt_verify(&s, (u_char *) "hunter2hunter2", 14),
           NGX_OK, "a hash of the module's cost verifies");
    is_int(ngx_helpdesk_scrypt_verify(&s, (u_char *) "hunter2", 7),
           NGX_DECLINED, "a wrong password does not");

    /* a new hash: default cost, random salt, through its stored form */
    is_int(ngx_helpdesk_scrypt_new(&s), NGX_OK, "new parameters");
    ok(s.ln == NGX_HELPDESK_SCRYPT_LN && s.r == NGX_HELPDESK_SCRYPT_R
       && s.p == NGX_HELPDESK_SCRYPT_P, "the default cost");
    is_int(s.salt_len, NGX_HELPDESK_SCRYPT_SALT_LEN, "a 16-byte salt");
    is_int(s.key_len, NGX_HELPDESK_SCRYPT_KEY_LEN, "a 32-byte key");

    is_int(ngx_helpdesk_scrypt_new(&t), NGX_OK, "other new parameters");
    ok(memcmp(s.salt, t.salt, s.salt_len) != 0, "another salt");

    s.ln = 10;
    is_int(ngx_helpdesk_scrypt_derive(&s, (u_char *) "p4ssw0rd!", 9, s.key),
           NGX_OK, "a key derived");
    is_int(ngx_helpdesk_scrypt_format(pool, &s, &h), NGX_OK, "formatted");
    ok(h.len > 20 && ngx_strncmp(h.data, "$scrypt$ln=10,r=8,p=1$", 22) == 0,
       "it starts with its cost");
    ok(h.len <= NGX_HELPDESK_SCRYPT_HASH_MAX, "it is no longer than allowed");
    ok(memchr(h.data + 22, '=', h.len - 22) == NULL, "no padding");

    is_int(ngx_helpdesk_scrypt_parse(&h, &t), NGX_OK, "parsed back");
    ok(t.ln == s.ln && t.r == s.r && t.p == s.p
       && t.salt_len == s.salt_len && t.key_len == s.key_len
       && memcmp(t.salt, s.salt, s.salt_len) == 0
       && memcmp(t.key, s.key, s.key_len) == 0, "the same parameters");
    is_int(ngx_helpdesk_scrypt_verify(&t, (u_char *) "p4ssw0rd!", 9), NGX_OK,
           "the password verifies against it");
    is_int(ngx_helpdesk_scrypt_verify(&t, (u_char *) "p4ssw0rd?", 9),
           NGX_DECLINED, "another does not");

    /* the dummy that unknown accounts are checked against */
    ngx_memzero(&s, sizeof(s));
    ngx_helpdesk_scrypt_dummy(&s);
    ok(s.ln == 15 && s.r == 8 && s.p == 1 && s.key_len == 32,
       "the dummy hash costs what a real one does");
    is_hex(s.key, s.key_len,
           "0000000000000000000000000000000000000000000000000000000000000000",
           "its key is no key scrypt would derive");

    ngx_destroy_pool(pool);
}


static void
ngx_unit_malformed(void)
{
    size_t                  i;
    char                    long_hash[256];
    ngx_helpdesk_scrypt_t   s;

    static const struct {
        const char  *hash;
        const char  *why;
    } bad[] = {
        { "", "empty" },
        { "$scrypt$", "the prefix only" },
        { "$scrypt$ln=", "no cost" },
        { "$scrypt2$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "another prefix" },
        { "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "another scheme" },
        { "scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "no leading $" },
        { "$scrypt$ln=9,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "ln 9: too cheap" },
        { "$scrypt$ln=21,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "ln 21: too costly" },
        { "$scrypt$ln=-10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "a negative ln" },
        { "$scrypt$ln=1a,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "ln not a number" },
        { "$scrypt$ln=,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "ln empty" },
        { "$scrypt$ln=99999999999999999999999,r=8,p=1$c2FsdHNhbHRzYWx0c2Fsd"
          "A$A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "ln overflowing" },
        { "$scrypt$ln=10,r=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "r 0" },
        { "$scrypt$ln=10,r=33,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "r 33" },
        { "$scrypt$ln=10,p=1,r=8$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "r and p swapped" },
        { "$scrypt$ln=10,r=8,p=0$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "p 0" },
        { "$scrypt$ln=10,r=8,p=17$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "p 17" },
        { "$scrypt$ln=10,r=8$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "no p" },
        { "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA", "no key" },
        { "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$", "an empty key" },
        { "$scrypt$ln=10,r=8,p=1$$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "an empty salt" },
        { "$scrypt$ln=10,r=8,p=1",  "no salt and no key" },
        { "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRz!WF0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", "a salt not base64" },
        { "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqam*IqXKovIl4Vk6OZyVojLJmYmSI", "a key not base64" },
        { "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSIAA", "a key of 4n+1 "
          "characters" },
        { "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIq", "a key under 16 bytes (15)" },
        { "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI$x", "a part too many" }
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(ngx_unit_parse(bad[i].hash, &s), NGX_ERROR, "refused: %s",
               bad[i].why);
    }

    /* a salt of 66 bytes: past what a hash may hold */
    memset(long_hash, 'A', sizeof(long_hash));
    memcpy(long_hash, "$scrypt$ln=10,r=8,p=1$", 22);
    long_hash[22 + 88] = '$';
    long_hash[22 + 88 + 1 + 43] = '\0';
    is_int(ngx_unit_parse(long_hash, &s), NGX_ERROR,
           "refused: a salt over 64 bytes");

    /* 161 characters: a 46-byte salt, a 57-byte key */
    memset(long_hash, 'A', sizeof(long_hash));
    memcpy(long_hash, "$scrypt$ln=10,r=8,p=1$", 22);
    long_hash[22 + 62] = '$';
    long_hash[161] = '\0';
    is_int(ngx_unit_parse(long_hash, &s), NGX_ERROR,
           "refused: a hash over 160 characters");

    /* 160: a 56-byte key */
    long_hash[160] = '\0';
    is_int(ngx_unit_parse(long_hash, &s), NGX_OK,
           "the same at 160 characters is accepted");

    /* accepted by the parser, but over the memory limit of a check */
    is_int(ngx_unit_parse("$scrypt$ln=20,r=32,p=16$c2FsdHNhbHRzYWx0c2FsdA$"
                          "A9lBa6RTbfBovWqamVIqXKovIl4Vk6OZyVojLJmYmSI", &s),
           NGX_OK, "ln=20,r=32,p=16 parses");
    is_int(ngx_helpdesk_scrypt_verify(&s, (u_char *) "x", 1), NGX_ERROR,
           "but 4 GiB is over the memory limit: an error, not a mismatch");
}


static void
ngx_unit_equal(void)
{
    u_char  a[32], b[32];

    memset(a, 0x42, sizeof(a));
    memset(b, 0x42, sizeof(b));

    ok(ngx_helpdesk_scrypt_equal(a, b, 32), "equal bytes are equal");
    ok(ngx_helpdesk_scrypt_equal(a, b, 0), "no bytes are equal");

    b[0] ^= 0x01;
    ok(!ngx_helpdesk_scrypt_equal(a, b, 32), "the first byte differs");
    ok(ngx_helpdesk_scrypt_equal(a + 1, b + 1, 31), "the rest is equal");

    b[0] = a[0];
    b[31] ^= 0x80;
    ok(!ngx_helpdesk_scrypt_equal(a, b, 32), "the last byte differs");
    ok(ngx_helpdesk_scrypt_equal(a, b, 31), "only the bytes asked for count");
}


int
main(void)
{
    ngx_unit_init();

    ngx_unit_rfc7914();
    ngx_unit_stored();
    ngx_unit_malformed();
    ngx_unit_equal();

    return ngx_unit_done();
}
