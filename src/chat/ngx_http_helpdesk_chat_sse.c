/*
 * The chat's fallback where a network blocks WebSocket: server-sent
 * events for what the server says, a POST for each client message.
 *
 *   GET  <location>v1/sse?tenant=<slug>[&stream=<token>][&after=<id>]
 *        the event stream ("stream" is the visitor's token, from the
 *        welcome; "visitor" and "last" are taken too); EventSource's
 *        Last-Event-ID, or "after", says where to resume.  Over HTTP/1 the
 *        connection is taken over as a WebSocket's is
 *        (ngx_http_helpdesk_ws*.c): no request is held, the same output
 *        cap, pings as comments, an "event: close" where a WebSocket would
 *        get a close frame (1001 on reload).  Over HTTP/2 and HTTP/3, whose
 *        connection carries other streams, the request is held open and
 *        written through nginx's output filters, with the same cap, pings,
 *        ids and close (ngx_http_helpdesk_chat_sse_held.c).
 *   POST <location>v1/send?tenant=<slug>, X-Chat-Stream: <token>
 *        one client message (the JSON document) as a oneshot peer: the
 *        conversations layer's one answer (the welcome to a hello, else
 *        its ack or error) is the response's body.  Without the header
 *        (or X-Chat-Visitor) only a first hello makes sense.
 *   POST <location>v1/offline?tenant=<slug>
 *        the offline form: a ticket (api.chat_offline), 201.
 *   OPTIONS on all three: the CORS preflight.
 *
 * The page is on the tenant's site and these are on the provider's host:
 * every answer is allowed to the page's origin only, which is checked
 * against the tenant's allowed origins exactly as for a WebSocket.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_helpdesk_http.h"
#include "lib/ngx_helpdesk_utf8.h"
#include "ngx_http_helpdesk_chat_http.h"
#include "ngx_http_helpdesk_ws_int.h"


#define NGX_HTTP_HELPDESK_CHAT_SSE      1
#define NGX_HTTP_HELPDESK_CHAT_SEND     2
#define NGX_HTTP_HELPDESK_CHAT_OFFLINE  3

/* the offline form: name, email, a message and a few fields */
#define NGX_HTTP_HELPDESK_CHAT_OFFLINE_MAX  (64 * 1024)

/* how long a POST waits for the conversations layer's answer */
#define NGX_HTTP_HELPDESK_CHAT_SEND_TIMEOUT  30000


