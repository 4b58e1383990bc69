/*
 * The certificates a node serves: a shared-memory table of name ->
 * {tenant, seq, generation, not_after, blob} (helpdesk_tls_store zone=);
 * the node-local files that keep them across restarts are in
 * ngx_http_helpdesk_tls_files.c.
 *
 * The table is written by worker 0's sync (and, later, by the worker that
 * obtained a certificate); every worker's certificate callback reads it.
 * A new blob is allocated first, then swapped in under the zone's mutex,
 * and the old one freed: a reader copies the blob under the same mutex.
 * On a reload the zone (same name and size) is kept with its entries.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include "ngx_http_helpdesk_module.h"
#include "tls/ngx_http_helpdesk_tls.h"




typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_uint_t                      count;
    ngx_uint_t                      loaded;
    time_t                          alert_at;
    ngx_uint_t                      epoch;      /* of the full sync */
    int64_t                         synced_seq;
    time_t                          synced_at;
    time_t                          failed_at;
    size_t                          error_len;
    u_char                          error[NGX_HTTP_HELPDESK_TLS_ERROR_MAX];
} ngx_http_helpdesk_tls_sh_t;


typedef struct {
    ngx_str_node_t                  sn;         /* crc32, then the host */
    u_char                          tenant[NGX_HTTP_HELPDESK_TLS_TENANT_LEN];
    int64_t                         seq;
    ngx_uint_t                      generation;
    time_t                          not_after;
    ngx_uint_t                      epoch;      /* the sync that saw it */
    u_char                         *blob;
    size_t                          blob_len;
    u_char                          host[1];
} ngx_http_helpdesk_tls_node_t;


static ngx_int_t ngx_http_helpdesk_tls_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_helpdesk_tls_node_t *ngx_http_helpdesk_tls_lookup(
    ngx_http_helpdesk_tls_sh_t *sh, u_char *host, size_t len, uint32_t hash);


/* helpdesk_tls_store zone=<name>:<size> dir=<path> [sync=2s] [cache=<n>] */

