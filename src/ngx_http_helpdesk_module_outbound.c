/*
 * nginx-helpdesk: the front door's directives for outbound requests:
 * the ranges they may reach although not public, and the hosts a
 * provider's media URLs may name.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"


/*
 * helpdesk_outbound_allow 127.0.0.0/8 ::1 ...;  the ranges outbound
 * requests may reach although they are not public
 */

char *
ngx_http_helpdesk_outbound_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    if (hmcf->outbound.allow == NULL) {
        hmcf->outbound.allow = ngx_array_create(cf->pool, 4,
                                                sizeof(ngx_cidr_t));
        if (hmcf->outbound.allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        cidr = ngx_array_push(hmcf->outbound.allow);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address or range \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


/*
 * helpdesk_whatsapp_media_hosts name|*.suffix ...;  where the Cloud API's
 * media URLs may point; without it, Meta's own hosts.  Called with no
 * command for the default.
 */

char *
ngx_http_helpdesk_media_hosts(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    ngx_str_t   *value, *name, def[3];
    ngx_uint_t   i, n;

    if (cmd && hmcf->outbox.media_hosts) {
        return "is duplicate";
    }

    if (cmd) {
        value = cf->args->elts;
        value++;
        n = cf->args->nelts - 1;

    } else {
        ngx_str_set(&def[0], "lookaside.fbsbx.com");
        ngx_str_set(&def[1], "*.fbcdn.net");
        ngx_str_set(&def[2], "*.whatsapp.net");
        value = def;
        n = 3;
    }

    hmcf->outbox.media_hosts = ngx_array_create(cf->pool, n,
                                                sizeof(ngx_str_t));
    if (hmcf->outbox.media_hosts == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (value[i].len == 0
            || (value[i].data[0] == '*'
                && (value[i].len < 3 || value[i].data[1] != '.')))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid host \"%V\": a name or *.suffix",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(hmcf->outbox.media_hosts);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


/* helpdesk_email_fetch off | [interval=] [batch=] [timeout=] [per_run=]
 *                            [max_size=] [ca_file=] */
char *
ngx_http_helpdesk_email_fetch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    char        *err;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (hmcf->email_fetch_set) {
        return "is duplicate";
    }

    hmcf->email_fetch_set = 1;
    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        hmcf->email_fetch.enabled = 0;
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        err = ngx_helpdesk_email_fetch_parse(cf, &value[i],
                                             &hmcf->email_fetch);
        if (err != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive: %s",
                               &value[i], &cmd->name, err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* helpdesk_email_oauth microsoft365|gmail [authorize=] [token=] [imap=]
 *                      [smtp=] [scope=] */
char *
ngx_http_helpdesk_email_oauth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    char       *err;
    ngx_str_t  *value;

    value = cf->args->elts;

    err = ngx_helpdesk_email_oauth_parse(cf, &value[1], cf->args->nelts - 1,
                                         &hmcf->email_fetch);
    if (err != NGX_CONF_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" directive %s",
                           &cmd->name, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