static void ngx_http_helpdesk_chat_fallback_looked(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_chat_send_body(ngx_http_request_t *r);
static void ngx_http_helpdesk_chat_send_cleanup(void *data);
static ngx_int_t ngx_http_helpdesk_chat_oneshot_send(
    ngx_http_helpdesk_chat_peer_t *peer, u_char *data, size_t len);
static void ngx_http_helpdesk_chat_oneshot_close(
    ngx_http_helpdesk_chat_peer_t *peer, ngx_uint_t code, const char *reason);
static void ngx_http_helpdesk_chat_answered(ngx_event_t *ev);
static void ngx_http_helpdesk_chat_offline_body(ngx_http_request_t *r);
static void ngx_http_helpdesk_chat_offline_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


ngx_int_t
ngx_http_helpdesk_chat_sse_route(ngx_http_helpdesk_chat_ctx_t *ctx,
    ngx_str_t *path)
{
    ngx_uint_t           allowed;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r = ctx->req.r;

    if (path->len == 6 && ngx_strncmp(path->data, "v1/sse", 6) == 0) {
        ctx->route = NGX_HTTP_HELPDESK_CHAT_SSE;
        allowed = NGX_HTTP_GET;

    } else if (path->len == 7 && ngx_strncmp(path->data, "v1/send", 7) == 0) {
        ctx->route = NGX_HTTP_HELPDESK_CHAT_SEND;
        allowed = NGX_HTTP_POST;

    } else if (path->len == 10
               && ngx_strncmp(path->data, "v1/offline", 10) == 0)
    {
        ctx->route = NGX_HTTP_HELPDESK_CHAT_OFFLINE;
        allowed = NGX_HTTP_POST;

    } else {
        return NGX_DECLINED;
    }

    if (ctx->req.hlcf->chat != NGX_HTTP_HELPDESK_CHAT_VISITOR) {
        return ngx_http_helpdesk_route_miss(r, 0);
    }

    if (r->method != allowed && r->method != NGX_HTTP_OPTIONS) {
        return ngx_http_helpdesk_route_miss(r, allowed);
    }

    if (ngx_http_helpdesk_chat_tenant_arg(ctx) != NGX_OK) {
        return ctx->req.rc;
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        ngx_str_null(&ctx->visitor);
        ngx_str_null(&ctx->last);

    } else if (ctx->route == NGX_HTTP_HELPDESK_CHAT_SSE) {

        /* a stream is the client's own request, never a subrequest */
        if (r != r->main) {
            return ngx_http_helpdesk_route_miss(r, 0);
        }

        h = ngx_helpdesk_http_header_in(r, "Last-Event-ID",
                                        sizeof("Last-Event-ID") - 1);
        if (h) {
            ctx->last = h->value;
        }

        if ((ctx->visitor.len
             && ngx_http_helpdesk_chat_token(&ctx->visitor) != NGX_OK)
            || (ctx->last.len
                && ngx_http_helpdesk_chat_stream_id(&ctx->last) != NGX_OK))
        {
            return ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                       "invalid-parameter", "Bad Request",
                       "\"visitor\" is a visitor's token (64 hex digits), "
                       "\"last\" a message id", NULL);
        }

    } else {
        ngx_str_null(&ctx->last);
        ngx_str_null(&ctx->visitor);

        h = ngx_helpdesk_http_header_in(r, "X-Chat-Stream",
                                        sizeof("X-Chat-Stream") - 1);
        if (h == NULL) {
            h = ngx_helpdesk_http_header_in(r, "X-Chat-Visitor",
                                            sizeof("X-Chat-Visitor") - 1);
        }

        if (ctx->route == NGX_HTTP_HELPDESK_CHAT_SEND && h) {
            if (ngx_http_helpdesk_chat_token(&h->value) != NGX_OK) {
                return ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                           "invalid-stream", "Bad Request",
                           "X-Chat-Stream is the visitor's token from the "
                           "welcome (64 hex digits)", NULL);
            }

            ctx->visitor = h->value;
        }

        if (!ngx_http_helpdesk_req_json_type(r, 0)) {
            return ngx_helpdesk_http_problem(r,
                       NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                       "unsupported-media-type", "Unsupported Media Type",
                       "a message is sent as application/json", NULL);
        }
    }

    r->main->count++;
    ngx_http_helpdesk_chat_lookup(ctx, ngx_http_helpdesk_chat_fallback_looked);

    return NGX_DONE;
}


