/*
 * helpdesk_tls_certificates: the certificate of a TLS handshake chosen by
 * its SNI name, from the certificates the node keeps in shared memory
 * (helpdesk_tls_store), without I/O and without the database.
 *
 * The callback (SSL_CTX_set_cert_cb on the server's context, installed
 * after nginx made it) keeps, per worker, up to "cache=" names' parsed
 * objects (leaf, chain, key) in LRU order.  An entry is compared with the
 * shared table's seq at most once a second; a new entry is copied from the
 * table under its mutex and parsed (DER) outside it.  An
 * expired or removed certificate is a miss; a miss keeps the server's own
 * certificate (unknown=fallback) or ends the handshake (unknown=reject).
 * With unknown=reject, the servername callback (nginx's, wrapped) ends
 * the handshake of a name with no certificate first, with the alert
 * unrecognized_name; the certificate callback's refusal (internal_error)
 * stays for a name that went in between.
 * Names under helpdesk_base_domain keep the server's certificate (the
 * provider's wildcard).
 *
 * Also here: the blob of a chain and a key, and a key's DER from its PEM.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/err.h>

#include "ngx_http_helpdesk_module.h"
#include "tls/ngx_http_helpdesk_tls.h"


/* an entry is compared with the shared table at most this often */
#define NGX_HTTP_HELPDESK_TLS_CHECK_MS  1000


typedef struct {
    ngx_str_node_t                  sn;         /* crc32, then the host */
    ngx_queue_t                     lru;
    int64_t                         seq;        /* of the shared entry */
    time_t                          not_after;
    ngx_msec_t                      checked;
    X509                           *leaf;
    STACK_OF(X509)                 *chain;
    EVP_PKEY                       *pkey;
    u_char                          host[NGX_HTTP_HELPDESK_TLS_HOST_MAX];
} ngx_http_helpdesk_tls_entry_t;


typedef struct {
    ngx_rbtree_t                    tree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;        /* most recent first */
    ngx_uint_t                      count;
    unsigned                        ready:1;
} ngx_http_helpdesk_tls_cache_t;


static int ngx_http_helpdesk_tls_cert_cb(SSL *ssl, void *arg);
static int ngx_http_helpdesk_tls_servername(ngx_ssl_conn_t *ssl, int *ad,
    void *arg);
static ngx_int_t ngx_http_helpdesk_tls_sni(ngx_http_helpdesk_tls_srv_t *srv,
    const char *name, u_char *host, size_t *len);
static void ngx_http_helpdesk_tls_drop(ngx_http_helpdesk_tls_entry_t *e);
static ngx_int_t ngx_http_helpdesk_tls_parse(ngx_http_helpdesk_tls_entry_t *e,
    ngx_str_t *blob);


static ngx_http_helpdesk_tls_cache_t  ngx_http_helpdesk_tls_cache;


/* helpdesk_tls_certificates [unknown=fallback|reject] (server) */

