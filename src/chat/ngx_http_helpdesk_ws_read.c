/*
 * The reader of a chat WebSocket: frames as a state machine that stops
 * wherever a read ends and goes on with the next (see the model at the
 * top of ngx_http_helpdesk_ws.c).  What breaks RFC 6455 queues our close
 * with its code and returns NGX_ERROR; the caller discards the rest.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_ws_int.h"


static ngx_int_t ngx_http_helpdesk_ws_header(ngx_http_helpdesk_ws_t *ws);
static ngx_int_t ngx_http_helpdesk_ws_payload(ngx_http_helpdesk_ws_t *ws);
static ngx_int_t ngx_http_helpdesk_ws_done(ngx_http_helpdesk_ws_t *ws);
static ngx_int_t ngx_http_helpdesk_ws_closed_by_client(
    ngx_http_helpdesk_ws_t *ws);


/*
 * The bytes between in_pos and in_last: NGX_OK when all were taken
 * (frames may continue in the next read), NGX_DONE when the close
 * handshake is complete.  A broken frame starts our close and discards
 * the rest.
 */

ngx_int_t
ngx_http_helpdesk_ws_parse(ngx_http_helpdesk_ws_t *ws)
{
    ngx_int_t  rc;

    while (ws->in_pos < ws->in_last && !ws->discard) {

        if (ws->hdr_need == 0 || ws->hdr_len < ws->hdr_need) {
            rc = ngx_http_helpdesk_ws_header(ws);

            if (rc == NGX_AGAIN) {
                continue;
            }

        } else {
            rc = ngx_http_helpdesk_ws_payload(ws);
        }

        if (rc == NGX_ERROR) {
            ws->discard = 1;
            ws->in_pos = ws->in_last;
            return NGX_OK;
        }

        if (rc == NGX_OK && ws->remaining == 0) {
            rc = ngx_http_helpdesk_ws_done(ws);

            if (rc == NGX_ERROR) {
                ws->discard = 1;
                ws->in_pos = ws->in_last;
                return NGX_OK;
            }

            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    return NGX_OK;
}


/*
 * A frame's header, byte by byte as it comes: NGX_AGAIN while incomplete,
 * NGX_OK once read and checked, NGX_ERROR when refused (the close is
 * queued).
 */

static ngx_int_t
ngx_http_helpdesk_ws_header(ngx_http_helpdesk_ws_t *ws)
{
    u_char      *h;
    size_t       n, max;
    uint64_t     len;
    ngx_uint_t   opcode, len7, control;

    if (ws->hdr_need == 0) {
        ws->hdr_need = 2;
    }

    n = ngx_min((size_t) (ws->in_last - ws->in_pos),
                ws->hdr_need - ws->hdr_len);
    ngx_memcpy(ws->hdr + ws->hdr_len, ws->in_pos, n);
    ws->in_pos += n;
    ws->hdr_len += n;

    if (ws->hdr_len < ws->hdr_need) {
        return NGX_AGAIN;
    }

    h = ws->hdr;
    opcode = h[0] & 0x0f;
    control = opcode & 0x08;
    len7 = h[1] & 0x7f;

    if (ws->hdr_len == 2) {

        /* the first two bytes: what kind of frame, and its sizes */

        if (h[0] & 0x70) {
            ngx_http_helpdesk_ws_close(ws, 1002, "reserved bits set");
            return NGX_ERROR;
        }

        if (opcode > NGX_HTTP_HELPDESK_WS_BINARY
            && opcode != NGX_HTTP_HELPDESK_WS_CLOSE
            && opcode != NGX_HTTP_HELPDESK_WS_PING
            && opcode != NGX_HTTP_HELPDESK_WS_PONG)
        {
            ngx_http_helpdesk_ws_close(ws, 1002, "unknown opcode");
            return NGX_ERROR;
        }

        if (!(h[1] & 0x80)) {
            ngx_http_helpdesk_ws_close(ws, 1002,
                                       "frames from clients must be masked");
            return NGX_ERROR;
        }

        if (control && !(h[0] & 0x80)) {
            ngx_http_helpdesk_ws_close(ws, 1002, "fragmented control frame");
            return NGX_ERROR;
        }

        if (control && len7 > 125) {
            ngx_http_helpdesk_ws_close(ws, 1002,
                                       "control frame over 125 bytes");
            return NGX_ERROR;
        }

        if (opcode == NGX_HTTP_HELPDESK_WS_CONT && !ws->in_message) {
            ngx_http_helpdesk_ws_close(ws, 1002,
                                       "continuation frame without a message");
            return NGX_ERROR;
        }

        if ((opcode == NGX_HTTP_HELPDESK_WS_TEXT
             || opcode == NGX_HTTP_HELPDESK_WS_BINARY)
            && ws->in_message)
        {
            ngx_http_helpdesk_ws_close(ws, 1002,
                                       "new message inside a fragmented one");
            return NGX_ERROR;
        }

        if (opcode == NGX_HTTP_HELPDESK_WS_BINARY) {
            ngx_http_helpdesk_ws_close(ws, 1003,
                                       "binary messages are not accepted");
            return NGX_ERROR;
        }

        ws->hdr_need = 2 + 4 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);

        return NGX_AGAIN;
    }

    /* the whole header */

    if (len7 == 126) {
        len = ((uint64_t) h[2] << 8) | h[3];

    } else if (len7 == 127) {
        if (h[2] & 0x80) {
            ngx_http_helpdesk_ws_close(ws, 1002, "invalid payload length");
            return NGX_ERROR;
        }

        len = ((uint64_t) h[2] << 56) | ((uint64_t) h[3] << 48)
              | ((uint64_t) h[4] << 40) | ((uint64_t) h[5] << 32)
              | ((uint64_t) h[6] << 24) | ((uint64_t) h[7] << 16)
              | ((uint64_t) h[8] << 8) | h[9];

    } else {
        len = len7;
    }

    ngx_memcpy(ws->mask, h + ws->hdr_need - 4, 4);
    ws->mask_i = 0;
    ws->opcode = opcode;
    ws->fin = (h[0] & 0x80) ? 1 : 0;
    ws->remaining = len;

    if (control) {
        ws->ctl_len = 0;
        return NGX_OK;
    }

    /* a text message's frame: the tenant's maximum, before any payload */
    max = ws->peer.max_message;

    if (len > max || ws->msg_len + len > max) {
        ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_TOO_BIG,
                                   "message too big");
        return NGX_ERROR;
    }

    if (opcode == NGX_HTTP_HELPDESK_WS_TEXT) {
        ws->in_message = 1;
        ws->msg_len = 0;
        ws->utf8 = NGX_HELPDESK_UTF8_START;
    }

    if (ws->msg_len + len > ws->msg_size) {
        h = ngx_alloc(ws->msg_len + len, ws->connection->log);
        if (h == NULL) {
            ngx_http_helpdesk_ws_close(ws, NGX_HTTP_HELPDESK_CHAT_INTERNAL,
                                       "internal error");
            return NGX_ERROR;
        }

        if (ws->msg) {
            ngx_memcpy(h, ws->msg, ws->msg_len);
            ngx_free(ws->msg);
        }

        ws->msg = h;
        ws->msg_size = ws->msg_len + len;
    }

    return NGX_OK;
}


