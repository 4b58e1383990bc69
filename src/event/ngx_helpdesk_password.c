/*
 * Password hashing: scrypt through OpenSSL, in an nginx thread pool.
 *
 * A hash is stored as "$scrypt$ln=15,r=8,p=1$<salt>$<key>" (base64, no
 * padding): the cost travels with the hash, so it can be raised later and
 * old hashes still check.  With ln=15 and r=8 one hash needs 32 MiB and
 * about a tenth of a second of CPU: far too slow for an event loop, which
 * is why the work is posted to a thread pool and its result handed back to
 * the loop as an event.  The caller keeps its request (and so the pool the
 * task lives in) alive until the handler has run.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

#include "ngx_helpdesk_password.h"


#define NGX_HELPDESK_SCRYPT_LN      15
#define NGX_HELPDESK_SCRYPT_R       8
#define NGX_HELPDESK_SCRYPT_P       1
#define NGX_HELPDESK_SCRYPT_MAXMEM  (256 * 1024 * 1024)
#define NGX_HELPDESK_SALT_LEN       16
#define NGX_HELPDESK_KEY_LEN        32
#define NGX_HELPDESK_HASH_MAX       160


typedef struct {
    /* in */
    u_char                          password[NGX_HELPDESK_PASSWORD_MAX];
    size_t                          password_len;
    u_char                          salt[64];
    size_t                          salt_len;
    u_char                          expect[64];
    size_t                          expect_len;
    ngx_uint_t                      ln, r, p;
    ngx_flag_t                      check;
    ngx_flag_t                      dummy;

    /* out */
    u_char                          key[64];
    ngx_int_t                       rc;

    ngx_pool_t                     *pool;
    ngx_thread_task_t              *task;
    ngx_helpdesk_password_done_pt   done;
    void                           *data;
} ngx_helpdesk_password_ctx_t;


static void ngx_helpdesk_password_thread(void *data, ngx_log_t *log);
static void ngx_helpdesk_password_event(ngx_event_t *ev);
static ngx_int_t ngx_helpdesk_password_alloc(ngx_pool_t *pool, ngx_log_t *log,
    ngx_helpdesk_password_ctx_t **out, ngx_helpdesk_password_done_pt done,
    void *data);
static ngx_int_t ngx_helpdesk_password_parse(ngx_helpdesk_password_ctx_t *pc,
    ngx_str_t *stored);


static ngx_str_t           ngx_helpdesk_password_pool_name;
static ngx_thread_pool_t  *ngx_helpdesk_password_tp;