char *
ngx_http_helpdesk_tls_certificates(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_helpdesk_tls_srv_t   *srv;
    ngx_http_helpdesk_tls_conf_t  *tcf;

    tcf = hmcf->tls;

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

    srv = tcf->servers.elts;

    for (i = 0; i < tcf->servers.nelts; i++) {
        if (srv[i].ctx->srv_conf == ((ngx_http_conf_ctx_t *) cf->ctx)->srv_conf)
        {
            return "is duplicate";
        }
    }

    srv = ngx_array_push(&tcf->servers);
    if (srv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(srv, sizeof(ngx_http_helpdesk_tls_srv_t));
    srv->ctx = cf->ctx;
    srv->file = cf->conf_file->file.name.data;
    srv->line = cf->conf_file->line;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "unknown=fallback") == 0) {
            srv->reject = 0;

        } else if (ngx_strcmp(value[i].data, "unknown=reject") == 0) {
            srv->reject = 1;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\"",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * After every server's ssl configuration was merged (nginx made each
 * server's SSL_CTX): the callback on each server that asked for it.
 */
ngx_int_t
ngx_http_helpdesk_tls_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                      i;
    ngx_http_ssl_srv_conf_t        *sscf;
    ngx_http_helpdesk_tls_srv_t    *srv;
    ngx_http_helpdesk_tls_conf_t   *tcf;
    ngx_http_helpdesk_loc_conf_t   *hlcf;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_helpdesk_module);
    tcf = hmcf->tls;

    if (tcf == NULL) {
        return NGX_OK;
    }

    if (tcf->servers.nelts && tcf->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"helpdesk_tls_certificates\" needs "
                           "\"helpdesk_tls_store\"");
        return NGX_ERROR;
    }

    if (tcf->zone) {
        if (hmcf->secrets == NULL || !hmcf->provider_key_set
            || !hmcf->pg.set)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"helpdesk_tls_store\" needs "
                               "\"helpdesk_postgres\", "
                               "\"helpdesk_secret_key_file\" and "
                               "\"helpdesk_provider_key_file\"");
            return NGX_ERROR;
        }

        tcf->ring = hmcf->secrets;

        tcf->tp = ngx_thread_pool_add(cf, &hmcf->thread_pool);
        if (tcf->tp == NULL) {
            return NGX_ERROR;
        }
    }

    srv = tcf->servers.elts;

    for (i = 0; i < tcf->servers.nelts; i++) {
        sscf = srv[i].ctx->srv_conf[ngx_http_ssl_module.ctx_index];

        if (sscf == NULL || sscf->ssl.ctx == NULL
            || sscf->certificates == NULL)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"helpdesk_tls_certificates\" in %s:%ui needs "
                          "a TLS server with its own \"ssl_certificate\" "
                          "(the certificate of unknown names)",
                          srv[i].file, srv[i].line);
            return NGX_ERROR;
        }

        if (sscf->certificate_values) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"helpdesk_tls_certificates\" in %s:%ui cannot "
                          "be used with variables in \"ssl_certificate\"",
                          srv[i].file, srv[i].line);
            return NGX_ERROR;
        }

        hlcf = srv[i].ctx->loc_conf[ngx_http_helpdesk_module.ctx_index];
        srv[i].base_domain = hlcf->base_domain;

        SSL_CTX_set_cert_cb(sscf->ssl.ctx, ngx_http_helpdesk_tls_cert_cb,
                            &srv[i]);

        if (srv[i].reject) {
            /* nginx's own callback, called first from ours */
            SSL_CTX_set_tlsext_servername_callback(sscf->ssl.ctx,
                                            ngx_http_helpdesk_tls_servername);
            SSL_CTX_set_tlsext_servername_arg(sscf->ssl.ctx, &srv[i]);
        }
    }

    return NGX_OK;
}


/*
 * The SNI name as the table keys it, both callbacks alike: without the
 * trailing dot, in lower case, into host (NGX_HTTP_HELPDESK_TLS_HOST_MAX
 * bytes).  NGX_OK with its length; NGX_DECLINED for a name under
 * helpdesk_base_domain (the server's own certificate); NGX_ERROR for an
 * empty or too long name.
 */
