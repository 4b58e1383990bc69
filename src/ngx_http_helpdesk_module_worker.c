/*
 * nginx-helpdesk: a worker's life.  The services every channel shares,
 * started in init_process (the PostgreSQL pool, the Redis client, the
 * thread pool's users, libcurl) and the jobs on them (the outbox and email
 * runners, the rekey, the chat's record, the IMAP fetch), stopped in
 * exit_process.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "http/ngx_http_helpdesk_request.h"
#include "api/ngx_http_helpdesk_api.h"
#include "whatsapp/ngx_http_helpdesk_whatsapp.h"
#include "app/ngx_http_helpdesk_portal.h"
#include "event/ngx_helpdesk_curl.h"
#include "event/ngx_helpdesk_password.h"
#include "tls/ngx_http_helpdesk_tls.h"


static ngx_int_t ngx_http_helpdesk_fetch_temp(ngx_cycle_t *cycle,
    ngx_helpdesk_email_fetch_conf_t *conf);


ngx_int_t
ngx_http_helpdesk_init_process(ngx_cycle_t *cycle)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    hmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_helpdesk_module);
    if (hmcf == NULL) {
        return NGX_OK;
    }

    if (hmcf->pg.set
        && ngx_helpdesk_pg_init_worker(cycle, &hmcf->pg) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (hmcf->redis.set
        && ngx_helpdesk_redis_init_worker(cycle, &hmcf->redis) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((hmcf->portal_used || hmcf->email_used || hmcf->email_fetch.enabled)
        && ngx_helpdesk_password_init_worker(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * GMime's globals, once per worker, before the first mail (pushed or
     * fetched) reaches the thread pool
     */
    if (hmcf->email_used || hmcf->email_fetch.enabled) {
        ngx_http_helpdesk_email_init_process(cycle);
    }

    /* the chat: a subscriber connection, the deadlines, the record */
    if (hmcf->redis.set
        && (ngx_helpdesk_redis_sub_init_worker(cycle, &hmcf->redis) != NGX_OK
            || ngx_http_helpdesk_chat_timers_init(cycle) != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (hmcf->redis.set) {
        hmcf->chat_converted = ngx_http_helpdesk_chat_converted_by_api;
        hmcf->chat_groups = ngx_http_helpdesk_chat_groups_changed_by_api;
    }

    if (hmcf->redis.set && hmcf->pg.set && hmcf->provider_key_set) {
        *ngx_cpymem(hmcf->chat_proof, hmcf->provider_proof.data,
                    hmcf->provider_proof.len) = '\0';

        if (ngx_helpdesk_chat_persist_init_worker(cycle, hmcf->chat_proof)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (hmcf->pg.set) {
        hmcf->outbound.resolver = hmcf->http_clcf->resolver;
        hmcf->outbound.resolver_timeout = hmcf->http_clcf->resolver_timeout;

        if (hmcf->outbound.resolver
            && hmcf->outbound.resolver->connections.nelts == 0)
        {
            hmcf->outbound.resolver = NULL;     /* no "resolver" given */
        }

        if (ngx_helpdesk_curl_init_worker(cycle, &hmcf->outbound) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (hmcf->provider_key_set) {
            *ngx_cpymem(hmcf->outbox.proof, hmcf->provider_proof.data,
                        hmcf->provider_proof.len) = '\0';
        }

        if (hmcf->outbox_enabled
            && (ngx_helpdesk_outbox_init_worker(cycle, &hmcf->outbox)
                != NGX_OK
                || ngx_helpdesk_email_init_worker(cycle, &hmcf->email)
                   != NGX_OK))
        {
            return NGX_ERROR;
        }

        if (ngx_helpdesk_rekey_init_worker(cycle, hmcf->secrets,
                                           hmcf->outbox.proof)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        hmcf->email_fetch.proof = hmcf->outbox.proof;
        hmcf->email_fetch.secrets = hmcf->secrets;

        if (hmcf->email_fetch.enabled
            && ngx_http_helpdesk_fetch_temp(cycle, &hmcf->email_fetch)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_helpdesk_email_fetch_init_worker(cycle, &hmcf->email_fetch)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the certificates of tenants' names: worker 0's sync */
        if (ngx_helpdesk_tls_sync_init_worker(cycle) != NGX_OK) {
            return NGX_ERROR;
        }

        /* the DNS check of tenants' own domains */
        hmcf->domains.check.proof = hmcf->outbox.proof;

        if (ngx_helpdesk_domain_check_init_worker(cycle, &hmcf->domains.check)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_helpdesk_acme_init_worker(cycle, &hmcf->acme) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Where a fetched message is written and its attachments decoded: the
 * first server's client_body_temp_path, where a pushed mail's go (nginx
 * made it at start); and the links of the mail it makes the helpdesk
 * send, as that server names the tenants' portals.
 */
static ngx_int_t
ngx_http_helpdesk_fetch_temp(ngx_cycle_t *cycle,
    ngx_helpdesk_email_fetch_conf_t *conf)
{
    ngx_path_t                 *path;
    ngx_http_core_srv_conf_t  **cscfp;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_helpdesk_loc_conf_t  *hlcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_core_module);
    if (cmcf == NULL || cmcf->servers.nelts == 0) {
        return NGX_OK;      /* no server: the job says why at its first mail */
    }

    cscfp = cmcf->servers.elts;
    clcf = cscfp[0]->ctx->loc_conf[ngx_http_core_module.ctx_index];
    path = clcf->client_body_temp_path;

    conf->temp_dir = ngx_pnalloc(cycle->pool, path->name.len + 1);
    if (conf->temp_dir == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(conf->temp_dir, path->name.data, path->name.len + 1);
    conf->temp_path = path;

    hlcf = cscfp[0]->ctx->loc_conf[ngx_http_helpdesk_module.ctx_index];
    conf->link_base = hlcf->portal_domain;
    conf->link_https = hlcf->link_https;
    conf->link_port = hlcf->link_port;

    return NGX_OK;
}


void
ngx_http_helpdesk_exit_process(ngx_cycle_t *cycle)
{
    ngx_helpdesk_chat_persist_exit_worker();
    ngx_http_helpdesk_chat_timers_exit();
    ngx_helpdesk_redis_sub_exit_worker();
    ngx_helpdesk_rekey_exit_worker();
    ngx_helpdesk_tls_sync_exit_worker();
    ngx_helpdesk_email_exit_worker();
    ngx_helpdesk_acme_exit_worker();
    ngx_helpdesk_email_fetch_exit_worker();
    ngx_helpdesk_domain_check_exit_worker();
    ngx_helpdesk_outbox_exit_worker();
    ngx_helpdesk_curl_exit_worker();
    ngx_helpdesk_redis_exit_worker();
    ngx_helpdesk_pg_exit_worker();
}
