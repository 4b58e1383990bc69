/*
 * src/lib/ngx_helpdesk_dns.c: queries as built, answers as read, with
 * hand-made wire messages, the hostile ones included (pointer loops and
 * forward pointers, cut records, counts past the message, names over 255
 * octets, CNAME chains too long or looping, a question not ours).
 */

#include "ngx_unit.h"
#include "lib/ngx_helpdesk_dns.h"


/* a message being written */
typedef struct {
    u_char  b[70000];
    size_t  n;
} msg_t;


static void
put(msg_t *m, const void *p, size_t n)
{
    ngx_memcpy(m->b + m->n, p, n);
    m->n += n;
}


static void
put16(msg_t *m, ngx_uint_t v)
{
    m->b[m->n++] = (u_char) (v >> 8);
    m->b[m->n++] = (u_char) v;
}


static void
put32(msg_t *m, uint32_t v)
{
    put16(m, v >> 16);
    put16(m, v & 0xffff);
}


/* "a.b.c" in wire form, ending with the root */
static void
put_name(msg_t *m, const char *name)
{
    const char  *p, *dot;

    for (p = name; *p; p = *dot ? dot + 1 : dot) {
        dot = strchr(p, '.');
        if (dot == NULL) {
            dot = p + strlen(p);
        }
        m->b[m->n++] = (u_char) (dot - p);
        put(m, p, dot - p);
    }

    m->b[m->n++] = 0;
}


static void
put_ptr(msg_t *m, size_t off)
{
    put16(m, 0xc000 | off);
}


/* header with the given counts, then the question (name at offset 12) */
static void
start(msg_t *m, ngx_uint_t id, ngx_uint_t flags, const char *qname,
    ngx_uint_t qtype, ngx_uint_t an, ngx_uint_t ns, ngx_uint_t ar)
{
    m->n = 0;
    put16(m, id);
    put16(m, flags);
    put16(m, 1);
    put16(m, an);
    put16(m, ns);
    put16(m, ar);
    put_name(m, qname);
    put16(m, qtype);
    put16(m, 1);
}


/* a record's fixed part after its owner name */
static void
rr_head(msg_t *m, ngx_uint_t type, size_t rdlen)
{
    put16(m, type);
    put16(m, 1);
    put32(m, 300);
    put16(m, rdlen);
}


static ngx_int_t
parse(ngx_pool_t *pool, msg_t *m, ngx_uint_t id, const char *name,
    ngx_uint_t type, ngx_helpdesk_dns_answer_t *ans, const char **err)
{
    u_char     *copy;
    ngx_str_t   n;

    /* exactly the message's length, so that a read past it is caught */
    copy = ngx_pnalloc(pool, m->n ? m->n : 1);
    ngx_memcpy(copy, m->b, m->n);

    n = ngx_unit_str(name);
    *err = "";

    return ngx_helpdesk_dns_answer_parse(pool, copy, m->n, id, &n, type, ans,
                                         err);
}


static void
test_query(ngx_pool_t *pool)
{
    u_char       buf[NGX_HELPDESK_DNS_QUERY_MAX], wire[256];
    size_t       len;
    char         big[400];
    ngx_str_t    name;
    const char  *err;

    name = ngx_unit_str("WWW.Example.com.");
    ok(ngx_helpdesk_dns_query_build(buf, &len, &name, NGX_HELPDESK_DNS_CAA,
                                    0xbeef, &err) == NGX_OK, "query built");
    is_hex(buf, len,
           "beef0100000100000000000103777777076578616d706c6503636f6d00"
           "010100010000290"
           "4d0000000000000",
           "query: id, RD, one question, the name in lower case, CAA IN, "
           "OPT 1232");

    name = ngx_unit_str("_helpdesk-verify.a.example");
    ok(ngx_helpdesk_dns_name_encode(&name, wire, &len, &err) == NGX_OK
       && len == 28, "an underscore label encodes");

#define REFUSE(s, why)                                                       \
    name = ngx_unit_str(s);                                                  \
    err = "";                                                                \
    ok(ngx_helpdesk_dns_query_build(buf, &len, &name, 1, 1, &err)            \
       == NGX_ERROR && strcmp(err, why) == 0, "refused: %s (%s)", why, err)

    REFUSE("", "empty name");
    REFUSE(".", "empty name");
    REFUSE("a..b", "empty label in name");
    REFUSE(".a", "empty label in name");
    REFUSE("a b.example", "invalid character in name");
    REFUSE("a\\.b.example", "invalid character in name");
    REFUSE("*.example", "invalid character in name");
    REFUSE("a\xc3\xa9.example", "invalid character in name");

    memset(big, 'a', 64);
    big[64] = '\0';
    REFUSE(big, "label over 63 octets");

    /* 4 labels of 63: 4 * 64 + 1 = 257 octets */
    memset(big, 'a', 255);
    big[63] = big[127] = big[191] = '.';
    big[255] = '\0';
    REFUSE(big, "name over 255 octets");

    /* 253 characters of text: 255 octets, the most there is */
    big[253] = '\0';
    name = ngx_unit_str(big);
    ok(ngx_helpdesk_dns_name_encode(&name, wire, &len, &err) == NGX_OK
       && len == 255, "a name of 255 octets encodes");
}


