/*
 * nginx-helpdesk: the front door's directives for the stores, PostgreSQL
 * and Redis: where they are, checked when the configuration loads (an
 * address or a socket, never a name to resolve on a worker).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"


char *
ngx_http_helpdesk_postgres(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    char        *err;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (hmcf->pg.set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    err = ngx_helpdesk_pg_conninfo_check(cf->pool, &value[1]);
    if (err) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid conninfo \"%V\" in \"%V\" directive: %s",
                           &value[1], &cmd->name, err);
        return NGX_CONF_ERROR;
    }

    hmcf->pg.conninfo = value[1];
    hmcf->pg.set = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            n = ngx_atoi(value[i].data + 4, value[i].len - 4);
            if (n < 1 || n > 1000) {
                goto invalid;
            }

            hmcf->pg.max = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "backlog=", 8) == 0) {
            n = ngx_atoi(value[i].data + 8, value[i].len - 8);
            if (n == NGX_ERROR || n > 100000) {
                goto invalid;
            }

            hmcf->pg.backlog = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            hmcf->pg.timeout = ngx_parse_time(&s, 0);
            if (hmcf->pg.timeout == (ngx_msec_t) NGX_ERROR
                || hmcf->pg.timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       &value[i], &cmd->name);

    return NGX_CONF_ERROR;
}


char *
ngx_http_helpdesk_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    char       *err;
    ngx_str_t  *value, s;

    if (hmcf->redis.set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    err = ngx_helpdesk_redis_parse_addr(cf, &value[1], &hmcf->redis);
    if (err != NGX_CONF_OK) {
        if (err == NGX_CONF_ERROR) {
            return err;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid address \"%V\" in \"%V\" directive: %s",
                           &value[1], &cmd->name, err);
        return NGX_CONF_ERROR;
    }

    hmcf->redis.set = 1;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "timeout=", 8) != 0) {
            goto invalid;
        }

        s.data = value[2].data + 8;
        s.len = value[2].len - 8;

        hmcf->redis.timeout = ngx_parse_time(&s, 0);
        if (hmcf->redis.timeout == (ngx_msec_t) NGX_ERROR
            || hmcf->redis.timeout == 0)
        {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive",
                       &value[2], &cmd->name);

    return NGX_CONF_ERROR;
}
