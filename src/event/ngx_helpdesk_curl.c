/*
 * libcurl on the nginx event loop.
 *
 * One multi handle per worker.  libcurl tells us which sockets it wants
 * watched (CURLMOPT_SOCKETFUNCTION) and when it next needs a call
 * (CURLMOPT_TIMERFUNCTION); we wrap each socket in an ngx_connection_t with
 * level-triggered events and an nginx timer, and call
 * curl_multi_socket_action() when either fires.  libcurl does the rest:
 * TLS and its verification, chunked bodies, timeouts.
 *
 * The URLs come from tenants, so every request is held to the outbound
 * policy (ngx_helpdesk_curl_policy.c): http and https only, no
 * redirects, no proxy from the environment, and a connection only to an
 * address that is public or in helpdesk_outbound_allow.  Nothing here
 * blocks a worker.
 *
 * libcurl owns its sockets: on CURL_POLL_REMOVE we drop our events and
 * free the connection record, never close the descriptor.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_curl.h"


typedef struct {
    CURLM                      *multi;
    ngx_event_t                 timer;
    ngx_log_t                  *log;
    ngx_uint_t                  active;
    ngx_helpdesk_curl_conf_t   *conf;
    unsigned                    ready:1;
    unsigned                    async_dns:1;
} ngx_helpdesk_curl_t;


static int ngx_helpdesk_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int ngx_helpdesk_curl_timer(CURLM *multi, long timeout_ms, void *userp);
static void ngx_helpdesk_curl_timeout(ngx_event_t *ev);
static void ngx_helpdesk_curl_event(ngx_event_t *ev);
static void ngx_helpdesk_curl_check(void);
static size_t ngx_helpdesk_curl_write(char *ptr, size_t size, size_t nmemb,
    void *userdata);
static void ngx_helpdesk_curl_failed(ngx_event_t *ev);


static ngx_helpdesk_curl_t  ngx_helpdesk_curl;


ngx_int_t
ngx_helpdesk_curl_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_curl_conf_t *conf)
{
    curl_version_info_data  *info;
    ngx_helpdesk_curl_t     *hc = &ngx_helpdesk_curl;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "helpdesk: curl_global_init() failed");
        return NGX_ERROR;
    }

    ngx_memzero(hc, sizeof(ngx_helpdesk_curl_t));

    hc->multi = curl_multi_init();
    if (hc->multi == NULL) {
        return NGX_ERROR;
    }

    hc->log = cycle->log;
    hc->conf = conf;
    ngx_helpdesk_curl_policy = conf;

    info = curl_version_info(CURLVERSION_NOW);
    hc->async_dns = (info->features & CURL_VERSION_ASYNCHDNS) != 0;

    if (conf->resolver == NULL && !hc->async_dns) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "helpdesk: libcurl resolves names in the calling "
                      "thread and no \"resolver\" is configured: requests "
                      "to host names will fail");
    }

    hc->timer.handler = ngx_helpdesk_curl_timeout;
    hc->timer.data = hc;
    hc->timer.log = cycle->log;
    hc->timer.cancelable = 1;

    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_helpdesk_curl_socket);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_helpdesk_curl_timer);
    curl_multi_setopt(hc->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);

    hc->ready = 1;

    return NGX_OK;
}


void
ngx_helpdesk_curl_exit_worker(void)
{
    ngx_helpdesk_curl_t  *hc = &ngx_helpdesk_curl;

    if (!hc->ready) {
        return;
    }

    /* unfinished requests are left to their owners' leases */
    hc->ready = 0;

    if (hc->timer.timer_set) {
        ngx_del_timer(&hc->timer);
    }
}


ngx_uint_t
ngx_helpdesk_curl_active(void)
{
    return ngx_helpdesk_curl.active;
}


