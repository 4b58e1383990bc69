/*
 * Ticket vocabulary and input rules.
 *
 * Statuses follow a ticket's life: "open" (waiting on the helpdesk),
 * "pending" (waiting on the customer), "on_hold" (waiting on a third
 * party), "resolved" (answered; may be reopened) and "closed" (final).
 * Which status may follow which is enforced where the change happens,
 * in tickets.status_transition_ok().
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_ticket.h"


#define NGX_HELPDESK_TEXT_MAX  65535


const char *const  ngx_helpdesk_ticket_statuses[] = {
    "open", "pending", "on_hold", "resolved", "closed", NULL
};

const char *const  ngx_helpdesk_ticket_priorities[] = {
    "low", "normal", "high", "urgent", NULL
};

const char *const  ngx_helpdesk_ticket_channels[] = {
    "api", "portal", "email", "whatsapp", "chat", "phone", NULL
};

const char *const  ngx_helpdesk_user_roles[] = {
    "customer", "agent", "admin", NULL
};

const char *const  ngx_helpdesk_api_scopes[] = {
    "tickets:read", "tickets:write", "admin", NULL
};

static const char *const  ngx_helpdesk_visibilities[] = {
    "public", "internal", NULL
};


#define REQ  NGX_HELPDESK_JSON_REQUIRED
#define NUL  NGX_HELPDESK_JSON_NULLABLE

const ngx_helpdesk_json_field_t  ngx_helpdesk_ticket_create_fields[] = {
    { "subject", NGX_HELPDESK_JSON_STRING, REQ, 200, NULL, NULL },
    { "title", NGX_HELPDESK_JSON_STRING, 0, 200, NULL, "subject" },
    { "description", NGX_HELPDESK_JSON_STRING, 0, NGX_HELPDESK_TEXT_MAX,
      NULL, NULL },
    { "priority", NGX_HELPDESK_JSON_ENUM, 0, 0,
      ngx_helpdesk_ticket_priorities, NULL },
    { "category", NGX_HELPDESK_JSON_STRING, NUL, 100, NULL, NULL },
    { "requester_email", NGX_HELPDESK_JSON_EMAIL, 0, 0, NULL, NULL },
    { "requester_name", NGX_HELPDESK_JSON_STRING, 0, 200, NULL, NULL },
    { "requester_phone", NGX_HELPDESK_JSON_STRING, 0, 40, NULL, NULL },
    { "assignee", NGX_HELPDESK_JSON_STRING, NUL, 254, NULL, NULL },
    { "custom_fields", NGX_HELPDESK_JSON_OBJECT, 0, 50, NULL, NULL },
    { "attachments", NGX_HELPDESK_JSON_STRING_ARRAY, 0, 36, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

const ngx_helpdesk_json_field_t  ngx_helpdesk_ticket_update_fields[] = {
    { "status", NGX_HELPDESK_JSON_ENUM, 0, 0, ngx_helpdesk_ticket_statuses,
      NULL },
    { "priority", NGX_HELPDESK_JSON_ENUM, 0, 0,
      ngx_helpdesk_ticket_priorities, NULL },
    { "category", NGX_HELPDESK_JSON_STRING, NUL, 100, NULL, NULL },
    { "assignee", NGX_HELPDESK_JSON_STRING, NUL, 254, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

const ngx_helpdesk_json_field_t  ngx_helpdesk_ticket_comment_fields[] = {
    { "body", NGX_HELPDESK_JSON_STRING, REQ, NGX_HELPDESK_TEXT_MAX, NULL,
      NULL },
    { "visibility", NGX_HELPDESK_JSON_ENUM, 0, 0, ngx_helpdesk_visibilities,
      NULL },
    /* upload ids (POST /v1/uploads); the database checks whose they are */
    { "attachments", NGX_HELPDESK_JSON_STRING_ARRAY, 0, 36, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

const ngx_helpdesk_json_field_t  ngx_helpdesk_user_create_fields[] = {
    { "email", NGX_HELPDESK_JSON_EMAIL, REQ, 0, NULL, NULL },
    { "name", NGX_HELPDESK_JSON_STRING, 0, 200, NULL, NULL },
    { "phone", NGX_HELPDESK_JSON_STRING, 0, 40, NULL, NULL },
    { "role", NGX_HELPDESK_JSON_ENUM, 0, 0, ngx_helpdesk_user_roles, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};

#undef REQ
#undef NUL


static ngx_flag_t
ngx_helpdesk_list_valid(ngx_str_t *value, const char *const *values)
{
    u_char             *p, *last, *comma;
    const char *const  *v;

    p = value->data;
    last = value->data + value->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        for (v = values; *v; v++) {
            if ((size_t) (comma - p) == ngx_strlen(*v)
                && ngx_strncmp(p, *v, comma - p) == 0)
            {
                break;
            }
        }

        if (*v == NULL) {
            return 0;
        }

        p = comma + 1;
    }

    return value->len > 0 && value->data[value->len - 1] != ',';
}


static ngx_flag_t
ngx_helpdesk_digits(u_char *p, size_t n)
{
    while (n--) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
        p++;
    }

    return 1;
}


/* RFC 3339: 2026-11-21, 2026-11-21T09:30:00Z, ...T09:30:00.5-03:00 */

