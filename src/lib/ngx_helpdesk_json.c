/*
 * JSON input handling.
 *
 * jansson already refuses what a client must not send: invalid UTF-8,
 * NUL bytes inside strings (we never pass JSON_ALLOW_NUL), integers and
 * reals that overflow, nesting deeper than its compile-time limit, and
 * (with JSON_REJECT_DUPLICATES) duplicate keys.  Each refusal comes with a
 * line, column and byte position, which the API returns in its 400.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_json.h"


json_t *
ngx_helpdesk_json_parse(u_char *data, size_t len, json_error_t *err)
{
    return json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, err);
}


void
ngx_helpdesk_json_error(json_t *errors, const char *field, const char *message)
{
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field,
                                            "message", message));
}


size_t
ngx_helpdesk_json_utf8_chars(const char *s, size_t len)
{
    size_t  i, n;

    /* input is valid UTF-8 (jansson checked): count non-continuation bytes */
    for (i = 0, n = 0; i < len; i++) {
        if (((u_char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


ngx_flag_t
ngx_helpdesk_json_email_valid(const char *s, size_t len)
{
    size_t      i, at, dot;

    if (len < 3 || len > 254) {
        return 0;
    }

    at = len;
    dot = 0;

    for (i = 0; i < len; i++) {
        u_char  ch = (u_char) s[i];

        if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>' || ch == ','
            || ch == ';' || ch == '"' || ch == '(' || ch == ')' || ch == '\\')
        {
            return 0;
        }

        if (ch == '@') {
            if (at != len) {
                return 0;
            }

            at = i;

        } else if (ch == '.' && at != len) {
            dot = i;
        }
    }

    /* local@domain.tld: something before '@', a dot after it, not last */
    return at > 0 && at < len && dot > at + 1 && dot < len - 1;
}


static ngx_flag_t
ngx_helpdesk_json_in(const char *const *values, const char *s)
{
    for ( /* void */ ; *values; values++) {
        if (ngx_strcmp(*values, s) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_helpdesk_json_enum_error(json_t *errors, const char *field,
    const char *const *values)
{
    u_char   buf[512], *p, *last;

    p = buf;
    last = buf + sizeof(buf) - 1;

    p = ngx_slprintf(p, last, "must be one of:");

    for ( /* void */ ; *values; values++) {
        p = ngx_slprintf(p, last, " %s", *values);
    }

    *p = '\0';

    ngx_helpdesk_json_error(errors, field, (char *) buf);
}


static void
ngx_helpdesk_json_check(json_t *out, json_t *value,
    const ngx_helpdesk_json_field_t *f, const char *name, json_t *errors)
{
    size_t       len, i;
    json_t      *item;
    const char  *s;
    u_char       msg[128];

    if (json_is_null(value)) {
        if (f->flags & NGX_HELPDESK_JSON_NULLABLE) {
            json_object_set(out, f->name, value);

        } else {
            ngx_helpdesk_json_error(errors, name, "must not be null");
        }

        return;
    }

    switch (f->type) {

    case NGX_HELPDESK_JSON_BOOL:
        if (!json_is_boolean(value)) {
            ngx_helpdesk_json_error(errors, name, "must be true or false");
            return;
        }
        break;

    case NGX_HELPDESK_JSON_OBJECT:
        if (!json_is_object(value)) {
            ngx_helpdesk_json_error(errors, name, "must be an object");
            return;
        }

        if (f->max && json_object_size(value) > f->max) {
            ngx_sprintf(msg, "must have at most %uz keys%Z", f->max);
            ngx_helpdesk_json_error(errors, name, (char *) msg);
            return;
        }
        break;

    case NGX_HELPDESK_JSON_ENUM_ARRAY:
        if (!json_is_array(value) || json_array_size(value) == 0) {
            ngx_helpdesk_json_error(errors, name,
                                    "must be a non-empty array of strings");
            return;
        }

        json_array_foreach(value, i, item) {
            if (!json_is_string(item)
                || !ngx_helpdesk_json_in(f->values, json_string_value(item)))
            {
                ngx_helpdesk_json_enum_error(errors, name, f->values);
                return;
            }
        }
        break;

    case NGX_HELPDESK_JSON_STRING_ARRAY:
        if (!json_is_array(value) || json_array_size(value) > 20) {
            ngx_helpdesk_json_error(errors, name,
                                    "must be an array of at most 20 strings");
            return;
        }

        json_array_foreach(value, i, item) {
            if (!json_is_string(item)
                || (f->max && ngx_helpdesk_json_utf8_chars(
                                  json_string_value(item),
                                  json_string_length(item)) > f->max))
            {
                ngx_sprintf(msg, "must hold strings of at most %uz "
                            "characters%Z", f->max);
                ngx_helpdesk_json_error(errors, name, (char *) msg);
                return;
            }
        }
        break;

    default:
        if (!json_is_string(value)) {
            ngx_helpdesk_json_error(errors, name, "must be a string");
            return;
        }

        s = json_string_value(value);
        len = json_string_length(value);

        if (f->type == NGX_HELPDESK_JSON_ENUM) {
            if (!ngx_helpdesk_json_in(f->values, s)) {
                ngx_helpdesk_json_enum_error(errors, name, f->values);
                return;
            }
            break;
        }

        if (f->type == NGX_HELPDESK_JSON_EMAIL) {
            if (!ngx_helpdesk_json_email_valid(s, len)) {
                ngx_helpdesk_json_error(errors, name,
                                        "must be an email address");
                return;
            }
            break;
        }

        if (f->type == NGX_HELPDESK_JSON_SLUG) {
            for (i = 0; i < len; i++) {
                if (!((s[i] >= 'a' && s[i] <= 'z')
                      || (s[i] >= '0' && s[i] <= '9')
                      || (s[i] == '-' && i > 0 && i < len - 1)))
                {
                    break;
                }
            }

            if (len == 0 || i < len || len > 63) {
                ngx_helpdesk_json_error(errors, name,
                    "must be 1 to 63 lowercase letters, digits or inner "
                    "hyphens");
                return;
            }
            break;
        }

        if ((f->flags & NGX_HELPDESK_JSON_REQUIRED) && len == 0) {
            ngx_helpdesk_json_error(errors, name, "must not be empty");
            return;
        }

        if (f->max && ngx_helpdesk_json_utf8_chars(s, len) > f->max) {
            ngx_sprintf(msg, "must be at most %uz characters%Z", f->max);
            ngx_helpdesk_json_error(errors, name, (char *) msg);
            return;
        }

        break;
    }

    json_object_set(out, f->name, value);
}


json_t *
ngx_helpdesk_json_validate(json_t *in, const ngx_helpdesk_json_field_t *fields,
    json_t *errors)
{
    json_t                           *out, *value;
    const char                       *key;
    const ngx_helpdesk_json_field_t  *f, *target;

    out = json_object();
    if (out == NULL) {
        return NULL;
    }

    if (!json_is_object(in)) {
        ngx_helpdesk_json_error(errors, "", "the body must be a JSON object");
        return out;
    }

    json_object_foreach(in, key, value) {

        for (f = fields; f->name; f++) {
            if (ngx_strcmp(f->name, key) == 0) {
                break;
            }
        }

        if (f->name == NULL) {
            ngx_helpdesk_json_error(errors, key, "unknown field");
            continue;
        }

        target = f;

        if (f->alias_of) {
            for (target = fields; target->name; target++) {
                if (ngx_strcmp(target->name, f->alias_of) == 0) {
                    break;
                }
            }

            if (json_object_get(in, target->name)) {
                ngx_helpdesk_json_error(errors, key, "conflicts with another "
                                        "field of the same meaning");
                continue;
            }
        }

        ngx_helpdesk_json_check(out, value, target, key, errors);
    }

    for (f = fields; f->name; f++) {
        if (!(f->flags & NGX_HELPDESK_JSON_REQUIRED)
            || json_object_get(in, f->name))
        {
            continue;
        }

        /* an alias may stand in for a required field */
        for (target = fields; target->name; target++) {
            if (target->alias_of && ngx_strcmp(target->alias_of, f->name) == 0
                && json_object_get(in, target->name))
            {
                break;
            }
        }

        if (target->name == NULL) {
            ngx_helpdesk_json_error(errors, f->name, "is required");
        }
    }

    return out;
}


ngx_int_t
ngx_helpdesk_json_dump(ngx_pool_t *pool, json_t *json, ngx_str_t *out)
{
    char    *text;
    size_t   len;

    /* the way PostgreSQL writes jsonb: ", " and ": " */
    text = json_dumps(json, JSON_ENCODE_ANY);
    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, text, len + 1);
    out->len = len;
    free(text);

    return NGX_OK;
}