ngx_helpdesk_curl_req_t *
ngx_helpdesk_curl_create(ngx_log_t *log, const char *method, ngx_str_t *url,
    ngx_str_t *body, ngx_msec_t timeout, size_t body_max)
{
    char                     *u, *scheme, *port;
    CURLUcode                 rc;
    ngx_helpdesk_curl_req_t  *req;

    req = ngx_calloc(sizeof(ngx_helpdesk_curl_req_t), log);
    if (req == NULL) {
        return NULL;
    }

    req->log = log;
    req->body_max = body_max;
    req->timeout = timeout;
    req->failed.handler = ngx_helpdesk_curl_failed;
    req->failed.data = req;
    req->failed.log = log;

    req->easy = curl_easy_init();
    if (req->easy == NULL) {
        ngx_free(req);
        return NULL;
    }

    req->url = curl_url();
    if (req->url == NULL) {
        goto failed;
    }

    u = ngx_alloc(url->len + 1, log);
    if (u == NULL) {
        goto failed;
    }

    ngx_memcpy(u, url->data, url->len);
    u[url->len] = '\0';

    /* one parser for the check and the request: libcurl's own */
    rc = (ngx_strlen(u) == url->len)
         ? curl_url_set(req->url, CURLUPART_URL, u, 0) : CURLUE_MALFORMED_INPUT;
    ngx_free(u);

    if (rc == CURLUE_OK
        && curl_url_get(req->url, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
    {
        if (ngx_strcmp(scheme, "http") != 0
            && ngx_strcmp(scheme, "https") != 0)
        {
            rc = CURLUE_UNSUPPORTED_SCHEME;
        }

        curl_free(scheme);
    }

    if (rc == CURLUE_OK
        && curl_url_get(req->url, CURLUPART_HOST, &req->host, 0) != CURLUE_OK)
    {
        rc = CURLUE_NO_HOST;
    }

    if (rc == CURLUE_OK) {
        if (curl_url_get(req->url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)
            != CURLUE_OK)
        {
            rc = CURLUE_BAD_PORT_NUMBER;

        } else {
            req->port = ngx_atoi((u_char *) port, ngx_strlen(port));
            curl_free(port);

            if (req->port < 1 || req->port > 65535) {
                rc = CURLUE_BAD_PORT_NUMBER;
            }
        }
    }

    if (rc != CURLUE_OK) {
        req->refused = 1;
        ngx_cpystrn((u_char *) req->error,
                    (u_char *) "refused: not an http or https URL",
                    CURL_ERROR_SIZE);
    }

    curl_easy_setopt(req->easy, CURLOPT_CURLU, req->url);
    curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
    curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->error);
    curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, ngx_helpdesk_curl_write);
    curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, (long) timeout);
    curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) ngx_min(timeout, 10000));
    curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(req->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(req->easy, CURLOPT_USERAGENT, "nginx-helpdesk");
    curl_easy_setopt(req->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(req->easy, CURLOPT_MAXREDIRS, 0L);
    curl_easy_setopt(req->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(req->easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(req->easy, CURLOPT_OPENSOCKETFUNCTION,
                     ngx_helpdesk_curl_open);
    curl_easy_setopt(req->easy, CURLOPT_OPENSOCKETDATA, req);

    if (body) {
        req->request_body.data = ngx_alloc(body->len + 1, log);
        if (req->request_body.data == NULL) {
            goto failed;
        }

        ngx_memcpy(req->request_body.data, body->data, body->len);
        req->request_body.len = body->len;

        curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS,
                         (char *) req->request_body.data);
        curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE,
                         (long) req->request_body.len);
    }

    if (method) {
        curl_easy_setopt(req->easy, CURLOPT_CUSTOMREQUEST, method);
    }

    return req;

failed:

    ngx_helpdesk_curl_free(req);
    return NULL;
}


ngx_int_t
ngx_helpdesk_curl_response_header(ngx_helpdesk_curl_req_t *req,
    const char *name, ngx_str_t *value)
{
    struct curl_header  *h;

    if (curl_easy_header(req->easy, name, 0, CURLH_HEADER, -1, &h)
        != CURLHE_OK)
    {
        ngx_str_null(value);
        return NGX_DECLINED;
    }

    /* the last one of that name */
    if (h->amount > 1
        && curl_easy_header(req->easy, name, h->amount - 1, CURLH_HEADER, -1,
                            &h)
           != CURLHE_OK)
    {
        ngx_str_null(value);
        return NGX_DECLINED;
    }

    value->data = (u_char *) h->value;
    value->len = ngx_strlen(h->value);

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_curl_host(ngx_helpdesk_curl_req_t *req, ngx_str_t *host)
{
    size_t  len;

    if (req->host == NULL) {
        ngx_str_set(host, "");
        return NGX_ERROR;
    }

    host->data = (u_char *) req->host;
    len = ngx_strlen(req->host);

    if (len > 2 && host->data[0] == '[') {
        host->data++;
        len -= 2;
    }

    host->len = len;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_curl_header(ngx_helpdesk_curl_req_t *req, const char *fmt, ...)
{
    va_list             args;
    u_char             *p;
    struct curl_slist  *list;
    u_char              buf[8192];       /* a name and a 4 KB value */

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    list = curl_slist_append(req->headers, (char *) buf);
    if (list == NULL) {
        return NGX_ERROR;
    }

    req->headers = list;

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_curl_start(ngx_helpdesk_curl_req_t *req)
{
    ngx_helpdesk_curl_t  *hc = &ngx_helpdesk_curl;

    if (!hc->ready) {
        return NGX_ERROR;
    }

    if (req->headers) {
        curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
    }

    req->started = ngx_current_msec;

    if (req->refused) {
        /* not a URL we send to: said through the handler, as any failure */
        ngx_helpdesk_curl_fail(req, CURLE_URL_MALFORMAT, NULL);
        return NGX_OK;
    }

    return ngx_helpdesk_curl_resolve(req, hc->conf, hc->async_dns);
}


ngx_int_t
ngx_helpdesk_curl_add(ngx_helpdesk_curl_req_t *req)
{
    ngx_helpdesk_curl_t  *hc = &ngx_helpdesk_curl;

    if (curl_multi_add_handle(hc->multi, req->easy) != CURLM_OK) {
        return NGX_ERROR;
    }

    req->running = 1;
    hc->active++;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, req->log, 0,
                   "helpdesk curl: start req:%p, %ui in flight", req,
                   hc->active);

    return NGX_OK;
}


/*
 * A request that ends before libcurl has it: its handler runs from the
 * next turn of the event loop, never from inside the caller's call.
 */

void
ngx_helpdesk_curl_fail(ngx_helpdesk_curl_req_t *req, CURLcode result,
    const char *error)
{
    req->result = result;

    if (error) {
        ngx_cpystrn((u_char *) req->error, (u_char *) error, CURL_ERROR_SIZE);

    } else if (req->error[0] == '\0') {
        ngx_cpystrn((u_char *) req->error,
                    (u_char *) curl_easy_strerror(result), CURL_ERROR_SIZE);
    }

    ngx_post_event(&req->failed, &ngx_posted_events);
}


static void
ngx_helpdesk_curl_failed(ngx_event_t *ev)
{
    ngx_helpdesk_curl_req_t  *req = ev->data;

    req->status = 0;
    req->body.len = 0;
    req->elapsed = ngx_current_msec - req->started;

    req->handler(req, req->result);
}


/* A transfer given up: its handler is not called, and it is freed. */

void
ngx_helpdesk_curl_cancel(ngx_helpdesk_curl_req_t *req)
{
    ngx_helpdesk_curl_t  *hc = &ngx_helpdesk_curl;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, req->log, 0,
                   "helpdesk curl: cancel req:%p", req);

    if (req->running) {
        curl_multi_remove_handle(hc->multi, req->easy);
        req->running = 0;
        hc->active--;
    }

    ngx_helpdesk_curl_free(req);
}


void
ngx_helpdesk_curl_free(ngx_helpdesk_curl_req_t *req)
{
    if (req->resolving) {
        ngx_resolve_name_done(req->resolving);
    }

    if (req->failed.posted) {
        ngx_delete_posted_event(&req->failed);
    }

    if (req->easy) {
        curl_easy_cleanup(req->easy);
    }

    if (req->url) {
        curl_url_cleanup(req->url);
    }

    if (req->host) {
        curl_free(req->host);
    }

    if (req->resolve) {
        curl_slist_free_all(req->resolve);
    }

    if (req->headers) {
        curl_slist_free_all(req->headers);
    }

    if (req->rcpt) {
        curl_slist_free_all(req->rcpt);
    }

    if (req->body.data) {
        if (req->secret) {
            ngx_explicit_memzero(req->body.data, req->body.len);
        }

        ngx_free(req->body.data);
    }

    if (req->request_body.data) {
        if (req->secret) {
            ngx_explicit_memzero(req->request_body.data,
                                 req->request_body.len);
        }

        ngx_free(req->request_body.data);
    }

    ngx_free(req);
}


static size_t
ngx_helpdesk_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    u_char                   *p;
    size_t                    n, keep, cap;
    ngx_helpdesk_curl_req_t  *req = userdata;

    n = size * nmemb;

    /* keep what fits; the rest is read and dropped (see req->truncated) */
    keep = ngx_min(n, req->body_max - req->body.len);

    if (keep < n) {
        req->truncated = 1;
    }

    if (keep == 0) {
        return n;
    }

    if (req->body.len + keep > req->body_cap) {

        /* grow by doubling: a 20 MB download does not start at 20 MB */
        cap = ngx_max(req->body_cap * 2, 16384);

        while (cap < req->body.len + keep) {
            cap *= 2;
        }

        cap = ngx_min(cap, req->body_max);

        p = ngx_alloc(cap + 1, req->log);
        if (p == NULL) {
            return 0;
        }

        if (req->body.data) {
            ngx_memcpy(p, req->body.data, req->body.len);

            if (req->secret) {
                ngx_explicit_memzero(req->body.data, req->body.len);
            }

            ngx_free(req->body.data);
        }

        req->body.data = p;
        req->body_cap = cap;
    }

    ngx_memcpy(req->body.data + req->body.len, ptr, keep);
    req->body.len += keep;

    return n;
}


static int
ngx_helpdesk_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    ngx_connection_t     *c = socketp;
    ngx_helpdesk_curl_t  *hc = &ngx_helpdesk_curl;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, hc->log, 0,
                   "helpdesk curl: socket %d what:%d c:%p", (int) s, what, c);

    if (what == CURL_POLL_REMOVE) {
        if (c) {
            if (c->read->active) {
                ngx_del_event(c->read, NGX_READ_EVENT, 0);
            }

            if (c->write->active) {
                ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
            }

            if (c->read->posted) {
                ngx_delete_posted_event(c->read);
            }

            if (c->write->posted) {
                ngx_delete_posted_event(c->write);
            }

            c->fd = (ngx_socket_t) -1;
            ngx_free_connection(c);
            curl_multi_assign(hc->multi, s, NULL);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_get_connection(s, hc->log);
        if (c == NULL) {
            return -1;
        }

        c->read->handler = ngx_helpdesk_curl_event;
        c->write->handler = ngx_helpdesk_curl_event;
        c->read->log = hc->log;
        c->write->log = hc->log;
        c->data = NULL;

        curl_multi_assign(hc->multi, s, c);
    }

    if ((what & CURL_POLL_IN) && !c->read->active) {
        ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);

    } else if (!(what & CURL_POLL_IN) && c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if ((what & CURL_POLL_OUT) && !c->write->active) {
        ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);

    } else if (!(what & CURL_POLL_OUT) && c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    return 0;
}


