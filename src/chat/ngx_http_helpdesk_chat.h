/*
 * Website chat: what the transports (a WebSocket, or server-sent events
 * plus POST where a network blocks WebSocket) and the conversations
 * (Redis streams, the queue, agents, the record in PostgreSQL) say to
 * each other.
 *
 * A transport authenticates the client while it is still an HTTP request
 * (the tenant and its widget settings, the Origin, a visitor or an agent's
 * console session), then hands the conversations layer a peer.  From then
 * on the conversations layer sees only peers and complete, valid UTF-8
 * text messages (one JSON document each, docs/chat-protocol.md); the
 * transport sees only JSON documents to deliver, in order, and a request
 * to close with a code and a reason.
 *
 * Lifetimes: a peer is the transport's.  The transport calls gone() once,
 * when the connection ends for any reason, and frees the peer after gone()
 * returns; the conversations layer must drop every pointer to it in
 * gone() (its timers, its Redis commands, its place in the local socket
 * table).  Neither side calls the other re-entrantly from inside a call
 * it received: work that would do so is posted.
 */

#ifndef _NGX_HTTP_HELPDESK_CHAT_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_CHAT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>


#define NGX_HTTP_HELPDESK_CHAT_VISITOR   1
#define NGX_HTTP_HELPDESK_CHAT_AGENT     2

/* close codes (RFC 6455 section 7.4) the conversations layer may use */
#define NGX_HTTP_HELPDESK_CHAT_NORMAL        1000
#define NGX_HTTP_HELPDESK_CHAT_GOING_AWAY    1001
#define NGX_HTTP_HELPDESK_CHAT_POLICY        1008
#define NGX_HTTP_HELPDESK_CHAT_TOO_BIG       1009
#define NGX_HTTP_HELPDESK_CHAT_INTERNAL      1011
#define NGX_HTTP_HELPDESK_CHAT_TRY_LATER     1013

/*
 * A peer's output is "full" while more than this waits to be written: a
 * catch-up (the events after "last") sends no more until it drains.
 */
#define NGX_HTTP_HELPDESK_CHAT_LOW_WATER     (64 * 1024)
/*
 * What live events a catch-up may hold back while the client does not
 * read: past it, the client is closed as the output cap would (1008).
 */
#define NGX_HTTP_HELPDESK_CHAT_HELD_MAX      (256 * 1024)


typedef struct ngx_http_helpdesk_chat_peer_s  ngx_http_helpdesk_chat_peer_t;

typedef ngx_int_t (*ngx_http_helpdesk_chat_send_pt)(
    ngx_http_helpdesk_chat_peer_t *peer, u_char *data, size_t len);
typedef void (*ngx_http_helpdesk_chat_close_pt)(
    ngx_http_helpdesk_chat_peer_t *peer, ngx_uint_t code, const char *reason);
typedef void (*ngx_http_helpdesk_chat_drained_pt)(
    ngx_http_helpdesk_chat_peer_t *peer);


struct ngx_http_helpdesk_chat_peer_s {
    /* set by the transport before open() */
    ngx_uint_t                       role;       /* VISITOR or AGENT */
    u_char                           tenant[36]; /* tenant id (uuid text) */
    ngx_str_t                        slug;
    ngx_str_t                        settings;   /* the widget's, JSON */
    u_char                           user[36];   /* agent's user id */
    ngx_str_t                        agent_name;
    ngx_str_t                        origin;
    ngx_str_t                        ip;
    ngx_str_t                        user_agent;
    ngx_str_t                        language;   /* Accept-Language */
    size_t                           max_message;
    /* where this peer downloads a chat's files: "<location>v1/file/" */
    ngx_str_t                        files;
    /*
     * Server-sent events and POST (where a network blocks WebSocket): the
     * visitor's token comes with the request, not in a "hello", and so
     * does the last stored id the stream's client has ("last", from
     * Last-Event-ID: the events after it are sent, as after a "hello"
     * with "last"; empty: the whole conversation so far).  A oneshot
     * peer carries one client message (a POST): the conversations layer
     * answers it with exactly one document (its ack or error), then the
     * transport ends the peer.
     */
    ngx_str_t                        visitor;
    ngx_str_t                        last;
    unsigned                         oneshot:1;
    /*
     * A visitor who is the tenant's portal customer, signed in: its user
     * id (uuid text), or all zero bytes for an anonymous visitor.  Set
     * when the handshake carried the portal's session cookie ("hd_session",
     * host-only: so only where the chat is served on the portal's own
     * name) of a live portal session (kind 'p').  The conversations layer
     * checks it is an active customer of this tenant (api.chat_visitor)
     * and links the visitor and its conversations to it; anything else
     * (another tenant's user, an agent) is an anonymous visitor.
     */
    u_char                           customer[36];
    /* an agent who is the tenant's admin (api.chat_agent()'s role) */
    unsigned                         admin:1;
    /*
     * How this location links to the tenant's portal, as the portal's
     * links are made (JSON: scheme, base, port, domains), for the bot's
     * knowledge-base links; empty: links on a verified domain only.
     */
    ngx_str_t                        portal;
    ngx_pool_t                      *pool;       /* lives as long as the peer */
    ngx_log_t                       *log;

