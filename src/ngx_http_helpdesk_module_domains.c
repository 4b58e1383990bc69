/*
 * nginx-helpdesk: the front door's directive for tenants' own domains,
 *
 *     helpdesk_custom_domains cname_zone=<zone> ...;
 *
 * cname_zone: the provider's zone under which each tenant gets the name
 * its custom domains point to ("t-<tenant>.<zone>", a CNAME the tenant
 * creates).  Parameters are "key=value"; an unknown one is an error, so
 * a typo never passes silently.
 *
 * The DNS check of the domains (src/jobs/ngx_helpdesk_domain_check.c)
 * runs when edge= is given:
 *   edge=<addr>[,<addr>...]      the provider's public IPv4/IPv6 addresses
 *   resolver=<addr[:port]>[,...] the resolvers asked (default: the http
 *                                block's "resolver" addresses)
 *   resolver_timeout=3s          one try's wait
 *   interval=5s                  the job's tick
 *   caa=<domain>[,...]           the CA identities a CAA "issue" may name
 *                                (default: letsencrypt.org)
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "jobs/ngx_helpdesk_job.h"


static char *ngx_http_helpdesk_domains_edge(ngx_conf_t *cf,
    ngx_helpdesk_domain_check_conf_t *dc, ngx_str_t *list);
static char *ngx_http_helpdesk_domains_resolver(ngx_conf_t *cf,
    ngx_helpdesk_domain_check_conf_t *dc, ngx_str_t *list);
static char *ngx_http_helpdesk_domains_caa(ngx_conf_t *cf,
    ngx_helpdesk_domain_check_conf_t *dc, ngx_str_t *list);


static ngx_helpdesk_job_param_t  ngx_http_helpdesk_domains_params[] = {
    { ngx_string("resolver_timeout="),
      offsetof(ngx_helpdesk_domain_check_conf_t, timeout), 0 },
    { ngx_string("interval="),
      offsetof(ngx_helpdesk_domain_check_conf_t, interval), 0 },
    { ngx_null_string, 0, 0 }
};


/* a zone: LDH labels of 1 to 63, dots between, 253 at most, lower case */
static ngx_int_t
ngx_http_helpdesk_domains_zone(ngx_str_t *zone)
{
    u_char      c, *p, *last;
    ngx_uint_t  label;

    if (zone->len && zone->data[zone->len - 1] == '.') {
        zone->len--;
    }

    if (zone->len == 0 || zone->len > 200) {
        return NGX_ERROR;
    }

    label = 0;
    last = zone->data + zone->len;

    for (p = zone->data; p < last; p++) {
        c = *p;

        if (c >= 'A' && c <= 'Z') {
            *p = (u_char) (c | 0x20);
            c = *p;
        }

        if (c == '.') {
            if (label == 0 || p[-1] == '-') {
                return NGX_ERROR;
            }

            label = 0;
            continue;
        }

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || (c == '-' && label > 0)))
        {
            return NGX_ERROR;
        }

        if (++label > 63) {
            return NGX_ERROR;
        }
    }

    if (label == 0 || last[-1] == '-'
        || ngx_strlchr(zone->data, last, '.') == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_helpdesk_custom_domains(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    char                              *rv;
    ngx_str_t                         *value, v;
    ngx_uint_t                         i;
    ngx_http_helpdesk_domains_conf_t  *dc;

    dc = &hmcf->domains;

    if (dc->set) {
        return "is duplicate";
    }

    dc->set = 1;
    dc->check.timeout = 3000;
    dc->check.interval = 5000;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "cname_zone=", 11) == 0) {
            v.data = ngx_pstrdup(cf->pool, &value[i]);
            if (v.data == NULL) {
                return NGX_CONF_ERROR;
            }

            v.data += 11;
            v.len = value[i].len - 11;

            if (ngx_http_helpdesk_domains_zone(&v) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"cname_zone\": \"%V\" is not "
                                   "a DNS name with at least two labels",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            dc->cname_zone = v;
            continue;
        }

        rv = NGX_CONF_OK;
        v.data = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        if (v.data) {
            v.data++;
            v.len = value[i].data + value[i].len - v.data;
        }

        if (ngx_strncmp(value[i].data, "edge=", 5) == 0) {
            rv = ngx_http_helpdesk_domains_edge(cf, &dc->check, &v);

        } else if (ngx_strncmp(value[i].data, "resolver=", 9) == 0) {
            rv = ngx_http_helpdesk_domains_resolver(cf, &dc->check, &v);

        } else if (ngx_strncmp(value[i].data, "caa=", 4) == 0) {
            rv = ngx_http_helpdesk_domains_caa(cf, &dc->check, &v);

        } else if (ngx_strncmp(value[i].data, "resolver_timeout=", 17) == 0
                   || ngx_strncmp(value[i].data, "interval=", 9) == 0)
        {
            rv = ngx_helpdesk_job_param(&value[i],
                                        ngx_http_helpdesk_domains_params,
                                        &dc->check);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rv == NGX_CONF_OK) {
            continue;
        }

        if (rv != NGX_CONF_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" %s",
                               &value[i], rv);
        }

        return NGX_CONF_ERROR;
    }

    if (dc->cname_zone.len == 0) {
        return "needs \"cname_zone=\"";
    }

    if (!dc->check.enabled
        && (dc->check.servers || dc->check.caa))
    {
        return "checks DNS only with \"edge=\": \"resolver=\" and "
               "\"caa=\" need it";
    }

    if (dc->check.enabled && dc->check.caa == NULL) {
        dc->check.caa_default = 1;
        v.len = sizeof("letsencrypt.org") - 1;
        v.data = (u_char *) "letsencrypt.org";

        if (ngx_http_helpdesk_domains_caa(cf, &dc->check, &v)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* the next item of a comma-separated list, or NULL at its end */
static ngx_str_t *
ngx_http_helpdesk_domains_item(ngx_str_t *list, ngx_str_t *item)
{
    u_char  *comma, *last;

    if (list->len == 0) {
        return NULL;
    }

    last = list->data + list->len;
    comma = ngx_strlchr(list->data, last, ',');

    item->data = list->data;
    item->len = (comma ? comma : last) - list->data;

    list->data = comma ? comma + 1 : last;
    list->len = last - list->data;

    return item;
}


static char *
ngx_http_helpdesk_domains_edge(ngx_conf_t *cf,
    ngx_helpdesk_domain_check_conf_t *dc, ngx_str_t *list)
{
    in_addr_t        a4, *e4;
    ngx_str_t        item;
    struct in6_addr  a6, *e6;

    if (dc->enabled) {
        return "is duplicate";
    }

    dc->enabled = 1;

    dc->edge4 = ngx_array_create(cf->pool, 2, sizeof(in_addr_t));
    dc->edge6 = ngx_array_create(cf->pool, 2, sizeof(struct in6_addr));
    if (dc->edge4 == NULL || dc->edge6 == NULL) {
        return NGX_CONF_ERROR;
    }

    while (ngx_http_helpdesk_domains_item(list, &item)) {

        if (item.len > 2 && item.data[0] == '['
            && item.data[item.len - 1] == ']')
        {
            item.data++;
            item.len -= 2;
        }

        a4 = ngx_inet_addr(item.data, item.len);

        if (a4 != INADDR_NONE) {
            e4 = ngx_array_push(dc->edge4);
            if (e4 == NULL) {
                return NGX_CONF_ERROR;
            }

            *e4 = a4;
            continue;
        }

        if (item.len && ngx_inet6_addr(item.data, item.len, a6.s6_addr)
                        == NGX_OK)
        {
            e6 = ngx_array_push(dc->edge6);
            if (e6 == NULL) {
                return NGX_CONF_ERROR;
            }

            *e6 = a6;
            continue;
        }

        return "has an invalid address: edge= takes IPv4 and IPv6 "
               "addresses, separated by commas";
    }

    if (dc->edge4->nelts + dc->edge6->nelts == 0) {
        return "names no address";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_helpdesk_domains_resolver(ngx_conf_t *cf,
    ngx_helpdesk_domain_check_conf_t *dc, ngx_str_t *list)
{
    ngx_str_t    item;
    ngx_addr_t  *addr;

    if (dc->servers) {
        return "is duplicate";
    }

    dc->servers = ngx_array_create(cf->pool, 2, sizeof(ngx_addr_t));
    if (dc->servers == NULL) {
        return NGX_CONF_ERROR;
    }

    while (ngx_http_helpdesk_domains_item(list, &item)) {
        addr = ngx_array_push(dc->servers);
        if (addr == NULL) {
            return NGX_CONF_ERROR;
        }

        if (item.len == 0
            || ngx_parse_addr_port(cf->pool, addr, item.data, item.len)
               != NGX_OK)
        {
            return "has an invalid address: resolver= takes IP addresses "
                   "with an optional port, separated by commas";
        }

        if (ngx_inet_get_port(addr->sockaddr) == 0) {
            ngx_inet_set_port(addr->sockaddr, 53);
        }

        addr->name = item;
    }

    if (dc->servers->nelts == 0) {
        return "names no address";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_helpdesk_domains_caa(ngx_conf_t *cf,
    ngx_helpdesk_domain_check_conf_t *dc, ngx_str_t *list)
{
    ngx_str_t  item, *id;

    if (dc->caa) {
        return "is duplicate";
    }

    dc->caa = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (dc->caa == NULL) {
        return NGX_CONF_ERROR;
    }

    while (ngx_http_helpdesk_domains_item(list, &item)) {
        id = ngx_array_push(dc->caa);
        if (id == NULL) {
            return NGX_CONF_ERROR;
        }

        id->data = ngx_pstrdup(cf->pool, &item);
        if (id->data == NULL) {
            return NGX_CONF_ERROR;
        }

        id->len = item.len;

        if (ngx_http_helpdesk_domains_zone(id) != NGX_OK) {
            return "has an invalid CA identity: caa= takes domain names "
                   "such as letsencrypt.org, separated by commas";
        }
    }

    if (dc->caa->nelts == 0) {
        return "names no CA";
    }

    return NGX_CONF_OK;
}


/*
 * After the http block: the check's resolvers default to the block's
 * "resolver" addresses, and it needs the database and the provider key
 * (its entry points take the module's proof).
 */
ngx_int_t
ngx_http_helpdesk_domains_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                         i;
    ngx_addr_t                        *addr;
    ngx_resolver_connection_t         *rc;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_helpdesk_main_conf_t     *hmcf;
    ngx_helpdesk_domain_check_conf_t  *dc;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_helpdesk_module);
    dc = &hmcf->domains.check;

    if (!dc->enabled) {
        return NGX_OK;
    }

    if (!hmcf->pg.set || !hmcf->provider_key_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"helpdesk_custom_domains\" with \"edge=\" "
                           "checks DNS, which needs \"helpdesk_postgres\" "
                           "and \"helpdesk_provider_key_file\"");
        return NGX_ERROR;
    }

    if (dc->servers) {
        return NGX_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"helpdesk_custom_domains\" with \"edge=\" "
                           "needs \"resolver=\" or a \"resolver\" in the "
                           "http block");
        return NGX_ERROR;
    }

    dc->servers = ngx_array_create(cf->pool,
                                   clcf->resolver->connections.nelts,
                                   sizeof(ngx_addr_t));
    if (dc->servers == NULL) {
        return NGX_ERROR;
    }

    rc = clcf->resolver->connections.elts;

    for (i = 0; i < clcf->resolver->connections.nelts; i++) {
        addr = ngx_array_push(dc->servers);
        if (addr == NULL) {
            return NGX_ERROR;
        }

        addr->sockaddr = rc[i].sockaddr;
        addr->socklen = rc[i].socklen;
        addr->name = rc[i].server;
    }

    return NGX_OK;
}
