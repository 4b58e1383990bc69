/*
 * nginx-helpdesk: a multi-tenant support gateway inside nginx.
 *
 * Shared declarations of the HTTP module: its configuration and the
 * per-worker services (PostgreSQL pool, Redis client) every channel uses.
 */

#ifndef _NGX_HTTP_HELPDESK_MODULE_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "event/ngx_helpdesk_pg.h"
#include "event/ngx_helpdesk_redis.h"
#include "event/ngx_helpdesk_redis_sub.h"
#include "jobs/ngx_helpdesk_chat_persist.h"
#include "event/ngx_helpdesk_curl.h"
#include "jobs/ngx_helpdesk_outbox.h"
#include "jobs/ngx_helpdesk_rekey.h"
#include "email/ngx_helpdesk_email_out.h"
#include "jobs/ngx_helpdesk_email_fetch.h"
#include "jobs/ngx_helpdesk_domain_check.h"
#include "lib/ngx_helpdesk_crypto.h"
#include "lib/ngx_helpdesk_secret.h"
#include "tls/ngx_helpdesk_acme.h"
#include <jansson.h>


/* a JSON body where the location sets no limit of its own */
#define NGX_HTTP_HELPDESK_JSON_MAX   (1024 * 1024)


/*
 * Tenants' own domains (helpdesk_custom_domains): the provider's zone for
 * the names they point to; empty without the directive.  The DNS check's
 * settings (edge=, resolver=, ...).
 */
typedef struct {
    ngx_str_t                   cname_zone;
    ngx_helpdesk_domain_check_conf_t  check;
    ngx_flag_t                  set;
} ngx_http_helpdesk_domains_conf_t;


typedef struct {
    ngx_helpdesk_pg_conf_t      pg;
    ngx_helpdesk_redis_conf_t   redis;
    ngx_helpdesk_outbox_conf_t  outbox;
    ngx_flag_t                  outbox_enabled;
    ngx_helpdesk_email_conf_t   email;          /* helpdesk_smtp */

    /* SHA-256 of the hosting provider's admin key, never the key itself */
    u_char                      provider_key_hash[NGX_HELPDESK_SHA256_LEN];
    ngx_flag_t                  provider_key_set;

    /*
     * The same hash as a bytea literal ("\\x" and hex), the module's proof
     * to the database where an entry point looks across tenants or hands
     * out an account's secrets (rest.module_proof); empty without a key.
     */
    ngx_str_t                   provider_proof;

    /* where outbound requests may go (helpdesk_outbound_allow, resolver) */
    ngx_helpdesk_curl_conf_t    outbound;
    ngx_http_core_loc_conf_t   *http_clcf;      /* the http block's resolver */

    /* where WhatsApp webhooks arrive: the location's prefix, with '/' */
    ngx_str_t                   whatsapp_prefix;

    /* where mail is pushed in (helpdesk_email_inbound): prefix, with '/' */
    ngx_str_t                   email_prefix;
    ngx_flag_t                  email_used;

    /* mailboxes fetched by IMAP (helpdesk_email_fetch) */
    ngx_helpdesk_email_fetch_conf_t  email_fetch;
    ngx_flag_t                  email_fetch_set;

    /* where the chat's widget is served (helpdesk_chat_widget), with '/' */
    ngx_str_t                   chat_widget_prefix;
    /*
     * each server with helpdesk_chat_widget: its core server conf, then
     * its location's name (a portal on that server loads the widget from
     * its own name, where its session cookie reaches the chat)
     */
    ngx_array_t                *chat_widget_servers;  /* of void *, pairs */

    /* password hashing runs in this thread pool (when a portal exists) */
    ngx_str_t                   thread_pool;
    ngx_uint_t                  thread_pool_queue;
    ngx_flag_t                  portal_used;

    /* the keys of secrets at rest (helpdesk_secret_key_file), or NULL */
    ngx_helpdesk_secret_ring_t *secrets;

    /* the provider proof for the chat's record, null-terminated */
    u_char                      chat_proof[2 + 64 + 1];

    /*
     * Tells a live chat that its conversation became a ticket through the
     * REST API (set by the front door to the chat's function: surfaces
     * never call each other directly).
     */
    void                      (*chat_converted)(ngx_str_t *conversation);

    /*
     * Tells the chat that a group of agents changed through the REST API
     * (committed): the agents' groups are read again.
     */
    void                      (*chat_groups)(ngx_str_t *group);

    /*
     * The chat's rate limits (helpdesk_chat_limits): messages per visitor,
     * per address, new conversations per visitor, per address; each a
     * count (0: none) in a window of seconds.  Unset: the defaults.
     */
    ngx_uint_t                  chat_limit[4];
    time_t                      chat_window[4];
    ngx_flag_t                  chat_limits_set;

    /* certificates ordered by ACME (helpdesk_acme) */
    ngx_helpdesk_acme_conf_t    acme;

    /* tenants' own domains (helpdesk_custom_domains) */
    ngx_http_helpdesk_domains_conf_t  domains;

    /* certificates of tenants' names (tls/ngx_http_helpdesk_tls.h) */
    void                       *tls;
} ngx_http_helpdesk_main_conf_t;


