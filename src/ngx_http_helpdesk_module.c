/*
 * nginx-helpdesk: the front door.  Directives and configuration; the
 * per-worker services they start are in ngx_http_helpdesk_module_worker.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_http_helpdesk_request.h"
#include "http/ngx_http_helpdesk_log.h"
#include "api/ngx_http_helpdesk_api.h"
#include "whatsapp/ngx_http_helpdesk_whatsapp.h"
#include "app/ngx_http_helpdesk_portal.h"
#include "event/ngx_helpdesk_curl.h"
#include "event/ngx_helpdesk_password.h"
#include "tls/ngx_http_helpdesk_tls.h"


#define NGX_HTTP_HELPDESK_PROVIDER_KEY_MIN  24


static ngx_int_t ngx_http_helpdesk_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_helpdesk_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_helpdesk_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_helpdesk_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_helpdesk_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_helpdesk_provider_key_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_helpdesk_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_helpdesk_smtp(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_helpdesk_outbox(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_helpdesk_whatsapp_webhook(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_command_t  ngx_http_helpdesk_commands[] = {

    { ngx_string("helpdesk_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_postgres,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_helpdesk_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_provider_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_helpdesk_provider_key_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_secret_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_helpdesk_secret_key_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_tls_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_helpdesk_tls_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_tls_certificates"),
      NGX_HTTP_SRV_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_helpdesk_tls_certificates,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_smtp"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_smtp,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_outbox"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_outbox,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_email_oauth"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_email_oauth,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_email_fetch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_email_fetch,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_acme"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_helpdesk_acme,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_acme_challenge"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_helpdesk_acme_challenge,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_outbound_allow"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_outbound_allow,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_whatsapp_media_hosts"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_media_hosts,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_whatsapp_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_helpdesk_whatsapp_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_email_inbound"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_helpdesk_email_inbound,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_helpdesk_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_portal"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_helpdesk_portal,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_agent_console"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_helpdesk_console,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_chat_widget"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_helpdesk_chat_widget_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_base_domain"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_helpdesk_loc_conf_t, base_domain),
      NULL },

    { ngx_string("helpdesk_agent_console_host"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_helpdesk_console_host,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_helpdesk_loc_conf_t, console_host),
      NULL },

    { ngx_string("helpdesk_link_scheme"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_helpdesk_link_scheme,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_upload_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_helpdesk_loc_conf_t, upload_max),
      NULL },

    { ngx_string("helpdesk_session_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_helpdesk_loc_conf_t, session_idle),
      NULL },

    { ngx_string("helpdesk_session_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_helpdesk_loc_conf_t, session_lifetime),
      NULL },

    { ngx_string("helpdesk_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_helpdesk_thread_pool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_chat"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_http_helpdesk_chat,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_chat_limits"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_chat_limits_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("helpdesk_custom_domains"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_helpdesk_custom_domains,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_helpdesk_module_ctx = {
    ngx_http_helpdesk_log_add_variables,   /* preconfiguration */
    ngx_http_helpdesk_postconfiguration,   /* postconfiguration */

    ngx_http_helpdesk_create_main_conf,    /* create main configuration */
    ngx_http_helpdesk_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_helpdesk_create_loc_conf,     /* create location configuration */
    ngx_http_helpdesk_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_helpdesk_module = {
    NGX_MODULE_V1,
    &ngx_http_helpdesk_module_ctx,         /* module context */
    ngx_http_helpdesk_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_helpdesk_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_helpdesk_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the request filters; the inbound mail's and the WhatsApp webhook's
   redacted request lines */
static ngx_int_t
ngx_http_helpdesk_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_helpdesk_req_filters_init(cf) != NGX_OK
        || ngx_http_helpdesk_whatsapp_postconfiguration(cf) != NGX_OK
        || ngx_http_helpdesk_tls_postconfiguration(cf) != NGX_OK
        || ngx_http_helpdesk_domains_postconfiguration(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_helpdesk_email_postconfiguration(cf);
}


static void *
ngx_http_helpdesk_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_helpdesk_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    hmcf->pg.max = NGX_CONF_UNSET_UINT;
    hmcf->pg.backlog = NGX_CONF_UNSET_UINT;
    hmcf->pg.timeout = NGX_CONF_UNSET_MSEC;
    hmcf->redis.timeout = NGX_CONF_UNSET_MSEC;
    hmcf->outbox_enabled = NGX_CONF_UNSET;
    hmcf->thread_pool_queue = NGX_CONF_UNSET_UINT;
    ngx_helpdesk_outbox_defaults(&hmcf->outbox);
    ngx_helpdesk_email_fetch_defaults(&hmcf->email_fetch);

    return hmcf;
}