static int
ngx_helpdesk_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_helpdesk_curl_t  *hc = &ngx_helpdesk_curl;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, hc->log, 0,
                   "helpdesk curl: timer %l ms", timeout_ms);

    if (hc->timer.timer_set) {
        ngx_del_timer(&hc->timer);
    }

    if (timeout_ms >= 0 && hc->ready) {
        /*
         * 0 means "as soon as possible": the next loop iteration.  While
         * transfers run, the timer keeps a shutting-down worker alive
         * until they finish (each is bounded by its own timeout).
         */
        hc->timer.cancelable = (hc->active == 0);
        ngx_add_timer(&hc->timer, (ngx_msec_t) timeout_ms);
    }

    return 0;
}


static void
ngx_helpdesk_curl_timeout(ngx_event_t *ev)
{
    int                   running;
    ngx_helpdesk_curl_t  *hc = &ngx_helpdesk_curl;

    curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    ngx_helpdesk_curl_check();
}


static void
ngx_helpdesk_curl_event(ngx_event_t *ev)
{
    int                   running;
    ngx_connection_t     *c = ev->data;
    ngx_helpdesk_curl_t  *hc = &ngx_helpdesk_curl;

    curl_multi_socket_action(hc->multi, c->fd,
                             ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN,
                             &running);
    ngx_helpdesk_curl_check();
}


