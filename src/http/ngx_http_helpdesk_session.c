/*
 * Cookie sessions, CSRF and Origin.
 *
 * A session is an opaque random token in a cookie ("hd_session" for the
 * customer portal, "hd_agent" for the agent console; HttpOnly,
 * SameSite=Lax, Secure under TLS).  Redis keeps it under the SHA-256 of
 * the token, so a copy of Redis' data logs nobody in:
 *
 *     hd:sess:<sha256 hex>  =  "<user id> <csrf token> <created> <kind>"
 *
 * with the idle timeout as its expiry, renewed by every request (GETEX),
 * and the absolute lifetime checked against the creation time.  A session
 * belongs to the app that made it ("kind"): a customer's token means
 * nothing to the console, and the reverse.
 *
 * CSRF: every browser gets a random "hd_csrf" cookie the page can read;
 * state-changing calls must send it back in X-CSRF-Token ("double
 * submit"), and once signed in it must also be the session's own token,
 * so a cookie planted from elsewhere does not help.  A request whose
 * Origin names another host is refused as well.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

#include "ngx_http_helpdesk_session.h"
#include "http/ngx_helpdesk_http.h"


static ngx_str_t  ngx_http_helpdesk_csrf_cookie = ngx_string("hd_csrf");


ngx_int_t
ngx_http_helpdesk_session_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *token)
{
    size_t     i;
    ngx_str_t  v;

    ngx_str_null(&v);

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, name, &v)
        == NGX_DECLINED
        || v.len != NGX_HTTP_HELPDESK_TOKEN_HEX)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < v.len; i++) {
        if (!((v.data[i] >= '0' && v.data[i] <= '9')
              || (v.data[i] >= 'a' && v.data[i] <= 'f')))
        {
            return NGX_DECLINED;
        }
    }

    *token = v;

    return NGX_OK;
}


void
ngx_http_helpdesk_session_key(ngx_str_t *token, u_char *key)
{
    u_char  digest[32];

    ngx_helpdesk_sha256(token->data, token->len, digest);
    ngx_hex_dump(ngx_cpymem(key, "hd:sess:", 8), digest, 32);
}


ngx_int_t
ngx_http_helpdesk_session_parse(u_char *p, size_t len, char kind,
    time_t lifetime, u_char *out, time_t *created)
{
    u_char  *last, *sp;

    if (len < 36 + 1 + 64 + 1 + 1 + 2) {
        return NGX_DECLINED;
    }

    last = p + len;
    sp = ngx_strlchr(p + 36 + 1 + 64 + 1, last, ' ');
    *created = sp ? ngx_atotm(p + 36 + 1 + 64 + 1, sp - (p + 36 + 1 + 64 + 1))
                  : NGX_ERROR;

    if (p[36] != ' ' || p[36 + 1 + 64] != ' ' || sp == NULL
        || last - sp != 2 || sp[1] != kind
        || *created == NGX_ERROR || *created + lifetime <= ngx_time())
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(out, p, 36);
    ngx_memcpy(out + 36, p + 37, 64);

    return NGX_OK;
}


ngx_int_t
ngx_http_helpdesk_session_fetch(ngx_http_helpdesk_req_t *req,
    ngx_helpdesk_redis_cmd_t *cmd, u_char *key)
{
    u_char              *ttl;
    ngx_http_request_t  *r = req->r;

    ttl = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (ttl == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(cmd, sizeof(ngx_helpdesk_redis_cmd_t));
    ngx_helpdesk_redis_arg(cmd, (u_char *) "GETEX", 5);
    ngx_helpdesk_redis_arg(cmd, key, NGX_HTTP_HELPDESK_SESSION_KEY);
    ngx_helpdesk_redis_arg(cmd, (u_char *) "EX", 2);
    ngx_helpdesk_redis_arg(cmd, ttl,
                           ngx_sprintf(ttl, "%T", req->hlcf->session_idle)
                           - ttl);
    cmd->log = r->connection->log;
    cmd->owner = r->pool;

    return NGX_OK;
}


/*
 * scheme://host[:port] must be this very site: the scheme we are served
 * on, the checked Host, and its port (a scheme's default port may be
 * written or left out on either side).
 */