static char *
ngx_http_helpdesk_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    ngx_conf_init_uint_value(hmcf->pg.max, 8);
    ngx_conf_init_uint_value(hmcf->pg.backlog, 256);
    ngx_conf_init_msec_value(hmcf->pg.timeout, 10000);
    ngx_conf_init_msec_value(hmcf->redis.timeout, 2000);
    ngx_conf_init_value(hmcf->outbox_enabled, 1);

    if (hmcf->thread_pool.len == 0) {
        ngx_str_set(&hmcf->thread_pool, "default");
    }

    /* its "resolver" is known once merged: read it when a worker starts */
    hmcf->http_clcf = ngx_http_conf_get_module_loc_conf(cf,
                                                        ngx_http_core_module);

    if (hmcf->outbox.media_hosts == NULL) {
        if (ngx_http_helpdesk_media_hosts(cf, NULL, hmcf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    /* tenants' secrets are stored only encrypted: no database, no keys */
    if (hmcf->pg.set && hmcf->secrets == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"helpdesk_secret_key_file\" is required with "
                           "\"helpdesk_postgres\": tenants' secrets are "
                           "stored encrypted under its keys");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_uint_value(hmcf->thread_pool_queue,
                             NGX_HELPDESK_PASSWORD_QUEUE);

    if (ngx_http_helpdesk_acme_check(cf, hmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* the email runner builds and signs mail in the same thread pool */
    hmcf->email.outbox = &hmcf->outbox;
    hmcf->email.thread_pool = hmcf->thread_pool;
    hmcf->email.oauth_ca_file = hmcf->email_fetch.ca_file;

    if (hmcf->pg.set && hmcf->outbox_enabled
        && ngx_thread_pool_add(cf, &hmcf->thread_pool) == NULL)
    {
        return NGX_CONF_ERROR;
    }

    if (hmcf->email.set && hmcf->email.url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"helpdesk_smtp\" needs url=");
        return NGX_CONF_ERROR;
    }

    /* mail is fetched where there is a database and the provider key */
    hmcf->email_fetch.enabled = hmcf->email_fetch.enabled && hmcf->pg.set
                                && hmcf->provider_key_set;

    /*
     * a portal hashes passwords, mail is parsed: make sure the thread
     * pool exists
     */
    if ((hmcf->portal_used || hmcf->email_used || hmcf->email_fetch.enabled)
        && ngx_helpdesk_password_pool(cf, &hmcf->thread_pool,
                                      hmcf->thread_pool_queue)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_helpdesk_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf;

    hlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_helpdesk_loc_conf_t));
    if (hlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     hlcf->api_prefix = { 0, NULL };
     */

    hlcf->api = NGX_CONF_UNSET;
    hlcf->whatsapp = NGX_CONF_UNSET;
    hlcf->email = NGX_CONF_UNSET;
    hlcf->portal = NGX_CONF_UNSET;
    hlcf->max_body = NGX_CONF_UNSET_SIZE;
    hlcf->upload_max = NGX_CONF_UNSET_SIZE;
    hlcf->session_idle = NGX_CONF_UNSET;
    hlcf->session_lifetime = NGX_CONF_UNSET;
    hlcf->link_https = NGX_CONF_UNSET;
    hlcf->link_port = NGX_CONF_UNSET_UINT;

    return hlcf;
}


static char *
ngx_http_helpdesk_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_helpdesk_loc_conf_t  *prev = parent;
    ngx_http_helpdesk_loc_conf_t  *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_value(conf->api, prev->api, 0);
    ngx_conf_merge_value(conf->whatsapp, prev->whatsapp, 0);
    ngx_conf_merge_value(conf->email, prev->email, 0);
    ngx_conf_merge_value(conf->portal, prev->portal, 0);
    ngx_conf_merge_str_value(conf->base_domain, prev->base_domain, "");
    ngx_conf_merge_str_value(conf->console_host, prev->console_host, "");

    /* the console on its own names: its tenants are <slug>.<console_host> */
    conf->portal_domain = conf->base_domain;

    if (conf->console == 1 && conf->console_host.len) {
        conf->base_domain = conf->console_host;
    }
    ngx_conf_merge_value(conf->link_https, prev->link_https, 1);
    ngx_conf_merge_uint_value(conf->link_port, prev->link_port, 0);
    ngx_conf_merge_size_value(conf->upload_max, prev->upload_max,
                              25 * 1024 * 1024);
    ngx_conf_merge_sec_value(conf->session_idle, prev->session_idle, 1800);
    ngx_conf_merge_sec_value(conf->session_lifetime, prev->session_lifetime,
                             43200);

    if (conf->session_lifetime < conf->session_idle) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"helpdesk_session_lifetime\" must not be shorter "
                           "than \"helpdesk_session_idle_timeout\"");
        return NGX_CONF_ERROR;
    }

    if ((!conf->api && !conf->whatsapp && !conf->portal && !conf->chat)
        || conf->max_body != NGX_CONF_UNSET_SIZE)
    {
        return NGX_CONF_OK;
    }

    /*
     * Each operation has a body limit of its own, enforced by the request
     * core for bodies with a length and chunked ones alike: the API's and
     * the webhooks' JSON take the location's client_max_body_size, the
     * apps', the chat's and the API's uploads (POST /v1/uploads)
     * helpdesk_upload_max_size.  nginx's own check stays, as the largest
     * of them.  client_body_buffer_size is left as it is: past it a body
     * goes to a temporary file, never to a bigger buffer per request.
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    conf->max_body = clcf->client_max_body_size;

    if (conf->max_body == 0) {
        conf->max_body = NGX_HTTP_HELPDESK_JSON_MAX;
    }

    /* the API takes files too (POST /v1/uploads) */
    if ((conf->portal || conf->chat || conf->api) && clcf->client_max_body_size
        && clcf->client_max_body_size < (off_t) conf->upload_max)
    {
        clcf->client_max_body_size = conf->upload_max;
    }

    return NGX_CONF_OK;
}


