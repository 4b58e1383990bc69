/*
 * JSON helpers on top of jansson: parsing request bodies with a usable
 * error position, a declarative field validator that collects every
 * error instead of stopping at the first, and dumping into a pool.
 */

#ifndef _NGX_HELPDESK_JSON_H_INCLUDED_
#define _NGX_HELPDESK_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>


typedef enum {
    NGX_HELPDESK_JSON_STRING = 0,
    NGX_HELPDESK_JSON_ENUM,
    NGX_HELPDESK_JSON_EMAIL,
    NGX_HELPDESK_JSON_OBJECT,
    NGX_HELPDESK_JSON_BOOL,
    NGX_HELPDESK_JSON_ENUM_ARRAY,
    NGX_HELPDESK_JSON_STRING_ARRAY,     /* max: each string's length */
    NGX_HELPDESK_JSON_SLUG
} ngx_helpdesk_json_type_e;


#define NGX_HELPDESK_JSON_REQUIRED  0x01
#define NGX_HELPDESK_JSON_NULLABLE  0x02


typedef struct {
    const char                 *name;
    ngx_helpdesk_json_type_e    type;
    ngx_uint_t                  flags;
    size_t                      max;        /* characters; 0: no limit */
    const char *const          *values;     /* enums: NULL-terminated */
    const char                 *alias_of;   /* another name for a field */
} ngx_helpdesk_json_field_t;


json_t *ngx_helpdesk_json_parse(u_char *data, size_t len, json_error_t *err);

/*
 * Checks "in" (an object) against "fields".  Returns a new object with
 * the accepted fields (aliases renamed), and appends one
 * {"field", "message"} object to "errors" for each problem found.
 */
json_t *ngx_helpdesk_json_validate(json_t *in,
    const ngx_helpdesk_json_field_t *fields, json_t *errors);

void ngx_helpdesk_json_error(json_t *errors, const char *field,
    const char *message);

ngx_int_t ngx_helpdesk_json_dump(ngx_pool_t *pool, json_t *json,
    ngx_str_t *out);

ngx_flag_t ngx_helpdesk_json_email_valid(const char *s, size_t len);
size_t ngx_helpdesk_json_utf8_chars(const char *s, size_t len);


#endif /* _NGX_HELPDESK_JSON_H_INCLUDED_ */
