/*
 * The WebSocket upgrade (RFC 6455 section 4.2): the request's own headers
 * are checked by the location handler before anything else, the tenant or
 * the agent after them; once both passed, the connection is taken over
 * from its request.
 *
 * Taking over is what nginx does for an idle keep-alive connection
 * (ngx_http_set_keepalive): the request is freed -- its pool, and the
 * header buffers, large ones included, which belong to the connection --
 * and the connection stays, with our handlers on its events.  Bytes the
 * client sent after its headers (frames it did not wait to send) were
 * read into the header buffer already: they are copied out first and read
 * as the start of the stream.  What is left per connection is nginx's
 * connection (its small pool holds the HTTP connection and the log's
 * context), and the peer's pool, which holds the ngx_http_helpdesk_ws_t.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include "ngx_http_helpdesk_ws_int.h"
#include "http/ngx_helpdesk_http.h"


#define NGX_HTTP_HELPDESK_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


static ngx_flag_t ngx_http_helpdesk_ws_token(ngx_str_t *value,
    const char *token);
static void ngx_http_helpdesk_ws_takeover(ngx_http_request_t *r,
    ngx_http_helpdesk_chat_peer_t *peer, u_char *head, size_t len);
static void ngx_http_helpdesk_ws_free_buffers(ngx_connection_t *c,
    ngx_http_connection_t *hc);


ngx_int_t
ngx_http_helpdesk_ws_check(ngx_http_request_t *r, const char **detail)
{
    u_char            decoded[32];
    ngx_str_t         key, out;
    ngx_table_elt_t  *h;

    if (r->http_version != NGX_HTTP_VERSION_11 || r != r->main
#if (NGX_HTTP_V2)
        || r->stream
#endif
       )
    {
        *detail = "a WebSocket is opened over HTTP/1.1";
        return NGX_HTTP_BAD_REQUEST;
    }

    h = ngx_helpdesk_http_header_in(r, "Upgrade", sizeof("Upgrade") - 1);
    if (h == NULL || !ngx_http_helpdesk_ws_token(&h->value, "websocket")) {
        *detail = "expected \"Upgrade: websocket\"";
        return NGX_HTTP_BAD_REQUEST;
    }

    h = ngx_helpdesk_http_header_in(r, "Connection", sizeof("Connection") - 1);
    if (h == NULL || !ngx_http_helpdesk_ws_token(&h->value, "upgrade")) {
        *detail = "expected \"Connection: Upgrade\"";
        return NGX_HTTP_BAD_REQUEST;
    }

    h = ngx_helpdesk_http_header_in(r, "Sec-WebSocket-Key",
                                    sizeof("Sec-WebSocket-Key") - 1);
    if (h == NULL || h->value.len != 24) {
        *detail = "Sec-WebSocket-Key must be 16 bytes in base64";
        return NGX_HTTP_BAD_REQUEST;
    }

    key = h->value;
    out.data = decoded;

    if (ngx_decode_base64(&out, &key) != NGX_OK || out.len != 16) {
        *detail = "Sec-WebSocket-Key must be 16 bytes in base64";
        return NGX_HTTP_BAD_REQUEST;
    }

    h = ngx_helpdesk_http_header_in(r, "Sec-WebSocket-Version",
                                    sizeof("Sec-WebSocket-Version") - 1);
    if (h == NULL) {
        *detail = "Sec-WebSocket-Version is missing";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (h->value.len != 2 || ngx_strncmp(h->value.data, "13", 2) != 0) {
        *detail = "only version 13 of the WebSocket protocol is spoken";
        return NGX_HTTP_UPGRADE_REQUIRED;
    }

    h = ngx_helpdesk_http_header_in(r, "Sec-WebSocket-Protocol",
                                    sizeof("Sec-WebSocket-Protocol") - 1);
    if (h == NULL
        || !ngx_http_helpdesk_ws_token(&h->value,
                                       NGX_HTTP_HELPDESK_WS_PROTOCOL))
    {
        *detail = "the subprotocol " NGX_HTTP_HELPDESK_WS_PROTOCOL
                  " is required (Sec-WebSocket-Protocol)";
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


/* a comma-separated header list holds this token (any case) */