    /*
     * Queues a JSON document for the client, copied: NGX_OK, or NGX_ERROR
     * when the peer is closing or past its output cap (the transport then
     * closes it with 1008 and calls gone() later, from its own event).
     */
    ngx_http_helpdesk_chat_send_pt   send;
    /* Starts the close handshake; gone() follows. */
    ngx_http_helpdesk_chat_close_pt  close;

    /*
     * Set by the conversations layer in open(), may be NULL: the peer's
     * output, "full" after a send() left more than
     * NGX_HTTP_HELPDESK_CHAT_LOW_WATER waiting, has been written down to
     * the mark.  The transport clears "full" and calls drained() from an
     * event of its own (posted), never from inside send(), and never
     * after gone().
     */
    ngx_http_helpdesk_chat_drained_pt  drained;
    /* set by the transport: more than the low-water mark waits */
    unsigned                         full:1;

    /* the conversations layer's own state for this peer */
    void                            *session;
    /* the transport's */
    void                            *transport;
};


/* ngx_http_helpdesk_chat_session.c: the conversations layer */

/*
 * A transport has a peer: NGX_OK, or NGX_ERROR (the transport closes it
 * with 1011 and does not call gone()).
 */
ngx_int_t ngx_http_helpdesk_chat_open(ngx_http_helpdesk_chat_peer_t *peer);

/* One complete text message from the client, valid UTF-8. */
void ngx_http_helpdesk_chat_receive(ngx_http_helpdesk_chat_peer_t *peer,
    u_char *data, size_t len);

/* The connection is gone; the peer is freed after this returns. */
void ngx_http_helpdesk_chat_gone(ngx_http_helpdesk_chat_peer_t *peer);

/*
 * ngx_http_helpdesk_chat_hub.c: whether v is a stream id ("<ms>-<seq>"),
 * what a client resumes from: NGX_OK, or NGX_DECLINED.
 */
ngx_int_t ngx_http_helpdesk_chat_stream_id(ngx_str_t *v);


/*
 * ngx_http_helpdesk_chat_link.c: a file's download link (a JSON string),
 * "<prefix><file>", and for a visitor (slug not NULL) with
 * "?tenant=<slug>&exp=<time>&sig=<HMAC>" after it: an <img> sends no
 * header, so a visitor's link carries its own credential, signed with a
 * key derived from the module's secret keys and valid for a day.  NULL
 * when it cannot be made (no keys, no memory).
 */
json_t *ngx_http_helpdesk_chat_link(ngx_str_t *prefix, u_char *tenant,
    ngx_str_t *slug, u_char *file);


/* ngx_http_helpdesk_chat_convert.c */

/*
 * The REST API has converted a conversation of the caller's tenant (its
 * transaction committed): the live chat, if Redis still holds it, is
 * closed as an agent's conversion closes it (the ticket's number to both
 * sides, the agent's load released).  Fire and forget.
 */
void ngx_http_helpdesk_chat_converted_by_api(ngx_str_t *conv);


#endif /* _NGX_HTTP_HELPDESK_CHAT_H_INCLUDED_ */