static void
test_answers(ngx_pool_t *pool)
{
    msg_t                      *m;
    size_t                      t1, t2;
    ngx_str_t                  *s, issuer, v;
    const char                 *err;
    struct in_addr             *a;
    ngx_helpdesk_dns_caa_t     *caa;
    ngx_helpdesk_dns_answer_t   ans;
    const char                 *issue =
                                  " letsencrypt.org; validationmethods=http-01";

    m = ngx_pcalloc(pool, sizeof(msg_t));

    /* A with a chain of two CNAMEs, out of order, pointers backwards */
    start(m, 7, 0x8180, "Shop.Example.com", 1, 4, 1, 1);
    put_ptr(m, 12);
    rr_head(m, 5, 5);
    t1 = m->n;
    put(m, "\x02t1", 3);
    put_ptr(m, 12 + 5);         /* "t1.example.com" */
    put(m, "\x03web", 4);
    put_name(m, "example");
    rr_head(m, 1, 4);
    put(m, "\xc0\x00\x02\x07", 4);  /* an A of "web.example": not ours */
    t2 = m->n;
    put(m, "\x02t2", 3);
    put_ptr(m, 12 + 5);
    rr_head(m, 1, 4);
    put(m, "\xcb\x00\x71\x09", 4);  /* 203.0.113.9 */
    put_ptr(m, t1);
    rr_head(m, 5, 2);
    put_ptr(m, t2);                 /* "t2.example.com" */
    /* authority: a SOA-like record; additional: OPT */
    put_ptr(m, 12 + 5);
    rr_head(m, 6, 3);
    put(m, "abc", 3);
    put(m, "\x00", 1);
    put16(m, 41); put16(m, 1232); put32(m, 0); put16(m, 0);

    is_int(parse(pool, m, 7, "shop.example.com.", 1, &ans, &err), NGX_OK,
           "CNAME chain answer read (%s)", err);
    is_int(ans.rcode, 0, "rcode NOERROR");
    is_int(ans.chain.nelts, 2, "two links");
    s = ans.chain.elts;
    if (ans.chain.nelts == 2) {
        is_str(s[0].data, s[0].len, "t1.example.com", "first link");
        is_str(s[1].data, s[1].len, "t2.example.com", "second link");
    }
    is_str(ans.final.data, ans.final.len, "t2.example.com", "final name");
    is_str(ans.name.data, ans.name.len, "shop.example.com",
           "question name, lower case");
    is_int(ans.a.nelts, 1, "one address, the chain end's only");
    a = ans.a.elts;
    ok(ans.a.nelts == 1 && ntohl(a[0].s_addr) == 0xcb007109,
       "203.0.113.9");

    /* the same answer: its id, its question, its type differ */
    is_int(parse(pool, m, 8, "shop.example.com", 1, &ans, &err),
           NGX_DECLINED, "another id: declined (%s)", err);
    is_int(parse(pool, m, 7, "shop.example.net", 1, &ans, &err),
           NGX_DECLINED, "another name: declined (%s)", err);
    is_int(parse(pool, m, 7, "shop.example.com", 28, &ans, &err),
           NGX_DECLINED, "another type: declined (%s)", err);
    m->b[2] &= 0x7f;
    is_int(parse(pool, m, 7, "shop.example.com", 1, &ans, &err),
           NGX_DECLINED, "a query, not a response: declined (%s)", err);
    m->b[2] = 0x80 | (2 << 3);
    is_int(parse(pool, m, 7, "shop.example.com", 1, &ans, &err),
           NGX_DECLINED, "opcode STATUS: declined (%s)", err);

    /* TXT: two strings joined; two records; one of another owner */
    start(m, 1, 0x8180, "_v.example", 16, 3, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 16, 12);
    put(m, "\x05hello\x05world", 12);
    put_ptr(m, 12);
    rr_head(m, 16, 1);
    put(m, "\x00", 1);
    put_name(m, "other.example");
    rr_head(m, 16, 4);
    put(m, "\x03xyz", 4);
    is_int(parse(pool, m, 1, "_v.example", 16, &ans, &err), NGX_OK,
           "TXT read (%s)", err);
    is_int(ans.txt.nelts, 2, "two TXT records of the name");
    s = ans.txt.elts;
    if (ans.txt.nelts == 2) {
        is_str(s[0].data, s[0].len, "helloworld", "strings joined");
        is_int(s[1].len, 0, "an empty string");
    }

    /* CAA: issue with parameters, critical unknown tag */
    start(m, 2, 0x8180, "example.org", 257, 2, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 257, 2 + 5 + strlen(issue));
    put(m, "\x00\x05issue", 7);
    put(m, issue, strlen(issue));
    put_ptr(m, 12);
    rr_head(m, 257, 2 + 3 + 1);
    put(m, "\x80\x03tbsX", 6);
    is_int(parse(pool, m, 2, "example.org", 257, &ans, &err), NGX_OK,
           "CAA read (%s)", err);
    is_int(ans.caa.nelts, 2, "two CAA records");
    caa = ans.caa.elts;
    if (ans.caa.nelts == 2) {
        is_int(caa[0].flags, 0, "flags 0");
        is_str(caa[0].tag.data, caa[0].tag.len, "issue", "tag issue");
        ok(ngx_helpdesk_dns_caa_issuer(&caa[0].value, &issuer) == NGX_OK,
           "issue value parsed");
        is_str(issuer.data, issuer.len, "letsencrypt.org",
               "issuer, parameters ignored");
        is_int(caa[1].flags & NGX_HELPDESK_DNS_CAA_CRITICAL, 0x80,
               "critical flag");
        is_str(caa[1].value.data, caa[1].value.len, "X", "value");
    }

    /* SERVFAIL: rcode exposed, nothing else */
    start(m, 3, 0x8182, "example.org", 257, 0, 0, 0);
    is_int(parse(pool, m, 3, "example.org", 257, &ans, &err), NGX_OK,
           "SERVFAIL read");
    is_int(ans.rcode, NGX_HELPDESK_DNS_SERVFAIL, "rcode SERVFAIL");
    ok(strcmp(ngx_helpdesk_dns_rcode_text(ans.rcode), "SERVFAIL") == 0,
       "rcode text");

    /* TC: truncated, records not read even when cut */
    start(m, 4, 0x8380, "example.org", 16, 5, 0, 0);
    put_ptr(m, 12);
    is_int(parse(pool, m, 4, "example.org", 16, &ans, &err), NGX_OK,
           "truncated answer read");
    ok(ans.truncated && ans.txt.nelts == 0, "TC exposed, no records");

    /* CAA issuer values */
#define ISSUER(val, rc, want)                                                \
    v = ngx_unit_str(val);                                                   \
    issuer.len = 99;                                                         \
    ok(ngx_helpdesk_dns_caa_issuer(&v, &issuer) == rc                        \
       && (rc != NGX_OK || (issuer.len == strlen(want)                       \
                            && memcmp(issuer.data, want, issuer.len) == 0)), \
       "issue value '%s'", val)

    ISSUER("letsencrypt.org", NGX_OK, "letsencrypt.org");
    ISSUER("\tca.example ;", NGX_OK, "ca.example");
    ISSUER(";", NGX_OK, "");
    ISSUER("", NGX_OK, "");
    ISSUER("  ", NGX_OK, "");
    ISSUER("ca.example;account=123; policy=ev", NGX_OK, "ca.example");
    ISSUER("ca--x.example", NGX_OK, "ca--x.example");
    ISSUER("ca.example.", NGX_ERROR, "");
    ISSUER("-ca.example", NGX_ERROR, "");
    ISSUER("ca-.example", NGX_ERROR, "");
    ISSUER("ca..example", NGX_ERROR, "");
    ISSUER("ca.example other", NGX_ERROR, "");
    ISSUER("ca_x.example", NGX_ERROR, "");
}


