/*
 * DNS messages (RFC 1035, EDNS0 of RFC 6891, CAA of RFC 8659): a query of
 * one question built, an answer read defensively.  Pure code: the event
 * side lives in src/event/ngx_helpdesk_dns_client.c.
 *
 * An answer is read against the query it answers (id, QR, opcode, the
 * question echoed), every length is bounded by the message, compression
 * pointers may only point backwards (at most 128 of them per name) and
 * names stay within 255 octets.  Of the answer section, only what belongs
 * to the question is kept: the CNAME chain from the question's name (at
 * most 8 links) and the records of the question's type at the chain's end.
 * The authority and additional sections are walked over, never used.
 */

#ifndef _NGX_HELPDESK_DNS_H_INCLUDED_
#define _NGX_HELPDESK_DNS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HELPDESK_DNS_A             1
#define NGX_HELPDESK_DNS_CNAME         5
#define NGX_HELPDESK_DNS_TXT           16
#define NGX_HELPDESK_DNS_AAAA          28
#define NGX_HELPDESK_DNS_OPT           41
#define NGX_HELPDESK_DNS_CAA           257

#define NGX_HELPDESK_DNS_NOERROR       0
#define NGX_HELPDESK_DNS_FORMERR       1
#define NGX_HELPDESK_DNS_SERVFAIL      2
#define NGX_HELPDESK_DNS_NXDOMAIN      3
#define NGX_HELPDESK_DNS_NOTIMP        4
#define NGX_HELPDESK_DNS_REFUSED       5

/* the UDP payload size we announce (the DNS flag day 2020 figure) */
#define NGX_HELPDESK_DNS_UDP_SIZE      1232
/* a query: header, a name of at most 255 octets, type, class, OPT */
#define NGX_HELPDESK_DNS_QUERY_MAX     (12 + 255 + 4 + 11)
#define NGX_HELPDESK_DNS_NAME_MAX      255
#define NGX_HELPDESK_DNS_JUMPS_MAX     128
#define NGX_HELPDESK_DNS_CHAIN_MAX     8
/* answer records looked at; more is not an answer we asked for */
#define NGX_HELPDESK_DNS_ANSWERS_MAX   1024

#define NGX_HELPDESK_DNS_CAA_CRITICAL  0x80

/* a message's fixed header; the class of every question and record */
#define NGX_HELPDESK_DNS_HEADER        12
#define NGX_HELPDESK_DNS_CLASS_IN      1


typedef struct {
    ngx_uint_t       flags;
    ngx_str_t        tag;            /* as sent: compare without case */
    ngx_str_t        value;
} ngx_helpdesk_dns_caa_t;


typedef struct {
    ngx_uint_t       id;
    ngx_uint_t       rcode;          /* the header's, 0..15 */
    unsigned         truncated:1;    /* TC: nothing read past the question */
    unsigned         authoritative:1;

    ngx_str_t        name;           /* the question, lower case, no dot */
    ngx_uint_t       type;

    /* the CNAME targets followed from the question's name, in order */
    ngx_array_t      chain;          /* of ngx_str_t */
    /* the name the records below belong to: the question's or the last
     * target of the chain */
    ngx_str_t        final;

    ngx_array_t      a;              /* of struct in_addr */
    ngx_array_t      aaaa;           /* of struct in6_addr */
    ngx_array_t      txt;            /* of ngx_str_t, one per record */
    ngx_array_t      caa;            /* of ngx_helpdesk_dns_caa_t */
} ngx_helpdesk_dns_answer_t;


/*
 * Checks "name" (text, an optional trailing dot) and writes its wire form,
 * in lower case (some servers match names with case), into "out" (NGX_HELPDESK_DNS_NAME_MAX bytes); NGX_ERROR with "err" set
 * when the name is empty, has an empty label, a label over 63 octets, a
 * byte other than a letter, digit, '-' or '_', or is over 255 octets.
 */
ngx_int_t ngx_helpdesk_dns_name_encode(ngx_str_t *name, u_char *out,
    size_t *len, const char **err);

/*
 * A query for "name" and "type" with recursion desired and an EDNS0 OPT
 * record (UDP size 1232) into "buf" (NGX_HELPDESK_DNS_QUERY_MAX bytes).
 * "id" is the caller's random id.
 */
ngx_int_t ngx_helpdesk_dns_query_build(u_char *buf, size_t *len,
    ngx_str_t *name, ngx_uint_t type, ngx_uint_t id, const char **err);

/*
 * Reads "msg" as the answer to the query of "id", "name" and "type".
 * Everything the answer holds is allocated from "pool" (nothing points
 * into "msg").
 *   NGX_OK        "ans" filled; look at ans->rcode and ans->truncated
 *   NGX_DECLINED  not an answer to this query (id, QR, opcode or the
 *                 question differ): a client drops it and keeps waiting
 *   NGX_ERROR     an answer to this query, but malformed (or no memory)
 * "err" says why on NGX_DECLINED and NGX_ERROR.
 */
ngx_int_t ngx_helpdesk_dns_answer_parse(ngx_pool_t *pool, u_char *msg,
    size_t len, ngx_uint_t id, ngx_str_t *name, ngx_uint_t type,
    ngx_helpdesk_dns_answer_t *ans, const char **err);

/*
 * The issuer domain of a CAA "issue" or "issuewild" value (RFC 8659 4.2),
 * its parameters ignored; "issuer" points into "value" and is empty when
 * the value names no issuer (";": nobody may issue).  NGX_ERROR when the
 * value is malformed: such a record authorizes nobody.
 */
ngx_int_t ngx_helpdesk_dns_caa_issuer(ngx_str_t *value, ngx_str_t *issuer);

/* "SERVFAIL", "NXDOMAIN", ... or "RCODE<n>" for the others */
const char *ngx_helpdesk_dns_rcode_text(ngx_uint_t rcode);

/* "A", "AAAA", "CNAME", "TXT", "CAA" or "TYPE" */
const char *ngx_helpdesk_dns_type_text(ngx_uint_t type);


#endif /* _NGX_HELPDESK_DNS_H_INCLUDED_ */
