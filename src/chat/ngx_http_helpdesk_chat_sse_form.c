/*
 * The chat's event stream, whichever way it is served (the connection
 * taken over on HTTP/1.1, ngx_http_helpdesk_ws*.c; a request held open on
 * HTTP/2 and HTTP/3, ngx_http_helpdesk_chat_sse_held.c): the form of an
 * event.  A document goes out as "data:" lines, with "id:" when it is a
 * stored event (what EventSource sends back as Last-Event-ID); the close
 * as an "event: close" with the code and reason a WebSocket would get.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_helpdesk_chat_http.h"


/*
 * An event's form, for both ways of serving the stream: "id:" with a
 * stored event's id, each line of the document a "data:" line, then a
 * blank line.  The size it takes at most, then the text.
 */

size_t
ngx_http_helpdesk_chat_sse_size(ngx_str_t *id, u_char *data, size_t len)
{
    u_char      *p, *last;
    ngx_uint_t   lines;

    /* a line break in the data starts another "data:" line */
    lines = 0;
    for (p = data, last = data + len; p < last; p++) {
        if (*p == '\n') {
            lines++;
        }
    }

    return (id ? sizeof("id: \n") - 1 + id->len : 0) + len + 2
           + (lines + 1) * (sizeof("data: ") - 1);
}


u_char *
ngx_http_helpdesk_chat_sse_format(u_char *p, ngx_str_t *id, u_char *data,
    size_t len)
{
    u_char  *last;

    if (id) {
        p = ngx_cpymem(p, "id: ", 4);
        p = ngx_cpymem(p, id->data, id->len);
        *p++ = '\n';
    }

    p = ngx_cpymem(p, "data: ", 6);

    for (last = data + len; data < last; data++) {
        *p++ = *data;

        if (*data == '\n') {
            p = ngx_cpymem(p, "data: ", 6);
        }
    }

    *p++ = '\n';
    *p++ = '\n';

    return p;
}


/*
 * A stored event's id ("1764480000000-0"), copied into buf (of
 * NGX_HTTP_HELPDESK_CHAT_SSE_ID bytes): NULL for a transient "~n" or none.
 */

ngx_str_t *
ngx_http_helpdesk_chat_sse_id(u_char *data, size_t len, ngx_str_t *id,
    u_char *buf)
{
    json_t        *doc;
    const char    *s;
    ngx_str_t     *idp;
    json_error_t   err;

    idp = NULL;
    doc = json_loadb((char *) data, len, 0, &err);
    s = json_string_value(json_object_get(doc, "id"));

    if (s && s[0] != '~' && s[0] != '\0'
        && ngx_strlen(s) < NGX_HTTP_HELPDESK_CHAT_SSE_ID
        && ngx_strlchr((u_char *) s, (u_char *) s + ngx_strlen(s), '\n')
           == NULL)
    {
        id->len = ngx_strlen(s);
        id->data = ngx_cpymem(buf, s, id->len) - id->len;
        idp = id;
    }

    json_decref(doc);

    return idp;
}


/* the close's event, without its blank line: its length in buf */

size_t
ngx_http_helpdesk_chat_sse_close_text(u_char *buf, ngx_uint_t code,
    const char *reason)
{
    return ngx_snprintf(buf, NGX_HTTP_HELPDESK_CHAT_SSE_CLOSE,
                        "event: close\ndata: {\"code\":%ui,\"reason\":\"%s\"}",
                        code ? code : NGX_HTTP_HELPDESK_CHAT_NORMAL,
                        reason ? reason : "")
           - buf;
}
