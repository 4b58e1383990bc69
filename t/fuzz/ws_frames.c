/*
 * The chat WebSocket's frame reader, ngx_http_helpdesk_ws_parse(): client
 * bytes (after a first byte that says how reads cut them and a second
 * that sets the tenant's maximum) fed as reads of that size.  Whatever
 * comes, the reader takes every byte or stops at a refusal; a message
 * never grows past the maximum; what it queues for the client are whole
 * server frames, and a close carries a code that may be sent.
 */


#include "ngx_fuzz.h"
#include "chat/ngx_http_helpdesk_ws_int.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    return 0;
}


/* our frames: unmasked, lengths that add up; a close's code sendable */
static void
ngx_fuzz_check_out(ngx_http_helpdesk_ws_t *ws)
{
    u_char                      *p;
    size_t                       total, len, hlen;
    ngx_uint_t                   code;
    ngx_http_helpdesk_ws_out_t  *out;

    total = 0;

    for (out = ws->out; out; out = out->next) {
        total += out->len;
        p = out->data;

        if (out->len < 2 || (p[1] & 0x80) || !(p[0] & 0x80)) {
            abort();
        }

        len = p[1] & 0x7f;
        hlen = 2;

        if (len == 126) {
            len = ((size_t) p[2] << 8) | p[3];
            hlen = 4;

        } else if (len == 127) {
            abort();    /* nothing we send is that large here */
        }

        if (hlen + len != out->len) {
            abort();
        }

        if ((p[0] & 0x0f) == 0x8 && len >= 2) {
            code = ((ngx_uint_t) p[hlen] << 8) | p[hlen + 1];

            if (code < 1000 || code == 1004 || code == 1005 || code == 1006
                || code == 1015 || (code > 1014 && code < 3000)
                || code > 4999)
            {
                abort();
            }
        }
    }

    if (total != ws->out_bytes) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                       cut, n;
    ngx_http_helpdesk_ws_t       ws;
    ngx_http_helpdesk_ws_out_t  *out, *next;

    if (size < 2) {
        return 0;
    }

    ngx_memzero(&ws, sizeof(ngx_http_helpdesk_ws_t));
    ws.connection = &ngx_fuzz_connection;
    ws.peer.max_message = 256 + (size_t) data[1] * 64;

    /* not opened: nothing is handed to the conversations layer */
    cut = (size_t) data[0] + 1;
    data += 2;
    size -= 2;

    while (size && !ws.discard) {
        n = ngx_min(size, cut);

        ws.in = malloc(n);
        if (ws.in == NULL) {
            abort();
        }

        ngx_memcpy(ws.in, data, n);
        ws.in_pos = ws.in;
        ws.in_last = ws.in + n;

        if (ngx_http_helpdesk_ws_parse(&ws) == NGX_DONE) {
            size = n;   /* the close handshake is complete: the end */
        }

        if (ws.in_pos != ws.in_last && !ws.discard) {
            abort();    /* bytes left unread */
        }

        if (ws.msg_len > ws.peer.max_message
            || ws.msg_len > ws.msg_size)
        {
            abort();
        }

        free(ws.in);
        ws.in = NULL;

        data += n;
        size -= n;
    }

    ngx_fuzz_check_out(&ws);

    for (out = ws.out; out; out = next) {
        next = out->next;
        ngx_free(out);
    }

    if (ws.msg) {
        ngx_free(ws.msg);
    }

    return 0;
}