/* what an unknown account is checked against (a hash of nothing useful) */
static ngx_str_t  ngx_helpdesk_password_dummy = ngx_string(
    "$scrypt$ln=15,r=8,p=1$bm90IGEgcmVhbCBzYWx0$"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");


char *
ngx_helpdesk_password_pool(ngx_conf_t *cf, ngx_str_t *name)
{
    if (ngx_thread_pool_add(cf, name) == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_helpdesk_password_pool_name = *name;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_helpdesk_password_init_worker(ngx_cycle_t *cycle)
{
    if (ngx_helpdesk_password_pool_name.len == 0) {
        return NGX_OK;
    }

    ngx_helpdesk_password_tp = ngx_thread_pool_get(cycle,
                                   &ngx_helpdesk_password_pool_name);
    if (ngx_helpdesk_password_tp == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "helpdesk: thread pool \"%V\" not found",
                      &ngx_helpdesk_password_pool_name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_password_hash(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *password, ngx_helpdesk_password_done_pt done, void *data)
{
    ngx_helpdesk_password_ctx_t  *pc;

    if (password->len > NGX_HELPDESK_PASSWORD_MAX) {
        return NGX_DECLINED;
    }

    if (ngx_helpdesk_password_alloc(pool, log, &pc, done, data) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memcpy(pc->password, password->data, password->len);
    pc->password_len = password->len;
    pc->ln = NGX_HELPDESK_SCRYPT_LN;
    pc->r = NGX_HELPDESK_SCRYPT_R;
    pc->p = NGX_HELPDESK_SCRYPT_P;
    pc->salt_len = NGX_HELPDESK_SALT_LEN;

    if (RAND_bytes(pc->salt, NGX_HELPDESK_SALT_LEN) != 1) {
        return NGX_ERROR;
    }

    return ngx_thread_task_post(ngx_helpdesk_password_tp, pc->task);
}


ngx_int_t
ngx_helpdesk_password_check(ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *password, ngx_str_t *stored,
    ngx_helpdesk_password_done_pt done, void *data)
{
    ngx_helpdesk_password_ctx_t  *pc;

    if (ngx_helpdesk_password_alloc(pool, log, &pc, done, data) != NGX_OK) {
        return NGX_ERROR;
    }

    pc->check = 1;
    pc->password_len = ngx_min(password->len, NGX_HELPDESK_PASSWORD_MAX);
    ngx_memcpy(pc->password, password->data, pc->password_len);

    if (stored == NULL || stored->len == 0
        || ngx_helpdesk_password_parse(pc, stored) != NGX_OK)
    {
        pc->dummy = 1;
        (void) ngx_helpdesk_password_parse(pc, &ngx_helpdesk_password_dummy);
    }

    return ngx_thread_task_post(ngx_helpdesk_password_tp, pc->task);
}


/* The task, in the caller's pool; its handler runs on the event loop. */
static ngx_int_t
ngx_helpdesk_password_alloc(ngx_pool_t *pool, ngx_log_t *log,
    ngx_helpdesk_password_ctx_t **out, ngx_helpdesk_password_done_pt done,
    void *data)
{
    ngx_thread_task_t            *task;
    ngx_helpdesk_password_ctx_t  *pc;

    if (ngx_helpdesk_password_tp == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "helpdesk: no thread pool for password hashing");
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(pool, sizeof(ngx_helpdesk_password_ctx_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    pc = task->ctx;
    ngx_memzero(pc, sizeof(ngx_helpdesk_password_ctx_t));
    pc->pool = pool;
    pc->done = done;
    pc->data = data;
    pc->task = task;

    task->handler = ngx_helpdesk_password_thread;
    task->event.handler = ngx_helpdesk_password_event;
    task->event.data = task;
    task->event.log = log;

    *out = pc;

    return NGX_OK;
}


static void
ngx_helpdesk_password_thread(void *data, ngx_log_t *log)
{
    ngx_helpdesk_password_ctx_t  *pc = data;

    uint64_t  n;

    n = (uint64_t) 1 << pc->ln;

    if (EVP_PBE_scrypt((const char *) pc->password, pc->password_len,
                       pc->salt, pc->salt_len, n, pc->r, pc->p,
                       NGX_HELPDESK_SCRYPT_MAXMEM, pc->key,
                       pc->check ? pc->expect_len : NGX_HELPDESK_KEY_LEN)
        != 1)
    {
        pc->rc = NGX_ERROR;
        return;
    }

    if (!pc->check) {
        pc->rc = NGX_OK;
        return;
    }

    pc->rc = (CRYPTO_memcmp(pc->key, pc->expect, pc->expect_len) == 0
              && !pc->dummy)
             ? NGX_OK : NGX_DECLINED;
}


static void
ngx_helpdesk_password_event(ngx_event_t *ev)
{
    u_char                       *p;
    size_t                        len;
    ngx_str_t                     hash, src, dst;
    ngx_thread_task_t            *task = ev->data;
    ngx_helpdesk_password_ctx_t  *pc = task->ctx;

    ngx_explicit_memzero(pc->password, sizeof(pc->password));

    if (pc->rc != NGX_OK || pc->check) {
        pc->done(pc->data, pc->rc, NULL);
        return;
    }

    len = sizeof("$scrypt$ln=,r=,p=$$") - 1 + 3 * NGX_INT_T_LEN
          + ngx_base64_encoded_length(NGX_HELPDESK_SALT_LEN)
          + ngx_base64_encoded_length(NGX_HELPDESK_KEY_LEN);

    p = ngx_pnalloc(pc->pool, len);
    if (p == NULL) {
        pc->done(pc->data, NGX_ERROR, NULL);
        return;
    }

    hash.data = p;
    p = ngx_sprintf(p, "$scrypt$ln=%ui,r=%ui,p=%ui$", pc->ln, pc->r, pc->p);

    src.data = pc->salt;
    src.len = pc->salt_len;
    dst.data = p;
    ngx_encode_base64(&dst, &src);
    while (dst.len && dst.data[dst.len - 1] == '=') {
        dst.len--;
    }
    p += dst.len;
    *p++ = '$';

    src.data = pc->key;
    src.len = NGX_HELPDESK_KEY_LEN;
    dst.data = p;
    ngx_encode_base64(&dst, &src);
    while (dst.len && dst.data[dst.len - 1] == '=') {
        dst.len--;
    }
    p += dst.len;

    hash.len = p - hash.data;

    pc->done(pc->data, NGX_OK, &hash);
}


/* "$scrypt$ln=15,r=8,p=1$<salt>$<key>" */
static ngx_int_t
ngx_helpdesk_password_decode(u_char *start, u_char *end, u_char *out,
    size_t max, size_t *len)
{
    u_char     buf[96];
    ngx_str_t  src, dst;
    size_t     n;

    n = end - start;
    if (n == 0 || n + 3 > sizeof(buf)) {
        return NGX_ERROR;
    }

    ngx_memcpy(buf, start, n);
    while (n % 4) {
        buf[n++] = '=';
    }

    src.data = buf;
    src.len = n;

    if (ngx_base64_decoded_length(n) > max) {
        return NGX_ERROR;
    }

    dst.data = out;
    if (ngx_decode_base64(&dst, &src) != NGX_OK) {
        return NGX_ERROR;
    }

    *len = dst.len;
    return NGX_OK;
}


static ngx_int_t
ngx_helpdesk_password_parse(ngx_helpdesk_password_ctx_t *pc, ngx_str_t *stored)
{
    u_char      *p, *last, *salt, *key;
    ngx_int_t    ln, r, par;

    p = stored->data;
    last = p + stored->len;

    if (stored->len > NGX_HELPDESK_HASH_MAX
        || ngx_strncmp(p, "$scrypt$ln=", 11) != 0)
    {
        return NGX_ERROR;
    }

    p += 11;
    salt = ngx_strlchr(p, last, ',');
    if (salt == NULL || (ln = ngx_atoi(p, salt - p)) == NGX_ERROR
        || ln < 10 || ln > 20 || last - salt < 3 || ngx_strncmp(salt, ",r=", 3))
    {
        return NGX_ERROR;
    }

    p = salt + 3;
    salt = ngx_strlchr(p, last, ',');
    if (salt == NULL || (r = ngx_atoi(p, salt - p)) == NGX_ERROR
        || r < 1 || r > 32 || last - salt < 3 || ngx_strncmp(salt, ",p=", 3))
    {
        return NGX_ERROR;
    }

    p = salt + 3;
    salt = ngx_strlchr(p, last, '$');
    if (salt == NULL || (par = ngx_atoi(p, salt - p)) == NGX_ERROR
        || par < 1 || par > 16)
    {
        return NGX_ERROR;
    }

    salt++;
    key = ngx_strlchr(salt, last, '$');
    if (key == NULL) {
        return NGX_ERROR;
    }

    if (ngx_helpdesk_password_decode(salt, key, pc->salt, sizeof(pc->salt),
                                     &pc->salt_len) != NGX_OK
        || ngx_helpdesk_password_decode(key + 1, last, pc->expect,
                                        sizeof(pc->expect), &pc->expect_len)
           != NGX_OK
        || pc->expect_len < 16)
    {
        return NGX_ERROR;
    }

    pc->ln = ln;
    pc->r = r;
    pc->p = par;

    return NGX_OK;
}
