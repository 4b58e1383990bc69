/*
 * The chat's record: conversations and messages from Redis to PostgreSQL.
 */

#ifndef _NGX_HELPDESK_CHAT_PERSIST_H_INCLUDED_
#define _NGX_HELPDESK_CHAT_PERSIST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * proof: the module's proof to the database ("\\x" and hex, see
 * rest.module_proof), kept by the caller for the worker's life.
 */
ngx_int_t ngx_helpdesk_chat_persist_init_worker(ngx_cycle_t *cycle,
    u_char *proof);
void ngx_helpdesk_chat_persist_exit_worker(void);


#endif /* _NGX_HELPDESK_CHAT_PERSIST_H_INCLUDED_ */
