/*
 * Secrets at rest: AES-256-GCM under a ring of keys with ids.
 *
 * A stored secret is "v1:<key id>:<base64(nonce || ciphertext || tag)>",
 * with a fresh random 96-bit nonce per encryption and associated data
 * naming where the value lives (table, column, row), so a ciphertext
 * copied into another row or column does not decrypt.  A value written
 * before secrets were encrypted is marked "plain:<value>" (migration 022)
 * until the rotation encrypts it; anything else is refused.
 */

#ifndef _NGX_HELPDESK_SECRET_H_INCLUDED_
#define _NGX_HELPDESK_SECRET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HELPDESK_SECRET_KEY_LEN    32
#define NGX_HELPDESK_SECRET_NONCE_LEN  12
#define NGX_HELPDESK_SECRET_TAG_LEN    16
#define NGX_HELPDESK_SECRET_ID_MAX     32
/* the largest secret accepted, in bytes (a token is a few hundred) */
#define NGX_HELPDESK_SECRET_MAX        4096


typedef struct {
    ngx_str_t   id;
    u_char      key[NGX_HELPDESK_SECRET_KEY_LEN];
} ngx_helpdesk_secret_key_t;


/* The keys, the first one encrypts; every one decrypts. */
typedef struct {
    ngx_array_t   keys;         /* of ngx_helpdesk_secret_key_t */
} ngx_helpdesk_secret_ring_t;


/*
 * Parses a key file's text: lines "<id> <base64 of 32 bytes>", blank
 * lines and "#" comments ignored; ids are 1-32 of [A-Za-z0-9_-] and
 * unique.  NGX_ERROR with a message in err (NUL-terminated) otherwise.
 */
ngx_int_t ngx_helpdesk_secret_ring_parse(ngx_pool_t *pool, u_char *text,
    size_t len, ngx_helpdesk_secret_ring_t *ring, u_char *err, size_t size);

/* The encrypting key's id. */
ngx_str_t *ngx_helpdesk_secret_current(ngx_helpdesk_secret_ring_t *ring);

/* Writes "v1:<id>:<base64>" of plain under the current key into out. */
ngx_int_t ngx_helpdesk_secret_encrypt(ngx_pool_t *pool,
    ngx_helpdesk_secret_ring_t *ring, ngx_str_t *aad, ngx_str_t *plain,
    ngx_str_t *out);

/*
 * Reads a stored value: NGX_OK with the plaintext (a "plain:" value's
 * rest, too), NGX_DECLINED if it is not a secret of this ring (unknown
 * key, malformed, tampered, moved to another row), NGX_ERROR if memory
 * ran out.
 */
ngx_int_t ngx_helpdesk_secret_decrypt(ngx_pool_t *pool,
    ngx_helpdesk_secret_ring_t *ring, ngx_str_t *aad, ngx_str_t *value,
    ngx_str_t *plain);

/* 1 if value is "v1:" under the current key (nothing to rotate). */
ngx_uint_t ngx_helpdesk_secret_is_current(ngx_helpdesk_secret_ring_t *ring,
    ngx_str_t *value);

/*
 * The associated data of a value: "<table>.<column>:<row id>", written
 * into buf (of at least NGX_HELPDESK_SECRET_AAD_MAX bytes).
 */
#define NGX_HELPDESK_SECRET_AAD_MAX  192

/*
 * A random (version 4) UUID in text, 36 bytes into buf: the id of a row
 * whose secrets are sealed before the row exists.
 */
#define NGX_HELPDESK_UUID_LEN  36

ngx_int_t ngx_helpdesk_secret_row_id(u_char *buf);

void ngx_helpdesk_secret_aad(ngx_str_t *aad, u_char *buf, const char *table,
    const char *column, ngx_str_t *row);


#endif /* _NGX_HELPDESK_SECRET_H_INCLUDED_ */
