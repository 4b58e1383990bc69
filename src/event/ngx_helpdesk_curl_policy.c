/*
 * The outbound policy: where requests to tenants' URLs may go.
 *
 * When a URL is saved (a webhook's URL, a WhatsApp connection's base URL)
 * it is checked with libcurl's own URL parser, the one the request will
 * use: an absolute http or https URL, no credentials, a port in 1-65535,
 * and a host that is a public name or an address outside the refused
 * ranges.  When a request is made, the address it connects to is checked
 * (ngx_helpdesk_curl_resolve(), ngx_helpdesk_curl_open()).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_curl.h"
#include "lib/ngx_helpdesk_addr.h"


static const char *ngx_helpdesk_curl_url_parts(CURLU *u, ngx_array_t *allow,
    u_char *buf, size_t size);
static void ngx_helpdesk_curl_resolved(ngx_resolver_ctx_t *ctx);


/* the worker's policy, set by ngx_helpdesk_curl_init_worker() */
ngx_helpdesk_curl_conf_t  *ngx_helpdesk_curl_policy;


const char *
ngx_helpdesk_curl_url_text(u_char *url, size_t len, char *s, size_t size)
{
    size_t  i;

    if (len >= size) {
        return "is too long";
    }

    for (i = 0; i < len; i++) {
        if (url[i] <= 0x20 || url[i] >= 0x7f) {
            return "must not contain spaces, control characters or "
                   "characters outside ASCII";
        }
    }

    ngx_memcpy(s, url, len);
    s[len] = '\0';

    return NULL;
}


const char *
ngx_helpdesk_curl_url_check(u_char *url, size_t len, ngx_array_t *allow,
    u_char *buf, size_t size)
{
    CURLU       *u;
    CURLUcode    rc;
    const char  *why;
    char         s[4096];

    why = ngx_helpdesk_curl_url_text(url, len, s, sizeof(s));
    if (why) {
        return why;
    }

    u = curl_url();
    if (u == NULL) {
        return "cannot be checked";
    }

    rc = curl_url_set(u, CURLUPART_URL, s, 0);

    switch (rc) {

    case CURLUE_OK:
        why = ngx_helpdesk_curl_url_parts(u, allow, buf, size);
        break;

    case CURLUE_BAD_PORT_NUMBER:
        why = "must have a port between 1 and 65535";
        break;

    case CURLUE_UNSUPPORTED_SCHEME:
        why = "must be an http:// or https:// URL";
        break;

    default:
        why = "must be an absolute http:// or https:// URL with a host";
    }

    curl_url_cleanup(u);

    return why;
}


static const char *
ngx_helpdesk_curl_url_parts(CURLU *u, ngx_array_t *allow, u_char *buf,
    size_t size)
{
    char        *v;
    ngx_int_t    port;
    const char  *why;

    if (curl_url_get(u, CURLUPART_SCHEME, &v, 0) != CURLUE_OK) {
        return "must be an http:// or https:// URL";
    }

    why = (ngx_strcmp(v, "http") == 0 || ngx_strcmp(v, "https") == 0)
          ? NULL : "must be an http:// or https:// URL";
    curl_free(v);

    if (why) {
        return why;
    }

    if (curl_url_get(u, CURLUPART_USER, &v, 0) == CURLUE_OK) {
        curl_free(v);
        return "must not contain credentials (user:password@)";
    }

    if (curl_url_get(u, CURLUPART_PASSWORD, &v, 0) == CURLUE_OK) {
        curl_free(v);
        return "must not contain credentials (user:password@)";
    }

    if (curl_url_get(u, CURLUPART_PORT, &v, CURLU_DEFAULT_PORT) != CURLUE_OK)
    {
        return "must have a port between 1 and 65535";
    }

    port = ngx_atoi((u_char *) v, ngx_strlen(v));
    curl_free(v);

    if (port < 1 || port > 65535) {
        return "must have a port between 1 and 65535";
    }

    /* the host as libcurl will use it: 0x7f000001 and 127.1 normalised */
    if (curl_url_get(u, CURLUPART_HOST, &v, 0) != CURLUE_OK) {
        return "must be an absolute http:// or https:// URL with a host";
    }

    why = ngx_helpdesk_curl_host_check(v, allow, buf, size);

    curl_free(v);

    return why;
}


