/*
 * DNS messages, the reading side: an answer read against its query (see
 * ngx_helpdesk_dns.h).  Building a query, CAA values and the names of
 * codes are in ngx_helpdesk_dns.c.
 *
 * The reader trusts nothing of the message: the counts of the header only
 * say how many records to try to read, and reading stops with an error at
 * the first length that leads past the end.  A name is read label by
 * label; a compression pointer must point before itself (so that a name
 * can never lead back into itself) and after the header, and a name
 * follows at most NGX_HELPDESK_DNS_JUMPS_MAX of them.  Names are kept in
 * text form, lower case; a label holding a dot, a space or a byte outside
 * printable ASCII makes the message malformed, so that two different
 * names can never read as the same text.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_dns.h"


typedef struct {
    ngx_str_t   owner;
    ngx_uint_t  type;
    size_t      rdata;        /* offset of the record's data */
    size_t      rdlen;
} ngx_helpdesk_dns_rr_t;


static ngx_int_t ngx_helpdesk_dns_name_read(u_char *msg, size_t len,
    size_t pos, size_t *next, u_char *out, size_t *olen, const char **err);
static ngx_int_t ngx_helpdesk_dns_name_skip(u_char *msg, size_t len,
    size_t pos, size_t *next);
static ngx_int_t ngx_helpdesk_dns_rr_skip(u_char *msg, size_t len,
    size_t *pos);
static ngx_int_t ngx_helpdesk_dns_answers(ngx_pool_t *pool, u_char *msg,
    size_t len, size_t *pos, ngx_uint_t count, ngx_array_t *rrs,
    const char **err);
static ngx_int_t ngx_helpdesk_dns_chain(ngx_pool_t *pool, u_char *msg,
    size_t len, ngx_array_t *rrs, ngx_helpdesk_dns_answer_t *ans,
    const char **err);
static ngx_int_t ngx_helpdesk_dns_record(ngx_pool_t *pool, u_char *msg,
    ngx_helpdesk_dns_rr_t *rr, ngx_helpdesk_dns_answer_t *ans,
    const char **err);


/*
 * The name at "pos" in text form (lower case, no trailing dot, the root
 * an empty string) into "out" (NGX_HELPDESK_DNS_NAME_MAX bytes: the text
 * form is one octet shorter than the wire form); "next" is where the
 * name ends in place.
 */
static ngx_int_t
ngx_helpdesk_dns_name_read(u_char *msg, size_t len, size_t pos, size_t *next,
    u_char *out, size_t *olen, const char **err)
{
    u_char      c;
    size_t      n, wire, i, ptr;
    ngx_uint_t  jumps;

    n = 0;
    wire = 0;
    jumps = 0;
    *next = 0;

    for ( ;; ) {
        if (pos >= len) {
            *err = "name past the end of the message";
            return NGX_ERROR;
        }

        c = msg[pos];

        if ((c & 0xc0) == 0xc0) {
            if (pos + 1 >= len) {
                *err = "compression pointer past the end of the message";
                return NGX_ERROR;
            }

            ptr = ((size_t) (c & 0x3f) << 8) | msg[pos + 1];

            if (ptr >= pos || ptr < NGX_HELPDESK_DNS_HEADER) {
                *err = "compression pointer not backwards";
                return NGX_ERROR;
            }

            if (++jumps > NGX_HELPDESK_DNS_JUMPS_MAX) {
                *err = "too many compression pointers";
                return NGX_ERROR;
            }

            if (*next == 0) {
                *next = pos + 2;
            }

            pos = ptr;
            continue;
        }

        if (c & 0xc0) {
            *err = "unknown label type";
            return NGX_ERROR;
        }

        pos++;

        if (c == 0) {
            break;
        }

        if (c > len - pos) {
            *err = "label past the end of the message";
            return NGX_ERROR;
        }

        wire += 1 + c;

        if (wire + 1 > NGX_HELPDESK_DNS_NAME_MAX) {
            *err = "name over 255 octets";
            return NGX_ERROR;
        }

        if (n) {
            out[n++] = '.';
        }

        for (i = 0; i < c; i++) {
            u_char  b = msg[pos + i];

            if (b <= 0x20 || b >= 0x7f || b == '.') {
                *err = "invalid octet in name";
                return NGX_ERROR;
            }

            out[n++] = ngx_tolower(b);
        }

        pos += c;
    }

    if (*next == 0) {
        *next = pos;
    }

    *olen = n;

    return NGX_OK;
}


/* walks over a name in place: its labels up to the root or a pointer */

