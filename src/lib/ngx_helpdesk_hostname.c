/*
 * Host name normalisation (see ngx_helpdesk_hostname.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <arpa/inet.h>
#include <idn2.h>

#include "lib/ngx_helpdesk_hostname.h"
#include "lib/ngx_helpdesk_utf8.h"


/* what is looked at at all: a few IDN labels' UTF-8 */
#define NGX_HELPDESK_HOSTNAME_INPUT_MAX  1024


static ngx_int_t ngx_helpdesk_hostname_ip(u_char *s, size_t len);
static ngx_int_t ngx_helpdesk_hostname_idn(ngx_pool_t *pool, ngx_str_t *name,
    const char **reason);
static ngx_int_t ngx_helpdesk_hostname_ldh(ngx_str_t *name,
    const char **reason);


ngx_int_t
ngx_helpdesk_hostname_normalize(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out, const char **reason)
{
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   name;
    ngx_uint_t  ascii, alabel;

    if (in->len == 0) {
        *reason = "the name is empty";
        return NGX_DECLINED;
    }

    if (in->len > NGX_HELPDESK_HOSTNAME_INPUT_MAX) {
        *reason = "the name is longer than 253 characters";
        return NGX_DECLINED;
    }

    if (ngx_strlchr(in->data, in->data + in->len, '\0') != NULL) {
        *reason = "the name contains a NUL character";
        return NGX_DECLINED;
    }

    if (ngx_strlchr(in->data, in->data + in->len, '*') != NULL) {
        *reason = "a wildcard name cannot be added";
        return NGX_DECLINED;
    }

    if (ngx_helpdesk_utf8_valid(in->data, in->len) != NGX_OK) {
        *reason = "the name is not valid UTF-8";
        return NGX_DECLINED;
    }

    name.data = ngx_pnalloc(pool, in->len + 1);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = in->len;
    ngx_memcpy(name.data, in->data, in->len);
    name.data[name.len] = '\0';

    /* an absolute name's one trailing dot */

    if (name.data[name.len - 1] == '.') {
        name.data[--name.len] = '\0';
    }

    if (name.len == 0) {
        *reason = "the name is empty";
        return NGX_DECLINED;
    }

    if (ngx_helpdesk_hostname_ip(name.data, name.len) == NGX_OK) {
        *reason = "IP addresses cannot be added";
        return NGX_DECLINED;
    }

    ascii = 1;
    alabel = 0;

    for (i = 0; i < name.len; i++) {
        if (name.data[i] >= 0x80) {
            ascii = 0;

        } else {
            name.data[i] = ngx_tolower(name.data[i]);
        }
    }

    for (i = 0; i + 4 <= name.len; i++) {
        if ((i == 0 || name.data[i - 1] == '.')
            && ngx_strncmp(name.data + i, "xn--", 4) == 0)
        {
            alabel = 1;
            break;
        }
    }

    /* U-labels to A-labels; A-labels given are checked the same way */

    if (!ascii || alabel) {
        rc = ngx_helpdesk_hostname_idn(pool, &name, reason);
        if (rc != NGX_OK) {
            return rc;
        }

        /* what the mapping made of the characters (U+FF0A is '*') */

        if (ngx_strlchr(name.data, name.data + name.len, '*') != NULL) {
            *reason = "a wildcard name cannot be added";
            return NGX_DECLINED;
        }

        if (name.len && name.data[name.len - 1] == '.') {
            name.data[--name.len] = '\0';
        }

        if (ngx_helpdesk_hostname_ip(name.data, name.len) == NGX_OK) {
            *reason = "IP addresses cannot be added";
            return NGX_DECLINED;
        }
    }

    rc = ngx_helpdesk_hostname_ldh(&name, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    *out = name;

    return NGX_OK;
}


/* an IPv4 address in any form inet_aton() takes, or IPv6, bracketed or not */

static ngx_int_t
ngx_helpdesk_hostname_ip(u_char *s, size_t len)
{
    u_char           buf[NGX_HELPDESK_HOSTNAME_INPUT_MAX + 1];
    struct in_addr   a4;
    struct in6_addr  a6;

    if (len == 0 || len > NGX_HELPDESK_HOSTNAME_INPUT_MAX) {
        return NGX_DECLINED;
    }

    if (s[0] == '[') {
        if (len < 3 || s[len - 1] != ']') {
            return NGX_DECLINED;     /* not an address: the LDH check */
        }

        s++;
        len -= 2;
    }

    ngx_memcpy(buf, s, len);
    buf[len] = '\0';

    if (inet_aton((char *) buf, &a4) != 0
        || inet_pton(AF_INET6, (char *) buf, &a6) == 1)
    {
        return NGX_OK;
    }

    /* a scoped IPv6 address, fe80::1%eth0 */

    if (ngx_strlchr(buf, buf + len, ':') != NULL
        && ngx_strlchr(buf, buf + len, '%') != NULL)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_helpdesk_hostname_idn(ngx_pool_t *pool, ngx_str_t *name,
    const char **reason)
{
    int     rc;
    char   *ace;
    size_t  len;

    ace = NULL;

    rc = idn2_to_ascii_8z((const char *) name->data, &ace,
                          IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);

    switch (rc) {

    case IDN2_OK:
        break;

    case IDN2_MALLOC:
        return NGX_ERROR;

    case IDN2_ENCODING_ERROR:
        *reason = "the name is not valid UTF-8";
        return NGX_DECLINED;

    case IDN2_TOO_BIG_DOMAIN:
        *reason = "the name is longer than 253 characters";
        return NGX_DECLINED;

    case IDN2_TOO_BIG_LABEL:
    case IDN2_PUNYCODE_BIG_OUTPUT:
        *reason = "a label of the name is longer than 63 characters";
        return NGX_DECLINED;

    case IDN2_INVALID_ALABEL:
    case IDN2_PUNYCODE_BAD_INPUT:
    case IDN2_PUNYCODE_OVERFLOW:
        *reason = "the name has an invalid \"xn--\" label";
        return NGX_DECLINED;

    default:
        *reason = "the name is not a valid internationalised domain name";
        return NGX_DECLINED;
    }

    len = ngx_strlen(ace);

    if (len > NGX_HELPDESK_HOSTNAME_INPUT_MAX) {
        idn2_free(ace);
        *reason = "the name is longer than 253 characters";
        return NGX_DECLINED;
    }

    name->data = ngx_pnalloc(pool, len + 1);
    if (name->data == NULL) {
        idn2_free(ace);
        return NGX_ERROR;
    }

    ngx_memcpy(name->data, ace, len + 1);
    name->len = len;
    idn2_free(ace);

    ngx_strlow(name->data, name->data, name->len);

    return NGX_OK;
}


static ngx_int_t
ngx_helpdesk_hostname_ldh(ngx_str_t *name, const char **reason)
{
    u_char      c, *p, *last, *label;
    ngx_uint_t  labels, digits;

    if (name->len == 0) {
        *reason = "the name is empty";
        return NGX_DECLINED;
    }

    if (name->len > NGX_HELPDESK_HOSTNAME_MAX) {
        *reason = "the name is longer than 253 characters";
        return NGX_DECLINED;
    }

    p = name->data;
    last = name->data + name->len;
    labels = 0;

    for ( ;; ) {
        label = p;
        digits = 1;

        while (p < last && *p != '.') {
            c = *p;

            if ((c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-') {
                *reason = "a name may only hold letters, digits, hyphens "
                          "and dots";
                return NGX_DECLINED;
            }

            if (c < '0' || c > '9') {
                digits = 0;
            }

            p++;
        }

        if (p == label) {
            *reason = "the name has an empty label";
            return NGX_DECLINED;
        }

        if (p - label > 63) {
            *reason = "a label of the name is longer than 63 characters";
            return NGX_DECLINED;
        }

        if (label[0] == '-' || p[-1] == '-') {
            *reason = "a label of the name starts or ends with a hyphen";
            return NGX_DECLINED;
        }

        labels++;

        if (p == last) {
            break;
        }

        p++;       /* the dot */
    }

    if (labels < 2) {
        *reason = "the name needs at least two labels, like example.com";
        return NGX_DECLINED;
    }

    if (digits) {
        *reason = "the name's last label cannot be all digits";
        return NGX_DECLINED;
    }

    return NGX_OK;
}