typedef struct {
    ngx_flag_t                  api;
    ngx_flag_t                  whatsapp;
    ngx_flag_t                  email;          /* helpdesk_email_inbound */
    ngx_flag_t                  portal;         /* the portal or the console */
    ngx_str_t                   api_prefix;     /* location name, no '/' at end */
    ngx_str_t                   app_prefix;     /* the same, for the apps */
    size_t                      max_body;       /* API and webhook bodies */

    /* the portal */
    ngx_str_t                   base_domain;

    /*
     * The console: on its own names when console_host is set, then the
     * tenant is <slug>.<console_host> (base_domain becomes console_host in
     * the console's locations; portal_domain keeps the portal's).
     */
    ngx_flag_t                  console;
    ngx_str_t                   console_host;
    ngx_str_t                   portal_domain;

    /* links handed out: https or http, and a port other than the usual */
    ngx_flag_t                  link_https;
    ngx_uint_t                  link_port;

    size_t                      upload_max;
    time_t                      session_idle;
    time_t                      session_lifetime;

    /* the chat (helpdesk_chat): 0, or its role (VISITOR, AGENT) */
    ngx_uint_t                  chat;
    ngx_str_t                   chat_prefix;    /* location name, with '/' */
    ngx_msec_t                  chat_ping;
} ngx_http_helpdesk_loc_conf_t;


extern ngx_module_t  ngx_http_helpdesk_module;


/* ngx_http_helpdesk_module_stores.c: where PostgreSQL and Redis are */
char *ngx_http_helpdesk_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* ngx_http_helpdesk_module_apps.c: the apps' directives */
char *ngx_http_helpdesk_portal(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_console(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_link_scheme(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_console_host(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* ngx_http_helpdesk_secrets.c */
char *ngx_http_helpdesk_secret_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_helpdesk_secret_ring_t *ngx_http_helpdesk_secrets(ngx_http_request_t *r);

/*
 * Replaces the string args[field] (if there is one) with its ciphertext,
 * bound to table.column of the row; NGX_ERROR without a key file.
 */
ngx_int_t ngx_http_helpdesk_secret_seal(ngx_http_request_t *r, json_t *args,
    const char *field, const char *table, const char *column, ngx_str_t *row);

/*
 * The plaintext of a stored value (ngx_helpdesk_secret_decrypt), logging
 * which value failed (never the value) when it is NGX_DECLINED.
 */
ngx_int_t ngx_http_helpdesk_secret_open(ngx_helpdesk_secret_ring_t *ring,
    ngx_pool_t *pool, ngx_log_t *log, const char *table, const char *column,
    ngx_str_t *row, ngx_str_t *value, ngx_str_t *plain);

/* email/ngx_http_helpdesk_email_inbound.c: mail pushed in */
char *ngx_http_helpdesk_email_inbound(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_helpdesk_email_handler(ngx_http_request_t *r);
void ngx_http_helpdesk_email_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_helpdesk_email_postconfiguration(ngx_conf_t *cf);

/* chat/ngx_http_helpdesk_chat_http.c: the chat's transports */
char *ngx_http_helpdesk_chat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_http_helpdesk_module_worker.c: a worker's services and jobs */
ngx_int_t ngx_http_helpdesk_init_process(ngx_cycle_t *cycle);
void ngx_http_helpdesk_exit_process(ngx_cycle_t *cycle);

/* ngx_http_helpdesk_module_outbound.c: where outbound requests may go */
char *ngx_http_helpdesk_outbound_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_media_hosts(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_email_oauth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_email_fetch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_helpdesk_module_acme.c: automatic TLS by ACME */
char *ngx_http_helpdesk_acme(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_helpdesk_acme_challenge(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_acme_check(ngx_conf_t *cf,
    ngx_http_helpdesk_main_conf_t *hmcf);

/* ngx_http_helpdesk_module_domains.c: helpdesk_custom_domains */
ngx_int_t ngx_http_helpdesk_domains_postconfiguration(ngx_conf_t *cf);
char *ngx_http_helpdesk_custom_domains(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* chat/ngx_http_helpdesk_chat_widget.c: the website chat's script */
char *ngx_http_helpdesk_chat_widget_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


/* src/chat/ngx_http_helpdesk_chat_session.c: helpdesk_chat_limits */
char *ngx_http_helpdesk_chat_limits_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* src/chat/ngx_http_helpdesk_chat_timers.c: the chat's per-worker parts */
ngx_int_t ngx_http_helpdesk_chat_timers_init(ngx_cycle_t *cycle);
void ngx_http_helpdesk_chat_timers_exit(void);

/* src/chat/ngx_http_helpdesk_chat_convert.c: a REST conversion, to the chat */
void ngx_http_helpdesk_chat_converted_by_api(ngx_str_t *conv);

/* src/chat/ngx_http_helpdesk_chat_groups.c: a group changed, to the chat */
void ngx_http_helpdesk_chat_groups_changed_by_api(ngx_str_t *group);


#endif /* _NGX_HTTP_HELPDESK_MODULE_H_INCLUDED_ */