/*
 * The provider key is read once, when the configuration is loaded, and
 * only its hash is kept.
 */

static char *
ngx_http_helpdesk_provider_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    u_char       *p, *last;
    ssize_t       n;
    ngx_fd_t      fd;
    ngx_str_t    *value, name;
    ngx_file_t    file;
    u_char        buf[512];

    if (hmcf->provider_key_set) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open \"%V\" in \"%V\" directive",
                           &name, &cmd->name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = name;
    file.log = cf->log;

    n = ngx_read_file(&file, buf, sizeof(buf), 0);
    ngx_close_file(fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    p = buf;
    last = buf + n;

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t'
                        || last[-1] == '\r' || last[-1] == '\n'))
    {
        last--;
    }

    if (n == (ssize_t) sizeof(buf) || last - p < NGX_HTTP_HELPDESK_PROVIDER_KEY_MIN
        || ngx_strlchr(p, last, '\n') || ngx_strlchr(p, last, ' '))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key in \"%V\" for \"%V\" directive: "
                           "one line of %d to %d characters without spaces",
                           &name, &cmd->name,
                           NGX_HTTP_HELPDESK_PROVIDER_KEY_MIN,
                           (int) sizeof(buf) - 1);
        return NGX_CONF_ERROR;
    }

    ngx_helpdesk_sha256(p, last - p, hmcf->provider_key_hash);
    ngx_explicit_memzero(buf, sizeof(buf));

    hmcf->provider_proof.data = ngx_pnalloc(cf->pool,
                                            2 + 2 * NGX_HELPDESK_SHA256_LEN);
    if (hmcf->provider_proof.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(hmcf->provider_proof.data, "\\x", 2);
    p = ngx_hex_dump(p, hmcf->provider_key_hash, NGX_HELPDESK_SHA256_LEN);
    hmcf->provider_proof.len = p - hmcf->provider_proof.data;

    hmcf->provider_key_set = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_helpdesk_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (hlcf->api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named || clcf->regex || clcf->exact_match) {
        return "must be in a prefix location such as \"location /api/\"";
    }

    hlcf->api = 1;

    /* the API's base URL: the location's prefix without its last '/' */
    hlcf->api_prefix = clcf->name;

    if (hlcf->api_prefix.len && hlcf->api_prefix.data[hlcf->api_prefix.len - 1]
                                == '/')
    {
        hlcf->api_prefix.len--;
    }

    clcf->handler = ngx_http_helpdesk_api_handler;

    return NGX_CONF_OK;
}


/*
 * helpdesk_smtp url=smtp://relay:587 [user=...] [password_file=...]
 *               [from=...];  the provider's relay, for tenants without one
 */

static char *
ngx_http_helpdesk_smtp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    char        *err;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (hmcf->email.set) {
        return "is duplicate";
    }

    hmcf->email.set = 1;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        err = ngx_helpdesk_email_smtp_parse(cf, &value[i], &hmcf->email);
        if (err != NGX_CONF_OK) {
            if (err != NGX_CONF_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\" in \"%V\" "
                                   "directive: %s", &value[i], &cmd->name,
                                   err);
            }

            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_helpdesk_outbox(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    char        *err;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (hmcf->outbox_enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        hmcf->outbox_enabled = 0;
        return NGX_CONF_OK;
    }

    hmcf->outbox_enabled = 1;

    for (i = 1; i < cf->args->nelts; i++) {
        err = ngx_helpdesk_outbox_parse(cf, &value[i], &hmcf->outbox);
        if (err != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive: %s",
                               &value[i], &cmd->name, err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_helpdesk_whatsapp_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_helpdesk_loc_conf_t  *hlcf = conf;

    u_char                         *p;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    if (hlcf->whatsapp != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named || clcf->regex || clcf->exact_match) {
        return "must be in a prefix location such as "
               "\"location /whatsapp/\"";
    }

    hlcf->whatsapp = 1;
    clcf->handler = ngx_http_helpdesk_whatsapp_handler;

    /* the webhook URLs the API hands out are built on the first one */
    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_helpdesk_module);

    if (hmcf->whatsapp_prefix.len == 0) {
        p = ngx_pnalloc(cf->pool, clcf->name.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        hmcf->whatsapp_prefix.data = p;
        p = ngx_cpymem(p, clcf->name.data, clcf->name.len);

        if (clcf->name.len == 0 || clcf->name.data[clcf->name.len - 1] != '/') {
            *p++ = '/';
        }

        hmcf->whatsapp_prefix.len = p - hmcf->whatsapp_prefix.data;
    }

    return NGX_CONF_OK;
}