static ngx_int_t
ngx_helpdesk_dns_name_skip(u_char *msg, size_t len, size_t pos, size_t *next)
{
    u_char  c;
    size_t  wire;

    wire = 0;

    for ( ;; ) {
        if (pos >= len) {
            return NGX_ERROR;
        }

        c = msg[pos];

        if ((c & 0xc0) == 0xc0) {
            if (pos + 1 >= len) {
                return NGX_ERROR;
            }

            *next = pos + 2;
            return NGX_OK;
        }

        if (c & 0xc0) {
            return NGX_ERROR;
        }

        pos++;

        if (c == 0) {
            *next = pos;
            return NGX_OK;
        }

        wire += 1 + c;

        if (c > len - pos || wire + 1 > NGX_HELPDESK_DNS_NAME_MAX) {
            return NGX_ERROR;
        }

        pos += c;
    }
}


static ngx_int_t
ngx_helpdesk_dns_rr_skip(u_char *msg, size_t len, size_t *pos)
{
    size_t  p, rdlen;

    if (ngx_helpdesk_dns_name_skip(msg, len, *pos, &p) != NGX_OK) {
        return NGX_ERROR;
    }

    if (len - p < 10) {
        return NGX_ERROR;
    }

    rdlen = ((size_t) msg[p + 8] << 8) | msg[p + 9];
    p += 10;

    if (rdlen > len - p) {
        return NGX_ERROR;
    }

    *pos = p + rdlen;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_dns_answer_parse(ngx_pool_t *pool, u_char *msg, size_t len,
    ngx_uint_t id, ngx_str_t *name, ngx_uint_t type,
    ngx_helpdesk_dns_answer_t *ans, const char **err)
{
    u_char       qwire[NGX_HELPDESK_DNS_NAME_MAX];
    u_char       text[NGX_HELPDESK_DNS_NAME_MAX];
    u_char       want[NGX_HELPDESK_DNS_NAME_MAX];
    size_t       pos, n, qlen, wlen, i;
    ngx_uint_t   qd, an, ns, ar, flags, k;
    ngx_array_t  rrs;

    ngx_memzero(ans, sizeof(ngx_helpdesk_dns_answer_t));

    if (len < NGX_HELPDESK_DNS_HEADER) {
        *err = "message shorter than a header";
        return NGX_DECLINED;
    }

    if ((((ngx_uint_t) msg[0] << 8) | msg[1]) != id) {
        *err = "id differs";
        return NGX_DECLINED;
    }

    flags = ((ngx_uint_t) msg[2] << 8) | msg[3];

    if (!(flags & 0x8000)) {
        *err = "not a response";
        return NGX_DECLINED;
    }

    if ((flags >> 11) & 0x0f) {
        *err = "not a standard query's response";
        return NGX_DECLINED;
    }

    qd = ((ngx_uint_t) msg[4] << 8) | msg[5];
    an = ((ngx_uint_t) msg[6] << 8) | msg[7];
    ns = ((ngx_uint_t) msg[8] << 8) | msg[9];
    ar = ((ngx_uint_t) msg[10] << 8) | msg[11];

    if (qd != 1) {
        *err = "question not echoed";
        return NGX_DECLINED;
    }

    /* the question, compared in text form and without case */

    if (ngx_helpdesk_dns_name_encode(name, qwire, &qlen, err) != NGX_OK) {
        return NGX_ERROR;
    }

    wlen = 0;
    for (i = 0; qwire[i]; i += 1 + qwire[i]) {
        if (wlen) {
            want[wlen++] = '.';
        }

        for (n = 0; n < qwire[i]; n++) {
            want[wlen++] = ngx_tolower(qwire[i + 1 + n]);
        }
    }

    if (ngx_helpdesk_dns_name_read(msg, len, NGX_HELPDESK_DNS_HEADER, &pos,
                                   text, &n, err)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (n != wlen || ngx_memcmp(text, want, n) != 0) {
        *err = "question differs";
        return NGX_DECLINED;
    }

    if (len - pos < 4
        || (((ngx_uint_t) msg[pos] << 8) | msg[pos + 1]) != type
        || (((ngx_uint_t) msg[pos + 2] << 8) | msg[pos + 3])
           != NGX_HELPDESK_DNS_CLASS_IN)
    {
        *err = "question differs";
        return NGX_DECLINED;
    }

    pos += 4;

    ans->id = id;
    ans->rcode = flags & 0x0f;
    ans->truncated = (flags & 0x0200) ? 1 : 0;
    ans->authoritative = (flags & 0x0400) ? 1 : 0;
    ans->type = type;

    ans->name.data = ngx_pnalloc(pool, wlen + 1);
    if (ans->name.data == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    ngx_memcpy(ans->name.data, want, wlen);
    ans->name.len = wlen;
    ans->final = ans->name;

    if (ngx_array_init(&ans->chain, pool, 2, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&ans->a, pool, 2, sizeof(struct in_addr))
           != NGX_OK
        || ngx_array_init(&ans->aaaa, pool, 2, sizeof(struct in6_addr))
           != NGX_OK
        || ngx_array_init(&ans->txt, pool, 2, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&ans->caa, pool, 2, sizeof(ngx_helpdesk_dns_caa_t))
           != NGX_OK)
    {
        *err = "out of memory";
        return NGX_ERROR;
    }

    if (ans->truncated) {
        /* what follows is cut short: the answer is asked for over TCP */
        return NGX_OK;
    }

    if (an > NGX_HELPDESK_DNS_ANSWERS_MAX) {
        *err = "too many answer records";
        return NGX_ERROR;
    }

    if (ngx_array_init(&rrs, pool, an ? an : 1, sizeof(ngx_helpdesk_dns_rr_t))
        != NGX_OK)
    {
        *err = "out of memory";
        return NGX_ERROR;
    }

    if (ngx_helpdesk_dns_answers(pool, msg, len, &pos, an, &rrs, err)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (k = 0; k < ns + ar; k++) {
        if (ngx_helpdesk_dns_rr_skip(msg, len, &pos) != NGX_OK) {
            *err = k < ns ? "authority record past the end of the message"
                          : "additional record past the end of the message";
            return NGX_ERROR;
        }
    }

    if (ans->rcode != NGX_HELPDESK_DNS_NOERROR) {
        return NGX_OK;
    }

    return ngx_helpdesk_dns_chain(pool, msg, len, &rrs, ans, err);
}


/* the answer section's records: owner in text form, type, data's bounds */

static ngx_int_t
ngx_helpdesk_dns_answers(ngx_pool_t *pool, u_char *msg, size_t len,
    size_t *pos, ngx_uint_t count, ngx_array_t *rrs, const char **err)
{
    u_char                 text[NGX_HELPDESK_DNS_NAME_MAX];
    size_t                 p, n;
    ngx_uint_t             k, cls;
    ngx_helpdesk_dns_rr_t  *rr;

    p = *pos;

    for (k = 0; k < count; k++) {
        if (ngx_helpdesk_dns_name_read(msg, len, p, &p, text, &n, err)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (len - p < 10) {
            *err = "answer record past the end of the message";
            return NGX_ERROR;
        }

        rr = ngx_array_push(rrs);
        if (rr == NULL) {
            *err = "out of memory";
            return NGX_ERROR;
        }

        rr->type = ((ngx_uint_t) msg[p] << 8) | msg[p + 1];
        cls = ((ngx_uint_t) msg[p + 2] << 8) | msg[p + 3];
        rr->rdlen = ((size_t) msg[p + 8] << 8) | msg[p + 9];
        rr->rdata = p + 10;

        if (rr->rdlen > len - rr->rdata) {
            *err = "record data past the end of the message";
            return NGX_ERROR;
        }

        p = rr->rdata + rr->rdlen;

        if (cls != NGX_HELPDESK_DNS_CLASS_IN) {
            rrs->nelts--;
            continue;
        }

        rr->owner.data = ngx_pnalloc(pool, n ? n : 1);
        if (rr->owner.data == NULL) {
            *err = "out of memory";
            return NGX_ERROR;
        }

        ngx_memcpy(rr->owner.data, text, n);
        rr->owner.len = n;
    }

    *pos = p;

    return NGX_OK;
}


/*
 * From the question's name, each CNAME whose owner is the current name
 * leads on to its target; then the records of the question's type owned
 * by the last name are kept.
 */

static ngx_int_t
ngx_helpdesk_dns_chain(ngx_pool_t *pool, u_char *msg, size_t len,
    ngx_array_t *rrs, ngx_helpdesk_dns_answer_t *ans, const char **err)
{
    u_char                 text[NGX_HELPDESK_DNS_NAME_MAX];
    size_t                 end, n;
    ngx_str_t             *link;
    ngx_uint_t             k, hops, found;
    ngx_helpdesk_dns_rr_t *rr;

    rr = rrs->elts;

    for (hops = 0; ans->type != NGX_HELPDESK_DNS_CNAME; hops++) {
        found = 0;

        for (k = 0; k < rrs->nelts; k++) {
            if (rr[k].type != NGX_HELPDESK_DNS_CNAME
                || rr[k].owner.len != ans->final.len
                || ngx_memcmp(rr[k].owner.data, ans->final.data,
                              ans->final.len) != 0)
            {
                continue;
            }

            if (hops == NGX_HELPDESK_DNS_CHAIN_MAX) {
                *err = "CNAME chain over 8 links";
                return NGX_ERROR;
            }

            if (ngx_helpdesk_dns_name_read(msg, rr[k].rdata + rr[k].rdlen,
                                           rr[k].rdata, &end, text, &n, err)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (end != rr[k].rdata + rr[k].rdlen) {
                *err = "CNAME data longer than its name";
                return NGX_ERROR;
            }

            link = ngx_array_push(&ans->chain);
            if (link == NULL) {
                *err = "out of memory";
                return NGX_ERROR;
            }

            link->data = ngx_pnalloc(pool, n ? n : 1);
            if (link->data == NULL) {
                *err = "out of memory";
                return NGX_ERROR;
            }

            ngx_memcpy(link->data, text, n);
            link->len = n;
            ans->final = *link;
            found = 1;
            break;
        }

        if (!found) {
            break;
        }
    }

    for (k = 0; k < rrs->nelts; k++) {
        if (rr[k].type != ans->type
            || rr[k].owner.len != ans->final.len
            || ngx_memcmp(rr[k].owner.data, ans->final.data,
                          ans->final.len) != 0)
        {
            continue;
        }

        if (ngx_helpdesk_dns_record(pool, msg, &rr[k], ans, err) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_helpdesk_dns_record(ngx_pool_t *pool, u_char *msg,
    ngx_helpdesk_dns_rr_t *rr, ngx_helpdesk_dns_answer_t *ans,
    const char **err)
{
    u_char                  *p, *last, *d;
    size_t                   n, tl;
    ngx_str_t               *txt;
    ngx_helpdesk_dns_caa_t  *caa;

    p = msg + rr->rdata;
    last = p + rr->rdlen;

    switch (rr->type) {

    case NGX_HELPDESK_DNS_A:
        if (rr->rdlen != 4) {
            *err = "A record not 4 octets";
            return NGX_ERROR;
        }

        d = ngx_array_push(&ans->a);
        if (d == NULL) {
            break;
        }

        ngx_memcpy(d, p, 4);
        return NGX_OK;

    case NGX_HELPDESK_DNS_AAAA:
        if (rr->rdlen != 16) {
            *err = "AAAA record not 16 octets";
            return NGX_ERROR;
        }

        d = ngx_array_push(&ans->aaaa);
        if (d == NULL) {
            break;
        }

        ngx_memcpy(d, p, 16);
        return NGX_OK;

    case NGX_HELPDESK_DNS_TXT:

        /* the character-strings must fill the data exactly */

        for (d = p, n = 0; d < last; d += 1 + *d) {
            if (*d > last - d - 1) {
                *err = "TXT string past its record";
                return NGX_ERROR;
            }

            n += *d;
        }

        txt = ngx_array_push(&ans->txt);
        if (txt == NULL) {
            break;
        }

        txt->data = ngx_pnalloc(pool, n ? n : 1);
        if (txt->data == NULL) {
            break;
        }

        txt->len = 0;

        for (d = p; d < last; d += 1 + *d) {
            ngx_memcpy(txt->data + txt->len, d + 1, *d);
            txt->len += *d;
        }

        return NGX_OK;

    case NGX_HELPDESK_DNS_CAA:
        if (rr->rdlen < 2) {
            *err = "CAA record too short";
            return NGX_ERROR;
        }

        tl = p[1];

        if (tl == 0 || tl > 15 || tl > rr->rdlen - 2) {
            *err = "CAA tag length invalid";
            return NGX_ERROR;
        }

        caa = ngx_array_push(&ans->caa);
        if (caa == NULL) {
            break;
        }

        caa->flags = p[0];
        n = rr->rdlen - 2 - tl;

        caa->tag.data = ngx_pnalloc(pool, tl + n + 1);
        if (caa->tag.data == NULL) {
            break;
        }

        ngx_memcpy(caa->tag.data, p + 2, tl);
        caa->tag.len = tl;

        caa->value.data = caa->tag.data + tl;
        ngx_memcpy(caa->value.data, p + 2 + tl, n);
        caa->value.len = n;

        return NGX_OK;

    default:
        /* a CNAME asked for: the chain holds it */
        return NGX_OK;
    }

    *err = "out of memory";
    return NGX_ERROR;
}
