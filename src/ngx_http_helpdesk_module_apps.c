/*
 * nginx-helpdesk: the front door's directives for the apps, the customer
 * portal and the agent console: where they are served, and the console's
 * entry, which hands the REST API under it to the API's handler; how the
 * links they hand out start; the password queue.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "api/ngx_http_helpdesk_api.h"
#include "app/ngx_http_helpdesk_portal.h"


static ngx_int_t ngx_http_helpdesk_console_entry(ngx_http_request_t *r);


/* the portal and the console: an app under a prefix location */
static char *
ngx_http_helpdesk_app(ngx_conf_t *cf, ngx_http_helpdesk_loc_conf_t *hlcf,
    ngx_http_handler_pt handler)
{
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    if (hlcf->portal != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named || clcf->regex || clcf->exact_match || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        return "must be in a prefix location ending with \"/\", "
               "such as \"location /\" or \"location /agent/\"";
    }

    hlcf->portal = 1;
    hlcf->app_prefix.data = clcf->name.data;
    hlcf->app_prefix.len = clcf->name.len - 1;
    clcf->handler = handler;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_helpdesk_module);
    hmcf->portal_used = 1;

    return NGX_CONF_OK;
}


char *
ngx_http_helpdesk_portal(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_helpdesk_app(cf, conf, ngx_http_helpdesk_portal_handler);
}


/*
 * The console, and under it ("<location>_/rest/") the REST API its
 * settings pages call with the agent's session: the console's cookie is
 * scoped to the console's path, so the API must be reachable there.
 */
char *
ngx_http_helpdesk_console(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf = conf;

    char                      *rv;
    u_char                    *p;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_http_helpdesk_app(cf, conf, ngx_http_helpdesk_console_entry);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    p = ngx_pnalloc(cf->pool, clcf->name.len + sizeof("_/rest") - 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    hlcf->console = 1;
    hlcf->api_prefix.data = p;
    p = ngx_cpymem(p, clcf->name.data, clcf->name.len);
    p = ngx_cpymem(p, "_/rest", sizeof("_/rest") - 1);
    hlcf->api_prefix.len = p - hlcf->api_prefix.data;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_helpdesk_console_entry(ngx_http_request_t *r)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_helpdesk_module);

    if (r->uri.len > hlcf->api_prefix.len
        && r->uri.data[hlcf->api_prefix.len] == '/'
        && ngx_strncmp(r->uri.data, hlcf->api_prefix.data,
                       hlcf->api_prefix.len) == 0)
    {
        return ngx_http_helpdesk_api_handler(r);
    }

    return ngx_http_helpdesk_console_handler(r);
}


/* a name: no scheme, no port, no slash, no leading or trailing dot */
char *
ngx_http_helpdesk_console_host(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (hlcf->console_host.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        if (!((value[1].data[i] >= 'a' && value[1].data[i] <= 'z')
              || (value[1].data[i] >= '0' && value[1].data[i] <= '9')
              || value[1].data[i] == '-' || value[1].data[i] == '.'))
        {
            break;
        }
    }

    if (value[1].len == 0 || value[1].len > 200 || i < value[1].len
        || value[1].data[0] == '.' || value[1].data[value[1].len - 1] == '.')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a lower-case domain name such as "
                           "\"agents.support.example\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    hlcf->console_host = value[1];

    return NGX_CONF_OK;
}


/*
 * helpdesk_link_scheme https | http [port=number]: how the links the
 * module hands out (reset, invitation and verification links, webhook
 * URLs) start.  The name in them is the tenant's own; the scheme and the
 * port are the server's to say, never the request's.
 */

char *
ngx_http_helpdesk_link_scheme(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (hlcf->link_https != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "https") == 0) {
        hlcf->link_https = 1;

    } else if (ngx_strcmp(value[1].data, "http") == 0) {
        hlcf->link_https = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"https\" or \"http\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    hlcf->link_port = 0;

    if (cf->args->nelts == 3) {
        n = NGX_ERROR;

        if (value[2].len > 5 && ngx_strncmp(value[2].data, "port=", 5) == 0) {
            n = ngx_atoi(value[2].data + 5, value[2].len - 5);
        }

        if (n < 1 || n > 65535) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive", &value[2], &cmd->name);
            return NGX_CONF_ERROR;
        }

        /* the scheme's own port goes without saying */
        if (n != (hlcf->link_https ? 443 : 80)) {
            hlcf->link_port = (ngx_uint_t) n;
        }
    }

    return NGX_CONF_OK;
}


/* helpdesk_thread_pool name [queue=number] */
char *
ngx_http_helpdesk_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (hmcf->thread_pool.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    hmcf->thread_pool = value[1];

    if (cf->args->nelts == 3) {
        n = NGX_ERROR;

        if (value[2].len > 6 && ngx_strncmp(value[2].data, "queue=", 6) == 0) {
            n = ngx_atoi(value[2].data + 6, value[2].len - 6);
        }

        /* two at least: half of them are kept for logging in */
        if (n < 2 || n > 65536) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive, queue= must be 2 to 65536",
                               &value[2], &cmd->name);
            return NGX_CONF_ERROR;
        }

        hmcf->thread_pool_queue = (ngx_uint_t) n;
    }

    return NGX_CONF_OK;
}
