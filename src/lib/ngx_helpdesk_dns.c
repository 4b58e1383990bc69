/*
 * DNS messages, the writing side and the values: a query built, a CAA
 * issuer value read, codes named (see ngx_helpdesk_dns.h).  Reading an
 * answer is in ngx_helpdesk_dns_answer.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_dns.h"


#define ngx_helpdesk_dns_alnum(c)                                            \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')               \
     || ((c) >= '0' && (c) <= '9'))


ngx_int_t
ngx_helpdesk_dns_name_encode(ngx_str_t *name, u_char *out, size_t *len,
    const char **err)
{
    u_char  *p, *last, *label, c;
    size_t   n, ll;

    p = name->data;
    last = name->data + name->len;

    if (name->len && last[-1] == '.') {
        last--;
    }

    if (p == last) {
        *err = "empty name";
        return NGX_ERROR;
    }

    n = 0;

    while (p <= last) {
        label = p;

        while (p < last && *p != '.') {
            c = *p;

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            {
                *err = "invalid character in name";
                return NGX_ERROR;
            }

            p++;
        }

        ll = p - label;

        if (ll == 0) {
            *err = "empty label in name";
            return NGX_ERROR;
        }

        if (ll > 63) {
            *err = "label over 63 octets";
            return NGX_ERROR;
        }

        /* the label, its length octet and the root's octet must fit */
        if (n + 1 + ll + 1 > NGX_HELPDESK_DNS_NAME_MAX) {
            *err = "name over 255 octets";
            return NGX_ERROR;
        }

        out[n++] = (u_char) ll;

        for ( /* void */ ; label < p; label++) {
            out[n++] = ngx_tolower(*label);
        }

        p++;        /* the dot, or past the end */
    }

    out[n++] = 0;
    *len = n;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_dns_query_build(u_char *buf, size_t *len, ngx_str_t *name,
    ngx_uint_t type, ngx_uint_t id, const char **err)
{
    u_char  *p;
    size_t   n;

    p = buf;

    *p++ = (u_char) ((id >> 8) & 0xff);
    *p++ = (u_char) (id & 0xff);
    *p++ = 0x01;                        /* QR 0, opcode 0, RD */
    *p++ = 0x00;
    *p++ = 0; *p++ = 1;                 /* QDCOUNT */
    *p++ = 0; *p++ = 0;                 /* ANCOUNT */
    *p++ = 0; *p++ = 0;                 /* NSCOUNT */
    *p++ = 0; *p++ = 1;                 /* ARCOUNT: the OPT record */

    if (ngx_helpdesk_dns_name_encode(name, p, &n, err) != NGX_OK) {
        return NGX_ERROR;
    }

    p += n;

    *p++ = (u_char) ((type >> 8) & 0xff);
    *p++ = (u_char) (type & 0xff);
    *p++ = 0; *p++ = NGX_HELPDESK_DNS_CLASS_IN;

    /* OPT: root owner, type 41, class = UDP size, TTL 0, no options */
    *p++ = 0;
    *p++ = 0; *p++ = NGX_HELPDESK_DNS_OPT;
    *p++ = (u_char) (NGX_HELPDESK_DNS_UDP_SIZE >> 8);
    *p++ = (u_char) (NGX_HELPDESK_DNS_UDP_SIZE & 0xff);
    *p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0;
    *p++ = 0; *p++ = 0;

    *len = p - buf;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_dns_caa_issuer(ngx_str_t *value, ngx_str_t *issuer)
{
    u_char  *p, *last, *start, *label;

    p = value->data;
    last = value->data + value->len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    start = p;

    /* label *("." label); label = (ALPHA / DIGIT) *(*"-" (ALPHA / DIGIT)) */

    while (p < last && *p != ';' && *p != ' ' && *p != '\t') {
        label = p;

        while (p < last && (ngx_helpdesk_dns_alnum(*p) || *p == '-')) {
            p++;
        }

        if (p == label || *label == '-' || p[-1] == '-') {
            return NGX_ERROR;
        }

        if (p < last && *p == '.') {
            p++;

            if (p == last || !ngx_helpdesk_dns_alnum(*p)) {
                return NGX_ERROR;
            }

            continue;
        }

        if (p < last && *p != ';' && *p != ' ' && *p != '\t') {
            return NGX_ERROR;
        }
    }

    issuer->data = start;
    issuer->len = p - start;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p < last && *p != ';') {
        return NGX_ERROR;
    }

    /* the parameters after ';' are not looked at */

    return NGX_OK;
}


const char *
ngx_helpdesk_dns_rcode_text(ngx_uint_t rcode)
{
    static const char  *names[] = { "NOERROR", "FORMERR", "SERVFAIL",
                                    "NXDOMAIN", "NOTIMP", "REFUSED" };
    static char         other[][9] = { "RCODE6", "RCODE7", "RCODE8",
                                       "RCODE9", "RCODE10", "RCODE11",
                                       "RCODE12", "RCODE13", "RCODE14",
                                       "RCODE15" };

    if (rcode < 6) {
        return names[rcode];
    }

    return rcode < 16 ? other[rcode - 6] : "RCODE";
}


const char *
ngx_helpdesk_dns_type_text(ngx_uint_t type)
{
    switch (type) {
    case NGX_HELPDESK_DNS_A:
        return "A";
    case NGX_HELPDESK_DNS_AAAA:
        return "AAAA";
    case NGX_HELPDESK_DNS_CNAME:
        return "CNAME";
    case NGX_HELPDESK_DNS_TXT:
        return "TXT";
    case NGX_HELPDESK_DNS_CAA:
        return "CAA";
    default:
        return "TYPE";
    }
}
