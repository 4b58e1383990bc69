/*
 * nginx-helpdesk: the front door's directive for tenants' own domains,
 *
 *     helpdesk_custom_domains cname_zone=<zone> ...;
 *
 * cname_zone: the provider's zone under which each tenant gets the name
 * its custom domains point to ("t-<tenant>.<zone>", a CNAME the tenant
 * creates).  Parameters are "key=value"; an unknown one is an error, so
 * a typo never passes silently.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"


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

    ngx_str_t                         *value, v;
    ngx_uint_t                         i;
    ngx_http_helpdesk_domains_conf_t  *dc;

    dc = &hmcf->domains;

    if (dc->set) {
        return "is duplicate";
    }

    dc->set = 1;
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

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (dc->cname_zone.len == 0) {
        return "needs \"cname_zone=\"";
    }

    return NGX_CONF_OK;
}
