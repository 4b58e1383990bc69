/*
 * The ranges a tenant's URL may not reach: everything that is not public
 * unicast.  IPv4 after RFC 6890 and the IANA special-purpose registry;
 * IPv6 outside 2000::/3 (global unicast) is refused as a whole, and
 * inside it the special-purpose blocks are.  IPv6 forms that carry an
 * IPv4 address (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d, and 6to4's
 * 2002:AABB:CCDD::) are judged by that address; Teredo (2001::/32) and
 * the rest of 2001::/23 are refused.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_addr.h"


typedef struct {
    uint32_t      net;
    uint32_t      mask;
    const char   *what;
} ngx_helpdesk_addr_v4_t;


/* the more specific before the less */
static const ngx_helpdesk_addr_v4_t  ngx_helpdesk_addr_v4[] = {
    { 0x00000000, 0xff000000, "unspecified" },          /* 0/8 */
    { 0x0a000000, 0xff000000, "private" },              /* 10/8 */
    { 0x64400000, 0xffc00000, "shared (CGNAT)" },       /* 100.64/10 */
    { 0x7f000000, 0xff000000, "loopback" },             /* 127/8 */
    { 0xa9fe0000, 0xffff0000, "link-local" },           /* 169.254/16 */
    { 0xac100000, 0xfff00000, "private" },              /* 172.16/12 */
    { 0xc0000000, 0xffffff00, "reserved" },             /* 192.0.0/24 */
    { 0xc0000200, 0xffffff00, "documentation" },        /* 192.0.2/24 */
    { 0xc0586300, 0xffffff00, "reserved" },             /* 192.88.99/24 */
    { 0xc0a80000, 0xffff0000, "private" },              /* 192.168/16 */
    { 0xc6120000, 0xfffe0000, "benchmarking" },         /* 198.18/15 */
    { 0xc6336400, 0xffffff00, "documentation" },        /* 198.51.100/24 */
    { 0xcb007100, 0xffffff00, "documentation" },        /* 203.0.113/24 */
    { 0xe0000000, 0xf0000000, "multicast" },            /* 224/4 */
    { 0xffffffff, 0xffffffff, "broadcast" },
    { 0xf0000000, 0xf0000000, "reserved" },             /* 240/4 */
    { 0, 0, NULL }
};


static const char *ngx_helpdesk_addr_v4_refused(uint32_t a,
    ngx_array_t *allow);
static ngx_flag_t ngx_helpdesk_addr_allowed(int family, u_char *addr,
    ngx_array_t *allow);


const char *
ngx_helpdesk_addr_refused(struct sockaddr *sa, ngx_array_t *allow)
{
    u_char               *p;
    uint32_t              v4;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
    static const u_char   mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0xff, 0xff };
    static const u_char   nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0,
                                        0, 0, 0, 0 };
    static const u_char   zero[12];
#endif

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        return ngx_helpdesk_addr_v4_refused(ntohl(sin->sin_addr.s_addr),
                                            allow);

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        p = sin6->sin6_addr.s6_addr;

        if (ngx_helpdesk_addr_allowed(AF_INET6, p, allow)) {
            return NULL;
        }

        if (ngx_memcmp(p, zero, 12) == 0
            || ngx_memcmp(p, mapped, 12) == 0
            || ngx_memcmp(p, nat64, 12) == 0)
        {
            /* ::a.b.c.d (and :: and ::1), ::ffff:a.b.c.d, 64:ff9b:: */
            v4 = ((uint32_t) p[12] << 24) | ((uint32_t) p[13] << 16)
                 | ((uint32_t) p[14] << 8) | p[15];

            if (ngx_memcmp(p, zero, 12) == 0 && v4 <= 1) {
                return v4 ? "loopback" : "unspecified";
            }

            return ngx_helpdesk_addr_v4_refused(v4, allow);
        }

        if (p[0] == 0x20 && p[1] == 0x02) {
            /* 6to4: 2002:AABB:CCDD::/48 */
            v4 = ((uint32_t) p[2] << 24) | ((uint32_t) p[3] << 16)
                 | ((uint32_t) p[4] << 8) | p[5];
            return ngx_helpdesk_addr_v4_refused(v4, allow);
        }

        if ((p[0] & 0xe0) != 0x20) {
            /* outside 2000::/3 */

            if ((p[0] & 0xfe) == 0xfc) {
                return "private";                       /* fc00::/7 */
            }

            if (p[0] == 0xfe && (p[1] & 0xc0) == 0x80) {
                return "link-local";                    /* fe80::/10 */
            }

            if (p[0] == 0xfe && (p[1] & 0xc0) == 0xc0) {
                return "private";                       /* fec0::/10 */
            }

            if (p[0] == 0xff) {
                return "multicast";
            }

            return "reserved";
        }

        if (p[0] == 0x20 && p[1] == 0x01 && p[2] == 0x0d && p[3] == 0xb8) {
            return "documentation";                     /* 2001:db8::/32 */
        }

        if (p[0] == 0x20 && p[1] == 0x01 && (p[2] & 0xfe) == 0) {
            return "reserved";          /* 2001::/23, Teredo included */
        }

        if (p[0] == 0x3f && p[1] == 0xff && (p[2] & 0xf0) == 0) {
            return "documentation";                     /* 3fff::/20 */
        }

        return NULL;