ngx_flag_t
ngx_helpdesk_timestamp_valid(u_char *p, size_t len)
{
    u_char  *last = p + len;

    if (len < 10 || !ngx_helpdesk_digits(p, 4) || p[4] != '-'
        || !ngx_helpdesk_digits(p + 5, 2) || p[7] != '-'
        || !ngx_helpdesk_digits(p + 8, 2))
    {
        return 0;
    }

    if (len == 10) {
        return 1;
    }

    p += 10;

    if ((*p != 'T' && *p != 't' && *p != ' ') || last - p < 9
        || !ngx_helpdesk_digits(p + 1, 2) || p[3] != ':'
        || !ngx_helpdesk_digits(p + 4, 2) || p[6] != ':'
        || !ngx_helpdesk_digits(p + 7, 2))
    {
        return 0;
    }

    p += 9;

    if (p < last && *p == '.') {
        for (p++; p < last && *p >= '0' && *p <= '9'; p++) { /* void */ }
    }

    if (p == last) {
        return 1;
    }

    if ((*p == 'Z' || *p == 'z') && p + 1 == last) {
        return 1;
    }

    return (*p == '+' || *p == '-') && last - p == 6
           && ngx_helpdesk_digits(p + 1, 2) && p[3] == ':'
           && ngx_helpdesk_digits(p + 4, 2);
}


static void
ngx_helpdesk_filter_set(json_t *args, ngx_str_t *name, ngx_str_t *value,
    json_t *errors)
{
    u_char  key[64];
    json_t *s;

    ngx_cpystrn(key, name->data, ngx_min(name->len + 1, sizeof(key)));

    /*
     * json_stringn() checks UTF-8 only, and a NUL byte (%00) has no place
     * in PostgreSQL's jsonb: the rule is kept here, whatever the channel's
     * own checks
     */
    s = NULL;

    if (ngx_strlchr(value->data, value->data + value->len, '\0') == NULL) {
        s = json_stringn((const char *) value->data, value->len);
    }

    if (s == NULL) {
        ngx_helpdesk_json_error(errors, (char *) key,
                                "must be valid UTF-8 without NUL bytes");
        return;
    }

    json_object_set_new(args, (char *) key, s);
}


#define ngx_helpdesk_is(name, lit)                                           \
    ((name)->len == sizeof(lit) - 1                                          \
     && ngx_strncmp((name)->data, lit, sizeof(lit) - 1) == 0)


ngx_int_t
ngx_helpdesk_page_filter(json_t *args, ngx_str_t *name, ngx_str_t *value,
    json_t *errors)
{
    ngx_int_t  n;

    if (ngx_helpdesk_is(name, "limit")) {
        n = ngx_atoi(value->data, value->len);
        if (n < 1 || n > 100) {
            ngx_helpdesk_json_error(errors, "limit",
                                    "must be a whole number from 1 to 100");
            return NGX_OK;
        }

        json_object_set_new(args, "limit", json_integer(n));
        return NGX_OK;
    }

    if (ngx_helpdesk_is(name, "cursor")) {
        if (value->len == 0 || value->len > 64) {
            ngx_helpdesk_json_error(errors, "cursor",
                                    "is not a cursor this API returned");
            return NGX_OK;
        }

        ngx_helpdesk_filter_set(args, name, value, errors);
        return NGX_OK;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_helpdesk_ticket_filter(json_t *args, ngx_str_t *name, ngx_str_t *value,
    json_t *errors)
{
    if (ngx_helpdesk_page_filter(args, name, value, errors) == NGX_OK) {
        return NGX_OK;
    }

    if (ngx_helpdesk_is(name, "status")) {
        if (!ngx_helpdesk_list_valid(value, ngx_helpdesk_ticket_statuses)) {
            ngx_helpdesk_json_error(errors, "status", "must be a comma-"
                "separated list of: open pending on_hold resolved closed");
            return NGX_OK;
        }

    } else if (ngx_helpdesk_is(name, "priority")) {
        if (!ngx_helpdesk_list_valid(value, ngx_helpdesk_ticket_priorities)) {
            ngx_helpdesk_json_error(errors, "priority", "must be a comma-"
                "separated list of: low normal high urgent");
            return NGX_OK;
        }

    } else if (ngx_helpdesk_is(name, "channel")) {
        if (!ngx_helpdesk_list_valid(value, ngx_helpdesk_ticket_channels)) {
            ngx_helpdesk_json_error(errors, "channel", "must be a comma-"
                "separated list of: api portal email whatsapp chat phone");
            return NGX_OK;
        }

    } else if (ngx_helpdesk_is(name, "created_after")
               || ngx_helpdesk_is(name, "created_before"))
    {
        if (!ngx_helpdesk_timestamp_valid(value->data, value->len)) {
            ngx_helpdesk_json_error(errors,
                name->data[8] == 'a' ? "created_after" : "created_before",
                "must be an RFC 3339 date or date-time");
            return NGX_OK;
        }

    } else if (ngx_helpdesk_is(name, "requester_email")) {
        if (!ngx_helpdesk_json_email_valid((char *) value->data, value->len))
        {
            ngx_helpdesk_json_error(errors, "requester_email",
                                    "must be an email address");
            return NGX_OK;
        }

    } else if (ngx_helpdesk_is(name, "q")
               || ngx_helpdesk_is(name, "category")
               || ngx_helpdesk_is(name, "assignee"))
    {
        if (value->len == 0 || value->len > 200) {
            ngx_helpdesk_json_error(errors,
                name->data[0] == 'q' ? "q"
                : (name->data[0] == 'c' ? "category" : "assignee"),
                "must be 1 to 200 characters");
            return NGX_OK;
        }

    } else {
        return NGX_DECLINED;
    }

    ngx_helpdesk_filter_set(args, name, value, errors);

    return NGX_OK;
}