const char *
ngx_helpdesk_curl_host_check(char *v, ngx_array_t *allow, u_char *buf,
    size_t size)
{
    size_t       len;
    ngx_str_t    host;
    const char  *why;

    host.data = (u_char *) v;
    host.len = ngx_strlen(v);

    if (host.len && host.data[host.len - 1] == '.') {
        host.len--;         /* "example.com." is "example.com" */
    }

    why = NULL;

    if (ngx_helpdesk_addr_text_refused(host.data, host.len, allow, &why)
        == NGX_OK)
    {
        if (why) {
            len = ngx_snprintf(buf, size - 1, "points at a %s address, "
                               "which is not allowed", why) - buf;
            buf[len] = '\0';
            why = (const char *) buf;
        }

    } else {
        why = ngx_helpdesk_addr_name_refused(host.data, host.len);

        if (why) {
            len = ngx_snprintf(buf, size - 1, "host %s", why) - buf;
            buf[len] = '\0';
            why = (const char *) buf;
        }
    }

    return why;
}


/*
 * Whether "host" is one of "names" (ngx_str_t): an exact name, or
 * "*.suffix" for any name below suffix.
 */

ngx_flag_t
ngx_helpdesk_curl_host_match(ngx_array_t *names, ngx_str_t *host)
{
    size_t       n;
    ngx_str_t   *name;
    ngx_uint_t   i;

    if (names == NULL) {
        return 0;
    }

    name = names->elts;

    for (i = 0; i < names->nelts; i++) {

        if (name[i].len > 2 && name[i].data[0] == '*'
            && name[i].data[1] == '.')
        {
            n = name[i].len - 1;        /* ".suffix" */

            if (host->len > n
                && ngx_strncasecmp(host->data + host->len - n,
                                   name[i].data + 1, n) == 0)
            {
                return 1;
            }

            continue;
        }

        if (host->len == name[i].len
            && ngx_strncasecmp(host->data, name[i].data, host->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Where a request goes: an address is checked now; a name is resolved by
 * nginx's resolver when the http block has one, and libcurl is handed the
 * addresses that passed (CURLOPT_RESOLVE), so it connects to what was
 * checked; without one, libcurl's resolver thread resolves it.  Either
 * way the address is checked again right before connect()
 * (CURLOPT_OPENSOCKETFUNCTION), so a name that answers differently the
 * second time (DNS rebinding) gains nothing.
 */

ngx_int_t
ngx_helpdesk_curl_resolve(ngx_helpdesk_curl_req_t *req,
    ngx_helpdesk_curl_conf_t *conf, ngx_flag_t async_dns)
{
    const char               *why;
    ngx_str_t                 host;
    ngx_resolver_ctx_t       *ctx;

    if (ngx_helpdesk_curl_host(req, &host) != NGX_OK) {
        return NGX_ERROR;
    }

    if (req->trusted) {
        /* the operator's relay: any address, resolved as any other name */
        if (ngx_helpdesk_addr_text_refused(host.data, host.len, NULL, &why)
            == NGX_OK
            || (conf->resolver == NULL && async_dns))
        {
            return ngx_helpdesk_curl_add(req);
        }

        goto resolve;
    }

    /* an address: checked now, and again when the socket is opened */
    if (ngx_helpdesk_addr_text_refused(host.data, host.len, conf->allow, &why)
        == NGX_OK)
    {
        if (why) {
            ngx_log_error(NGX_LOG_INFO, req->log, 0,
                          "helpdesk curl: %V refused: %s", &host, why);
            req->refused = 1;
            ngx_helpdesk_curl_fail(req, CURLE_COULDNT_CONNECT,
                                   NGX_HELPDESK_CURL_REFUSED);
            return NGX_OK;
        }

        return ngx_helpdesk_curl_add(req);
    }

    why = ngx_helpdesk_addr_name_refused(host.data, host.len);

    if (why) {
        ngx_log_error(NGX_LOG_INFO, req->log, 0,
                      "helpdesk curl: %V refused: %s", &host, why);
        req->refused = 1;
        ngx_helpdesk_curl_fail(req, CURLE_COULDNT_CONNECT,
                               NGX_HELPDESK_CURL_REFUSED);
        return NGX_OK;
    }

resolve:

    if (conf->resolver == NULL) {

        if (!async_dns) {
            ngx_helpdesk_curl_fail(req, CURLE_COULDNT_RESOLVE_HOST,
                                   "no resolver configured");
            return NGX_OK;
        }

        /* libcurl's resolver thread; the socket callback checks */
        return ngx_helpdesk_curl_add(req);
    }

    ctx = ngx_resolve_start(conf->resolver, NULL);

    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx == NGX_NO_RESOLVER) {
        ngx_helpdesk_curl_fail(req, CURLE_COULDNT_RESOLVE_HOST,
                               "no resolver configured");
        return NGX_OK;
    }

    ctx->name = host;

    if (ctx->name.data[ctx->name.len - 1] == '.') {
        ctx->name.len--;
    }

    ctx->handler = ngx_helpdesk_curl_resolved;
    ctx->data = req;
    ctx->timeout = ngx_min(conf->resolver_timeout, req->timeout);

    req->resolving = ctx;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, req->log, 0,
                   "helpdesk curl: resolve req:%p \"%V\"", req, &host);

    if (ngx_resolve_name(ctx) != NGX_OK) {
        req->resolving = NULL;
        return NGX_ERROR;
    }

    /* the answer may have been known: then req is on its way already */

    return NGX_OK;
}


static void
ngx_helpdesk_curl_resolved(ngx_resolver_ctx_t *ctx)
{
    u_char                   *p, *last;
    ngx_str_t                 host;
    ngx_uint_t                i, n;
    const char               *why;
    struct curl_slist        *list;
    ngx_helpdesk_curl_req_t  *req = ctx->data;
    u_char                    addrs[1024], buf[2048];

    req->resolving = NULL;

    if (ngx_helpdesk_curl_host(req, &host) != NGX_OK) {
        ngx_resolve_name_done(ctx);
        ngx_helpdesk_curl_fail(req, CURLE_COULDNT_RESOLVE_HOST, NULL);
        return;
    }

    if (ctx->state) {
        ngx_snprintf((u_char *) req->error, CURL_ERROR_SIZE - 1,
                     "cannot resolve %V: %s%Z", &host,
                     ngx_resolver_strerror(ctx->state));
        ngx_resolve_name_done(ctx);
        ngx_helpdesk_curl_fail(req, CURLE_COULDNT_RESOLVE_HOST, NULL);
        return;
    }

    /* "addr,addr": only the addresses that passed */
    p = addrs;
    last = addrs + sizeof(addrs);
    n = 0;

    for (i = 0; i < ctx->naddrs; i++) {
        why = req->trusted
              ? NULL
              : ngx_helpdesk_addr_refused(ctx->addrs[i].sockaddr,
                                          ngx_helpdesk_curl_policy->allow);
        if (why) {
            ngx_log_error(NGX_LOG_INFO, req->log, 0,
                          "helpdesk curl: %V resolved to a refused "
                          "address: %s", &host, why);
            continue;
        }

        if ((size_t) (last - p) < NGX_SOCKADDR_STRLEN + 3) {
            break;
        }

        if (n++) {
            *p++ = ',';
        }

        if (ctx->addrs[i].sockaddr->sa_family == AF_INET6) {
            *p++ = '[';
        }

        p += ngx_sock_ntop(ctx->addrs[i].sockaddr, ctx->addrs[i].socklen,
                           p, last - p, 0);

        if (ctx->addrs[i].sockaddr->sa_family == AF_INET6) {
            *p++ = ']';
        }
    }

    ngx_resolve_name_done(ctx);

    if (n == 0) {
        req->refused = 1;
        ngx_helpdesk_curl_fail(req, CURLE_COULDNT_CONNECT,
                               NGX_HELPDESK_CURL_REFUSED);
        return;
    }

    /*
     * "host:port:addrs", for the name as written and, when it ends in a
     * dot, without it: libcurl finds its entry either way
     */
    for ( ;; ) {
        *ngx_snprintf(buf, sizeof(buf) - 1, "%V:%l:%*s", &host, req->port,
                      p - addrs, addrs) = '\0';

        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, req->log, 0,
                       "helpdesk curl: req:%p pinned %s", req, buf);

        list = curl_slist_append(req->resolve, (char *) buf);
        if (list == NULL) {
            ngx_helpdesk_curl_fail(req, CURLE_OUT_OF_MEMORY, NULL);
            return;
        }

        req->resolve = list;

        if (host.len < 2 || host.data[host.len - 1] != '.') {
            break;
        }

        host.len--;
    }

    curl_easy_setopt(req->easy, CURLOPT_RESOLVE, req->resolve);

    if (ngx_helpdesk_curl_add(req) != NGX_OK) {
        ngx_helpdesk_curl_fail(req, CURLE_FAILED_INIT, NULL);
    }
}


/* right before connect(): the address libcurl is about to use */

curl_socket_t
ngx_helpdesk_curl_open(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *address)
{
    const char               *why;
    ngx_helpdesk_curl_req_t  *req = clientp;

    why = req->trusted ? NULL
                       : ngx_helpdesk_addr_refused(&address->addr,
                                                   ngx_helpdesk_curl_policy->allow);

    if (why) {
        ngx_log_error(NGX_LOG_INFO, req->log, 0,
                      "helpdesk curl: connection to a refused address: %s",
                      why);
        req->refused = 1;
        return CURL_SOCKET_BAD;
    }

    return socket(address->family, address->socktype, address->protocol);
}
