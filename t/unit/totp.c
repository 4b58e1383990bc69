/*
 * lib/ngx_helpdesk_totp.c: RFC 6238 Appendix B's SHA-1 vectors (the last
 * six of their eight digits: a code is the same number modulo 10^6), the
 * window of one step either side, the step a code belongs to (which the
 * database accepts once), malformed codes and secrets, and new secrets
 * checked against the RFC 4226 algorithm written out here.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


/* "12345678901234567890", RFC 6238's SHA-1 seed */
#define NGX_UNIT_SEED  "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


static ngx_int_t
ngx_unit_check(const char *secret, const char *code, time_t now)
{
    ngx_str_t  s, c;

    s = ngx_unit_str(secret);
    c = ngx_unit_str(code);

    ngx_unit_set_time(now);

    return ngx_helpdesk_totp_check(&s, &c);
}


/* RFC 4226's HOTP, for a key already decoded */
static ngx_uint_t
ngx_unit_hotp(u_char *key, size_t len, uint64_t step)
{
    int           i;
    u_char        msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int  n;
    ngx_uint_t    off;

    for (i = 7; i >= 0; i--) {
        msg[i] = (u_char) step;
        step >>= 8;
    }

    if (HMAC(EVP_sha1(), key, (int) len, msg, 8, mac, &n) == NULL) {
        abort();
    }

    off = mac[19] & 0x0f;

    return (((ngx_uint_t) (mac[off] & 0x7f) << 24) | (mac[off + 1] << 16)
            | (mac[off + 2] << 8) | mac[off + 3]) % 1000000;
}


static size_t
ngx_unit_base32(ngx_str_t *s, u_char *out)
{
    size_t      i, n;
    ngx_uint_t  bits, value;
    const char  *p, *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    bits = 0;
    value = 0;
    n = 0;

    for (i = 0; i < s->len; i++) {
        p = strchr(alphabet, s->data[i]);
        if (p == NULL || s->data[i] == '\0') {
            return 0;
        }

        value = (value << 5) | (p - alphabet);
        bits += 5;

        if (bits >= 8) {
            out[n++] = (u_char) (value >> (bits - 8));
            bits -= 8;
        }
    }

    return n;
}


static void
ngx_unit_rfc6238(void)
{
    size_t   i;
    char     wrong[7];

    static const struct {
        time_t       t;
        const char  *code;
    } v[] = {
        { 59, "287082" },               /* 94287082 */
        { 1111111109, "081804" },       /* 07081804 */
        { 1111111111, "050471" },       /* 14050471 */
        { 1234567890, "005924" },       /* 89005924 */
        { 2000000000, "279037" },       /* 69279037 */
        { 20000000000LL, "353130" }     /* 65353130 */
    };

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        is_int(ngx_unit_check(NGX_UNIT_SEED, v[i].code, v[i].t), NGX_OK,
               "RFC 6238 T=%lld: %s accepted", (long long) v[i].t, v[i].code);

        is_int(ngx_unit_check(NGX_UNIT_SEED, v[i].code, v[i].t + 30), NGX_OK,
               "T=%lld: accepted a step later", (long long) v[i].t);

        is_int(ngx_unit_check(NGX_UNIT_SEED, v[i].code, v[i].t - 30), NGX_OK,
               "T=%lld: accepted a step earlier", (long long) v[i].t);

        is_int(ngx_unit_check(NGX_UNIT_SEED, v[i].code, v[i].t + 90),
               NGX_DECLINED, "T=%lld: refused three steps later",
               (long long) v[i].t);

        if (v[i].t >= 90) {
            is_int(ngx_unit_check(NGX_UNIT_SEED, v[i].code, v[i].t - 90),
                   NGX_DECLINED, "T=%lld: refused three steps earlier",
                   (long long) v[i].t);
        }

        memcpy(wrong, v[i].code, 7);
        wrong[5] = (char) ('0' + (wrong[5] - '0' + 1) % 10);

        is_int(ngx_unit_check(NGX_UNIT_SEED, wrong, v[i].t), NGX_DECLINED,
               "T=%lld: %s (one digit off) refused", (long long) v[i].t,
               wrong);
    }
}