/* the payload, unmasked into the message or the control frame's space */

static ngx_int_t
ngx_http_helpdesk_ws_payload(ngx_http_helpdesk_ws_t *ws)
{
    u_char      *dst, *p;
    size_t       n, i;
    ngx_flag_t   control;

    n = ngx_min((uint64_t) (ws->in_last - ws->in_pos), ws->remaining);
    control = ws->opcode & 0x08;

    dst = control ? ws->ctl + ws->ctl_len : ws->msg + ws->msg_len;
    p = ws->in_pos;

    for (i = 0; i < n; i++) {
        dst[i] = p[i] ^ ws->mask[ws->mask_i];
        ws->mask_i = (ws->mask_i + 1) & 3;
    }

    ws->in_pos += n;
    ws->remaining -= n;

    if (control) {
        ws->ctl_len += n;
        return NGX_OK;
    }

    ws->msg_len += n;

    if (ngx_helpdesk_utf8_feed(&ws->utf8, dst, n) != NGX_OK) {
        ngx_http_helpdesk_ws_close(ws, 1007, "invalid UTF-8");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a frame is in: NGX_OK, NGX_DONE (closing is complete), NGX_ERROR */

static ngx_int_t
ngx_http_helpdesk_ws_done(ngx_http_helpdesk_ws_t *ws)
{
    u_char      *msg;
    size_t       len;
    ngx_uint_t   opcode;

    opcode = ws->opcode;
    ws->hdr_len = 0;
    ws->hdr_need = 0;

    switch (opcode) {

    case NGX_HTTP_HELPDESK_WS_PING:
        if (!ws->close_sent) {
            (void) ngx_http_helpdesk_ws_frame(ws, NGX_HTTP_HELPDESK_WS_PONG,
                                              ws->ctl, ws->ctl_len, 1);
        }

        return NGX_OK;

    case NGX_HTTP_HELPDESK_WS_PONG:
        ws->ping_wait = 0;
        return NGX_OK;

    case NGX_HTTP_HELPDESK_WS_CLOSE:
        return ngx_http_helpdesk_ws_closed_by_client(ws);
    }

    /* text, or its continuation */

    if (!ws->fin) {
        return NGX_OK;
    }

    if (!ngx_helpdesk_utf8_complete(&ws->utf8)) {
        ngx_http_helpdesk_ws_close(ws, 1007, "invalid UTF-8");
        return NGX_ERROR;
    }

    msg = ws->msg;
    len = ws->msg_len;

    ws->msg = NULL;
    ws->msg_len = 0;
    ws->msg_size = 0;
    ws->in_message = 0;

    if (ws->opened && !ws->gone && !ws->close_sent) {
        ngx_http_helpdesk_chat_receive(&ws->peer, msg ? msg : (u_char *) "",
                                       len);
    }

    if (msg) {
        ngx_free(msg);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_ws_closed_by_client(ngx_http_helpdesk_ws_t *ws)
{
    ngx_uint_t  code;

    ws->close_received = 1;

    if (ws->ctl_len == 1) {
        ngx_http_helpdesk_ws_close(ws, 1002, "invalid close payload");
        return NGX_ERROR;
    }

    if (ws->ctl_len == 0) {
        /* no code (1005): answered with none */
        if (!ws->close_sent) {
            ngx_http_helpdesk_ws_close(ws, 0, NULL);
        }

        return ws->out ? NGX_OK : NGX_DONE;
    }

    code = ((ngx_uint_t) ws->ctl[0] << 8) | ws->ctl[1];

    if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
          || (code >= 3000 && code <= 4999)))
    {
        ngx_http_helpdesk_ws_close(ws, 1002, "invalid close code");
        return NGX_ERROR;
    }

    if (ngx_helpdesk_utf8_valid(ws->ctl + 2, ws->ctl_len - 2) != NGX_OK) {
        ngx_http_helpdesk_ws_close(ws, 1007, "invalid UTF-8 in close reason");
        return NGX_ERROR;
    }

    if (!ws->close_sent) {
        ngx_http_helpdesk_ws_close(ws, code, NULL);
    }

    /* once our close is sent, the connection ends (ws_after) */
    return ws->out ? NGX_OK : NGX_DONE;
}