static void
ngx_helpdesk_curl_check(void)
{
    int                       left;
    CURL                     *easy;
    CURLcode                  result;
    CURLMsg                  *msg;
    ngx_helpdesk_curl_req_t  *req;
    ngx_helpdesk_curl_t      *hc = &ngx_helpdesk_curl;

    while ((msg = curl_multi_info_read(hc->multi, &left)) != NULL) {

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        result = msg->data.result;     /* msg dies with the handle */
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &req);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &req->status);

        curl_multi_remove_handle(hc->multi, easy);
        req->running = 0;
        hc->active--;

        req->elapsed = ngx_current_msec - req->started;

        ngx_log_debug4(NGX_LOG_DEBUG_EVENT, req->log, 0,
                       "helpdesk curl: done req:%p result:%d status:%l "
                       "in %Mms", req, (int) result, req->status,
                       req->elapsed);

        if (result != CURLE_OK && req->refused) {
            /* nothing from a refused address reaches anyone */
            ngx_cpystrn((u_char *) req->error,
                        (u_char *) NGX_HELPDESK_CURL_REFUSED, CURL_ERROR_SIZE);
            req->status = 0;
            req->body.len = 0;
        }

        if (req->error[0] == '\0' && result != CURLE_OK) {
            ngx_cpystrn((u_char *) req->error,
                        (u_char *) curl_easy_strerror(result),
                        CURL_ERROR_SIZE);
        }

        /* the handler owns the request from here, and frees it */
        req->handler(req, result);
    }
}
