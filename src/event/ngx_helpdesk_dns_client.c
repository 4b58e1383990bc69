/*
 * DNS queries on nginx's event loop: see ngx_helpdesk_dns_client.h.
 *
 * A query owns a pool of its own (the copied name and servers, the answer)
 * and at most one connection at a time.  Every way a query ends goes
 * through ngx_helpdesk_dns_finish(), which closes the connection, stops
 * the timer and posts the "done" event; the handler runs from there, so a
 * caller never sees its handler called from inside its own call, and a
 * cancel() only has to take the query off whatever it is waiting on.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "lib/ngx_helpdesk_crypto.h"
#include "ngx_helpdesk_dns_client.h"


static void ngx_helpdesk_dns_next(ngx_helpdesk_dns_query_t *q,
    const char *error);
static ngx_int_t ngx_helpdesk_dns_connect(ngx_helpdesk_dns_query_t *q,
    ngx_uint_t tcp);
static void ngx_helpdesk_dns_close(ngx_helpdesk_dns_query_t *q);
static void ngx_helpdesk_dns_udp_read(ngx_event_t *rev);
static void ngx_helpdesk_dns_tcp_write(ngx_event_t *wev);
static void ngx_helpdesk_dns_tcp_read(ngx_event_t *rev);
static void ngx_helpdesk_dns_answer(ngx_helpdesk_dns_query_t *q, u_char *msg,
    size_t len);
static void ngx_helpdesk_dns_timeout(ngx_event_t *ev);
static void ngx_helpdesk_dns_finish(ngx_helpdesk_dns_query_t *q,
    ngx_int_t status, const char *error);
static void ngx_helpdesk_dns_done(ngx_event_t *ev);
static void ngx_helpdesk_dns_dummy(ngx_event_t *ev);


static ngx_uint_t  ngx_helpdesk_dns_count;

/* one datagram at a time is read, and read whole, into this */
static u_char      ngx_helpdesk_dns_buf[65536];


ngx_uint_t
ngx_helpdesk_dns_inflight(void)
{
    return ngx_helpdesk_dns_count;
}