static ngx_flag_t
ngx_http_helpdesk_ws_token(ngx_str_t *value, const char *token)
{
    u_char  *p, *last, *start, *end;
    size_t   len;

    len = ngx_strlen(token);
    p = value->data;
    last = p + value->len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if ((size_t) (end - start) == len
            && ngx_strncasecmp(start, (u_char *) token, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


ngx_http_helpdesk_chat_peer_t *
ngx_http_helpdesk_ws_create(ngx_http_request_t *r, ngx_msec_t ping)
{
    ngx_pool_t              *pool;
    ngx_http_helpdesk_ws_t  *ws;

    pool = ngx_create_pool(NGX_HTTP_HELPDESK_WS_POOL_SIZE,
                           r->connection->log);
    if (pool == NULL) {
        return NULL;
    }

    ws = ngx_pcalloc(pool, sizeof(ngx_http_helpdesk_ws_t));
    if (ws == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ws->pool = pool;
    ws->ping_interval = ping;
    ws->peer.pool = pool;
    ws->peer.log = r->connection->log;
    ws->peer.transport = ws;

    return &ws->peer;
}


void
ngx_http_helpdesk_ws_abandon(ngx_http_helpdesk_chat_peer_t *peer)
{
    ngx_http_helpdesk_ws_t  *ws = peer->transport;

    ngx_destroy_pool(ws->pool);
}


void
ngx_http_helpdesk_ws_accept(ngx_http_request_t *r,
    ngx_http_helpdesk_chat_peer_t *peer)
{
    size_t            len;
    u_char           *p;
    ngx_str_t         accept, digest;
    ngx_sha1_t        sha1;
    ngx_table_elt_t  *h;
    u_char            sum[20], acc[28];
    u_char            head[256];

    /* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)); checked before */
    h = ngx_helpdesk_http_header_in(r, "Sec-WebSocket-Key",
                                    sizeof("Sec-WebSocket-Key") - 1);

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, h->value.data, h->value.len);
    ngx_sha1_update(&sha1, NGX_HTTP_HELPDESK_WS_GUID,
                    sizeof(NGX_HTTP_HELPDESK_WS_GUID) - 1);
    ngx_sha1_final(sum, &sha1);

    digest.data = sum;
    digest.len = sizeof(sum);
    accept.data = acc;
    ngx_encode_base64(&accept, &digest);

    p = ngx_cpymem(head, "HTTP/1.1 101 Switching Protocols" CRLF
                         "Upgrade: websocket" CRLF
                         "Connection: Upgrade" CRLF
                         "Sec-WebSocket-Accept: ",
                   sizeof("HTTP/1.1 101 Switching Protocols" CRLF
                          "Upgrade: websocket" CRLF
                          "Connection: Upgrade" CRLF
                          "Sec-WebSocket-Accept: ") - 1);
    p = ngx_cpymem(p, accept.data, accept.len);
    p = ngx_cpymem(p, CRLF "Sec-WebSocket-Protocol: "
                      NGX_HTTP_HELPDESK_WS_PROTOCOL CRLF CRLF,
                   sizeof(CRLF "Sec-WebSocket-Protocol: "
                          NGX_HTTP_HELPDESK_WS_PROTOCOL CRLF CRLF) - 1);
    len = p - head;

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;

    ngx_http_helpdesk_ws_takeover(r, peer, head, len);
}


/*
 * The fallback where WebSocket is blocked: the same connection, as a
 * stream of server-sent events, with the response's head written here
 * (the body ends with the connection, so no chunks).  "origin" is the
 * page's, allowed already.
 */

void
ngx_http_helpdesk_ws_accept_sse(ngx_http_request_t *r,
    ngx_http_helpdesk_chat_peer_t *peer, ngx_str_t *origin)
{
    u_char                  *p;
    ngx_http_helpdesk_ws_t  *ws = peer->transport;
    u_char                   head[512 + 2048];

    if (origin->len > 2048) {
        ngx_http_helpdesk_ws_abandon(peer);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(head, "HTTP/1.1 200 OK" CRLF
                         "Content-Type: text/event-stream" CRLF
                         "Cache-Control: no-store" CRLF
                         "X-Accel-Buffering: no" CRLF
                         "Connection: close" CRLF
                         "Vary: Origin" CRLF
                         "Access-Control-Allow-Origin: ",
                   sizeof("HTTP/1.1 200 OK" CRLF
                          "Content-Type: text/event-stream" CRLF
                          "Cache-Control: no-store" CRLF
                          "X-Accel-Buffering: no" CRLF
                          "Connection: close" CRLF
                          "Vary: Origin" CRLF
                          "Access-Control-Allow-Origin: ") - 1);
    p = ngx_cpymem(p, origin->data, origin->len);

    /* reconnect after 3 s when the stream breaks */
    p = ngx_cpymem(p, CRLF CRLF "retry: 3000\n\n",
                   sizeof(CRLF CRLF "retry: 3000\n\n") - 1);

    ws->sse = 1;
    ws->discard = 1;
    r->headers_out.status = NGX_HTTP_OK;

    ngx_http_helpdesk_ws_takeover(r, peer, head, p - head);
}


static void
ngx_http_helpdesk_ws_takeover(ngx_http_request_t *r,
    ngx_http_helpdesk_chat_peer_t *peer, u_char *head, size_t len)
{
    ngx_buf_t                   *b;
    ngx_connection_t            *c;
    ngx_http_connection_t       *hc;
    ngx_http_helpdesk_ws_t      *ws = peer->transport;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_helpdesk_ws_out_t  *out;

    c = r->connection;
    hc = r->http_connection;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ws->connection = c;
    ws->send_timeout = clcf->send_timeout;

    out = ngx_alloc(sizeof(ngx_http_helpdesk_ws_out_t) + len, c->log);
    if (out == NULL) {
        ngx_http_helpdesk_ws_abandon(peer);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(out->data, head, len);
    out->next = NULL;
    out->len = len;
    out->sent = 0;
    ws->out = out;
    ws->out_last = out;
    ws->out_bytes = out->len;

    /* frames the client sent without waiting for our answer */
    b = r->header_in;

    if (b->pos < b->last && !ws->sse) {
        len = b->last - b->pos;

        ws->in = ngx_alloc(len, c->log);
        if (ws->in == NULL) {
            ngx_free(out);
            ws->out = NULL;
            ngx_http_helpdesk_ws_abandon(peer);
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(ws->in, b->pos, len);
        ws->in_pos = ws->in;
        ws->in_last = ws->in + len;
        b->pos = b->last;
    }

    /* the access log's line says 101 (or 200) */
    r->keepalive = 0;
    r->lingering_close = 0;

    ngx_http_free_request(r, 0);

    c->data = ws;
    c->destroyed = 0;
    c->log->action = ws->sse ? "sending chat events"
                             : "talking on a chat WebSocket";

    ngx_http_helpdesk_ws_free_buffers(c, hc);

    if (c->tcp_nodelay == NGX_TCP_NODELAY_UNSET && clcf->tcp_nodelay) {
        (void) ngx_tcp_nodelay(c);
    }

    ngx_http_helpdesk_ws_start(ws);
}


/* the header buffers, as ngx_http_set_keepalive() frees them */

static void
ngx_http_helpdesk_ws_free_buffers(ngx_connection_t *c,
    ngx_http_connection_t *hc)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *ln;

    b = c->buffer;

    if (b && b->start) {
        if (ngx_pfree(c->pool, b->start) == NGX_OK) {
            b->start = NULL;
            b->pos = NULL;
            b->last = NULL;
            b->end = NULL;

        } else {
            b->pos = b->start;
            b->last = b->start;
        }
    }

    for (cl = hc->free; cl; /* void */) {
        ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }

    hc->free = NULL;

    for (cl = hc->busy; cl; /* void */) {
        ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }

    hc->busy = NULL;
    hc->nbusy = 0;

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        ngx_ssl_free_buffer(c);
    }
#endif
}
