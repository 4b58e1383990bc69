/*
 * Certificates of tenants' own portal names, served from memory.
 *
 * PostgreSQL keeps every certificate (helpdesk.tls_certificates); worker 0
 * of each node copies what must be served into a shared-memory table
 * (helpdesk_tls_store zone=) and into node-local files (dir=), sealed with
 * the secret ring, so that a node that starts while PostgreSQL is down
 * still serves.  The certificate callback of a TLS server with
 * helpdesk_tls_certificates looks the SNI name up in a per-worker cache of
 * parsed objects, checking the shared table's generation at most once a
 * second per name: no I/O and no database during a handshake.
 *
 * A stored certificate ("blob") is, in one buffer: a 32-bit count of
 * certificates, each as a 32-bit length and its DER (leaf first), then a
 * 32-bit length and the private key's DER.  Lengths are little-endian.
 */

#ifndef _NGX_HTTP_HELPDESK_TLS_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_TLS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "lib/ngx_helpdesk_secret.h"


#define NGX_HTTP_HELPDESK_TLS_HOST_MAX    253
#define NGX_HTTP_HELPDESK_TLS_TENANT_LEN  36
#define NGX_HTTP_HELPDESK_TLS_CHAIN_MAX   10
/* a blob larger than this is refused (a chain of 10 large certificates) */
#define NGX_HTTP_HELPDESK_TLS_BLOB_MAX    (64 * 1024)
/* the provider's import: PEM text of the chain, of the key */
#define NGX_HTTP_HELPDESK_TLS_PEM_MAX     (64 * 1024)
#define NGX_HTTP_HELPDESK_TLS_KEY_MAX     (16 * 1024)
/* the sync's last error, as the provider's status shows it */
#define NGX_HTTP_HELPDESK_TLS_ERROR_MAX   200


/* one name's certificate, as the sync and the files hand it over */
typedef struct {
    ngx_str_t       host;
    u_char          tenant[NGX_HTTP_HELPDESK_TLS_TENANT_LEN];
    int64_t         seq;
    ngx_uint_t      generation;
    time_t          not_after;
    ngx_str_t       blob;
} ngx_http_helpdesk_tls_cert_t;


/* helpdesk_tls_store, helpdesk_tls_certificates: the module's main conf */
typedef struct {
    ngx_shm_zone_t             *zone;
    ngx_str_t                   dir;        /* with no trailing '/' */
    ngx_msec_t                  sync;
    ngx_uint_t                  cache;      /* parsed entries per worker */
    ngx_array_t                 servers;    /* of ngx_http_helpdesk_tls_srv_t */
    struct ngx_thread_pool_s   *tp;
    ngx_helpdesk_secret_ring_t *ring;
    u_char                     *proof;      /* NUL-terminated, or "" */
} ngx_http_helpdesk_tls_conf_t;


typedef struct {
    ngx_http_conf_ctx_t        *ctx;        /* the server's */
    ngx_flag_t                  reject;     /* unknown=reject */
    ngx_str_t                   base_domain;
    u_char                     *file;       /* where it was configured */
    ngx_uint_t                  line;
} ngx_http_helpdesk_tls_srv_t;


