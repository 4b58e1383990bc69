/*
 * A customer's domain name as the tenant typed it, brought to the one form
 * stored, ordered and served: no trailing dot, lower case, IDN as its
 * A-label (IDNA2008, UTS #46 non-transitional, through libidn2), at most
 * 253 characters, labels of 1 to 63 letters, digits and inner hyphens, at
 * least two labels, the last one not all digits.  IP literals and
 * wildcards are refused.
 */

#ifndef _NGX_HELPDESK_HOSTNAME_H_INCLUDED_
#define _NGX_HELPDESK_HOSTNAME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HELPDESK_HOSTNAME_MAX  253


/*
 * NGX_OK with out (in pool, NUL-terminated, out->len excludes the NUL);
 * NGX_DECLINED with *reason, a short English sentence for the API's
 * problem detail; NGX_ERROR when memory ran out.  in is not changed.
 */
ngx_int_t ngx_helpdesk_hostname_normalize(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out, const char **reason);


#endif /* _NGX_HELPDESK_HOSTNAME_H_INCLUDED_ */