static void
ngx_unit_malformed(void)
{
    is_int(ngx_unit_check(NGX_UNIT_SEED, "28708", 59), NGX_DECLINED,
           "five digits refused");
    is_int(ngx_unit_check(NGX_UNIT_SEED, "2870820", 59), NGX_DECLINED,
           "seven digits refused");
    is_int(ngx_unit_check(NGX_UNIT_SEED, "94287082", 59), NGX_DECLINED,
           "RFC 6238's eight digits refused");
    is_int(ngx_unit_check(NGX_UNIT_SEED, "28708a", 59), NGX_DECLINED,
           "a letter refused");
    is_int(ngx_unit_check(NGX_UNIT_SEED, "-28708", 59), NGX_DECLINED,
           "a sign refused");
    is_int(ngx_unit_check(NGX_UNIT_SEED, "", 59), NGX_DECLINED,
           "an empty code refused");

    is_int(ngx_unit_check("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", "287082", 59),
           NGX_OK, "a lowercase secret is the same secret");
    is_int(ngx_unit_check("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ", "287082",
                          59),
           NGX_OK, "a secret in groups of four is the same secret");
    is_int(ngx_unit_check("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====", "287082",
                          59),
           NGX_OK, "padding is ignored");

    is_int(ngx_unit_check("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", "287082", 59),
           NGX_DECLINED, "a secret with a character outside base32 refused");
    is_int(ngx_unit_check("GEZDGNBVGY3TQOJ", "287082", 59), NGX_DECLINED,
           "a secret under 80 bits refused");
    is_int(ngx_unit_check("", "287082", 59), NGX_DECLINED,
           "an empty secret refused");
}


static void
ngx_unit_secret(void)
{
    size_t       i, n, good;
    u_char       key[64];
    char         code[7], secret[33];
    time_t       now;
    ngx_str_t    a, b;
    ngx_int_t    k;
    ngx_pool_t  *pool;

    pool = ngx_unit_pool();

    is_int(ngx_helpdesk_totp_secret(pool, &a), NGX_OK, "a new secret");
    is_int(ngx_helpdesk_totp_secret(pool, &b), NGX_OK, "another new secret");

    is_int(a.len, 32, "32 base32 characters (160 bits)");

    for (i = 0, good = 0; i < a.len; i++) {
        good += (a.data[i] >= 'A' && a.data[i] <= 'Z')
                || (a.data[i] >= '2' && a.data[i] <= '7');
    }

    is_int(good, a.len, "all of them in RFC 4648's alphabet");
    ok(a.len != b.len || memcmp(a.data, b.data, a.len) != 0,
       "two secrets differ");

    snprintf(secret, sizeof(secret), "%.*s", (int) a.len, a.data);

    n = ngx_unit_base32(&a, key);
    is_int(n, NGX_HELPDESK_TOTP_SECRET_LEN, "it decodes into 20 bytes");

    /* RFC 4226 over the decoded secret: the step before, now and after */
    now = 1700000015;

    for (k = -2; k <= 2; k++) {
        snprintf(code, sizeof(code), "%06lu",
                 (unsigned long) ngx_unit_hotp(key, n, now / 30 + k));

        is_int(ngx_unit_check(secret, code, now),
               (k >= -1 && k <= 1) ? NGX_OK : NGX_DECLINED,
               "the code of step now%+d is %s", (int) k,
               (k >= -1 && k <= 1) ? "accepted" : "refused");
    }

    ngx_destroy_pool(pool);
}


/* the step a code belongs to, wherever in the window it is taken */
static void
ngx_unit_step(void)
{
    uint64_t   step;
    ngx_str_t  s, c;

    s = ngx_unit_str(NGX_UNIT_SEED);
    c = ngx_unit_str("005924");     /* T = 1234567890: step 41152263 */

    ngx_unit_set_time(1234567890);
    is_int(ngx_helpdesk_totp_match(&s, &c, &step), NGX_OK, "matched now");
    is_int((long long) step, 41152263, "its own step");

    ngx_unit_set_time(1234567890 + 30);
    is_int(ngx_helpdesk_totp_match(&s, &c, &step), NGX_OK,
           "matched a step later");
    is_int((long long) step, 41152263, "still its own step, not the clock's");

    ngx_unit_set_time(1234567890 - 30);
    is_int(ngx_helpdesk_totp_match(&s, &c, &step), NGX_OK,
           "matched a step earlier");
    is_int((long long) step, 41152263, "its own step again");

    c = ngx_unit_str("005925");
    ngx_unit_set_time(1234567890);
    is_int(ngx_helpdesk_totp_match(&s, &c, &step), NGX_DECLINED,
           "a wrong code");
    is_int((long long) step, 0, "has no step");
}


int
main(void)
{
    ngx_unit_init();

    ngx_unit_rfc6238();
    ngx_unit_step();
    ngx_unit_malformed();
    ngx_unit_secret();

    return ngx_unit_done();
}
