/*
 * The rotation of secrets at rest: re-encrypts every stored secret that
 * is not under the key file's current key.
 */

#ifndef _NGX_HELPDESK_REKEY_H_INCLUDED_
#define _NGX_HELPDESK_REKEY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "lib/ngx_helpdesk_secret.h"


/* a pass over every secret this often, and when a worker starts */
#define NGX_HELPDESK_REKEY_INTERVAL  60000


/*
 * "proof" is the module's proof to the database ("\\x" and the hex SHA-256
 * of the provider key, as the outbox runner's): the rotation's entry
 * points hand out every tenant's sealed secrets.  Empty: no rotation.
 */
ngx_int_t ngx_helpdesk_rekey_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_secret_ring_t *ring, u_char *proof);
void ngx_helpdesk_rekey_exit_worker(void);


#endif /* _NGX_HELPDESK_REKEY_H_INCLUDED_ */
