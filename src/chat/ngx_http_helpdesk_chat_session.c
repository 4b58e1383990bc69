/*
 * The conversations layer's entry points (ngx_http_helpdesk_chat.h), in
 * their smallest form: every peer is accepted, and every client message
 * that is not a JSON object is answered with an "error" of code
 * "bad_message".  The conversations themselves (Redis streams, the
 * queue, agents) replace this file.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_helpdesk_chat.h"


typedef struct {
    ngx_uint_t  next_id;
} ngx_http_helpdesk_chat_session_t;


ngx_int_t
ngx_http_helpdesk_chat_open(ngx_http_helpdesk_chat_peer_t *peer)
{
    ngx_http_helpdesk_chat_session_t  *s;

    s = ngx_pcalloc(peer->pool, sizeof(ngx_http_helpdesk_chat_session_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    peer->session = s;

    return NGX_OK;
}


void
ngx_http_helpdesk_chat_receive(ngx_http_helpdesk_chat_peer_t *peer,
    u_char *data, size_t len)
{
    u_char                            *p;
    json_t                            *doc;
    json_error_t                       err;
    ngx_http_helpdesk_chat_session_t  *s = peer->session;
    u_char                             buf[160];

    doc = json_loadb((char *) data, len, 0, &err);

    if (json_is_object(doc)) {
        json_decref(doc);
        return;
    }

    json_decref(doc);

    p = ngx_snprintf(buf, sizeof(buf),
                     "{\"type\":\"error\",\"id\":\"~%ui\","
                     "\"code\":\"bad_message\","
                     "\"detail\":\"a message is one JSON object\"}",
                     ++s->next_id);

    (void) peer->send(peer, buf, p - buf);
}


void
ngx_http_helpdesk_chat_gone(ngx_http_helpdesk_chat_peer_t *peer)
{
    peer->session = NULL;
}