#endif

    default:
        return "not an internet address";
    }
}


static const char *
ngx_helpdesk_addr_v4_refused(uint32_t a, ngx_array_t *allow)
{
    u_char                         b[4];
    const ngx_helpdesk_addr_v4_t  *r;

    b[0] = (u_char) (a >> 24);
    b[1] = (u_char) (a >> 16);
    b[2] = (u_char) (a >> 8);
    b[3] = (u_char) a;

    if (ngx_helpdesk_addr_allowed(AF_INET, b, allow)) {
        return NULL;
    }

    for (r = ngx_helpdesk_addr_v4; r->what; r++) {
        if ((a & r->mask) == r->net) {
            return r->what;
        }
    }

    return NULL;
}


static ngx_flag_t
ngx_helpdesk_addr_allowed(int family, u_char *addr, ngx_array_t *allow)
{
    in_addr_t     a;
    ngx_uint_t    i, n;
    ngx_cidr_t   *cidr;

    if (allow == NULL) {
        return 0;
    }

    cidr = allow->elts;

    for (i = 0; i < allow->nelts; i++) {

        if ((int) cidr[i].family != family) {
            continue;
        }

        if (family == AF_INET) {
            ngx_memcpy(&a, addr, 4);

            if ((a & cidr[i].u.in.mask) == cidr[i].u.in.addr) {
                return 1;
            }

            continue;
        }

#if (NGX_HAVE_INET6)
        for (n = 0; n < 16; n++) {
            if ((addr[n] & cidr[i].u.in6.mask.s6_addr[n])
                != cidr[i].u.in6.addr.s6_addr[n])
            {
                break;
            }
        }

        if (n == 16) {
            return 1;
        }
#endif
    }

    return 0;
}


ngx_int_t
ngx_helpdesk_addr_text_refused(u_char *text, size_t len, ngx_array_t *allow,
    const char **why)
{
    in_addr_t             a;
    struct sockaddr_in    sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6   sin6;
#endif

    if (len && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }

    if (len == 0) {
        return NGX_DECLINED;
    }

    a = ngx_inet_addr(text, len);

    if (a != INADDR_NONE
        || (len == 15 && ngx_strncmp(text, "255.255.255.255", 15) == 0))
    {
        ngx_memzero(&sin, sizeof(struct sockaddr_in));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = a;
        *why = ngx_helpdesk_addr_refused((struct sockaddr *) &sin, allow);
        return NGX_OK;
    }

#if (NGX_HAVE_INET6)
    ngx_memzero(&sin6, sizeof(struct sockaddr_in6));

    if (ngx_inet6_addr(text, len, sin6.sin6_addr.s6_addr) == NGX_OK) {
        sin6.sin6_family = AF_INET6;
        *why = ngx_helpdesk_addr_refused((struct sockaddr *) &sin6, allow);
        return NGX_OK;
    }
#endif

    return NGX_DECLINED;
}


/*
 * Names that stand for a local or private network, never a public host:
 * "localhost" (RFC 6761), .local (RFC 6762), .home.arpa (RFC 8375),
 * ICANN's .internal, and the private names in common use; and a name of
 * one label, which only a local search list can complete.
 */

const char *
ngx_helpdesk_addr_name_refused(u_char *host, size_t len)
{
    size_t               n;
    ngx_uint_t           i;
    const char          *s;

    static const char  *const  suffixes[] = {
        "localhost", "local", "internal", "localdomain", "home.arpa",
        "lan", "intranet", "corp", "home", "private", NULL
    };

    if (len && host[len - 1] == '.') {
        len--;          /* "example.com." is "example.com" */
    }

    if (len == 0) {
        return "has no host";
    }

    if (ngx_strlchr(host, host + len, '.') == NULL) {
        return "is not a public host name";
    }

    for (i = 0; suffixes[i]; i++) {
        s = suffixes[i];
        n = ngx_strlen(s);

        if ((len == n || (len > n && host[len - n - 1] == '.'))
            && ngx_strncasecmp(host + len - n, (u_char *) s, n) == 0)
        {
            return "is not a public host name";
        }
    }

    /* a last label of digits is no top-level domain: an address, badly */
    for (i = len; i > 0 && host[i - 1] != '.'; i--) {
        if (host[i - 1] < '0' || host[i - 1] > '9') {
            break;
        }
    }

    if (i == 0 || host[i - 1] == '.') {
        return "is not a valid host name";
    }

    for (i = 0; i < len; i++) {
        if (!((host[i] >= 'a' && host[i] <= 'z')
              || (host[i] >= 'A' && host[i] <= 'Z')
              || (host[i] >= '0' && host[i] <= '9')
              || host[i] == '-' || host[i] == '.' || host[i] == '_'))
        {
            return "is not a valid host name";
        }
    }

    return NULL;
}
