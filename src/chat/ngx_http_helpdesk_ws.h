/*
 * The RFC 6455 WebSocket server of the chat: the upgrade's checks and
 * answer, then the connection, taken over from its HTTP request, as a
 * peer of the conversations layer (ngx_http_helpdesk_chat.h).
 */

#ifndef _NGX_HTTP_HELPDESK_WS_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_WS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat.h"


#define NGX_HTTP_HELPDESK_WS_PROTOCOL  "helpdesk.chat.v1"

#ifndef NGX_HTTP_UPGRADE_REQUIRED
#define NGX_HTTP_UPGRADE_REQUIRED      426
#endif


typedef struct ngx_http_helpdesk_ws_s  ngx_http_helpdesk_ws_t;


/*
 * The upgrade's own headers (GET over HTTP/1.1, Upgrade, Connection,
 * Sec-WebSocket-Key, -Version, -Protocol): NGX_OK, or the status to
 * answer (400, or 426 for another version) with *detail saying why.
 */
ngx_int_t ngx_http_helpdesk_ws_check(ngx_http_request_t *r,
    const char **detail);

/*
 * A connection to be: its small pool (which holds it) and its peer, for
 * the caller to fill (strings copied into peer->pool); NULL when out of
 * memory.  Freed by ngx_http_helpdesk_ws_accept(), or by
 * ngx_http_helpdesk_ws_abandon() if the upgrade is refused after all.
 */
ngx_http_helpdesk_chat_peer_t *ngx_http_helpdesk_ws_create(
    ngx_http_request_t *r, ngx_msec_t ping);
void ngx_http_helpdesk_ws_abandon(ngx_http_helpdesk_chat_peer_t *peer);

/*
 * Answers 101, frees the request (its pool and header buffers) and keeps
 * the connection, then opens the peer.  From a completion of the request
 * (r->main->count == 1): afterwards r is gone, whatever happened.
 */
void ngx_http_helpdesk_ws_accept(ngx_http_request_t *r,
    ngx_http_helpdesk_chat_peer_t *peer);

/*
 * The same, as a stream of server-sent events (200, text/event-stream,
 * allowed to the page's origin) where WebSocket is blocked.
 */
void ngx_http_helpdesk_ws_accept_sse(ngx_http_request_t *r,
    ngx_http_helpdesk_chat_peer_t *peer, ngx_str_t *origin);


#endif /* _NGX_HTTP_HELPDESK_WS_H_INCLUDED_ */
