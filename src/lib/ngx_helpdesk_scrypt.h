/*
 * scrypt password hashes: parsing and formatting the stored form, deriving
 * and comparing keys.  Deriving takes a tenth of a second at the default
 * cost, so callers on an event loop run it elsewhere (see
 * event/ngx_helpdesk_password.c).
 */

#ifndef _NGX_HELPDESK_SCRYPT_H_INCLUDED_
#define _NGX_HELPDESK_SCRYPT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the cost of new hashes: N = 2^15, 32 MiB and about 0.1s of CPU */
#define NGX_HELPDESK_SCRYPT_LN        15
#define NGX_HELPDESK_SCRYPT_R         8
#define NGX_HELPDESK_SCRYPT_P         1

#define NGX_HELPDESK_SCRYPT_SALT_LEN  16
#define NGX_HELPDESK_SCRYPT_KEY_LEN   32

/* the most salt or key bytes a stored hash may hold */
#define NGX_HELPDESK_SCRYPT_BUF_LEN   64

/* the longest stored hash accepted */
#define NGX_HELPDESK_SCRYPT_HASH_MAX  160


/* "$scrypt$ln=<ln>,r=<r>,p=<p>$<salt>$<key>", base64 without padding */
typedef struct {
    ngx_uint_t  ln;             /* log2 of N, the CPU and memory cost */
    ngx_uint_t  r;
    ngx_uint_t  p;
    size_t      salt_len;
    size_t      key_len;
    u_char      salt[NGX_HELPDESK_SCRYPT_BUF_LEN];
    u_char      key[NGX_HELPDESK_SCRYPT_BUF_LEN];
} ngx_helpdesk_scrypt_t;


/*
 * The parameters of a new hash: the default cost, a random salt and the
 * key's length; the key itself is then derived into s->key.
 */
ngx_int_t ngx_helpdesk_scrypt_new(ngx_helpdesk_scrypt_t *s);

/* NGX_ERROR for anything but a well-formed hash of an accepted cost */
ngx_int_t ngx_helpdesk_scrypt_parse(ngx_str_t *hash, ngx_helpdesk_scrypt_t *s);

/* The stored form of "s", in pool. */
ngx_int_t ngx_helpdesk_scrypt_format(ngx_pool_t *pool, ngx_helpdesk_scrypt_t *s,
    ngx_str_t *hash);

/* what an unknown account is checked against: its key is no real one */
void ngx_helpdesk_scrypt_dummy(ngx_helpdesk_scrypt_t *s);

/* s->key_len bytes of key for "password" with s's salt and cost into out */
ngx_int_t ngx_helpdesk_scrypt_derive(ngx_helpdesk_scrypt_t *s,
    u_char *password, size_t len, u_char *out);

/*
 * NGX_OK if "password" derives s's key, NGX_DECLINED if not, NGX_ERROR if
 * the key could not be derived (the cost is over the memory limit).
 */
ngx_int_t ngx_helpdesk_scrypt_verify(ngx_helpdesk_scrypt_t *s,
    u_char *password, size_t len);

/* 1 if the n bytes at a and b are equal, in a time that depends on n only */
ngx_flag_t ngx_helpdesk_scrypt_equal(u_char *a, u_char *b, size_t n);


#endif /* _NGX_HELPDESK_SCRYPT_H_INCLUDED_ */