char *
ngx_http_helpdesk_tls_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    u_char                        *p;
    ssize_t                        size;
    ngx_str_t                     *value, name, s;
    ngx_uint_t                     i;
    ngx_path_t                    *path;
    ngx_http_helpdesk_tls_conf_t  *tcf;

    tcf = hmcf->tls;

    if (tcf && tcf->zone) {
        return "is duplicate";
    }

    if (tcf == NULL) {
        tcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_helpdesk_tls_conf_t));
        if (tcf == NULL
            || ngx_array_init(&tcf->servers, cf->pool, 2,
                              sizeof(ngx_http_helpdesk_tls_srv_t))
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        hmcf->tls = tcf;
    }

    tcf->sync = 2000;
    tcf->cache = 10000;
    size = 0;
    ngx_str_null(&name);

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');
            if (p == NULL) {
                goto invalid;
            }

            name.len = p - name.data;
            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;
            size = ngx_parse_size(&s);

            if (name.len == 0 || size == NGX_ERROR
                || size < (ssize_t) (8 * ngx_pagesize))
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "dir=", 4) == 0) {
            tcf->dir.data = value[i].data + 4;
            tcf->dir.len = value[i].len - 4;

            while (tcf->dir.len > 1
                   && tcf->dir.data[tcf->dir.len - 1] == '/')
            {
                tcf->dir.len--;
            }

            if (tcf->dir.len == 0
                || ngx_conf_full_name(cf->cycle, &tcf->dir, 0) != NGX_OK)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "sync=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;
            tcf->sync = ngx_parse_time(&s, 0);

            if (tcf->sync == (ngx_msec_t) NGX_ERROR || tcf->sync == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "cache=", 6) == 0) {
            tcf->cache = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (tcf->cache == (ngx_uint_t) NGX_ERROR || tcf->cache == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (name.len == 0 || tcf->dir.len == 0) {
        return "needs zone=<name>:<size> and dir=<path>";
    }

    /* nginx makes the directory at start, owned by the workers' user */
    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = tcf->dir;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tcf->zone = ngx_shared_memory_add(cf, &name, size,
                                      &ngx_http_helpdesk_module);
    if (tcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (tcf->zone->data) {
        return "has a zone name already used";
    }

    tcf->zone->init = ngx_http_helpdesk_tls_init_zone;
    tcf->zone->data = tcf;
    tcf->zone->noreuse = 0;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"%V\"", &value[i],
                       &cmd->name);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_helpdesk_tls_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_helpdesk_tls_conf_t  *octx = data;

    ngx_slab_pool_t               *shpool;
    ngx_http_helpdesk_tls_sh_t    *sh;
    ngx_http_helpdesk_tls_conf_t  *tcf;

    tcf = shm_zone->data;

    if (octx) {
        /* a reload: the same zone, with what it serves */
        shm_zone->data = tcf;
        tcf->zone = shm_zone;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_helpdesk_tls_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);

    shpool->log_ctx = ngx_slab_alloc(shpool, sizeof(" in helpdesk_tls_store "
                                                    "zone \"\"")
                                             + shm_zone->shm.name.len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in helpdesk_tls_store zone \"%V\"%Z",
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_http_helpdesk_tls_conf_t *
ngx_http_helpdesk_tls_conf(void)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_helpdesk_module);
    if (hmcf == NULL || hmcf->tls == NULL) {
        return NULL;
    }

    return ((ngx_http_helpdesk_tls_conf_t *) hmcf->tls)->zone ? hmcf->tls
                                                              : NULL;
}


static ngx_slab_pool_t *
ngx_http_helpdesk_tls_shpool(void)
{
    ngx_http_helpdesk_tls_conf_t  *tcf;

    tcf = ngx_http_helpdesk_tls_conf();
    if (tcf == NULL || tcf->zone->shm.addr == NULL) {
        return NULL;
    }

    return (ngx_slab_pool_t *) tcf->zone->shm.addr;
}


/*
 * The tree's order is crc32 of the host, then the host itself
 * (ngx_str_rbtree_insert_value).  nginx's ngx_rbtree_insert_value puts an
 * equal key to the right whatever the name, so that two names of the same
 * crc32 (easily made) could no longer be found: one name's certificate
 * never served, or a second entry for it that a tombstone does not remove.
 */
static ngx_http_helpdesk_tls_node_t *
ngx_http_helpdesk_tls_lookup(ngx_http_helpdesk_tls_sh_t *sh, u_char *host,
    size_t len, uint32_t hash)
{
    ngx_str_t  name;

    name.data = host;
    name.len = len;

    return (ngx_http_helpdesk_tls_node_t *)
               ngx_str_rbtree_lookup(&sh->rbtree, &name, hash);
}


ngx_int_t
ngx_http_helpdesk_tls_store_put(ngx_http_helpdesk_tls_cert_t *c)
{
    u_char                        *blob, *old;
    uint32_t                       hash;
    ngx_slab_pool_t               *shpool;
    ngx_http_helpdesk_tls_sh_t    *sh;
    ngx_http_helpdesk_tls_node_t  *n;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL || c->host.len == 0
        || c->host.len > NGX_HTTP_HELPDESK_TLS_HOST_MAX
        || c->blob.len == 0 || c->blob.len > NGX_HTTP_HELPDESK_TLS_BLOB_MAX)
    {
        return NGX_ERROR;
    }

    sh = shpool->data;
    hash = ngx_crc32_short(c->host.data, c->host.len);

    ngx_shmtx_lock(&shpool->mutex);

    n = ngx_http_helpdesk_tls_lookup(sh, c->host.data, c->host.len, hash);

    if (n && n->seq > c->seq) {
        n->epoch = sh->epoch;
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;      /* something newer is there */
    }

    blob = ngx_slab_alloc_locked(shpool, c->blob.len);

    if (blob && n == NULL) {
        n = ngx_slab_alloc_locked(shpool,
                                  sizeof(ngx_http_helpdesk_tls_node_t)
                                  + c->host.len);
        if (n == NULL) {
            ngx_slab_free_locked(shpool, blob);
            blob = NULL;

        } else {
            ngx_memcpy(n->host, c->host.data, c->host.len);
            n->sn.str.data = n->host;
            n->sn.str.len = c->host.len;
            n->sn.node.key = hash;
            n->blob = NULL;

            ngx_rbtree_insert(&sh->rbtree, &n->sn.node);
            sh->count++;
        }
    }

    if (blob == NULL) {
        if (sh->alert_at + 60 <= ngx_time()) {
            sh->alert_at = ngx_time();
            ngx_shmtx_unlock(&shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "helpdesk tls: the zone of \"helpdesk_tls_store\" "
                          "is full: the certificate of \"%V\" is not "
                          "served (make the zone larger)", &c->host);
            return NGX_DECLINED;
        }

        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_memcpy(blob, c->blob.data, c->blob.len);

    old = n->blob;
    n->blob = blob;
    n->blob_len = c->blob.len;
    n->seq = c->seq;
    n->generation = c->generation;
    n->not_after = c->not_after;
    n->epoch = sh->epoch;
    ngx_memcpy(n->tenant, c->tenant, NGX_HTTP_HELPDESK_TLS_TENANT_LEN);

    if (old) {
        ngx_slab_free_locked(shpool, old);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


void
ngx_http_helpdesk_tls_store_remove(ngx_str_t *host, u_char *tenant,
    int64_t seq)
{
    uint32_t                       hash;
    ngx_slab_pool_t               *shpool;
    ngx_http_helpdesk_tls_sh_t    *sh;
    ngx_http_helpdesk_tls_node_t  *n;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return;
    }

    sh = shpool->data;
    hash = ngx_crc32_short(host->data, host->len);

    ngx_shmtx_lock(&shpool->mutex);

    n = ngx_http_helpdesk_tls_lookup(sh, host->data, host->len, hash);

    /* another tenant's name now, or a newer certificate: not ours to drop */
    if (n && n->seq <= seq
        && ngx_memcmp(n->tenant, tenant, NGX_HTTP_HELPDESK_TLS_TENANT_LEN)
           == 0)
    {
        ngx_rbtree_delete(&sh->rbtree, &n->sn.node);
        sh->count--;
        ngx_slab_free_locked(shpool, n->blob);
        ngx_slab_free_locked(shpool, n);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


ngx_int_t
ngx_http_helpdesk_tls_store_get(u_char *host, size_t len, int64_t seq,
    ngx_http_helpdesk_tls_cert_t *out, ngx_log_t *log)
{
    size_t                         n_len;
    u_char                        *copy;
    uint32_t                       hash;
    ngx_slab_pool_t               *shpool;
    ngx_http_helpdesk_tls_sh_t    *sh;
    ngx_http_helpdesk_tls_node_t  *n;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return NGX_DECLINED;
    }

    sh = shpool->data;
    hash = ngx_crc32_short(host, len);
    copy = NULL;
    n_len = 0;

    for ( ;; ) {
        ngx_shmtx_lock(&shpool->mutex);

        n = ngx_http_helpdesk_tls_lookup(sh, host, len, hash);

        if (n == NULL || n->not_after <= ngx_time()) {
            ngx_shmtx_unlock(&shpool->mutex);
            if (copy) {
                ngx_free(copy);
            }
            return NGX_DECLINED;
        }

        if (seq != 0 && n->seq == seq) {
            out->not_after = n->not_after;
            ngx_shmtx_unlock(&shpool->mutex);
            if (copy) {
                ngx_free(copy);
            }
            return NGX_DONE;
        }

        if (copy && n_len == n->blob_len) {
            break;
        }

        /* allocate outside the lock, then look again */
        n_len = n->blob_len;
        ngx_shmtx_unlock(&shpool->mutex);

        if (copy) {
            ngx_free(copy);
        }

        copy = ngx_alloc(n_len, log);
        if (copy == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_memcpy(copy, n->blob, n_len);
    out->blob.data = copy;
    out->blob.len = n_len;
    out->generation = n->generation;
    out->not_after = n->not_after;
    out->seq = n->seq;

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


ngx_uint_t
ngx_http_helpdesk_tls_store_loaded(void)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_helpdesk_tls_sh_t  *sh;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return 1;
    }

    sh = shpool->data;

    return sh->loaded || sh->count;
}


void
ngx_http_helpdesk_tls_store_set_loaded(void)
{
    ngx_slab_pool_t  *shpool;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool) {
        ((ngx_http_helpdesk_tls_sh_t *) shpool->data)->loaded = 1;
    }
}


/*
 * The full sync (at a worker 0's start): begin marks a new round; every
 * entry put or touched after it belongs to the round; sweep removes the
 * entries the round did not see (names with no row left in the database)
 * and adds their names (allocated in pool) to "gone".
 */
void
ngx_http_helpdesk_tls_store_sweep_begin(void)
{
    ngx_slab_pool_t  *shpool;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);
    ((ngx_http_helpdesk_tls_sh_t *) shpool->data)->epoch++;
    ngx_shmtx_unlock(&shpool->mutex);
}


void
ngx_http_helpdesk_tls_store_touch(ngx_str_t *host)
{
    ngx_slab_pool_t               *shpool;
    ngx_http_helpdesk_tls_sh_t    *sh;
    ngx_http_helpdesk_tls_node_t  *n;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return;
    }

    sh = shpool->data;

    ngx_shmtx_lock(&shpool->mutex);

    n = ngx_http_helpdesk_tls_lookup(sh, host->data, host->len,
                                     ngx_crc32_short(host->data, host->len));
    if (n) {
        n->epoch = sh->epoch;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


ngx_int_t
ngx_http_helpdesk_tls_store_sweep(ngx_pool_t *pool, ngx_array_t *gone)
{
    ngx_int_t                      rc;
    ngx_str_t                     *host;
    ngx_slab_pool_t               *shpool;
    ngx_rbtree_node_t             *node, *next, *root, *sentinel;
    ngx_http_helpdesk_tls_sh_t    *sh;
    ngx_http_helpdesk_tls_node_t  *n;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return NGX_OK;
    }

    sh = shpool->data;
    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    root = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    if (root == sentinel) {
        goto done;
    }

    for (node = ngx_rbtree_min(root, sentinel); node; node = next) {

        next = ngx_rbtree_next(&sh->rbtree, node);
        n = (ngx_http_helpdesk_tls_node_t *) node;

        if (n->epoch == sh->epoch) {
            continue;
        }

        host = ngx_array_push(gone);
        if (host == NULL) {
            rc = NGX_ERROR;
            break;
        }

        host->len = n->sn.str.len;
        host->data = ngx_pnalloc(pool, n->sn.str.len);
        if (host->data == NULL) {
            gone->nelts--;
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(host->data, n->sn.str.data, n->sn.str.len);

        ngx_rbtree_delete(&sh->rbtree, node);
        sh->count--;
        ngx_slab_free_locked(shpool, n->blob);
        ngx_slab_free_locked(shpool, n);
    }

done:

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/* worker 0's sync: what it saw last, or why it failed */
void
ngx_http_helpdesk_tls_store_synced(int64_t seq, ngx_str_t *error)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_helpdesk_tls_sh_t  *sh;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return;
    }

    sh = shpool->data;

    ngx_shmtx_lock(&shpool->mutex);

    if (error == NULL) {
        sh->synced_seq = seq;
        sh->synced_at = ngx_time();

    } else {
        sh->failed_at = ngx_time();
        sh->error_len = ngx_min(error->len, NGX_HTTP_HELPDESK_TLS_ERROR_MAX);
        ngx_memcpy(sh->error, error->data, sh->error_len);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


ngx_int_t
ngx_http_helpdesk_tls_store_stats(ngx_http_helpdesk_tls_stats_t *st)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_helpdesk_tls_sh_t  *sh;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return NGX_DECLINED;
    }

    sh = shpool->data;

    ngx_shmtx_lock(&shpool->mutex);

    st->size = shpool->end - (u_char *) shpool;
    st->used = st->size - shpool->pfree * ngx_pagesize;
    st->entries = sh->count;
    st->synced_seq = sh->synced_seq;
    st->synced_at = sh->synced_at;
    st->failed_at = sh->failed_at;
    st->error_len = sh->error_len;
    ngx_memcpy(st->error, sh->error, sh->error_len);

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/* a live entry for the name (unknown=reject's servername callback) */
ngx_uint_t
ngx_http_helpdesk_tls_store_has(u_char *host, size_t len)
{
    ngx_uint_t                     has;
    ngx_slab_pool_t               *shpool;
    ngx_http_helpdesk_tls_node_t  *n;

    shpool = ngx_http_helpdesk_tls_shpool();
    if (shpool == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&shpool->mutex);

    n = ngx_http_helpdesk_tls_lookup(shpool->data, host, len,
                                     ngx_crc32_short(host, len));
    has = (n && n->not_after > ngx_time());

    ngx_shmtx_unlock(&shpool->mutex);

    return has;
}
