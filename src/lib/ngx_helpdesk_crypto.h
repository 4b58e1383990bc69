/*
 * Digests and random tokens (OpenSSL underneath), for every part of the
 * module that keys, signs or hashes something.
 */

#ifndef _NGX_HELPDESK_CRYPTO_H_INCLUDED_
#define _NGX_HELPDESK_CRYPTO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HELPDESK_SHA256_LEN  32


void ngx_helpdesk_sha256(u_char *data, size_t len, u_char *out);

/* HMAC-SHA256 of data under key into out (32 bytes); NGX_ERROR on failure */
ngx_int_t ngx_helpdesk_hmac_sha256(u_char *key, size_t key_len, u_char *data,
    size_t len, u_char *out);

/* n random bytes from the system's generator; NGX_ERROR on failure */
ngx_int_t ngx_helpdesk_random(u_char *out, size_t n);


#endif /* _NGX_HELPDESK_CRYPTO_H_INCLUDED_ */
