/*
 * lib/ngx_helpdesk_addr.c: which addresses and names an outbound request
 * may reach, against the special-purpose registries' ranges, the IPv6
 * forms that carry an IPv4 address, and the exemptions of an allow list.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_addr.h"


typedef struct {
    const char  *addr;
    const char  *what;          /* NULL: allowed */
} ngx_unit_addr_t;


static const ngx_unit_addr_t  ngx_unit_addrs[] = {
    { "93.184.216.34", NULL },
    { "8.8.8.8", NULL },
    { "2606:4700::1111", NULL },
    { "2a03:2880:f12f:83:face:b00c:0:25de", NULL },
    { "127.0.0.1", "loopback" },
    { "127.255.255.254", "loopback" },
    { "::1", "loopback" },
    { "::ffff:127.0.0.1", "loopback" },
    { "::ffff:7f00:1", "loopback" },
    { "::127.0.0.1", "loopback" },
    { "64:ff9b::127.0.0.1", "loopback" },
    { "2002:7f00:1::1", "loopback" },
    { "::ffff:8.8.8.8", NULL },
    { "64:ff9b::808:808", NULL },
    { "2002:808:808::1", NULL },
    { "10.0.0.1", "private" },
    { "172.16.0.1", "private" },
    { "172.31.255.255", "private" },
    { "172.32.0.1", NULL },
    { "192.168.0.1", "private" },
    { "::ffff:10.1.2.3", "private" },
    { "fc00::1", "private" },
    { "fd12:3456::1", "private" },
    { "fec0::1", "private" },
    { "169.254.169.254", "link-local" },
    { "fe80::1", "link-local" },
    { "febf::1", "link-local" },
    { "64:ff9b::a9fe:a9fe", "link-local" },
    { "100.64.0.1", "shared (CGNAT)" },
    { "100.127.255.255", "shared (CGNAT)" },
    { "100.128.0.1", NULL },
    { "0.0.0.0", "unspecified" },
    { "0.1.2.3", "unspecified" },
    { "::", "unspecified" },
    { "224.0.0.1", "multicast" },
    { "239.255.255.250", "multicast" },
    { "ff02::1", "multicast" },
    { "255.255.255.255", "broadcast" },
    { "240.0.0.1", "reserved" },
    { "192.0.0.8", "reserved" },
    { "192.88.99.1", "reserved" },
    { "192.0.2.1", "documentation" },
    { "198.51.100.1", "documentation" },
    { "203.0.113.1", "documentation" },
    { "2001:db8::1", "documentation" },
    { "3fff::1", "documentation" },
    { "198.18.0.1", "benchmarking" },
    { "198.19.255.255", "benchmarking" },
    { "2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved" },
    { "2001:10::1", "reserved" },
    { "100::1", "reserved" },
    { "64:ff9b:1::1", "reserved" },
    { "4000::1", "reserved" },
    { NULL, NULL }
};


static void
ngx_unit_ranges(void)
{
    ngx_int_t                 rc;
    const char               *why;
    const ngx_unit_addr_t    *a;

    for (a = ngx_unit_addrs; a->addr; a++) {
        why = "(not set)";
        rc = ngx_helpdesk_addr_text_refused((u_char *) a->addr,
                                            ngx_strlen(a->addr), NULL, &why);
        is_int(rc, NGX_OK, "%s is an address", a->addr);

        if (a->what == NULL) {
            ok(why == NULL, "%s is allowed (got %s)", a->addr,
               why ? why : "allowed");

        } else {
            ok(why && ngx_strcmp(why, a->what) == 0, "%s is %s (got %s)",
               a->addr, a->what, why ? why : "allowed");
        }
    }

    why = NULL;
    is_int(ngx_helpdesk_addr_text_refused((u_char *) "[::1]", 5, NULL, &why),
           NGX_OK, "a bracketed IPv6 address is an address");
    ok(why && ngx_strcmp(why, "loopback") == 0, "[::1] is loopback");

    is_int(ngx_helpdesk_addr_text_refused((u_char *) "example.com", 11, NULL,
                                          &why),
           NGX_DECLINED, "a name is not an address");
    is_int(ngx_helpdesk_addr_text_refused((u_char *) "", 0, NULL, &why),
           NGX_DECLINED, "nothing is not an address");
}


static void
ngx_unit_allow(void)
{
    ngx_str_t     s;
    ngx_uint_t    i;
    ngx_pool_t   *pool;
    ngx_cidr_t   *cidr;
    ngx_array_t  *allow;
    const char   *why;

    static const char *const  ranges[] = { "127.0.0.2/32", "10.20.0.0/16",
                                           "fd00:1::/32", NULL };

    pool = ngx_unit_pool();
    allow = ngx_array_create(pool, 4, sizeof(ngx_cidr_t));

    for (i = 0; ranges[i]; i++) {
        cidr = ngx_array_push(allow);
        s = ngx_unit_str(ranges[i]);
        is_int(ngx_ptocidr(&s, cidr), NGX_OK, "%s parses", ranges[i]);
    }

#define ALLOWED(a, want)                                                      \
    why = "(not set)";                                                        \
    (void) ngx_helpdesk_addr_text_refused((u_char *) a, ngx_strlen(a), allow, \
                                          &why);                              \
    ok((why == NULL) == (want), "%s %s by the allow list", a,                 \
       (want) ? "is allowed" : "stays refused")

    ALLOWED("127.0.0.2", 1);
    ALLOWED("::ffff:127.0.0.2", 1);
    ALLOWED("127.0.0.1", 0);
    ALLOWED("10.20.3.4", 1);
    ALLOWED("10.21.3.4", 0);
    ALLOWED("fd00:1::5", 1);
    ALLOWED("fd00:2::5", 0);
    ALLOWED("169.254.169.254", 0);

#undef ALLOWED

    ngx_destroy_pool(pool);
}


static void
ngx_unit_names(void)
{
    ngx_uint_t   i;
    const char  *why;

    static const char *const  refused[] = {
        "localhost", "LOCALHOST", "api.localhost", "metadata.google.internal",
        "printer.local", "router.lan", "box.home.arpa", "intranet",
        "db.localdomain", "nas.private", "mail.corp", "1.2.3.4.5",
        "256.1.1.1", "evil.com\r", "a b.com", "", NULL
    };

    static const char *const  allowed[] = {
        "graph.facebook.com", "waba-v2.360dialog.io", "lookaside.fbsbx.com",
        "hooks.example.com", "xn--bcher-kva.de", "a_b.example.net", NULL
    };

    for (i = 0; refused[i]; i++) {
        why = ngx_helpdesk_addr_name_refused((u_char *) refused[i],
                                             ngx_strlen(refused[i]));
        ok(why != NULL, "name \"%s\" is refused (%s)", refused[i],
           why ? why : "allowed");
    }

    for (i = 0; allowed[i]; i++) {
        why = ngx_helpdesk_addr_name_refused((u_char *) allowed[i],
                                             ngx_strlen(allowed[i]));
        ok(why == NULL, "name \"%s\" may be public (%s)", allowed[i],
           why ? why : "allowed");
    }
}


int
main(void)
{
    ngx_unit_init();

    ngx_unit_ranges();
    ngx_unit_allow();
    ngx_unit_names();

    return ngx_unit_done();
}