static void
test_hostile(ngx_pool_t *pool)
{
    msg_t                      *m;
    size_t                      i, at;
    const char                 *err;
    ngx_helpdesk_dns_answer_t   ans;

    m = ngx_pcalloc(pool, sizeof(msg_t));

#define BAD(rc, what)                                                        \
    is_int(parse(pool, m, 9, "a.example", 1, &ans, &err), rc,               \
           "%s: %s", what, err)

    /* a pointer to itself, in the answer's owner */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    at = m->n;
    put_ptr(m, at);
    rr_head(m, 1, 4);
    put(m, "\x01\x02\x03\x04", 4);
    BAD(NGX_ERROR, "pointer to itself");

    /* a forward pointer */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put_ptr(m, m->n + 2);
    put_name(m, "a.example");
    rr_head(m, 1, 4);
    put(m, "\x01\x02\x03\x04", 4);
    BAD(NGX_ERROR, "forward pointer");

    /* a pointer into the header */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put_ptr(m, 2);
    rr_head(m, 1, 4);
    put(m, "\x01\x02\x03\x04", 4);
    BAD(NGX_ERROR, "pointer into the header");

    /* a loop in the question's name: the question is not ours */
    m->n = 0;
    put16(m, 9); put16(m, 0x8180); put16(m, 1); put16(m, 0);
    put16(m, 0); put16(m, 0);
    put_ptr(m, 12);
    put16(m, 1); put16(m, 1);
    BAD(NGX_DECLINED, "question pointing to itself");

    /* 129 pointers, each one back to the one before */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    at = m->n;
    put(m, "\x01x", 2);
    put_ptr(m, 12);
    for (i = 0; i < 129; i++) {
        put_ptr(m, m->n - 2);
    }
    at = m->n - 2;
    put_ptr(m, at);
    rr_head(m, 1, 4);
    put(m, "\x01\x02\x03\x04", 4);
    m->b[7] = 1;
    BAD(NGX_ERROR, "a chain of 130 pointers");

    /* record data cut short */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 1, 4);
    put(m, "\x01\x02", 2);
    BAD(NGX_ERROR, "A data cut short");

    /* a record's fixed part cut short */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put_ptr(m, 12);
    put16(m, 1);
    BAD(NGX_ERROR, "record header cut short");

    /* an A of 5 octets */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 1, 5);
    put(m, "\x01\x02\x03\x04\x05", 5);
    BAD(NGX_ERROR, "A of 5 octets");

    /* counts past the message */
    start(m, 9, 0x8180, "a.example", 1, 1000, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 1, 4);
    put(m, "\x01\x02\x03\x04", 4);
    BAD(NGX_ERROR, "1000 answers announced, one there");

    start(m, 9, 0x8180, "a.example", 1, 0xffff, 0xffff, 0xffff);
    BAD(NGX_ERROR, "65535 records of each section announced");

    start(m, 9, 0x8180, "a.example", 1, 0, 0, 3);
    put(m, "\x00", 1);
    BAD(NGX_ERROR, "additional records past the end");

    /* TXT string longer than its record */
    start(m, 9, 0x8180, "a.example", 16, 1, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 16, 4);
    put(m, "\x09" "abc", 4);
    put(m, "defghijkl", 9);     /* in the message, not in the record */
    is_int(parse(pool, m, 9, "a.example", 16, &ans, &err), NGX_ERROR,
           "TXT string past its record: %s", err);

    /* CAA tag length past the record */
    start(m, 9, 0x8180, "a.example", 257, 1, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 257, 4);
    put(m, "\x00\x05is", 4);
    put(m, "sue", 3);
    is_int(parse(pool, m, 9, "a.example", 257, &ans, &err), NGX_ERROR,
           "CAA tag past its record: %s", err);

    /* a name over 255 octets: 5 labels of 63 through pointers */
    start(m, 9, 0x8180, "a.example", 5, 2, 0, 0);
    at = m->n;
    for (i = 0; i < 5; i++) {
        m->b[m->n++] = 63;
        memset(m->b + m->n, 'a' + i, 63);
        m->n += 63;
    }
    m->b[m->n++] = 0;
    m->b[7] = 1;
    m->b[6] = 0;
    /* the first "answer" is that name as owner */
    rr_head(m, 1, 4);
    put(m, "\x01\x02\x03\x04", 4);
    is_int(parse(pool, m, 9, "a.example", 5, &ans, &err), NGX_ERROR,
           "a name of 321 octets: %s", err);

    /* a label over the end */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put(m, "\x3f" "abc", 4);
    BAD(NGX_ERROR, "label past the end");

    /* label type 01 */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put(m, "\x41" "abc", 4);
    BAD(NGX_ERROR, "extended label type");

    /* a dot inside a label: "a.example" as one label */
    start(m, 9, 0x8180, "a.example", 5, 1, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 5, 11);
    put(m, "\x09" "a.example\x00", 11);
    is_int(parse(pool, m, 9, "a.example", 1, &ans, &err), NGX_DECLINED,
           "(type differs)");
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 5, 11);
    put(m, "\x09" "a.example\x00", 11);
    BAD(NGX_ERROR, "a dot inside a label");

    /* a CNAME whose data goes on past its name */
    start(m, 9, 0x8180, "a.example", 1, 1, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 5, 5);
    put(m, "\x01" "b\x00zz", 5);
    BAD(NGX_ERROR, "CNAME data longer than its name");

    /* a CNAME name running out of its data into the next record */
    start(m, 9, 0x8180, "a.example", 1, 2, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 5, 2);
    put(m, "\x01" "b", 2);
    put(m, "\x00", 1);
    rr_head(m, 1, 4);
    put(m, "\x01\x02\x03\x04", 4);
    BAD(NGX_ERROR, "CNAME name past its data");

    /* a CNAME loop: a -> b -> a */
    start(m, 9, 0x8180, "a.example", 1, 2, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 5, 4);
    at = m->n;
    put(m, "\x01" "b", 2);
    put_ptr(m, 12 + 2);
    put_ptr(m, at);
    rr_head(m, 5, 2);
    put_ptr(m, 12);
    BAD(NGX_ERROR, "CNAME loop");

    /* a chain of 8 links is followed, 9 are too many */
    for (i = 8; i <= 9; i++) {
        ngx_uint_t  k;
        char        owner[16], target[16];

        start(m, 9, 0x8180, "c0.example", 1, i, 0, 0);
        for (k = 0; k < i; k++) {
            sprintf(owner, "c%u.example", (unsigned) k);
            sprintf(target, "c%u.example", (unsigned) k + 1);
            put_name(m, owner);
            rr_head(m, 5, strlen(target) + 2);
            put_name(m, target);
        }
        is_int(parse(pool, m, 9, "c0.example", 1, &ans, &err),
               i == 8 ? NGX_OK : NGX_ERROR, "a chain of %u links (%s)",
               (unsigned) i, err);
        if (i == 8) {
            is_int(ans.chain.nelts, 8, "8 links kept");
        }
    }

    /* short messages */
    for (i = 0; i < 12; i++) {
        m->n = i;
        is_int(parse(pool, m, 9, "a.example", 1, &ans, &err), NGX_DECLINED,
               "%u octets: %s", (unsigned) i, err);
    }

    /* every prefix of a good answer: never a crash, never NGX_OK with
     * more than there is */
    start(m, 9, 0x8180, "a.example", 1, 2, 0, 0);
    put_ptr(m, 12);
    rr_head(m, 1, 4);
    put(m, "\x01\x02\x03\x04", 4);
    put_ptr(m, 12);
    rr_head(m, 1, 4);
    put(m, "\x05\x06\x07\x08", 4);
    at = m->n;
    {
        ngx_uint_t  good = 0;

        for (i = 0; i < at; i++) {
            m->n = i;
            if (parse(pool, m, 9, "a.example", 1, &ans, &err) == NGX_OK) {
                good++;
            }
        }

        is_int(good, 0, "no prefix of the answer reads as an answer");
    }
}


int
main(void)
{
    ngx_pool_t  *pool;

    ngx_unit_init();
    pool = ngx_unit_pool();

    test_query(pool);
    test_answers(pool);
    test_hostile(pool);

    ngx_destroy_pool(pool);

    return ngx_unit_done();
}
