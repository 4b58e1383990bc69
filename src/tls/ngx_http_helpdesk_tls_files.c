/*
 * The node-local files of helpdesk_tls_store: "<dir>/<host>.tls", one per
 * name the node serves, so that a node restarted while PostgreSQL is down
 * still serves.
 *
 * A file is a header line "helpdesk-tls 1 <seq> <generation> <not_after>
 * <tenant>", a line with the private key sealed with the secret ring, then
 * the chain's part of the blob.  The key's associated data names the host,
 * the generation, the tenant, not_after and the SHA-256 of the chain, so a
 * file renamed, or with its chain or header altered, does not open.  Files
 * are written in the thread pool: a temporary file, fsync, rename.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include "ngx_http_helpdesk_module.h"
#include "tls/ngx_http_helpdesk_tls.h"


#define NGX_HTTP_HELPDESK_TLS_MAGIC  "helpdesk-tls 1 "
#define NGX_HTTP_HELPDESK_TLS_FILE_MAX  (2 * NGX_HTTP_HELPDESK_TLS_BLOB_MAX)


typedef struct {
    ngx_pool_t                     *pool;
    ngx_array_t                    *certs;      /* loaded, or to write */
    ngx_array_t                    *files;      /* of ngx_str_t contents */
    ngx_str_t                       dir;
    ngx_helpdesk_secret_ring_t     *ring;
    ngx_log_t                      *log;
    ngx_uint_t                      failed;
    ngx_http_helpdesk_tls_done_pt   done;
    void                           *data;
} ngx_http_helpdesk_tls_task_t;


static ngx_int_t ngx_http_helpdesk_tls_file_aad(ngx_str_t *aad, u_char *buf,
    size_t size, ngx_http_helpdesk_tls_cert_t *c, ngx_str_t *chain);
static void ngx_http_helpdesk_tls_load_thread(void *data, ngx_log_t *log);
static void ngx_http_helpdesk_tls_loaded(ngx_event_t *ev);
static ngx_flag_t ngx_http_helpdesk_tls_file_owned(u_char *path,
    ngx_http_helpdesk_tls_cert_t *c);
static void ngx_http_helpdesk_tls_write_thread(void *data, ngx_log_t *log);
static void ngx_http_helpdesk_tls_written(ngx_event_t *ev);


