/*
 * The IMAP fetch job's configuration: "helpdesk_email_fetch" and its
 * defaults (docs/directives.md).  The job itself is
 * ngx_helpdesk_email_fetch.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_email_fetch.h"
#include "ngx_helpdesk_job.h"


void
ngx_helpdesk_email_fetch_defaults(ngx_helpdesk_email_fetch_conf_t *conf)
{
    conf->enabled = 1;
    conf->interval = 1000;
    conf->batch = 4;
    conf->timeout = 60000;
    conf->per_run = 50;
    conf->max_size = 36 * 1024 * 1024;

    conf->oauth[0].kind = "microsoft365";
    ngx_str_set(&conf->oauth[0].authorize,
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize");
    ngx_str_set(&conf->oauth[0].token,
        "https://login.microsoftonline.com/common/oauth2/v2.0/token");
    ngx_str_set(&conf->oauth[0].imap, "imaps://outlook.office365.com:993/INBOX");
    ngx_str_set(&conf->oauth[0].smtp, "smtp://smtp.office365.com:587");
    ngx_str_set(&conf->oauth[0].scope,
        "offline_access https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send");

    conf->oauth[1].kind = "gmail";
    ngx_str_set(&conf->oauth[1].authorize,
        "https://accounts.google.com/o/oauth2/v2/auth");
    ngx_str_set(&conf->oauth[1].token, "https://oauth2.googleapis.com/token");
    ngx_str_set(&conf->oauth[1].imap, "imaps://imap.gmail.com:993/INBOX");
    ngx_str_set(&conf->oauth[1].smtp, "smtps://smtp.gmail.com:465");
    ngx_str_set(&conf->oauth[1].scope, "https://mail.google.com/");
}


ngx_helpdesk_oauth_provider_t *
ngx_helpdesk_email_oauth_provider(ngx_helpdesk_email_fetch_conf_t *conf,
    u_char *kind, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HELPDESK_OAUTH_PROVIDERS; i++) {
        if (conf->oauth[i].kind
            && ngx_strlen(conf->oauth[i].kind) == len
            && ngx_strncmp(conf->oauth[i].kind, kind, len) == 0)
        {
            return &conf->oauth[i];
        }
    }

    return NULL;
}


/*
 * helpdesk_email_oauth microsoft365|gmail [authorize=url] [token=url]
 *     [imap=imaps://host:port/FOLDER] [smtp=smtp(s)://host:port]
 *     [scope="..."]: value[0] is the kind, then n - 1 parameters
 */
char *
ngx_helpdesk_email_oauth_parse(ngx_conf_t *cf, ngx_str_t *value, ngx_uint_t n,
    ngx_helpdesk_email_fetch_conf_t *conf)
{
    size_t                          k;
    ngx_str_t                      *to;
    ngx_uint_t                      i;
    ngx_helpdesk_oauth_provider_t  *p;

    p = ngx_helpdesk_email_oauth_provider(conf, value[0].data, value[0].len);
    if (p == NULL) {
        return "names no provider: microsoft365 or gmail";
    }

    if (p->set) {
        return "is duplicate for this provider";
    }

    p->set = 1;

    for (i = 1; i < n; i++) {
        if (ngx_strncmp(value[i].data, "authorize=", 10) == 0) {
            to = &p->authorize;
            k = 10;

        } else if (ngx_strncmp(value[i].data, "token=", 6) == 0) {
            to = &p->token;
            k = 6;

        } else if (ngx_strncmp(value[i].data, "imap=", 5) == 0) {
            to = &p->imap;
            k = 5;

        } else if (ngx_strncmp(value[i].data, "smtp=", 5) == 0) {
            to = &p->smtp;
            k = 5;

        } else if (ngx_strncmp(value[i].data, "scope=", 6) == 0) {
            to = &p->scope;
            k = 6;

        } else {
            return "has an unknown parameter";
        }

        to->data = value[i].data + k;
        to->len = value[i].len - k;

        if (to->len == 0 || to->len > 500) {
            return "has an empty or too long value";
        }

        if ((to == &p->authorize || to == &p->token)
            && ngx_strncmp(to->data, "https://", 8) != 0
            && ngx_strncmp(to->data, "http://", 7) != 0)
        {
            return "needs http(s) URLs for authorize= and token=";
        }

        if (to == &p->imap && ngx_strncmp(to->data, "imaps://", 8) != 0
            && ngx_strncmp(to->data, "imap://", 7) != 0)
        {
            return "needs an imaps:// or imap:// URL with a folder for imap=";
        }

        if (to == &p->smtp && ngx_strncmp(to->data, "smtps://", 8) != 0
            && ngx_strncmp(to->data, "smtp://", 7) != 0)
        {
            return "needs an smtps:// or smtp:// URL for smtp=";
        }
    }

    return NGX_CONF_OK;
}


static ngx_helpdesk_job_param_t  ngx_helpdesk_email_fetch_params[] = {
    { ngx_string("interval="),
      offsetof(ngx_helpdesk_email_fetch_conf_t, interval), 0 },
    { ngx_string("timeout="),
      offsetof(ngx_helpdesk_email_fetch_conf_t, timeout), 0 },
    { ngx_string("batch="),
      offsetof(ngx_helpdesk_email_fetch_conf_t, batch), 1000 },
    { ngx_string("per_run="),
      offsetof(ngx_helpdesk_email_fetch_conf_t, per_run), 1000 },
    { ngx_null_string, 0, 0 }
};


/* helpdesk_email_fetch off | [interval=] [batch=] [timeout=] [per_run=]
 *                            [max_size=] [ca_file=] */
char *
ngx_helpdesk_email_fetch_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_email_fetch_conf_t *conf)
{
    ngx_int_t  n;
    ngx_str_t  s;

    if (ngx_strncmp(value->data, "max_size=", 9) == 0) {
        s.data = value->data + 9;
        s.len = value->len - 9;
        n = ngx_parse_size(&s);

        if (n < 1024 || n > 256 * 1024 * 1024) {
            return "has an invalid max_size (1k to 256m)";
        }

        conf->max_size = (size_t) n;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "ca_file=", 8) == 0) {
        conf->ca_file.data = value->data + 8;
        conf->ca_file.len = value->len - 8;

        if (conf->ca_file.len == 0
            || ngx_conf_full_name(cf->cycle, &conf->ca_file, 1) != NGX_OK)
        {
            return "has an invalid ca_file";
        }

        return NGX_CONF_OK;
    }

    return ngx_helpdesk_job_param(value, ngx_helpdesk_email_fetch_params,
                                  conf);
}
