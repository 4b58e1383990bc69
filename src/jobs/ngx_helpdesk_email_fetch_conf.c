/*
 * The IMAP fetch job's configuration: "helpdesk_email_fetch" and its
 * defaults (docs/directives.md).  The job itself is
 * ngx_helpdesk_email_fetch.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_email_fetch.h"


void
ngx_helpdesk_email_fetch_defaults(ngx_helpdesk_email_fetch_conf_t *conf)
{
    conf->enabled = 1;
    conf->interval = 1000;
    conf->batch = 4;
    conf->timeout = 60000;
    conf->per_run = 50;
    conf->max_size = 36 * 1024 * 1024;
}


/* helpdesk_email_fetch off | [interval=] [batch=] [timeout=] [per_run=]
 *                            [max_size=] [ca_file=] */
char *
ngx_helpdesk_email_fetch_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_email_fetch_conf_t *conf)
{
    ngx_int_t    n;
    ngx_str_t    s;
    ngx_msec_t  *ms;
    ngx_uint_t  *num;

    ms = NULL;
    num = NULL;

    if (ngx_strncmp(value->data, "interval=", 9) == 0) {
        ms = &conf->interval;
        s.data = value->data + 9;

    } else if (ngx_strncmp(value->data, "timeout=", 8) == 0) {
        ms = &conf->timeout;
        s.data = value->data + 8;

    } else if (ngx_strncmp(value->data, "batch=", 6) == 0) {
        num = &conf->batch;
        s.data = value->data + 6;

    } else if (ngx_strncmp(value->data, "per_run=", 8) == 0) {
        num = &conf->per_run;
        s.data = value->data + 8;

    } else if (ngx_strncmp(value->data, "max_size=", 9) == 0) {
        s.data = value->data + 9;
        s.len = value->len - 9;
        n = ngx_parse_size(&s);

        if (n < 1024 || n > 256 * 1024 * 1024) {
            return "has an invalid max_size (1k to 256m)";
        }

        conf->max_size = (size_t) n;
        return NGX_CONF_OK;

    } else if (ngx_strncmp(value->data, "ca_file=", 8) == 0) {
        conf->ca_file.data = value->data + 8;
        conf->ca_file.len = value->len - 8;

        if (conf->ca_file.len == 0
            || ngx_conf_full_name(cf->cycle, &conf->ca_file, 1) != NGX_OK)
        {
            return "has an invalid ca_file";
        }

        return NGX_CONF_OK;

    } else {
        return "has an unknown parameter";
    }

    s.len = value->len - (s.data - value->data);

    if (ms) {
        *ms = ngx_parse_time(&s, 0);
        if (*ms == (ngx_msec_t) NGX_ERROR || *ms == 0) {
            return "has an invalid time";
        }

        return NGX_CONF_OK;
    }

    n = ngx_atoi(s.data, s.len);
    if (n < 1 || n > 1000) {
        return "has an invalid number";
    }

    *num = (ngx_uint_t) n;

    return NGX_CONF_OK;
}