static ngx_int_t
ngx_http_helpdesk_tls_file_aad(ngx_str_t *aad, u_char *buf, size_t size,
    ngx_http_helpdesk_tls_cert_t *c, ngx_str_t *chain)
{
    u_char  hash[NGX_HELPDESK_SHA256_LEN];
    u_char  hex[2 * NGX_HELPDESK_SHA256_LEN];

    if (c->host.len + 160 > size) {
        return NGX_ERROR;
    }

    ngx_helpdesk_sha256(chain->data, chain->len, hash);
    ngx_hex_dump(hex, hash, sizeof(hash));

    aad->data = buf;
    aad->len = ngx_snprintf(buf, size, "tls_file:%V:%ui:%*s:%T:%*s",
                            &c->host, c->generation,
                            (size_t) NGX_HTTP_HELPDESK_TLS_TENANT_LEN,
                            c->tenant, c->not_after, sizeof(hex), hex)
               - buf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_helpdesk_tls_file_parse(ngx_pool_t *pool, ngx_str_t *name,
    u_char *p, u_char *last, ngx_helpdesk_secret_ring_t *ring,
    ngx_http_helpdesk_tls_cert_t *c)
{
    u_char      *eol, *f[4], *fe[4], *q;
    uint32_t     n;
    ngx_int_t    i, rc;
    ngx_str_t    sealed, chain, key, aad;
    u_char       buf[NGX_HTTP_HELPDESK_TLS_HOST_MAX + 200];

    c->host = *name;

    eol = ngx_strlchr(p, last, '\n');
    if (eol == NULL
        || (size_t) (eol - p) < sizeof(NGX_HTTP_HELPDESK_TLS_MAGIC) - 1
        || ngx_strncmp(p, NGX_HTTP_HELPDESK_TLS_MAGIC,
                       sizeof(NGX_HTTP_HELPDESK_TLS_MAGIC) - 1) != 0)
    {
        return NGX_DECLINED;
    }

    q = p + sizeof(NGX_HTTP_HELPDESK_TLS_MAGIC) - 1;

    for (i = 0; i < 4; i++) {
        f[i] = q;
        while (q < eol && *q != ' ') {
            q++;
        }
        fe[i] = q;
        if (q < eol) {
            q++;
        }
    }

    c->seq = ngx_atoof(f[0], fe[0] - f[0]);
    c->generation = ngx_atoi(f[1], fe[1] - f[1]);
    c->not_after = ngx_atotm(f[2], fe[2] - f[2]);

    if (c->seq == NGX_ERROR || c->generation == (ngx_uint_t) NGX_ERROR
        || c->not_after == NGX_ERROR
        || fe[3] - f[3] != NGX_HTTP_HELPDESK_TLS_TENANT_LEN
        || eol - f[3] != NGX_HTTP_HELPDESK_TLS_TENANT_LEN)
    {
        return NGX_DECLINED;
    }

    ngx_memcpy(c->tenant, f[3], NGX_HTTP_HELPDESK_TLS_TENANT_LEN);

    p = eol + 1;
    eol = ngx_strlchr(p, last, '\n');
    if (eol == NULL) {
        return NGX_DECLINED;
    }

    sealed.data = p;
    sealed.len = eol - p;

    chain.data = eol + 1;
    chain.len = last - chain.data;

    if (ngx_http_helpdesk_tls_file_aad(&aad, buf, sizeof(buf), c, &chain)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rc = ngx_helpdesk_secret_decrypt(pool, ring, &aad, &sealed, &key);
    if (rc != NGX_OK) {
        return rc;
    }

    c->blob.len = chain.len + 4 + key.len;
    c->blob.data = ngx_pnalloc(pool, c->blob.len);
    if (c->blob.data == NULL) {
        return NGX_ERROR;
    }

    /* the key's length is at any offset: copied, never stored through a
     * uint32_t pointer (a misaligned store) */
    n = (uint32_t) key.len;
    q = ngx_cpymem(c->blob.data, chain.data, chain.len);
    q = ngx_cpymem(q, &n, 4);
    ngx_memcpy(q, key.data, key.len);
    ngx_explicit_memzero(key.data, key.len);

    /* the chain part must be well formed, and the key follow it */
    return ngx_http_helpdesk_tls_blob_split(&c->blob, &chain, &key) == NGX_OK
           ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_helpdesk_tls_files_load(ngx_log_t *log,
    ngx_http_helpdesk_tls_done_pt done, void *data)
{
    ngx_pool_t                    *pool;
    ngx_thread_task_t             *task;
    ngx_http_helpdesk_tls_conf_t  *tcf;
    ngx_http_helpdesk_tls_task_t  *t;

    tcf = ngx_http_helpdesk_tls_conf();
    if (tcf == NULL || tcf->tp == NULL || tcf->ring == NULL) {
        return NGX_DECLINED;
    }

    pool = ngx_create_pool(16384, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(pool, sizeof(ngx_http_helpdesk_tls_task_t));
    if (task == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    t = task->ctx;
    t->pool = pool;
    t->dir = tcf->dir;
    t->ring = tcf->ring;
    t->log = log;
    t->done = done;
    t->data = data;

    t->certs = ngx_array_create(pool, 16,
                                sizeof(ngx_http_helpdesk_tls_cert_t));
    if (t->certs == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    task->handler = ngx_http_helpdesk_tls_load_thread;
    task->event.handler = ngx_http_helpdesk_tls_loaded;
    task->event.data = t;

    if (ngx_thread_task_post(tcf->tp, task) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* in a thread: every "<host>.tls" of the directory, read and opened */

static void
ngx_http_helpdesk_tls_load_thread(void *data, ngx_log_t *log)
{
    ngx_http_helpdesk_tls_task_t  *t = data;

    u_char                        *path, *buf;
    size_t                         len;
    ssize_t                        n;
    ngx_fd_t                       fd;
    ngx_dir_t                      dir;
    ngx_str_t                      name;
    ngx_int_t                      rc;
    ngx_http_helpdesk_tls_cert_t  *c;

    path = ngx_pnalloc(t->pool, t->dir.len + NGX_HTTP_HELPDESK_TLS_HOST_MAX
                                + 16);
    buf = ngx_pnalloc(t->pool, NGX_HTTP_HELPDESK_TLS_FILE_MAX);
    if (path == NULL || buf == NULL) {
        t->failed++;
        return;
    }

    ngx_sprintf(path, "%V%Z", &t->dir);

    if (ngx_open_dir(&t->dir, &dir) == NGX_ERROR) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "helpdesk tls: cannot open \"%V\"", &t->dir);
        }
        return;
    }

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            break;
        }

        len = ngx_de_namelen(&dir);
        name.data = ngx_de_name(&dir);

        if (len < 5 || len - 4 > NGX_HTTP_HELPDESK_TLS_HOST_MAX
            || name.data[0] == '.'
            || ngx_strncmp(name.data + len - 4, ".tls", 4) != 0)
        {
            continue;
        }

        name.len = len - 4;

        ngx_sprintf(path, "%V/%*s%Z", &t->dir, len, name.data);

        fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        if (fd == NGX_INVALID_FILE) {
            t->failed++;
            continue;
        }

        n = read(fd, buf, NGX_HTTP_HELPDESK_TLS_FILE_MAX);
        ngx_close_file(fd);

        if (n <= 0 || n == NGX_HTTP_HELPDESK_TLS_FILE_MAX) {
            t->failed++;
            continue;
        }

        c = ngx_array_push(t->certs);
        if (c == NULL) {
            t->failed++;
            break;
        }

        ngx_memzero(c, sizeof(ngx_http_helpdesk_tls_cert_t));

        name.data = ngx_pstrdup(t->pool, &name);
        if (name.data == NULL) {
            t->certs->nelts--;
            t->failed++;
            break;
        }

        rc = ngx_http_helpdesk_tls_file_parse(t->pool, &name, buf, buf + n,
                                              t->ring, c);
        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "helpdesk tls: \"%s\" does not open with the keys "
                          "of \"helpdesk_secret_key_file\": ignored", path);
            t->certs->nelts--;
            t->failed++;
        }
    }

    ngx_explicit_memzero(buf, NGX_HTTP_HELPDESK_TLS_FILE_MAX);
    (void) ngx_close_dir(&dir);
}


static void
ngx_http_helpdesk_tls_loaded(ngx_event_t *ev)
{
    ngx_http_helpdesk_tls_task_t  *t = ev->data;

    ngx_uint_t                     i, n;
    ngx_http_helpdesk_tls_cert_t  *c;

    c = t->certs->elts;
    n = 0;

    for (i = 0; i < t->certs->nelts; i++) {
        if (c[i].not_after > ngx_time()
            && ngx_http_helpdesk_tls_store_put(&c[i]) == NGX_OK)
        {
            n++;
        }

        ngx_explicit_memzero(c[i].blob.data, c[i].blob.len);
    }

    ngx_http_helpdesk_tls_store_set_loaded();

    ngx_log_error(NGX_LOG_NOTICE, t->log, 0,
                  "helpdesk tls: %ui certificate(s) loaded from \"%V\", "
                  "%ui file(s) unreadable", n, &t->dir, t->failed);

    t->done(t->data);
    ngx_destroy_pool(t->pool);
}


/*
 * A batch of the sync: each certificate's file written (its blob), or
 * removed (no blob).  The contents are made here, in the worker (sealing
 * is a few microseconds); the thread writes them.
 */
ngx_int_t
ngx_http_helpdesk_tls_files_write(ngx_pool_t *pool, ngx_array_t *certs,
    ngx_log_t *log, ngx_http_helpdesk_tls_done_pt done, void *data)
{
    u_char                        *p;
    ngx_str_t                      chain, key, sealed, aad, *content;
    ngx_uint_t                     i;
    ngx_thread_task_t             *task;
    ngx_http_helpdesk_tls_conf_t  *tcf;
    ngx_http_helpdesk_tls_task_t  *t;
    ngx_http_helpdesk_tls_cert_t  *c;
    u_char                         buf[NGX_HTTP_HELPDESK_TLS_HOST_MAX + 200];

    tcf = ngx_http_helpdesk_tls_conf();
    if (tcf == NULL || tcf->tp == NULL || tcf->ring == NULL) {
        return NGX_DECLINED;
    }

    task = ngx_thread_task_alloc(pool, sizeof(ngx_http_helpdesk_tls_task_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    t = task->ctx;
    t->pool = pool;
    t->certs = certs;
    t->dir = tcf->dir;
    t->log = log;
    t->done = done;
    t->data = data;

    t->files = ngx_array_create(pool, certs->nelts + 1, sizeof(ngx_str_t));
    if (t->files == NULL) {
        return NGX_ERROR;
    }

    c = certs->elts;

    for (i = 0; i < certs->nelts; i++) {
        content = ngx_array_push(t->files);
        if (content == NULL) {
            return NGX_ERROR;
        }

        ngx_str_null(content);

        if (c[i].blob.len == 0) {
            continue;       /* a tombstone: the file goes */
        }

        if (ngx_http_helpdesk_tls_blob_split(&c[i].blob, &chain, &key)
            != NGX_OK
            || ngx_http_helpdesk_tls_file_aad(&aad, buf, sizeof(buf), &c[i],
                                              &chain)
               != NGX_OK
            || ngx_helpdesk_secret_encrypt(pool, tcf->ring, &aad, &key,
                                           &sealed)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        content->data = ngx_pnalloc(pool, sizeof(NGX_HTTP_HELPDESK_TLS_MAGIC)
                                          + 3 * NGX_INT64_LEN
                                          + NGX_HTTP_HELPDESK_TLS_TENANT_LEN
                                          + 8 + sealed.len + chain.len);
        if (content->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(content->data, NGX_HTTP_HELPDESK_TLS_MAGIC
                        "%L %ui %T %*s\n%V\n", c[i].seq, c[i].generation,
                        c[i].not_after,
                        (size_t) NGX_HTTP_HELPDESK_TLS_TENANT_LEN,
                        c[i].tenant, &sealed);
        p = ngx_cpymem(p, chain.data, chain.len);
        content->len = p - content->data;
    }

    task->handler = ngx_http_helpdesk_tls_write_thread;
    task->event.handler = ngx_http_helpdesk_tls_written;
    task->event.data = t;

    if (ngx_thread_task_post(tcf->tp, task) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * In the thread: whether the tombstone c may remove the file at path: the
 * file's header names the tombstone's tenant and no newer seq (a name
 * released by one tenant and proven by another: the former owner's
 * tombstone leaves the new owner's file alone).  A tombstone of no tenant
 * (a name the database no longer has at all) removes any file.
 */
static ngx_flag_t
ngx_http_helpdesk_tls_file_owned(u_char *path,
    ngx_http_helpdesk_tls_cert_t *c)
{
    u_char     *p, *eol, *f;
    ssize_t     n;
    int64_t     seq;
    ngx_fd_t    fd;
    u_char      head[sizeof(NGX_HTTP_HELPDESK_TLS_MAGIC) + 3 * NGX_INT64_LEN
                     + NGX_HTTP_HELPDESK_TLS_TENANT_LEN + 8];

    if (c->tenant[0] == '\0') {
        return 1;
    }

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return 0;       /* none: nothing to remove */
    }

    n = read(fd, head, sizeof(head));
    ngx_close_file(fd);

    if (n <= (ssize_t) sizeof(NGX_HTTP_HELPDESK_TLS_MAGIC) - 1
        || ngx_strncmp(head, NGX_HTTP_HELPDESK_TLS_MAGIC,
                       sizeof(NGX_HTTP_HELPDESK_TLS_MAGIC) - 1) != 0)
    {
        return 0;       /* not a file of ours: left alone */
    }

    eol = ngx_strlchr(head, head + n, '\n');
    p = head + sizeof(NGX_HTTP_HELPDESK_TLS_MAGIC) - 1;

    if (eol == NULL || eol - p < NGX_HTTP_HELPDESK_TLS_TENANT_LEN + 1) {
        return 0;
    }

    /* "<seq> <generation> <not_after> <tenant>": the tenant ends the line */
    f = ngx_strlchr(p, eol, ' ');
    if (f == NULL) {
        return 0;
    }

    seq = ngx_atoof(p, f - p);

    if (seq == NGX_ERROR || seq > c->seq
        || *(eol - NGX_HTTP_HELPDESK_TLS_TENANT_LEN - 1) != ' '
        || ngx_memcmp(eol - NGX_HTTP_HELPDESK_TLS_TENANT_LEN, c->tenant,
                      NGX_HTTP_HELPDESK_TLS_TENANT_LEN) != 0)
    {
        return 0;
    }

    return 1;
}


static void
ngx_http_helpdesk_tls_write_thread(void *data, ngx_log_t *log)
{
    ngx_http_helpdesk_tls_task_t  *t = data;

    u_char                        *path, *tmp;
    ssize_t                        n;
    ngx_fd_t                       fd;
    ngx_str_t                     *content;
    ngx_uint_t                     i;
    ngx_http_helpdesk_tls_cert_t  *c;

    path = ngx_pnalloc(t->pool, t->dir.len + NGX_HTTP_HELPDESK_TLS_HOST_MAX
                                + 16);
    tmp = ngx_pnalloc(t->pool, t->dir.len + NGX_HTTP_HELPDESK_TLS_HOST_MAX
                               + 16);
    if (path == NULL || tmp == NULL) {
        t->failed++;
        return;
    }

    c = t->certs->elts;
    content = t->files->elts;

    for (i = 0; i < t->certs->nelts; i++) {
        ngx_sprintf(path, "%V/%V.tls%Z", &t->dir, &c[i].host);

        if (content[i].len == 0) {
            if (!ngx_http_helpdesk_tls_file_owned(path, &c[i])) {
                continue;
            }

            if (ngx_delete_file(path) == NGX_FILE_ERROR
                && ngx_errno != NGX_ENOENT)
            {
                ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                              "helpdesk tls: cannot remove \"%s\"", path);
                t->failed++;
            }
            continue;
        }

        ngx_sprintf(tmp, "%V/.%V.tmp%Z", &t->dir, &c[i].host);

        fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);
        if (fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "helpdesk tls: cannot create \"%s\"", tmp);
            t->failed++;
            continue;
        }

        n = write(fd, content[i].data, content[i].len);

        if (n != (ssize_t) content[i].len || fsync(fd) == -1) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "helpdesk tls: cannot write \"%s\"", tmp);
            ngx_close_file(fd);
            (void) ngx_delete_file(tmp);
            t->failed++;
            continue;
        }

        ngx_close_file(fd);

        if (ngx_rename_file(tmp, path) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "helpdesk tls: cannot rename \"%s\"", tmp);
            (void) ngx_delete_file(tmp);
            t->failed++;
        }
    }

    /* the renames themselves, on disk */
    ngx_sprintf(path, "%V%Z", &t->dir);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd != NGX_INVALID_FILE) {
        (void) fsync(fd);
        ngx_close_file(fd);
    }
}


static void
ngx_http_helpdesk_tls_written(ngx_event_t *ev)
{
    ngx_http_helpdesk_tls_task_t  *t = ev->data;

    if (t->failed) {
        ngx_log_error(NGX_LOG_ERR, t->log, 0,
                      "helpdesk tls: %ui file(s) of \"%V\" not written",
                      t->failed, &t->dir);
    }

    t->done(t->data);
}