static ngx_int_t
ngx_http_helpdesk_tls_sni(ngx_http_helpdesk_tls_srv_t *srv, const char *name,
    u_char *host, size_t *len)
{
    size_t  n, i;

    n = ngx_strlen(name);

    if (n && name[n - 1] == '.') {
        n--;
    }

    if (n == 0 || n > NGX_HTTP_HELPDESK_TLS_HOST_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        host[i] = ngx_tolower(name[i]);
    }

    *len = n;

    /* the provider's own names: the server's certificate */
    if (srv->base_domain.len && n > srv->base_domain.len
        && host[n - srv->base_domain.len - 1] == '.'
        && ngx_strncmp(host + n - srv->base_domain.len,
                       srv->base_domain.data, srv->base_domain.len) == 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * unknown=reject: nginx's servername callback picks the server by name;
 * when it keeps this one (no named server took the name) and the name has
 * no certificate in the zone, the handshake ends here with the alert
 * unrecognized_name, as nginx's "ssl_reject_handshake" ends it.  No name
 * at all is left to the certificate callback.
 */
static int
ngx_http_helpdesk_tls_servername(ngx_ssl_conn_t *ssl, int *ad, void *arg)
{
    ngx_http_helpdesk_tls_srv_t  *srv = arg;

    int                     rc;
    size_t                  len;
    u_char                  host[NGX_HTTP_HELPDESK_TLS_HOST_MAX];
    const char             *name;
    ngx_connection_t       *c;
    ngx_http_connection_t  *hc;

    rc = ngx_http_ssl_servername(ssl, ad, NULL);

    if (rc != SSL_TLSEXT_ERR_OK) {
        return rc;
    }

    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL) {
        return rc;
    }

    c = ngx_ssl_get_connection(ssl);
    hc = c->data;

    if (hc == NULL || hc->conf_ctx != srv->ctx) {
        return rc;      /* a named server of its own */
    }

    switch (ngx_http_helpdesk_tls_sni(srv, name, host, &len)) {

    case NGX_DECLINED:
        return rc;

    case NGX_ERROR:
        goto reject;
    }

    if (ngx_http_helpdesk_tls_store_has(host, len)) {
        return rc;
    }

reject:

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "helpdesk tls: no certificate for the name \"%*s\": "
                  "handshake refused (unrecognized_name)",
                  ngx_min(ngx_strlen(name), NGX_HTTP_HELPDESK_TLS_HOST_MAX),
                  name);

    *ad = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}


static int
ngx_http_helpdesk_tls_cert_cb(SSL *ssl, void *arg)
{
    ngx_http_helpdesk_tls_srv_t  *srv = arg;

    size_t                          len;
    u_char                          host[NGX_HTTP_HELPDESK_TLS_HOST_MAX];
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_str_t                       key;
    const char                     *name;
    ngx_connection_t               *c;
    ngx_http_helpdesk_tls_cert_t    copy;
    ngx_http_helpdesk_tls_entry_t  *e;
    ngx_http_helpdesk_tls_cache_t  *cache = &ngx_http_helpdesk_tls_cache;

    c = ngx_ssl_get_connection(ssl);

    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL) {
        goto miss;
    }

    switch (ngx_http_helpdesk_tls_sni(srv, name, host, &len)) {

    case NGX_DECLINED:
        return 1;

    case NGX_ERROR:
        goto miss;
    }

    if (!cache->ready) {
        ngx_rbtree_init(&cache->tree, &cache->sentinel,
                        ngx_str_rbtree_insert_value);
        ngx_queue_init(&cache->lru);
        cache->ready = 1;
    }

    key.data = host;
    key.len = len;
    hash = ngx_crc32_short(host, len);
    e = (ngx_http_helpdesk_tls_entry_t *)
            ngx_str_rbtree_lookup(&cache->tree, &key, hash);

    if (e == NULL || ngx_current_msec - e->checked
                     >= NGX_HTTP_HELPDESK_TLS_CHECK_MS)
    {
        ngx_memzero(&copy, sizeof(copy));

        rc = ngx_http_helpdesk_tls_store_get(host, len,
                                             e ? e->seq : 0, &copy, c->log);

        if (rc == NGX_DECLINED || rc == NGX_ERROR
            || (rc == NGX_DONE && e == NULL))
        {
            if (e) {
                ngx_http_helpdesk_tls_drop(e);
            }
            goto miss;
        }

        if (rc == NGX_OK) {
            if (e) {
                ngx_http_helpdesk_tls_drop(e);
            }

            e = ngx_alloc(sizeof(ngx_http_helpdesk_tls_entry_t), c->log);
            if (e == NULL) {
                ngx_explicit_memzero(copy.blob.data, copy.blob.len);
                ngx_free(copy.blob.data);
                goto miss;
            }

            ngx_memzero(e, sizeof(ngx_http_helpdesk_tls_entry_t));

            rc = ngx_http_helpdesk_tls_parse(e, &copy.blob);

            ngx_explicit_memzero(copy.blob.data, copy.blob.len);
            ngx_free(copy.blob.data);

            if (rc != NGX_OK) {
                ngx_log_error(NGX_LOG_ERR, c->log, 0,
                              "helpdesk tls: the certificate of \"%*s\" "
                              "does not parse", len, host);
                ngx_http_helpdesk_tls_drop(e);
                goto miss;
            }

            ngx_memcpy(e->host, host, len);
            e->sn.str.data = e->host;
            e->sn.str.len = len;
            e->sn.node.key = hash;
            e->seq = copy.seq;

            ngx_rbtree_insert(&cache->tree, &e->sn.node);
            ngx_queue_insert_head(&cache->lru, &e->lru);
            cache->count++;

            /* over the cap: the least recently used goes */
            while (cache->count > ngx_http_helpdesk_tls_conf()->cache) {
                ngx_http_helpdesk_tls_drop(ngx_queue_data(
                    ngx_queue_last(&cache->lru),
                    ngx_http_helpdesk_tls_entry_t, lru));
            }
        }

        e->not_after = copy.not_after;
        e->checked = ngx_current_msec;
    }

    if (e->not_after <= ngx_time()) {
        ngx_http_helpdesk_tls_drop(e);
        goto miss;
    }

    ngx_queue_remove(&e->lru);
    ngx_queue_insert_head(&cache->lru, &e->lru);

    if (SSL_use_cert_and_key(ssl, e->leaf, e->pkey, e->chain, 1) != 1) {
        ngx_ssl_error(NGX_LOG_ERR, c->log, 0,
                      "helpdesk tls: SSL_use_cert_and_key(\"%*s\") failed",
                      len, host);
        ERR_clear_error();
        goto miss;
    }

    return 1;

