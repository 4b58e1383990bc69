/*
 * DNS queries on nginx's event loop, for worker code that needs what
 * nginx's resolver does not give: the CNAME chain, TXT and CAA records.
 * No cache and no search list: one question, asked of the configured
 * servers in turn.
 *
 *   q = ngx_helpdesk_dns_query(&name, NGX_HELPDESK_DNS_TXT, servers,
 *                              3000, handler, data, log);
 *   ...
 *   ngx_helpdesk_dns_cancel(q);     (any time before the handler runs)
 *
 * Each try is a UDP socket of its own, connect()ed to the server (the
 * kernel picks a random source port, and datagrams from elsewhere never
 * reach it), with a random id; a datagram that is not the answer to the
 * question (id, question echoed) is dropped and the wait goes on.  A
 * truncated answer (TC) is asked again of the same server over TCP (two
 * octets of length, at most 65535).  A try ends on its timeout, on a
 * refused or malformed answer, or on an answer of SERVFAIL, REFUSED,
 * NOTIMP or FORMERR; the next try goes to the next server, and each server
 * gets two tries.  The handler is always called from a posted event,
 * never from inside ngx_helpdesk_dns_query() or ngx_helpdesk_dns_cancel().
 * After the handler returns the query is freed: what the handler keeps of
 * the answer it copies.
 */

#ifndef _NGX_HELPDESK_DNS_CLIENT_H_INCLUDED_
#define _NGX_HELPDESK_DNS_CLIENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "lib/ngx_helpdesk_dns.h"


/* queries a worker runs at once; more fail at once (NGX_BUSY) */
#define NGX_HELPDESK_DNS_INFLIGHT_MAX  64
#define NGX_HELPDESK_DNS_TRIES         2


typedef struct ngx_helpdesk_dns_query_s  ngx_helpdesk_dns_query_t;

typedef void (*ngx_helpdesk_dns_handler_pt)(ngx_helpdesk_dns_query_t *q,
    void *data);


struct ngx_helpdesk_dns_query_s {
    /*
     * NGX_OK     "answer" holds an answer: look at answer.rcode (an rcode
     *            other than NOERROR or NXDOMAIN is the last server's,
     *            every server having been tried)
     * NGX_ERROR  no answer: "error" says why (the last try's failure)
     * NGX_BUSY   not asked: too many queries in flight
     */
    ngx_int_t                    status;
    const char                  *error;
    ngx_str_t                    server;    /* of the last try */
    ngx_uint_t                   tries;
    ngx_helpdesk_dns_answer_t    answer;

    /* the rest is the client's own */
    ngx_pool_t                  *pool;
    ngx_log_t                   *log;
    ngx_str_t                    name;
    ngx_uint_t                   type;
    ngx_addr_t                  *servers;
    ngx_uint_t                   nservers;
    ngx_msec_t                   timeout;
    ngx_helpdesk_dns_handler_pt  handler;
    void                        *data;

    ngx_uint_t                   id;
    u_char                       query[2 + NGX_HELPDESK_DNS_QUERY_MAX];
    size_t                       query_len;
    ngx_peer_connection_t        peer;
    ngx_event_t                  timer;
    ngx_event_t                  done;

    /* TCP */
    u_char                       tcp_size[2];
    u_char                      *tcp_buf;
    size_t                       tcp_len;
    size_t                       tcp_have;
    size_t                       sent;

    unsigned                     tcp:1;
    unsigned                     counted:1;
    unsigned                     have_answer:1;
    unsigned                     finished:1;
    unsigned                     canceled:1;
    unsigned                     in_handler:1;
};


/*
 * Starts a query of "name" (text; a trailing dot or none) and "type" (an
 * NGX_HELPDESK_DNS_* type) to "servers" (ngx_array_t of ngx_addr_t, at
 * least one), each try waiting at most "timeout" ms.  The name and the
 * servers are copied.  NULL only when memory runs out; any other failure,
 * an invalid name included, reaches the handler.
 */
ngx_helpdesk_dns_query_t *ngx_helpdesk_dns_query(ngx_str_t *name,
    ngx_uint_t type, ngx_array_t *servers, ngx_msec_t timeout,
    ngx_helpdesk_dns_handler_pt handler, void *data, ngx_log_t *log);

/*
 * Stops the query and frees it; its handler will not be called.  Safe at
 * any point before the handler runs, and inside the handler (a no-op).
 */
void ngx_helpdesk_dns_cancel(ngx_helpdesk_dns_query_t *q);

/* queries in flight in this worker */
ngx_uint_t ngx_helpdesk_dns_inflight(void);


#endif /* _NGX_HELPDESK_DNS_CLIENT_H_INCLUDED_ */
