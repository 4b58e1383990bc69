/*
 * Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps,
 * 6 digits), the second factor of agents' logins.
 */

#ifndef _NGX_HELPDESK_TOTP_H_INCLUDED_
#define _NGX_HELPDESK_TOTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HELPDESK_TOTP_SECRET_LEN  20    /* bytes; 32 base32 characters */


/* A new random secret, base32-encoded (RFC 4648, no padding), in pool. */
ngx_int_t ngx_helpdesk_totp_secret(ngx_pool_t *pool, ngx_str_t *base32);

/*
 * NGX_OK when "code" (6 digits) is the code of the base32 secret for now,
 * the step before or the step after (clocks drift); NGX_DECLINED if not.
 */
ngx_int_t ngx_helpdesk_totp_check(ngx_str_t *base32, ngx_str_t *code);

/*
 * The same, and the time step the code belongs to (unix time / 30), for
 * the caller to accept each step once: a code seen is not taken again.
 */
ngx_int_t ngx_helpdesk_totp_match(ngx_str_t *base32, ngx_str_t *code,
    uint64_t *matched);


#endif /* _NGX_HELPDESK_TOTP_H_INCLUDED_ */
