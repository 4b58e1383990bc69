/*
 * The ticket service's vocabulary and input rules, shared by every
 * channel: which fields a ticket, a comment or a filter may carry, and
 * which values they may take.  The changes themselves run in PostgreSQL
 * (sql/tickets/tickets.sql), one function per operation, in one transaction.
 */

#ifndef _NGX_HELPDESK_TICKET_H_INCLUDED_
#define _NGX_HELPDESK_TICKET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>

#include "lib/ngx_helpdesk_json.h"


extern const char *const  ngx_helpdesk_ticket_statuses[];
extern const char *const  ngx_helpdesk_ticket_priorities[];
extern const char *const  ngx_helpdesk_ticket_channels[];
extern const char *const  ngx_helpdesk_user_roles[];
extern const char *const  ngx_helpdesk_api_scopes[];

extern const ngx_helpdesk_json_field_t  ngx_helpdesk_ticket_create_fields[];
extern const ngx_helpdesk_json_field_t  ngx_helpdesk_ticket_update_fields[];
extern const ngx_helpdesk_json_field_t  ngx_helpdesk_ticket_comment_fields[];
extern const ngx_helpdesk_json_field_t  ngx_helpdesk_user_create_fields[];


/*
 * Checks one list filter (a query parameter) and stores it in "args".
 * Returns NGX_DECLINED for a name that is not a ticket filter.
 */
ngx_int_t ngx_helpdesk_ticket_filter(json_t *args, ngx_str_t *name,
    ngx_str_t *value, json_t *errors);

ngx_int_t ngx_helpdesk_page_filter(json_t *args, ngx_str_t *name,
    ngx_str_t *value, json_t *errors);

ngx_flag_t ngx_helpdesk_timestamp_valid(u_char *p, size_t len);


#endif /* _NGX_HELPDESK_TICKET_H_INCLUDED_ */