/* the directives (ngx_http_helpdesk_module's command table) */
char *ngx_http_helpdesk_tls_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_helpdesk_tls_certificates(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* postconfiguration: installs the certificate callbacks */
ngx_int_t ngx_http_helpdesk_tls_postconfiguration(ngx_conf_t *cf);

/* the configuration, or NULL when helpdesk_tls_store is not set */
ngx_http_helpdesk_tls_conf_t *ngx_http_helpdesk_tls_conf(void);

/*
 * The shared table.  put: the name's entry becomes this certificate
 * (unless it holds a newer seq); the blob is copied, and the old one
 * freed only once the new one is in place: when memory runs out, the old
 * entry stays and an alert is logged (at most once a minute).  remove: a
 * tombstone (only of the entry of that tenant).
 */
ngx_int_t ngx_http_helpdesk_tls_store_put(ngx_http_helpdesk_tls_cert_t *c);
void ngx_http_helpdesk_tls_store_remove(ngx_str_t *host, u_char *tenant,
    int64_t seq);

/*
 * For the callback: NGX_DECLINED when the name has no entry (or an expired
 * one), NGX_DONE when the entry is still the one of "seq" (0: the caller
 * holds none), NGX_OK with a copy of the entry (blob allocated with
 * ngx_alloc, the caller frees it).  The seq, not the generation: a
 * generation is numbered per tenant and name, so a name released by one
 * tenant and taken by another starts again at 1.
 */
ngx_int_t ngx_http_helpdesk_tls_store_get(u_char *host, size_t len,
    int64_t seq, ngx_http_helpdesk_tls_cert_t *out, ngx_log_t *log);

/*
 * The full sync: sweep_begin starts a round; store_put and store_touch
 * mark an entry seen; sweep removes the entries not seen (names no
 * longer in the database), their names added to "gone" (ngx_str_t).
 */
void ngx_http_helpdesk_tls_store_sweep_begin(void);
void ngx_http_helpdesk_tls_store_touch(ngx_str_t *host);
ngx_int_t ngx_http_helpdesk_tls_store_sweep(ngx_pool_t *pool,
    ngx_array_t *gone);

/* the node's state, for GET /v1/provider/tls */
typedef struct {
    size_t          size;
    size_t          used;
    ngx_uint_t      entries;
    int64_t         synced_seq;
    time_t          synced_at;
    time_t          failed_at;
    size_t          error_len;
    u_char          error[NGX_HTTP_HELPDESK_TLS_ERROR_MAX];
} ngx_http_helpdesk_tls_stats_t;

/* the sync's outcome: the seq it reached, or (error) why it failed */
void ngx_http_helpdesk_tls_store_synced(int64_t seq, ngx_str_t *error);
ngx_int_t ngx_http_helpdesk_tls_store_stats(ngx_http_helpdesk_tls_stats_t *st);

/* 1 when the name has an entry that has not expired */
ngx_uint_t ngx_http_helpdesk_tls_store_has(u_char *host, size_t len);

/* 1 once the node's files were loaded into the table (or found there) */
ngx_uint_t ngx_http_helpdesk_tls_store_loaded(void);
void ngx_http_helpdesk_tls_store_set_loaded(void);

/*
 * The files: load every "<dir>/<host>.tls" (in the thread pool) into the
 * table, then call done; write or remove a batch of them (the thread pool;
 * fsync, then rename), then call done.
 */
typedef void (*ngx_http_helpdesk_tls_done_pt)(void *data);

ngx_int_t ngx_http_helpdesk_tls_files_load(ngx_log_t *log,
    ngx_http_helpdesk_tls_done_pt done, void *data);
ngx_int_t ngx_http_helpdesk_tls_files_write(ngx_pool_t *pool,
    ngx_array_t *certs, ngx_log_t *log, ngx_http_helpdesk_tls_done_pt done,
    void *data);

/*
 * ngx_http_helpdesk_tls_cert.c: the blob of a chain (DER, leaf first) and
 * a key, in pool; a blob's two parts, its form checked (no DER parsed):
 * "chain" the count and the certificates, "key" the key's DER, both in
 * place; the key's DER (PKCS#8) from its PEM.
 */
ngx_int_t ngx_http_helpdesk_tls_blob(ngx_pool_t *pool, ngx_array_t *chain,
    ngx_str_t *key_der, ngx_str_t *blob);
ngx_int_t ngx_http_helpdesk_tls_blob_split(ngx_str_t *blob, ngx_str_t *chain,
    ngx_str_t *key);
ngx_int_t ngx_http_helpdesk_tls_key_der(ngx_pool_t *pool, ngx_str_t *pem,
    ngx_str_t *der);

/*
 * ngx_http_helpdesk_tls_import.c, the provider's import: checks a PEM chain and key for host (leaf names
 * the host in its SAN, the key is the leaf's, valid now, at most 10
 * certificates); on success out holds "chain" (hex DER array), "key"
 * (PKCS#8 PEM to seal), "not_before", "not_after", "issuer", "serial",
 * "fingerprint".  NGX_DECLINED with a reason for the caller's error.
 */
ngx_int_t ngx_http_helpdesk_tls_check(ngx_pool_t *pool, ngx_str_t *host,
    ngx_str_t *cert_pem, ngx_str_t *key_pem, void *out, const char **reason);

/* a PEM password callback that refuses (no prompt, no encrypted key) */
int ngx_http_helpdesk_tls_no_password(char *buf, int size, int rwflag,
    void *u);

/* the AAD of a name's key in PostgreSQL: "tls_key:<host>" */
void ngx_http_helpdesk_tls_key_aad(ngx_str_t *aad, u_char *buf,
    ngx_str_t *host);

/* jobs/ngx_helpdesk_tls_sync.c: worker 0's sync */
ngx_int_t ngx_helpdesk_tls_sync_init_worker(ngx_cycle_t *cycle);
void ngx_helpdesk_tls_sync_exit_worker(void);


#endif /* _NGX_HTTP_HELPDESK_TLS_H_INCLUDED_ */