ngx_int_t
ngx_http_helpdesk_chat_token(ngx_str_t *v)
{
    size_t  i;

    if (v->len != 64) {
        return NGX_DECLINED;
    }

    for (i = 0; i < v->len; i++) {
        if (!((v->data[i] >= '0' && v->data[i] <= '9')
              || (v->data[i] >= 'a' && v->data[i] <= 'f')))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_fallback_looked(ngx_helpdesk_pg_query_t *q,
    PGresult *res)
{
    ngx_int_t                       rc;
    ngx_http_request_t             *r;
    ngx_http_helpdesk_chat_ctx_t   *ctx = q->data;
    ngx_http_helpdesk_chat_peer_t  *peer;

    r = ctx->req.r;

    if (ngx_http_helpdesk_chat_widget(ctx, res) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, ctx->req.rc);
        return;
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        /* the preflight: what the page may send here */
        rc = ngx_http_helpdesk_chat_cors(ctx);

        if (rc == NGX_OK) {
            rc = ngx_helpdesk_http_send(r, NGX_HTTP_NO_CONTENT, "text/plain",
                                        NULL, 0);
        }

        ngx_http_helpdesk_req_finalize(&ctx->req, rc);
        return;
    }

    if (ctx->route == NGX_HTTP_HELPDESK_CHAT_SEND) {
        rc = ngx_http_helpdesk_req_read_body(&ctx->req,
                                             (off_t) ctx->max_message,
                                             ngx_http_helpdesk_chat_send_body);
        ngx_http_helpdesk_req_resume(&ctx->req, rc);
        return;
    }

    if (ctx->route == NGX_HTTP_HELPDESK_CHAT_OFFLINE) {
        rc = ngx_http_helpdesk_req_read_body(&ctx->req,
                                          NGX_HTTP_HELPDESK_CHAT_OFFLINE_MAX,
                                          ngx_http_helpdesk_chat_offline_body);
        ngx_http_helpdesk_req_resume(&ctx->req, rc);
        return;
    }

    if (ngx_http_helpdesk_chat_sse_held_wanted(r)) {
        /* HTTP/2, HTTP/3: the connection is shared with other streams */
        ngx_http_helpdesk_chat_sse_held(ctx);
        return;
    }

    /* HTTP/1: the connection is the request's own, and taken over */

    peer = ngx_http_helpdesk_chat_peer(ctx, NGX_HTTP_HELPDESK_CHAT_VISITOR);
    if (peer == NULL) {
        return;
    }

    ngx_http_helpdesk_ws_accept_sse(r, peer, &peer->origin);
}


/* the page's origin, and only it, may read the answer */

ngx_int_t
ngx_http_helpdesk_chat_cors(ngx_http_helpdesk_chat_ctx_t *ctx)
{
    ngx_str_t            v;
    ngx_http_request_t  *r = ctx->req.r;

    if (ngx_helpdesk_http_header_out(r, "Access-Control-Allow-Origin",
                                     &ctx->origin)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "Origin");
    if (ngx_helpdesk_http_header_out(r, "Vary", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method != NGX_HTTP_OPTIONS) {
        return NGX_OK;
    }

    ngx_str_set(&v, "GET, POST");
    if (ngx_helpdesk_http_header_out(r, "Access-Control-Allow-Methods", &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "Content-Type, X-Chat-Stream, X-Chat-Visitor, "
                "X-Filename, Last-Event-ID");
    if (ngx_helpdesk_http_header_out(r, "Access-Control-Allow-Headers", &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "600");
    if (ngx_helpdesk_http_header_out(r, "Access-Control-Max-Age", &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* POST v1/send: the message, to a oneshot peer */

static void
ngx_http_helpdesk_chat_send_body(ngx_http_request_t *r)
{
    ngx_str_t                       body;
    ngx_pool_cleanup_t             *cln;
    ngx_http_helpdesk_chat_ctx_t   *ctx;
    ngx_http_helpdesk_chat_peer_t  *peer;

    ctx = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    if (ngx_http_helpdesk_req_body(&ctx->req, &body) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_helpdesk_utf8_valid(body.data, body.len) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST,
                                      "invalid-utf8", "Bad Request",
                                      "a message is UTF-8 text", NULL));
        return;
    }

    peer = ngx_pcalloc(r->pool, sizeof(ngx_http_helpdesk_chat_peer_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (peer == NULL || cln == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    peer->role = NGX_HTTP_HELPDESK_CHAT_VISITOR;
    peer->oneshot = 1;
    peer->pool = r->pool;
    peer->log = r->connection->log;
    peer->send = ngx_http_helpdesk_chat_oneshot_send;
    peer->close = ngx_http_helpdesk_chat_oneshot_close;
    peer->transport = ctx;

    if (ngx_http_helpdesk_chat_peer_strings(ctx, peer) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->peer = peer;
    ctx->answered.handler = ngx_http_helpdesk_chat_answered;
    ctx->answered.data = ctx;
    ctx->answered.log = r->connection->log;
    ctx->timeout = ctx->answered;

    /* whatever ends the request, the conversations layer hears of it */
    cln->handler = ngx_http_helpdesk_chat_send_cleanup;
    cln->data = ctx;

    if (ngx_http_helpdesk_chat_open(peer) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->opened = 1;
    ngx_add_timer(&ctx->timeout, NGX_HTTP_HELPDESK_CHAT_SEND_TIMEOUT);

    ngx_http_helpdesk_chat_receive(peer, body.data, body.len);
}


static void
ngx_http_helpdesk_chat_send_cleanup(void *data)
{
    ngx_http_helpdesk_chat_ctx_t  *ctx = data;

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    if (ctx->answered.posted) {
        ngx_delete_posted_event(&ctx->answered);
    }

    if (ctx->opened && !ctx->gone) {
        ctx->gone = 1;
        ngx_http_helpdesk_chat_gone(ctx->peer);
    }
}


/* the layer's one answer: kept, and the request ends from our own event */

static ngx_int_t
ngx_http_helpdesk_chat_oneshot_send(ngx_http_helpdesk_chat_peer_t *peer,
    u_char *data, size_t len)
{
    ngx_http_helpdesk_chat_ctx_t  *ctx = peer->transport;

    if (ctx->replied || ctx->gone || ctx->close_code) {
        return NGX_ERROR;
    }

    ctx->reply.data = ngx_pnalloc(peer->pool, len);
    if (ctx->reply.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->reply.data, data, len);
    ctx->reply.len = len;
    ctx->replied = 1;

    if (!ctx->answered.posted) {
        ngx_post_event(&ctx->answered, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_helpdesk_chat_oneshot_close(ngx_http_helpdesk_chat_peer_t *peer,
    ngx_uint_t code, const char *reason)
{
    ngx_http_helpdesk_chat_ctx_t  *ctx = peer->transport;

    if (ctx->close_code == 0) {
        ctx->close_code = code ? code : NGX_HTTP_HELPDESK_CHAT_NORMAL;
    }

    if (!ctx->answered.posted) {
        ngx_post_event(&ctx->answered, &ngx_posted_events);
    }
}


/* posted after the answer, or the timer: the response */

static void
ngx_http_helpdesk_chat_answered(ngx_event_t *ev)
{
    ngx_int_t                      rc;
    ngx_uint_t                     status;
    const char                    *slug, *detail;
    ngx_http_request_t            *r;
    ngx_http_helpdesk_chat_ctx_t  *ctx = ev->data;

    r = ctx->req.r;

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    if (ctx->answered.posted) {
        ngx_delete_posted_event(&ctx->answered);
    }

    if (!ctx->gone) {
        ctx->gone = 1;
        ngx_http_helpdesk_chat_gone(ctx->peer);
    }

    if (ctx->replied) {
        rc = ngx_http_helpdesk_chat_cors(ctx);

        if (rc == NGX_OK) {
            rc = ngx_helpdesk_http_send(r, NGX_HTTP_OK, "application/json",
                                        ctx->reply.data, ctx->reply.len);
        }

        ngx_http_helpdesk_req_finalize(&ctx->req, rc);
        return;
    }

    /* no answer, or a close instead of one: what a WebSocket would get */
    switch (ctx->close_code) {

    case 0:
        status = NGX_HTTP_GATEWAY_TIME_OUT;
        slug = "no-answer";
        detail = "the message got no answer in time; send it again";
        break;

    case NGX_HTTP_HELPDESK_CHAT_POLICY:
        status = NGX_HTTP_FORBIDDEN;
        slug = "policy";
        detail = "the message was refused";
        break;

    case NGX_HTTP_HELPDESK_CHAT_TOO_BIG:
        status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        slug = "too-large";
        detail = "the message is over the tenant's maximum";
        break;

    case NGX_HTTP_HELPDESK_CHAT_TRY_LATER:
    case NGX_HTTP_HELPDESK_CHAT_GOING_AWAY:
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        slug = "unavailable";
        detail = "try again in a moment";
        break;

    default:
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        slug = "internal-error";
        detail = "the message failed; the error was logged";
    }

    ngx_http_helpdesk_req_finalize(&ctx->req,
        ngx_helpdesk_http_problem(r, status, slug, "Chat", detail, NULL));
}


/*
 * POST v1/offline: the form, as it is, to api.chat_offline(), which checks
 * it (and the page's origin, and the limit per address) and opens the
 * ticket.  Its field errors reach the page: the origin was checked here
 * already.
 */

static void
ngx_http_helpdesk_chat_offline_body(ngx_http_request_t *r)
{
    json_t                        *form;
    ngx_str_t                      body, origin;
    json_error_t                   err;
    ngx_helpdesk_pg_query_t       *q;
    ngx_http_helpdesk_chat_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_helpdesk_module);

    if (ngx_http_helpdesk_req_body(&ctx->req, &body) != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* one JSON object, in UTF-8 (jansson refuses anything else) */
    form = json_loadb((char *) body.data, body.len, 0, &err);

    if (!json_is_object(form)) {
        json_decref(form);
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_helpdesk_http_problem(r, NGX_HTTP_BAD_REQUEST, "invalid-json",
                                      "Bad Request",
                                      "the form is one JSON object", NULL));
        return;
    }

    json_decref(form);

    q = &ctx->query;
    ngx_memzero(q, sizeof(ngx_helpdesk_pg_query_t));
    q->sql = "SELECT body FROM api.chat_offline($1, $2, $3, $4::jsonb)";
    q->handler = ngx_http_helpdesk_chat_offline_done;
    q->data = ctx;
    q->log = r->connection->log;
    q->owner = r->pool;

    origin = ctx->origin;

    if (ngx_helpdesk_pg_param(q, r->pool, &ctx->slug) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &origin) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &ctx->req.ip) != NGX_OK
        || ngx_helpdesk_pg_param(q, r->pool, &body) != NGX_OK)
    {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->req.ip.len == 0) {
        q->values[2] = NULL;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_http_helpdesk_chat_offline_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res)
{
    ngx_int_t                      rc;
    ngx_http_request_t            *r;
    ngx_http_helpdesk_chat_ctx_t  *ctx = q->data;

    r = ctx->req.r;

    if (res == NULL) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
            ngx_http_helpdesk_req_unavailable(r, "postgresql",
                                              ngx_helpdesk_pg_retry_after()));
        return;
    }

    rc = ngx_http_helpdesk_chat_cors(ctx);
    if (rc != NGX_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req, rc);
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                  ngx_helpdesk_http_sql_problem(r, res, NULL));
        return;
    }

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        ngx_http_helpdesk_req_finalize(&ctx->req,
                                       NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_helpdesk_req_finalize(&ctx->req,
        ngx_helpdesk_http_send(r, NGX_HTTP_CREATED, "application/json",
                               (u_char *) PQgetvalue(res, 0, 0),
                               PQgetlength(res, 0, 0)));
}


/*
 * The same connection as a stream of server-sent events (the fallback
 * where WebSocket is blocked): every document the conversations layer
 * sends is an event, with "id:" its stored id when it has one (what
 * EventSource sends back as Last-Event-ID), the close an "event: close",
 * pings a comment.  Whatever the client sends is dropped; its leaving
 * ends the stream.
 */

ngx_int_t
ngx_http_helpdesk_ws_sse_write(ngx_http_helpdesk_ws_t *ws, ngx_str_t *id,
    u_char *data, size_t len, ngx_flag_t capped)
{
    size_t                       n;
    ngx_http_helpdesk_ws_out_t  *out;

    n = ngx_http_helpdesk_chat_sse_size(id, data, len);

    out = ngx_http_helpdesk_ws_out(ws, n, capped);
    if (out == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_http_helpdesk_chat_sse_format(out->data, id, data, len)
               - out->data;
    ws->out_bytes -= n - out->len;

    return NGX_OK;
}


ngx_int_t
ngx_http_helpdesk_ws_sse_send(ngx_http_helpdesk_ws_t *ws, u_char *data,
    size_t len)
{
    ngx_str_t  id;
    u_char     buf[NGX_HTTP_HELPDESK_CHAT_SSE_ID];

    return ngx_http_helpdesk_ws_sse_write(ws,
               ngx_http_helpdesk_chat_sse_id(data, len, &id, buf),
               data, len, 1);
}


ngx_int_t
ngx_http_helpdesk_ws_sse_close(ngx_http_helpdesk_ws_t *ws, ngx_uint_t code,
    const char *reason)
{
    u_char  buf[NGX_HTTP_HELPDESK_CHAT_SSE_CLOSE];

    return ngx_http_helpdesk_ws_sse_raw(ws, buf,
               ngx_http_helpdesk_chat_sse_close_text(buf, code, reason), 0);
}


/* text already in the stream's form (a comment, an event): then a blank line */

ngx_int_t
ngx_http_helpdesk_ws_sse_raw(ngx_http_helpdesk_ws_t *ws, u_char *text,
    size_t len, ngx_flag_t capped)
{
    ngx_http_helpdesk_ws_out_t  *out;

    out = ngx_http_helpdesk_ws_out(ws, len + 2, capped);
    if (out == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, text, len);
    out->data[len] = '\n';
    out->data[len + 1] = '\n';

    return NGX_OK;
}
