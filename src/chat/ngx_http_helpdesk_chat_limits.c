/*
 * The chat's rate limits: how many messages and new conversations a
 * visitor, and an address, may send in a window (helpdesk_chat_limits).
 * They are counted by the chat script in Redis, in the same run that
 * stores, so every worker and node shares them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"
#include "ngx_http_helpdesk_module.h"


/*
 * Rate limits, counted in Redis by the chat script before anything is
 * stored: per visitor and per address, for messages and for new
 * conversations.  [key, most, window seconds] each.
 * helpdesk_chat_limits sets them; these are the defaults.
 */

static const char  *ngx_http_helpdesk_chat_limit_names[] = {
    "messages", "address_messages", "conversations", "address_conversations"
};

static ngx_uint_t   ngx_http_helpdesk_chat_limit[4] = { 30, 300, 5, 300 };
static time_t       ngx_http_helpdesk_chat_window[4] = { 10, 10, 600, 600 };


/* helpdesk_chat_limits messages=30/10s address_conversations=300/10m ... */

char *
ngx_http_helpdesk_chat_limits_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_helpdesk_main_conf_t *hmcf = conf;

    u_char      *eq, *sl;
    time_t       window;
    ngx_int_t    n;
    ngx_str_t   *value, name, count, span;
    ngx_uint_t   i, k;

    if (hmcf->chat_limits_set) {
        return "is duplicate";
    }

    hmcf->chat_limits_set = 1;

    for (k = 0; k < 4; k++) {
        hmcf->chat_limit[k] = ngx_http_helpdesk_chat_limit[k];
        hmcf->chat_window[k] = ngx_http_helpdesk_chat_window[k];
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
        if (eq == NULL) {
            goto invalid;
        }

        name.data = value[i].data;
        name.len = eq - value[i].data;

        for (k = 0; k < 4; k++) {
            if (name.len == ngx_strlen(ngx_http_helpdesk_chat_limit_names[k])
                && ngx_strncmp(name.data, ngx_http_helpdesk_chat_limit_names[k],
                               name.len) == 0)
            {
                break;
            }
        }

        if (k == 4) {
            goto invalid;
        }

        count.data = eq + 1;
        sl = ngx_strlchr(count.data, value[i].data + value[i].len, '/');
        count.len = (sl ? sl : value[i].data + value[i].len) - count.data;

        n = ngx_atoi(count.data, count.len);
        if (n == NGX_ERROR) {
            goto invalid;
        }

        hmcf->chat_limit[k] = (ngx_uint_t) n;

        if (sl) {
            span.data = sl + 1;
            span.len = value[i].data + value[i].len - span.data;

            window = ngx_parse_time(&span, 1);
            if (window == (time_t) NGX_ERROR || window < 1) {
                goto invalid;
            }

            hmcf->chat_window[k] = window;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive: "
                       "\"messages\", \"address_messages\", \"conversations\" "
                       "or \"address_conversations\", then \"=<count>[/"
                       "<window>]\" (0: no limit)", &value[i], &cmd->name);
    return NGX_CONF_ERROR;
}


/*
 * The address a limit counts: an IPv4 address as it is, an IPv6 one by
 * its /64, the block one subscriber or host is given (and can walk
 * through at will, a new address per conversation); an IPv4 address
 * mapped into IPv6 stays that IPv4 address's own.
 */

static void
ngx_http_helpdesk_chat_limit_addr(ngx_str_t *ip, ngx_str_t *out, u_char *buf)
{
#if (NGX_HAVE_INET6)
    size_t      n;
    u_char      a[16];
    ngx_uint_t  i;

    if (ngx_strlchr(ip->data, ip->data + ip->len, ':') != NULL
        && ngx_inet6_addr(ip->data, ip->len, a) == NGX_OK)
    {
        for (i = 0; i < 10 && a[i] == 0; i++) { /* void */ }

        if (!(i == 10 && a[10] == 0xff && a[11] == 0xff)) {
            ngx_memzero(a + 8, 8);
            n = ngx_inet6_ntop(a, buf, NGX_INET6_ADDRSTRLEN);
            out->data = buf;
            out->len = ngx_cpymem(buf + n, "/64", 3) - buf;
            return;
        }
    }
#endif

    *out = *ip;
}


json_t *
ngx_http_helpdesk_chat_limits(ngx_http_helpdesk_chat_session_t *s,
    ngx_uint_t start)
{
    u_char                          key[256], *p;
    u_char                          abuf[NGX_INET6_ADDRSTRLEN + 3];
    ngx_str_t                       addr;
    json_t                         *lim;
    ngx_uint_t                      k, most[2];
    time_t                          win[2];
    ngx_http_helpdesk_main_conf_t  *hmcf;

    lim = json_array();
    if (lim == NULL) {
        return NULL;
    }

    if (s->peer->role != NGX_HTTP_HELPDESK_CHAT_VISITOR) {
        return lim;
    }

    hmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_helpdesk_module);

    for (k = 0; k < 2; k++) {
        most[k] = hmcf->chat_limits_set ? hmcf->chat_limit[k + 2 * start]
                  : ngx_http_helpdesk_chat_limit[k + 2 * start];
        win[k] = hmcf->chat_limits_set ? hmcf->chat_window[k + 2 * start]
                 : ngx_http_helpdesk_chat_window[k + 2 * start];
    }

    if (most[0]) {
        p = ngx_snprintf(key, sizeof(key), "hd:chat:rl:{%V}:v:%*s:%s",
                         &s->tenant_id,
                         (size_t) NGX_HTTP_HELPDESK_CHAT_UUID_LEN,
                         s->visitor, start ? "n" : "m");
        json_array_append_new(lim, json_pack("[s%, I, I]", key,
                                             (size_t) (p - key),
                                             (json_int_t) most[0],
                                             (json_int_t) win[0]));
    }

    if (most[1]) {
        ngx_http_helpdesk_chat_limit_addr(&s->peer->ip, &addr, abuf);

        p = ngx_snprintf(key, sizeof(key), "hd:chat:rl:{%V}:a:%V:%s",
                         &s->tenant_id, &addr, start ? "n" : "m");
        json_array_append_new(lim, json_pack("[s%, I, I]", key,
                                             (size_t) (p - key),
                                             (json_int_t) most[1],
                                             (json_int_t) win[1]));
    }

    return lim;
}
