/*
 * What the periodic jobs of a worker share (ngx_helpdesk_job.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_job.h"


char *
ngx_helpdesk_job_param(ngx_str_t *value, ngx_helpdesk_job_param_t *params,
    void *conf)
{
    ngx_int_t                  n;
    ngx_str_t                  s;
    ngx_msec_t                 ms;
    ngx_helpdesk_job_param_t  *p;

    for (p = params; p->name.len; p++) {
        if (value->len >= p->name.len
            && ngx_strncmp(value->data, p->name.data, p->name.len) == 0)
        {
            break;
        }
    }

    if (p->name.len == 0) {
        return "has an unknown parameter";
    }

    s.data = value->data + p->name.len;
    s.len = value->len - p->name.len;

    if (p->max == 0) {
        ms = ngx_parse_time(&s, 0);
        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            return "has an invalid time";
        }

        *(ngx_msec_t *) ((u_char *) conf + p->offset) = ms;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(s.data, s.len);
    if (n < 1 || (ngx_uint_t) n > p->max) {
        return "has an invalid number";
    }

    *(ngx_uint_t *) ((u_char *) conf + p->offset) = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


void
ngx_helpdesk_job_start(ngx_event_t *tick, ngx_event_handler_pt handler,
    void *data, ngx_log_t *log, ngx_msec_t interval)
{
    tick->handler = handler;
    tick->data = data;
    tick->log = log;
    tick->cancelable = 1;

    ngx_add_timer(tick, 100 + (ngx_msec_t) ngx_random() % interval);
}
