/*
 * nginx-helpdesk: the front door's directives of automatic TLS by ACME:
 *
 *   helpdesk_acme directory=<url> contact=<email> [ca_bundle=<file>]
 *                 [interval=5s] [concurrency=4] [orders=300/3h]
 *                 [name_failures=3/1h] [timeout=30s];            (http)
 *   helpdesk_acme_challenge;                                     (location)
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "jobs/ngx_helpdesk_job.h"
#include "tls/ngx_helpdesk_acme.h"


static ngx_helpdesk_job_param_t  ngx_http_helpdesk_acme_params[] = {
    { ngx_string("interval="),
      offsetof(ngx_helpdesk_acme_conf_t, interval), 0 },
    { ngx_string("timeout="),
      offsetof(ngx_helpdesk_acme_conf_t, timeout), 0 },
    { ngx_string("concurrency="),
      offsetof(ngx_helpdesk_acme_conf_t, concurrency), 64 },
    { ngx_null_string, 0, 0 }
};


void
ngx_helpdesk_acme_defaults(ngx_helpdesk_acme_conf_t *conf)
{
    conf->interval = 5000;
    conf->timeout = 30000;
    conf->concurrency = 4;
    conf->orders = 300;
    conf->orders_period = 3 * 3600 * 1000;
    conf->name_failures = 3;
    conf->name_period = 3600 * 1000;
}


/* "<count>/<time>", e.g. "300/3h" */
static char *
ngx_http_helpdesk_acme_rate(ngx_str_t *s, ngx_uint_t *count, ngx_msec_t *per)
{
    u_char     *slash;
    ngx_int_t   n;
    ngx_str_t   t;

    slash = ngx_strlchr(s->data, s->data + s->len, '/');
    if (slash == NULL) {
        return "has a limit that is not <count>/<time>";
    }

    n = ngx_atoi(s->data, slash - s->data);
    if (n < 1 || n > 100000) {
        return "has a limit with an invalid count";
    }

    t.data = slash + 1;
    t.len = s->data + s->len - t.data;
    *per = ngx_parse_time(&t, 0);

    if (*per == (ngx_msec_t) NGX_ERROR || *per < 1000) {
        return "has a limit with an invalid time";
    }

    *count = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


char *
ngx_http_helpdesk_acme(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                           *rv;
    u_char                         *at;
    ngx_str_t                      *value, v, file;
    ngx_uint_t                      i;
    ngx_helpdesk_acme_conf_t       *acme;
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    acme = &hmcf->acme;

    if (acme->set) {
        return "is duplicate";
    }

    ngx_helpdesk_acme_defaults(acme);
    acme->set = 1;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        v = value[i];

        if (v.len > 10 && ngx_strncmp(v.data, "directory=", 10) == 0) {
            v.data += 10;
            v.len -= 10;

            if (!((v.len > 8 && ngx_strncasecmp(v.data, (u_char *) "https://", 8)
                   == 0)
                  || (v.len > 7
                      && ngx_strncasecmp(v.data, (u_char *) "http://", 7)
                         == 0))
                || v.len > 1024)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"helpdesk_acme\" directory= must be an "
                                   "http(s) URL");
                return NGX_CONF_ERROR;
            }

            acme->directory = v;     /* the arguments end with a NUL */
            continue;
        }

        if (v.len > 8 && ngx_strncmp(v.data, "contact=", 8) == 0) {
            v.data += 8;
            v.len -= 8;

            if (v.len > 7 && ngx_strncmp(v.data, "mailto:", 7) == 0) {
                v.data += 7;
                v.len -= 7;
            }

            at = ngx_strlchr(v.data, v.data + v.len, '@');

            if (at == NULL || at == v.data || at == v.data + v.len - 1
                || v.len > 254
                || ngx_strlchr(v.data, v.data + v.len, '"')
                || ngx_strlchr(v.data, v.data + v.len, '\\'))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"helpdesk_acme\" contact= must be an "
                                   "e-mail address");
                return NGX_CONF_ERROR;
            }

            acme->contact = v;
            continue;
        }

        if (v.len > 10 && ngx_strncmp(v.data, "ca_bundle=", 10) == 0) {
            file.data = v.data + 10;
            file.len = v.len - 10;

            if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            acme->ca_bundle = file;
            continue;
        }

        if (v.len > 7 && ngx_strncmp(v.data, "orders=", 7) == 0) {
            v.data += 7;
            v.len -= 7;
            rv = ngx_http_helpdesk_acme_rate(&v, &acme->orders,
                                             &acme->orders_period);

        } else if (v.len > 14 && ngx_strncmp(v.data, "name_failures=", 14)
                   == 0)
        {
            v.data += 14;
            v.len -= 14;
            rv = ngx_http_helpdesk_acme_rate(&v, &acme->name_failures,
                                             &acme->name_period);

        } else {
            rv = ngx_helpdesk_job_param(&v, ngx_http_helpdesk_acme_params,
                                        acme);
        }

        if (rv != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"helpdesk_acme\" %s: \"%V\"", rv, &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (acme->directory.len == 0 || acme->contact.len == 0) {
        return "needs directory= and contact=";
    }

    return NGX_CONF_OK;
}


/*
 * At the configuration's end: the account key and every certificate's key
 * are stored sealed, and the job proves itself to the database.
 */
char *
ngx_http_helpdesk_acme_check(ngx_conf_t *cf,
    ngx_http_helpdesk_main_conf_t *hmcf)
{
    if (!hmcf->acme.set) {
        return NGX_CONF_OK;
    }

    if (hmcf->secrets == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"helpdesk_acme\" needs "
                           "\"helpdesk_secret_key_file\": the ACME account's "
                           "key and the certificates' keys are stored "
                           "sealed under its keys");
        return NGX_CONF_ERROR;
    }

    if (!hmcf->provider_key_set || !hmcf->pg.set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"helpdesk_acme\" needs \"helpdesk_postgres\" and "
                           "\"helpdesk_provider_key_file\": the order job "
                           "proves itself to the database with the provider "
                           "key");
        return NGX_CONF_ERROR;
    }

    hmcf->acme.secrets = hmcf->secrets;

    /* renewals wait for a passed DNS check only when checks run */
    hmcf->acme.dns_checks = hmcf->domains.check.enabled;

    /* libpq reads a text parameter up to its NUL */
    hmcf->acme.proof.len = hmcf->provider_proof.len;
    hmcf->acme.proof.data = ngx_pnalloc(cf->pool, hmcf->provider_proof.len + 1);
    if (hmcf->acme.proof.data == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(hmcf->acme.proof.data, hmcf->provider_proof.data,
                hmcf->provider_proof.len) = '\0';

    return NGX_CONF_OK;
}


char *
ngx_http_helpdesk_acme_challenge(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_helpdesk_acme_challenge_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_helpdesk_acme_challenge_handler;

    return NGX_CONF_OK;
}
