/*
 * Which addresses the helpdesk may connect to on a tenant's behalf: only
 * public unicast ones, unless the configuration exempts a range.
 */

#ifndef _NGX_HELPDESK_ADDR_H_INCLUDED_
#define _NGX_HELPDESK_ADDR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * NULL when "sa" is a public unicast address or lies in one of "allow"
 * (ngx_cidr_t, may be NULL); otherwise what the address is ("loopback",
 * "private", ...).  An IPv6 address that embeds an IPv4 one (mapped,
 * compatible, NAT64, 6to4) is judged by the IPv4 address.
 */
const char *ngx_helpdesk_addr_refused(struct sockaddr *sa,
    ngx_array_t *allow);

/* the same for an address in text: NGX_DECLINED when it is not one */
ngx_int_t ngx_helpdesk_addr_text_refused(u_char *text, size_t len,
    ngx_array_t *allow, const char **why);

/*
 * NULL when "host" (a name, lower case, without a trailing dot) may be a
 * public name; otherwise why not.
 */
const char *ngx_helpdesk_addr_name_refused(u_char *host, size_t len);


#endif /* _NGX_HELPDESK_ADDR_H_INCLUDED_ */
