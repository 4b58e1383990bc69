/*
 * The API's request bodies: ngx_helpdesk_json_parse() as the API calls it,
 * the malformed-JSON detail it then writes, and ngx_helpdesk_json_validate()
 * against the ticket service's field tables and a table with one field of
 * each kind.  What validate() accepts must carry only the table's own
 * names (aliases renamed).
 */


#include "ngx_fuzz.h"
#include "lib/ngx_helpdesk_json.h"
#include "lib/ngx_helpdesk_ticket.h"


static const char *const  ngx_fuzz_values[] = {
    "ticket.created", "ticket.updated", "a", NULL
};

static const ngx_helpdesk_json_field_t  ngx_fuzz_fields[] = {
    { "name", NGX_HELPDESK_JSON_STRING, NGX_HELPDESK_JSON_REQUIRED, 200,
      NULL, NULL },
    { "title", NGX_HELPDESK_JSON_STRING, 0, 200, NULL, "name" },
    { "slug", NGX_HELPDESK_JSON_SLUG, 0, 0, NULL, NULL },
    { "email", NGX_HELPDESK_JSON_EMAIL, 0, 0, NULL, NULL },
    { "kind", NGX_HELPDESK_JSON_ENUM, NGX_HELPDESK_JSON_NULLABLE, 0,
      ngx_fuzz_values, NULL },
    { "events", NGX_HELPDESK_JSON_ENUM_ARRAY, 0, 0, ngx_fuzz_values, NULL },
    { "tags", NGX_HELPDESK_JSON_STRING_ARRAY, 0, 50, NULL, NULL },
    { "meta", NGX_HELPDESK_JSON_OBJECT, 0, 50, NULL, NULL },
    { "active", NGX_HELPDESK_JSON_BOOL, 0, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

static const ngx_helpdesk_json_field_t  *ngx_fuzz_tables[] = {
    ngx_helpdesk_ticket_create_fields,
    ngx_helpdesk_ticket_update_fields,
    ngx_helpdesk_ticket_comment_fields,
    ngx_helpdesk_user_create_fields,
    ngx_fuzz_fields,
    NULL
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    return 0;
}


static void
ngx_fuzz_check_out(json_t *out, const ngx_helpdesk_json_field_t *fields)
{
    const char                       *key;
    json_t                           *value;
    const ngx_helpdesk_json_field_t  *f;

    json_object_foreach(out, key, value) {
        for (f = fields; f->name; f++) {
            if (f->alias_of == NULL && ngx_strcmp(f->name, key) == 0) {
                break;
            }
        }

        if (f->name == NULL) {
            abort();    /* a member the table does not have */
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t                            *in, *out, *errors;
    ngx_str_t                          body, text;
    ngx_pool_t                        *pool;
    json_error_t                       err;
    const ngx_helpdesk_json_field_t  **t;
    u_char                             detail[320];

    pool = ngx_fuzz_pool();
    body = ngx_fuzz_str(pool, data, size);

    (void) ngx_helpdesk_json_email_valid((char *) body.data, body.len);
    (void) ngx_helpdesk_json_utf8_chars((char *) body.data, body.len);

    in = ngx_helpdesk_json_parse(body.data, body.len, &err);

    if (in == NULL) {
        ngx_snprintf(detail, sizeof(detail) - 1,
                     "the body is not valid JSON: %s (line %d, column %d, "
                     "byte %d)%Z",
                     err.text, err.line, err.column, err.position);
        ngx_destroy_pool(pool);
        return 0;
    }

    for (t = ngx_fuzz_tables; *t; t++) {
        errors = json_array();
        out = ngx_helpdesk_json_validate(in, *t, errors);

        if (out == NULL || errors == NULL) {
            abort();
        }

        ngx_fuzz_check_out(out, *t);

        if (ngx_helpdesk_json_dump(pool, out, &text) != NGX_OK
            || ngx_helpdesk_json_dump(pool, errors, &text) != NGX_OK)
        {
            abort();
        }

        json_decref(out);
        json_decref(errors);
    }

    if (ngx_helpdesk_json_dump(pool, in, &text) != NGX_OK) {
        abort();
    }

    json_decref(in);
    ngx_destroy_pool(pool);

    return 0;
}