ngx_helpdesk_dns_query_t *
ngx_helpdesk_dns_query(ngx_str_t *name, ngx_uint_t type,
    ngx_array_t *servers, ngx_msec_t timeout,
    ngx_helpdesk_dns_handler_pt handler, void *data, ngx_log_t *log)
{
    u_char                    *p;
    size_t                     len;
    ngx_uint_t                 i;
    ngx_pool_t                *pool;
    ngx_addr_t                *from;
    const char                *err;
    ngx_helpdesk_dns_query_t  *q;

    pool = ngx_create_pool(2048, log);
    if (pool == NULL) {
        return NULL;
    }

    q = ngx_pcalloc(pool, sizeof(ngx_helpdesk_dns_query_t));
    if (q == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    q->pool = pool;
    q->log = log;
    q->type = type;
    q->timeout = timeout;
    q->handler = handler;
    q->data = data;

    q->timer.handler = ngx_helpdesk_dns_timeout;
    q->timer.data = q;
    q->timer.log = log;
    q->timer.cancelable = 1;

    q->done.handler = ngx_helpdesk_dns_done;
    q->done.data = q;
    q->done.log = log;

    q->name.data = ngx_pstrdup(pool, name);
    q->name.len = name->len;

    q->nservers = servers ? servers->nelts : 0;
    q->servers = ngx_pcalloc(pool, (q->nservers + 1) * sizeof(ngx_addr_t));

    if ((name->len && q->name.data == NULL) || q->servers == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    from = servers ? servers->elts : NULL;

    for (i = 0; i < q->nservers; i++) {
        len = from[i].socklen + from[i].name.len;

        p = ngx_pnalloc(pool, len ? len : 1);
        if (p == NULL) {
            ngx_destroy_pool(pool);
            return NULL;
        }

        ngx_memcpy(p, from[i].sockaddr, from[i].socklen);
        q->servers[i].sockaddr = (struct sockaddr *) p;
        q->servers[i].socklen = from[i].socklen;

        ngx_memcpy(p + from[i].socklen, from[i].name.data, from[i].name.len);
        q->servers[i].name.data = p + from[i].socklen;
        q->servers[i].name.len = from[i].name.len;
    }

    /* the id is set per try: the query is built now to check the name */

    if (ngx_helpdesk_dns_query_build(q->query + 2, &q->query_len, &q->name,
                                     type, 0, &err)
        != NGX_OK)
    {
        ngx_helpdesk_dns_finish(q, NGX_ERROR, err);
        return q;
    }

    q->query[0] = (u_char) (q->query_len >> 8);
    q->query[1] = (u_char) q->query_len;

    if (q->nservers == 0) {
        ngx_helpdesk_dns_finish(q, NGX_ERROR, "no DNS servers");
        return q;
    }

    if (ngx_helpdesk_dns_count >= NGX_HELPDESK_DNS_INFLIGHT_MAX) {
        ngx_helpdesk_dns_finish(q, NGX_BUSY, "too many DNS queries in flight");
        return q;
    }

    ngx_helpdesk_dns_count++;
    q->counted = 1;

    ngx_helpdesk_dns_next(q, NULL);

    return q;
}


void
ngx_helpdesk_dns_cancel(ngx_helpdesk_dns_query_t *q)
{
    if (q == NULL || q->in_handler) {
        return;
    }

    if (!q->finished) {
        ngx_helpdesk_dns_close(q);

        if (q->counted) {
            ngx_helpdesk_dns_count--;
            q->counted = 0;
        }
    }

    if (q->done.posted) {
        ngx_delete_posted_event(&q->done);
    }

    ngx_destroy_pool(q->pool);
}


/*
 * The next try, after "error" ended the one before (NULL: the first).
 * A try that cannot even start is a failed try.
 */

static void
ngx_helpdesk_dns_next(ngx_helpdesk_dns_query_t *q, const char *error)
{
    u_char  id[2];

    ngx_helpdesk_dns_close(q);

    if (error) {
        q->error = error;
    }

    while (q->tries < NGX_HELPDESK_DNS_TRIES * q->nservers) {
        q->server = q->servers[q->tries % q->nservers].name;
        q->tries++;

        if (ngx_helpdesk_random(id, 2) != NGX_OK) {
            ngx_helpdesk_dns_finish(q, NGX_ERROR, "no random id");
            return;
        }

        q->id = ((ngx_uint_t) id[0] << 8) | id[1];
        q->query[2] = id[0];
        q->query[3] = id[1];

        if (ngx_helpdesk_dns_connect(q, 0) == NGX_OK) {
            ngx_add_timer(&q->timer, q->timeout);
            return;
        }

        q->error = "cannot send the query";
    }

    if (q->have_answer) {
        /* the last refusal or failure of a server is the answer */
        ngx_helpdesk_dns_finish(q, NGX_OK, NULL);
        return;
    }

    ngx_helpdesk_dns_finish(q, NGX_ERROR, q->error ? q->error : "no answer");
}


/* a connection to the try's server; over UDP, the query sent at once */

static ngx_int_t
ngx_helpdesk_dns_connect(ngx_helpdesk_dns_query_t *q, ngx_uint_t tcp)
{
    ssize_t            n;
    ngx_int_t          rc;
    ngx_addr_t        *server;
    ngx_connection_t  *c;

    server = &q->servers[(q->tries - 1) % q->nservers];

    ngx_memzero(&q->peer, sizeof(ngx_peer_connection_t));
    q->peer.sockaddr = server->sockaddr;
    q->peer.socklen = server->socklen;
    q->peer.name = &server->name;
    q->peer.get = ngx_event_get_peer;
    q->peer.log = q->log;
    q->peer.log_error = NGX_ERROR_ERR;
    q->peer.type = tcp ? SOCK_STREAM : SOCK_DGRAM;

    rc = ngx_event_connect_peer(&q->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_helpdesk_dns_close(q);
        return NGX_ERROR;
    }

    c = q->peer.connection;
    c->data = q;
    c->pool = q->pool;
    q->tcp = tcp;

    if (tcp) {
        q->sent = 0;
        q->tcp_len = 0;
        q->tcp_have = 0;
        c->read->handler = ngx_helpdesk_dns_tcp_read;
        c->write->handler = ngx_helpdesk_dns_tcp_write;

        if (rc == NGX_OK) {
            ngx_post_event(c->write, &ngx_posted_events);
        }

        return NGX_OK;
    }

    c->read->handler = ngx_helpdesk_dns_udp_read;
    c->write->handler = ngx_helpdesk_dns_dummy;

    n = c->send(c, q->query + 2, q->query_len);

    if (n != (ssize_t) q->query_len) {
        ngx_helpdesk_dns_close(q);
        return NGX_ERROR;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_helpdesk_dns_close(q);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_helpdesk_dns_close(ngx_helpdesk_dns_query_t *q)
{
    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    if (q->peer.connection) {
        ngx_close_connection(q->peer.connection);
        q->peer.connection = NULL;
    }
}


static void
ngx_helpdesk_dns_udp_read(ngx_event_t *rev)
{
    ssize_t                    n;
    ngx_uint_t                 tries;
    ngx_connection_t          *c;
    ngx_helpdesk_dns_query_t  *q;

    c = rev->data;
    q = c->data;
    tries = q->tries;

    for ( ;; ) {
        n = c->recv(c, ngx_helpdesk_dns_buf, sizeof(ngx_helpdesk_dns_buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0) {
            /* an empty datagram */
            continue;
        }

        if (n == NGX_ERROR) {
            /* connection refused: an ICMP error for the connected socket */
            ngx_helpdesk_dns_next(q, "server unreachable");
            return;
        }

        ngx_helpdesk_dns_answer(q, ngx_helpdesk_dns_buf, n);

        if (q->finished || q->tcp || q->tries != tries) {
            /* the query moved on (its next connection may well be this
             * same ngx_connection_t, taken again from the free list) */
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_helpdesk_dns_next(q, "cannot read");
    }
}


static void
ngx_helpdesk_dns_tcp_write(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_helpdesk_dns_query_t  *q;

    c = wev->data;
    q = c->data;

    while (q->sent < 2 + q->query_len) {
        n = c->send(c, q->query + q->sent, 2 + q->query_len - q->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_helpdesk_dns_next(q, "cannot send over TCP");
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_helpdesk_dns_next(q, "cannot send over TCP");
            return;
        }

        q->sent += n;
    }

    wev->handler = ngx_helpdesk_dns_dummy;

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
}


static void
ngx_helpdesk_dns_tcp_read(ngx_event_t *rev)
{
    u_char                    *buf;
    size_t                     want;
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_helpdesk_dns_query_t  *q;

    c = rev->data;
    q = c->data;

    for ( ;; ) {
        if (q->tcp_buf == NULL) {
            /* the two octets of length first */
            buf = q->tcp_size + q->tcp_have;
            want = 2 - q->tcp_have;

        } else {
            buf = q->tcp_buf + q->tcp_have;
            want = q->tcp_len - q->tcp_have;
        }

        n = c->recv(c, buf, want);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_helpdesk_dns_next(q, n == 0 ? "TCP answer cut short"
                                            : "cannot read over TCP");
            return;
        }

        q->tcp_have += n;

        if (q->tcp_buf == NULL) {
            if (q->tcp_have < 2) {
                continue;
            }

            q->tcp_len = ((size_t) q->tcp_size[0] << 8) | q->tcp_size[1];
            q->tcp_have = 0;

            if (q->tcp_len < 12) {
                ngx_helpdesk_dns_next(q, "TCP answer shorter than a header");
                return;
            }

            q->tcp_buf = ngx_pnalloc(q->pool, q->tcp_len);
            if (q->tcp_buf == NULL) {
                ngx_helpdesk_dns_finish(q, NGX_ERROR, "out of memory");
                return;
            }

            continue;
        }

        if (q->tcp_have == q->tcp_len) {
            /* whatever it is, it ends the try over TCP */
            ngx_helpdesk_dns_answer(q, q->tcp_buf, q->tcp_len);
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_helpdesk_dns_next(q, "cannot read over TCP");
    }
}


/* a message from the try's server: the answer, or dropped, or a failure */

static void
ngx_helpdesk_dns_answer(ngx_helpdesk_dns_query_t *q, u_char *msg, size_t len)
{
    ngx_int_t                  rc;
    const char                *err;
    ngx_helpdesk_dns_answer_t  ans;

    rc = ngx_helpdesk_dns_answer_parse(q->pool, msg, len, q->id, &q->name,
                                       q->type, &ans, &err);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, q->log, 0,
                      "DNS message from %V dropped: %s", &q->server, err);

        if (q->tcp) {
            ngx_helpdesk_dns_next(q, "TCP answer not to the query");
        }

        return;
    }

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "malformed DNS answer from %V for \"%V\": %s",
                      &q->server, &q->name, err);
        ngx_helpdesk_dns_next(q, "malformed answer");
        return;
    }

    if (ans.truncated) {
        if (q->tcp) {
            ngx_helpdesk_dns_next(q, "answer truncated over TCP");
            return;
        }

        /* the same server again, over TCP, with the try's time left */
        ngx_close_connection(q->peer.connection);
        q->peer.connection = NULL;
        q->tcp_buf = NULL;

        if (ngx_helpdesk_dns_connect(q, 1) != NGX_OK) {
            ngx_helpdesk_dns_next(q, "cannot connect over TCP");
        }

        return;
    }

    switch (ans.rcode) {

    case NGX_HELPDESK_DNS_NOERROR:
    case NGX_HELPDESK_DNS_NXDOMAIN:
        q->answer = ans;
        ngx_helpdesk_dns_finish(q, NGX_OK, NULL);
        return;

    default:
        /* SERVFAIL and the like: kept in case no server does better */
        q->answer = ans;
        q->have_answer = 1;
        ngx_helpdesk_dns_next(q, ngx_helpdesk_dns_rcode_text(ans.rcode));
        return;
    }
}


static void
ngx_helpdesk_dns_timeout(ngx_event_t *ev)
{
    ngx_helpdesk_dns_query_t  *q;

    q = ev->data;

    ngx_log_error(NGX_LOG_INFO, q->log, 0,
                  "DNS server %V timed out for \"%V\"", &q->server, &q->name);

    ngx_helpdesk_dns_next(q, "timed out");
}


static void
ngx_helpdesk_dns_finish(ngx_helpdesk_dns_query_t *q, ngx_int_t status,
    const char *error)
{
    ngx_helpdesk_dns_close(q);

    if (q->counted) {
        ngx_helpdesk_dns_count--;
        q->counted = 0;
    }

    q->status = status;
    q->error = status == NGX_OK ? NULL : error;
    q->finished = 1;

    ngx_post_event(&q->done, &ngx_posted_events);
}


static void
ngx_helpdesk_dns_done(ngx_event_t *ev)
{
    ngx_helpdesk_dns_query_t  *q;

    q = ev->data;

    q->in_handler = 1;
    q->handler(q, q->data);

    ngx_destroy_pool(q->pool);
}


static void
ngx_helpdesk_dns_dummy(ngx_event_t *ev)
{
}