miss:

    if (srv->reject) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "helpdesk tls: no certificate for the name "
                      "\"%s\": handshake refused", name ? name : "");
        return 0;
    }

    return 1;
}


/* out of the cache (if it was in), its objects freed */

static void
ngx_http_helpdesk_tls_drop(ngx_http_helpdesk_tls_entry_t *e)
{
    if (e->sn.str.len) {
        ngx_rbtree_delete(&ngx_http_helpdesk_tls_cache.tree, &e->sn.node);
        ngx_queue_remove(&e->lru);
        ngx_http_helpdesk_tls_cache.count--;
    }

    X509_free(e->leaf);
    EVP_PKEY_free(e->pkey);

    if (e->chain) {
        sk_X509_pop_free(e->chain, X509_free);
    }

    ngx_free(e);
}


static ngx_int_t
ngx_http_helpdesk_tls_parse(ngx_http_helpdesk_tls_entry_t *e, ngx_str_t *blob)
{
    X509          *x;
    uint32_t       len;
    ngx_str_t      chain, key;
    const u_char  *p, *last, *q;

    if (ngx_http_helpdesk_tls_blob_split(blob, &chain, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    e->chain = sk_X509_new_null();
    if (e->chain == NULL) {
        return NGX_ERROR;
    }

    /* the lengths are checked: each DER fills its own part of the chain */

    p = chain.data + 4;
    last = chain.data + chain.len;

    while (p < last) {
        ngx_memcpy(&len, p, 4);
        p += 4;

        q = p;
        x = d2i_X509(NULL, &q, len);

        if (x == NULL || q != p + len) {
            X509_free(x);
            ERR_clear_error();
            return NGX_ERROR;
        }

        p += len;

        if (e->leaf == NULL) {
            e->leaf = x;
            continue;
        }

        if (sk_X509_push(e->chain, x) == 0) {
            X509_free(x);
            return NGX_ERROR;
        }
    }

    p = key.data;
    e->pkey = d2i_AutoPrivateKey(NULL, &p, key.len);

    if (e->pkey == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the blob: count, (length, DER) per certificate, (length, key DER) */

ngx_int_t
ngx_http_helpdesk_tls_blob(ngx_pool_t *pool, ngx_array_t *chain,
    ngx_str_t *key_der, ngx_str_t *blob)
{
    u_char      *p;
    size_t       size;
    uint32_t     n;
    ngx_str_t   *der;
    ngx_uint_t   i;

    der = chain->elts;
    size = 4 + 4 + key_der->len;

    for (i = 0; i < chain->nelts; i++) {
        size += 4 + der[i].len;
    }

    if (chain->nelts == 0 || chain->nelts > NGX_HTTP_HELPDESK_TLS_CHAIN_MAX
        || size > NGX_HTTP_HELPDESK_TLS_BLOB_MAX)
    {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    blob->data = p;
    blob->len = size;

    n = chain->nelts;
    p = ngx_cpymem(p, &n, 4);

    for (i = 0; i < chain->nelts; i++) {
        n = der[i].len;
        p = ngx_cpymem(p, &n, 4);
        p = ngx_cpymem(p, der[i].data, der[i].len);
    }

    n = key_der->len;
    p = ngx_cpymem(p, &n, 4);
    ngx_memcpy(p, key_der->data, key_der->len);

    return NGX_OK;
}


/* the blob's parts: the chain's (count and certificates), the key's DER */

ngx_int_t
ngx_http_helpdesk_tls_blob_split(ngx_str_t *blob, ngx_str_t *chain,
    ngx_str_t *key)
{
    u_char    *p, *last;
    uint32_t   n, i, len;

    p = blob->data;
    last = blob->data + blob->len;

    if (last - p < 4) {
        return NGX_ERROR;
    }

    ngx_memcpy(&n, p, 4);
    p += 4;

    if (n == 0 || n > NGX_HTTP_HELPDESK_TLS_CHAIN_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (last - p < 4) {
            return NGX_ERROR;
        }

        ngx_memcpy(&len, p, 4);
        p += 4;

        if (len == 0 || (size_t) (last - p) < len) {
            return NGX_ERROR;
        }

        p += len;
    }

    chain->data = blob->data;
    chain->len = p - blob->data;

    if (last - p < 4) {
        return NGX_ERROR;
    }

    ngx_memcpy(&len, p, 4);
    p += 4;

    if (len == 0 || (size_t) (last - p) != len) {
        return NGX_ERROR;
    }

    key->data = p;
    key->len = len;

    return NGX_OK;
}


int
ngx_http_helpdesk_tls_no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;      /* an encrypted key is refused, never prompted for */
}


ngx_int_t
ngx_http_helpdesk_tls_key_der(ngx_pool_t *pool, ngx_str_t *pem,
    ngx_str_t *der)
{
    int        len;
    BIO       *bio;
    u_char    *p;
    EVP_PKEY  *pkey;

    bio = BIO_new_mem_buf(pem->data, pem->len);
    if (bio == NULL) {
        return NGX_ERROR;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL,
                                   ngx_http_helpdesk_tls_no_password, NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        ERR_clear_error();
        return NGX_DECLINED;
    }

    len = i2d_PrivateKey(pkey, NULL);

    if (len <= 0 || len > NGX_HTTP_HELPDESK_TLS_KEY_MAX) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return NGX_DECLINED;
    }

    der->data = ngx_pnalloc(pool, len);
    if (der->data == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_ERROR;
    }

    p = der->data;
    der->len = i2d_PrivateKey(pkey, &p);
    EVP_PKEY_free(pkey);

    return NGX_OK;
}


void
ngx_http_helpdesk_tls_key_aad(ngx_str_t *aad, u_char *buf, ngx_str_t *host)
{
    aad->data = buf;
    aad->len = ngx_sprintf(buf, "tls_key:%V", host) - buf;
}
