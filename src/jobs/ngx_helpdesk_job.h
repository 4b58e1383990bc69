/*
 * What the periodic jobs of a worker (the outbox runner, the mail fetch)
 * share: their directive's time and number parameters, and their tick.
 */

#ifndef _NGX_HELPDESK_JOB_H_INCLUDED_
#define _NGX_HELPDESK_JOB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/*
 * A "name=value" parameter: a time (ngx_msec_t, not 0) when "max" is 0,
 * otherwise a number (ngx_uint_t) from 1 to "max", stored at "offset" in
 * the job's configuration.  A list ends with an empty name.
 */
typedef struct {
    ngx_str_t       name;           /* with its "=" */
    size_t          offset;
    ngx_uint_t      max;
} ngx_helpdesk_job_param_t;


/*
 * NGX_CONF_OK, or why "value" is not one of "params" or not valid
 * ("has an unknown parameter", "has an invalid time", ...).
 */
char *ngx_helpdesk_job_param(ngx_str_t *value,
    ngx_helpdesk_job_param_t *params, void *conf);

/*
 * Sets up a job's tick (cancelable, so that a worker exits at once) and
 * its first run, somewhere in the first "interval" so that the workers'
 * looks are spread.
 */
void ngx_helpdesk_job_start(ngx_event_t *tick, ngx_event_handler_pt handler,
    void *data, ngx_log_t *log, ngx_msec_t interval);


#endif /* _NGX_HELPDESK_JOB_H_INCLUDED_ */
