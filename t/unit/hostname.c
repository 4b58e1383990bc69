/*
 * lib/ngx_helpdesk_hostname.c: names taken and how they come out (case,
 * trailing dot, IDN to A-label), and every refusal with its reason: IP
 * literals, wildcards, lengths, labels, hyphens, digits, invalid UTF-8,
 * NUL, bad A-labels.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_hostname.h"


static void
taken(ngx_pool_t *pool, const char *in, size_t len, const char *want)
{
    ngx_str_t    s, out;
    const char  *reason;

    s.data = (u_char *) in;
    s.len = len;
    reason = "";

    if (!is_int(ngx_helpdesk_hostname_normalize(pool, &s, &out, &reason),
                NGX_OK, "taken: %s", in))
    {
        printf("#   reason: %s\n", reason);
        return;
    }

    is_str(out.data, out.len, want, "  as %s", want);
    ok(out.data[out.len] == '\0', "  NUL-terminated");
}


static void
refused(ngx_pool_t *pool, const char *in, size_t len, const char *want)
{
    ngx_str_t    s, out;
    const char  *reason;

    s.data = (u_char *) in;
    s.len = len;
    reason = "";

    is_int(ngx_helpdesk_hostname_normalize(pool, &s, &out, &reason),
           NGX_DECLINED, "refused: %.60s", in);
    is_str((u_char *) reason, strlen(reason), want, "  reason");
}


#define TAKEN(in, want)     taken(pool, in, sizeof(in) - 1, want)
#define REFUSED(in, want)   refused(pool, in, sizeof(in) - 1, want)


int
main(void)
{
    char         name[300];
    ngx_str_t    s, out;
    ngx_pool_t  *pool;
    const char  *reason;

    ngx_unit_init();
    pool = ngx_unit_pool();

    TAKEN("example.com", "example.com");
    TAKEN("EXAMPLE.COM.", "example.com");
    TAKEN("Support.Shop-1.Example.co.uk", "support.shop-1.example.co.uk");
    TAKEN("b\xc3\xbc" "cher.example", "xn--bcher-kva.example");
    TAKEN("B\xc3\x9c" "CHER.example", "xn--bcher-kva.example");
    TAKEN("xn--bcher-kva.example", "xn--bcher-kva.example");
    TAKEN("XN--BCHER-KVA.EXAMPLE.", "xn--bcher-kva.example");
    /* U+00DF stays itself (non-transitional), U+3002 is a dot */
    TAKEN("fa\xc3\x9f.de", "xn--fa-hia.de");
    TAKEN("\xe4\xbe\x8b\xe3\x81\x88\xe3\x80\x82jp", "xn--r8jz45g.jp");
    TAKEN("1x.example", "1x.example");
    TAKEN("123.example.com", "123.example.com");
    TAKEN("a.b1", "a.b1");

    REFUSED("", "the name is empty");
    REFUSED(".", "the name is empty");
    REFUSED("*.example.com", "a wildcard name cannot be added");
    REFUSED("shop.*.example.com", "a wildcard name cannot be added");
    REFUSED("shop\xef\xbc\x8a.example.com", "a wildcard name cannot be added");
    REFUSED("192.0.2.1", "IP addresses cannot be added");
    REFUSED("192.0.2.1.", "IP addresses cannot be added");
    REFUSED("127.1", "IP addresses cannot be added");
    REFUSED("0x7f.0.0.1", "IP addresses cannot be added");
    REFUSED("2001:db8::1", "IP addresses cannot be added");
    REFUSED("[2001:db8::1]", "IP addresses cannot be added");
    REFUSED("::ffff:192.0.2.1", "IP addresses cannot be added");
    REFUSED("fe80::1%eth0", "IP addresses cannot be added");
    REFUSED("[::1", "a name may only hold letters, digits, hyphens and dots");
    REFUSED("example.com:443",
            "a name may only hold letters, digits, hyphens and dots");
    REFUSED("shop_1.example.com",
            "a name may only hold letters, digits, hyphens and dots");
    REFUSED("shop example.com",
            "a name may only hold letters, digits, hyphens and dots");
    REFUSED("localhost", "the name needs at least two labels, like example.com");
    REFUSED("example..com", "the name has an empty label");
    REFUSED(".example.com", "the name has an empty label");
    REFUSED("example.com..", "the name has an empty label");
    REFUSED("-shop.example.com",
            "a label of the name starts or ends with a hyphen");
    REFUSED("shop-.example.com",
            "a label of the name starts or ends with a hyphen");
    REFUSED("example.123", "the name's last label cannot be all digits");
    REFUSED("b\xc3\xbc" "cher\xff.example", "the name is not valid UTF-8");
    REFUSED("b\xc3" ".example", "the name is not valid UTF-8");
    REFUSED("\xed\xa0\x80.example", "the name is not valid UTF-8");
    REFUSED("\xc0\xae.example", "the name is not valid UTF-8");
    REFUSED("exa\0mple.com", "the name contains a NUL character");
    REFUSED("xn--zz.example", "the name has an invalid \"xn--\" label");

    /* lengths: 63 per label, 253 in all */

    ngx_memset(name, 'a', 63);
    ngx_memcpy(name + 63, ".com", 5);
    taken(pool, name, 67, name);

    ngx_memset(name, 'a', 64);
    ngx_memcpy(name + 64, ".com", 5);
    refused(pool, name, 68, "a label of the name is longer than 63 characters");

    /* 4 labels: 63 + 63 + 63 + 61 + 3 dots = 253 */
    ngx_memset(name, 'a', 253);
    name[63] = name[127] = name[191] = '.';
    name[253] = '\0';
    taken(pool, name, 253, name);

    name[253] = 'a';
    name[254] = '\0';
    refused(pool, name, 254, "the name is longer than 253 characters");

    name[254] = '.';
    name[255] = '\0';
    refused(pool, name, 255, "the name is longer than 253 characters");

    name[253] = '.';
    name[254] = '\0';
    {
        char  want[254];

        ngx_memcpy(want, name, 253);
        want[253] = '\0';
        taken(pool, name, 254, want);
    }

    /* a U-label whose A-label passes 63 */

    {
        u_char  idn[200], *p;
        int     i;

        /* 60 letters and one U+00FC: xn--, 60, "-", 3 more */
        p = idn;
        for (i = 0; i < 60; i++) {
            *p++ = 'a';
        }
        *p++ = 0xc3;
        *p++ = 0xbc;
        p = ngx_cpymem(p, ".example", 8);
        refused(pool, (char *) idn, p - idn,
                "a label of the name is longer than 63 characters");
    }

    s = ngx_unit_str("Example.COM");
    ngx_helpdesk_hostname_normalize(pool, &s, &out, &reason);
    is_str(s.data, s.len, "Example.COM", "the input is left as it was");

    ngx_destroy_pool(pool);

    return ngx_unit_done();
}