static ngx_flag_t
ngx_http_helpdesk_session_same_origin(ngx_http_helpdesk_req_t *req)
{
    u_char           *p, *last, *end, *host;
    size_t            scheme_len;
    ngx_str_t         port, ours;
    ngx_table_elt_t  *h;

    h = ngx_helpdesk_http_header_in(req->r, "Origin", sizeof("Origin") - 1);

    if (h == NULL) {
        return 1;
    }

    p = h->value.data;
    end = p + h->value.len;

    scheme_len = req->tls ? sizeof("https://") - 1 : sizeof("http://") - 1;

    if ((size_t) (end - p) <= scheme_len
        || ngx_strncasecmp(p, (u_char *) (req->tls ? "https://" : "http://"),
                           scheme_len) != 0)
    {
        return 0;
    }

    host = p + scheme_len;

    if (*host == '[') {
        last = ngx_strlchr(host, end, ']');
        last = last ? last + 1 : end;

    } else {
        last = ngx_strlchr(host, end, ':');
        if (last == NULL) {
            last = end;
        }
    }

    if ((size_t) (last - host) != req->host.len
        || ngx_strncasecmp(host, req->host.data, req->host.len) != 0)
    {
        return 0;
    }

    port.data = (last < end && *last == ':') ? last + 1 : end;
    port.len = end - port.data;

    ours = req->port;

    if (port.len == 0) {
        ngx_str_set(&port, "80");
        if (req->tls) {
            ngx_str_set(&port, "443");
        }
    }

    if (ours.len == 0) {
        ngx_str_set(&ours, "80");
        if (req->tls) {
            ngx_str_set(&ours, "443");
        }
    }

    return port.len == ours.len
           && ngx_strncmp(port.data, ours.data, ours.len) == 0;
}


/*
 * A request that cannot carry a CSRF token (a WebSocket's upgrade): an
 * Origin is required, and it must be this very site.
 */
ngx_flag_t
ngx_http_helpdesk_session_origin_ok(ngx_http_helpdesk_req_t *req)
{
    if (ngx_helpdesk_http_header_in(req->r, "Origin", sizeof("Origin") - 1)
        == NULL)
    {
        return 0;
    }

    return ngx_http_helpdesk_session_same_origin(req);
}


ngx_flag_t
ngx_http_helpdesk_session_csrf_ok(ngx_http_helpdesk_req_t *req,
    ngx_str_t *session_csrf)
{
    ngx_str_t            cookie;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r = req->r;

    if (!ngx_http_helpdesk_session_same_origin(req)) {
        return 0;
    }

    if (ngx_http_helpdesk_session_cookie(r, &ngx_http_helpdesk_csrf_cookie,
                                         &cookie)
        != NGX_OK)
    {
        return 0;
    }

    h = ngx_helpdesk_http_header_in(r, "X-CSRF-Token",
                                    sizeof("X-CSRF-Token") - 1);

    if (h == NULL || h->value.len != NGX_HTTP_HELPDESK_TOKEN_HEX
        || CRYPTO_memcmp(h->value.data, cookie.data,
                         NGX_HTTP_HELPDESK_TOKEN_HEX) != 0)
    {
        return 0;
    }

    if (session_csrf
        && (session_csrf->len != NGX_HTTP_HELPDESK_TOKEN_HEX
            || CRYPTO_memcmp(h->value.data, session_csrf->data,
                             NGX_HTTP_HELPDESK_TOKEN_HEX) != 0))
    {
        return 0;
    }

    return 1;
}


ngx_int_t
ngx_http_helpdesk_session_random(ngx_pool_t *pool, ngx_str_t *out)
{
    u_char  raw[32];

    out->data = ngx_pnalloc(pool, 2 * sizeof(raw));
    if (out->data == NULL || RAND_bytes(raw, sizeof(raw)) != 1) {
        return NGX_ERROR;
    }

    out->len = ngx_hex_dump(out->data, raw, sizeof(raw)) - out->data;

    return NGX_OK;
}
