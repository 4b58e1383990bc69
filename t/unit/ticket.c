/*
 * lib/ngx_helpdesk_ticket.c: the ticket service's vocabulary, its field
 * tables (creating and updating tickets, comments, users) through the
 * JSON validator, and the list filters of query strings.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_ticket.h"


static void
ngx_unit_list(const char *const *values, const char *want, const char *name)
{
    char  buf[256], *p;

    p = buf;
    *p = '\0';

    for ( /* void */ ; *values; values++) {
        p += sprintf(p, "%s%s", p == buf ? "" : " ", *values);
    }

    is_str(buf, strlen(buf), want, "%s", name);
}


/* the errors (compact JSON) that "text" gets against "fields" */
static void
ngx_unit_check(const ngx_helpdesk_json_field_t *fields, const char *text,
    const char *want, const char *name)
{
    char          *e;
    json_t        *in, *errors, *out;
    json_error_t   err;

    in = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (in == NULL) {
        ok(0, "%s: the test's JSON parses (%s)", name, err.text);
        return;
    }

    errors = json_array();
    out = ngx_helpdesk_json_validate(in, fields, errors);

    e = json_dumps(errors, JSON_COMPACT);
    is_str(e, strlen(e), want, "%s", name);

    free(e);
    json_decref(out);
    json_decref(errors);
    json_decref(in);
}


/* "s" repeated to n characters, as a JSON document {"<field>": "sss..."} */
static char *
ngx_unit_long(const char *prefix, const char *field, const char *s, size_t n)
{
    char    *text, *p;
    size_t   i, len;

    len = strlen(s);

    text = malloc(strlen(prefix) + strlen(field) + n * len + 16);
    if (text == NULL) {
        abort();
    }

    p = text + sprintf(text, "{%s\"%s\":\"", prefix, field);

    for (i = 0; i < n; i++) {
        p = memcpy(p, s, len);
        p += len;
    }

    strcpy(p, "\"}");

    return text;
}


static void
ngx_unit_vocabulary(void)
{
    ngx_unit_list(ngx_helpdesk_ticket_statuses,
                  "open pending on_hold resolved closed", "the statuses");
    ngx_unit_list(ngx_helpdesk_ticket_priorities, "low normal high urgent",
                  "the priorities");
    ngx_unit_list(ngx_helpdesk_ticket_channels,
                  "api portal email whatsapp chat phone", "the channels");
    ngx_unit_list(ngx_helpdesk_user_roles, "customer agent admin",
                  "the roles");
    ngx_unit_list(ngx_helpdesk_api_scopes, "tickets:read tickets:write admin",
                  "the API's scopes");
}


static void
ngx_unit_tables(void)
{
    char  *text;

    const ngx_helpdesk_json_field_t  *create, *update, *comment, *user;

    create = ngx_helpdesk_ticket_create_fields;
    update = ngx_helpdesk_ticket_update_fields;
    comment = ngx_helpdesk_ticket_comment_fields;
    user = ngx_helpdesk_user_create_fields;

    /* creating a ticket */
    ngx_unit_check(create, "{\"subject\":\"Printer on fire\","
                   "\"description\":\"Smoke.\",\"priority\":\"urgent\","
                   "\"category\":null,\"requester_email\":\"a@b.co\","
                   "\"requester_name\":\"Ann\",\"requester_phone\":\"+1 555\","
                   "\"assignee\":null,\"custom_fields\":{\"floor\":3}}",
                   "[]", "create: every field");
    ngx_unit_check(create, "{}",
                   "[{\"field\":\"subject\",\"message\":\"is required\"}]",
                   "create: the subject is required");
    ngx_unit_check(create, "{\"title\":\"Printer\"}", "[]",
                   "create: a title stands in for a subject");
    ngx_unit_check(create, "{\"subject\":\"a\",\"title\":\"b\"}",
                   "[{\"field\":\"title\",\"message\":\"conflicts with "
                   "another field of the same meaning\"}]",
                   "create: not both");
    ngx_unit_check(create, "{\"subject\":\"  \"}", "[]",
                   "create: a subject of spaces is not empty here");
    ngx_unit_check(create, "{\"subject\":\"\"}",
                   "[{\"field\":\"subject\",\"message\":"
                   "\"must not be empty\"}]",
                   "create: an empty subject");

    text = ngx_unit_long("", "subject", "\xc3\xa9", 200);
    ngx_unit_check(create, text, "[]",
                   "create: a subject of 200 characters (400 bytes)");
    free(text);

    text = ngx_unit_long("", "subject", "x", 201);
    ngx_unit_check(create, text,
                   "[{\"field\":\"subject\",\"message\":"
                   "\"must be at most 200 characters\"}]",
                   "create: a subject of 201 characters");
    free(text);

    text = ngx_unit_long("\"subject\":\"s\",", "description", "x", 65535);
    ngx_unit_check(create, text, "[]",
                   "create: a description of 65535 characters");
    free(text);

    text = ngx_unit_long("\"subject\":\"s\",", "description", "x", 65536);
    ngx_unit_check(create, text,
                   "[{\"field\":\"description\",\"message\":"
                   "\"must be at most 65535 characters\"}]",
                   "create: a description of 65536 characters");
    free(text);

    text = ngx_unit_long("\"subject\":\"s\",", "requester_phone", "1", 41);
    ngx_unit_check(create, text,
                   "[{\"field\":\"requester_phone\",\"message\":"
                   "\"must be at most 40 characters\"}]",
                   "create: a phone number of 41 characters");
    free(text);

    ngx_unit_check(create, "{\"subject\":\"s\",\"priority\":\"critical\"}",
                   "[{\"field\":\"priority\",\"message\":"
                   "\"must be one of: low normal high urgent\"}]",
                   "create: a priority outside the list");
    ngx_unit_check(create, "{\"subject\":\"s\",\"status\":\"open\"}",
                   "[{\"field\":\"status\",\"message\":\"unknown field\"}]",
                   "create: a status is not the creator's to set");
    ngx_unit_check(create, "{\"subject\":\"s\",\"requester_email\":\"ann\"}",
                   "[{\"field\":\"requester_email\",\"message\":"
                   "\"must be an email address\"}]",
                   "create: a requester's email that is none");
    ngx_unit_check(create, "{\"subject\":\"s\",\"custom_fields\":[1]}",
                   "[{\"field\":\"custom_fields\",\"message\":"
                   "\"must be an object\"}]",
                   "create: custom fields not an object");
    ngx_unit_check(create, "{\"subject\":\"s\",\"requester_name\":null}",
                   "[{\"field\":\"requester_name\",\"message\":"
                   "\"must not be null\"}]",
                   "create: a requester's name null");

    /* updating one */
    ngx_unit_check(update, "{}", "[]", "update: nothing");
    ngx_unit_check(update, "{\"status\":\"on_hold\",\"priority\":\"low\","
                   "\"category\":\"billing\",\"assignee\":null}", "[]",
                   "update: every field");
    ngx_unit_check(update, "{\"status\":\"reopened\"}",
                   "[{\"field\":\"status\",\"message\":\"must be one of: "
                   "open pending on_hold resolved closed\"}]",
                   "update: a status outside the list");
    ngx_unit_check(update, "{\"subject\":\"new\"}",
                   "[{\"field\":\"subject\",\"message\":\"unknown field\"}]",
                   "update: the subject is not updated");

    /* comments */
    ngx_unit_check(comment, "{\"body\":\"Thanks\",\"visibility\":"
                   "\"internal\"}", "[]", "comment: a body, internal");
    ngx_unit_check(comment, "{\"visibility\":\"public\"}",
                   "[{\"field\":\"body\",\"message\":\"is required\"}]",
                   "comment: the body is required");
    ngx_unit_check(comment, "{\"body\":\"x\",\"visibility\":\"private\"}",
                   "[{\"field\":\"visibility\",\"message\":"
                   "\"must be one of: public internal\"}]",
                   "comment: a visibility outside the list");

    /* users */
    ngx_unit_check(user, "{\"email\":\"ann@example.org\",\"name\":\"Ann\","
                   "\"role\":\"agent\"}", "[]", "user: email, name, role");
    ngx_unit_check(user, "{\"name\":\"Ann\"}",
                   "[{\"field\":\"email\",\"message\":\"is required\"}]",
                   "user: the email is required");
    ngx_unit_check(user, "{\"email\":\"ann@example.org\",\"role\":\"root\"}",
                   "[{\"field\":\"role\",\"message\":"
                   "\"must be one of: customer agent admin\"}]",
                   "user: a role outside the list");
}


/*
 * One filter: its return code, then the arguments and errors it leaves,
 * as "args errors" in compact JSON.
 */
static void
ngx_unit_filter(ngx_flag_t page, const char *name, const char *value,
    size_t len, ngx_int_t rc, const char *want)
{
    char       *a, *e, buf[1024];
    json_t     *args, *errors;
    ngx_int_t   got;
    ngx_str_t   n, v;

    n = ngx_unit_str(name);
    v.data = (u_char *) value;
    v.len = len;

    args = json_object();
    errors = json_array();

    got = page ? ngx_helpdesk_page_filter(args, &n, &v, errors)
               : ngx_helpdesk_ticket_filter(args, &n, &v, errors);

    a = json_dumps(args, JSON_COMPACT);
    e = json_dumps(errors, JSON_COMPACT);
    snprintf(buf, sizeof(buf), "%s %s", a, e);

    is_int(got, rc, "%s filter %s=%.*s: %s", page ? "page" : "ticket", name,
           (int) ngx_min(len, 20), value,
           rc == NGX_OK ? "NGX_OK" : "NGX_DECLINED");
    is_str(buf, strlen(buf), want, "%s=%.*s: %s", name,
           (int) ngx_min(len, 20), value, want);

    free(a);
    free(e);
    json_decref(args);
    json_decref(errors);
}


#define ngx_unit_tf(name, value, want)                                       \
    ngx_unit_filter(0, name, value, sizeof(value) - 1, NGX_OK, want)


static void
ngx_unit_filters(void)
{
    char  long_value[202];

    ngx_unit_tf("status", "open", "{\"status\":\"open\"} []");
    ngx_unit_tf("status", "open,on_hold,closed",
                "{\"status\":\"open,on_hold,closed\"} []");
    ngx_unit_tf("status", "open,", "{} [{\"field\":\"status\",\"message\":"
                "\"must be a comma-separated list of: open pending on_hold "
                "resolved closed\"}]");
    ngx_unit_tf("status", ",open", "{} [{\"field\":\"status\",\"message\":"
                "\"must be a comma-separated list of: open pending on_hold "
                "resolved closed\"}]");
    ngx_unit_tf("status", "open,,closed", "{} [{\"field\":\"status\","
                "\"message\":\"must be a comma-separated list of: open "
                "pending on_hold resolved closed\"}]");
    ngx_unit_tf("status", "OPEN", "{} [{\"field\":\"status\",\"message\":"
                "\"must be a comma-separated list of: open pending on_hold "
                "resolved closed\"}]");
    ngx_unit_tf("status", "", "{} [{\"field\":\"status\",\"message\":"
                "\"must be a comma-separated list of: open pending on_hold "
                "resolved closed\"}]");
    ngx_unit_tf("status", "ope", "{} [{\"field\":\"status\",\"message\":"
                "\"must be a comma-separated list of: open pending on_hold "
                "resolved closed\"}]");
    ngx_unit_tf("priority", "high,urgent", "{\"priority\":\"high,urgent\"} []");
    ngx_unit_tf("priority", "critical", "{} [{\"field\":\"priority\","
                "\"message\":\"must be a comma-separated list of: low "
                "normal high urgent\"}]");
    ngx_unit_tf("channel", "whatsapp", "{\"channel\":\"whatsapp\"} []");
    ngx_unit_tf("channel", "fax", "{} [{\"field\":\"channel\",\"message\":"
                "\"must be a comma-separated list of: api portal email "
                "whatsapp chat phone\"}]");

    ngx_unit_tf("created_after", "2026-11-21",
                "{\"created_after\":\"2026-11-21\"} []");
    ngx_unit_tf("created_before", "2026-11-21T09:30:00.5-03:00",
                "{\"created_before\":\"2026-11-21T09:30:00.5-03:00\"} []");
    ngx_unit_tf("created_after", "21/11/2026", "{} [{\"field\":"
                "\"created_after\",\"message\":\"must be an RFC 3339 date or "
                "date-time\"}]");
    ngx_unit_tf("created_before", "yesterday", "{} [{\"field\":"
                "\"created_before\",\"message\":\"must be an RFC 3339 date or "
                "date-time\"}]");

    ngx_unit_tf("requester_email", "a@b.co",
                "{\"requester_email\":\"a@b.co\"} []");
    ngx_unit_tf("requester_email", "a@b", "{} [{\"field\":"
                "\"requester_email\",\"message\":\"must be an email "
                "address\"}]");

    ngx_unit_tf("q", "printer", "{\"q\":\"printer\"} []");
    ngx_unit_tf("q", "", "{} [{\"field\":\"q\",\"message\":"
                "\"must be 1 to 200 characters\"}]");
    ngx_unit_tf("category", "", "{} [{\"field\":\"category\",\"message\":"
                "\"must be 1 to 200 characters\"}]");
    ngx_unit_tf("assignee", "", "{} [{\"field\":\"assignee\",\"message\":"
                "\"must be 1 to 200 characters\"}]");

    memset(long_value, 'q', 201);
    long_value[201] = '\0';
    ngx_unit_filter(0, "q", long_value, 201, NGX_OK, "{} [{\"field\":\"q\","
                    "\"message\":\"must be 1 to 200 characters\"}]");

    ngx_unit_tf("q", "a\xff", "{} [{\"field\":\"q\",\"message\":"
                "\"must be valid UTF-8 without NUL bytes\"}]");
    ngx_unit_tf("q", "a\0b", "{} [{\"field\":\"q\",\"message\":"
                "\"must be valid UTF-8 without NUL bytes\"}]");

    /* paging, on its own and through the ticket filter */
    ngx_unit_tf("limit", "100", "{\"limit\":100} []");
    ngx_unit_tf("limit", "0", "{} [{\"field\":\"limit\",\"message\":"
                "\"must be a whole number from 1 to 100\"}]");
    ngx_unit_tf("limit", "101", "{} [{\"field\":\"limit\",\"message\":"
                "\"must be a whole number from 1 to 100\"}]");
    ngx_unit_tf("limit", "-1", "{} [{\"field\":\"limit\",\"message\":"
                "\"must be a whole number from 1 to 100\"}]");
    ngx_unit_tf("limit", "ten", "{} [{\"field\":\"limit\",\"message\":"
                "\"must be a whole number from 1 to 100\"}]");
    ngx_unit_tf("cursor", "abc", "{\"cursor\":\"abc\"} []");
    ngx_unit_tf("cursor", "", "{} [{\"field\":\"cursor\",\"message\":"
                "\"is not a cursor this API returned\"}]");

    memset(long_value, 'c', 65);
    ngx_unit_filter(1, "cursor", long_value, 65, NGX_OK, "{} [{\"field\":"
                    "\"cursor\",\"message\":\"is not a cursor this API "
                    "returned\"}]");
    ngx_unit_filter(1, "limit", "5", 1, NGX_OK, "{\"limit\":5} []");

    /* names that are not filters: the caller decides */
    ngx_unit_filter(0, "sort", "asc", 3, NGX_DECLINED, "{} []");
    ngx_unit_filter(0, "Status", "open", 4, NGX_DECLINED, "{} []");
    ngx_unit_filter(0, "statuses", "open", 4, NGX_DECLINED, "{} []");
    ngx_unit_filter(1, "status", "open", 4, NGX_DECLINED, "{} []");
}


static void
ngx_unit_timestamps(void)
{
    size_t  i;

    static const char  *good[] = {
        "2026-11-21", "2026-11-21T09:30:00", "2026-11-21T09:30:00Z",
        "2026-11-21t09:30:00z", "2026-11-21 09:30:00Z",
        "2026-11-21T09:30:00.123456Z", "2026-11-21T09:30:00+05:30",
        "2026-11-21T09:30:00.5-03:00", "2026-11-21T09:30:00.5"
    };

    static const char  *bad[] = {
        "", "2026", "2026-11", "2026-11-2", "2026/11/21", "26-11-21",
        "2026-11-21T", "2026-11-21T09:30", "2026-11-21T09:30:0",
        "2026-11-21X09:30:00", "2026-11-21T09:30:00Y",
        "2026-11-21T09:30:00+0530", "2026-11-21T09:30:00+05:3",
        "2026-11-21T09:30:00+05:300", "2026-11-21T09:30:00ZZ",
        "2026-11-21x"
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok(ngx_helpdesk_timestamp_valid((u_char *) good[i], strlen(good[i])),
           "a timestamp: %s", good[i]);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(!ngx_helpdesk_timestamp_valid((u_char *) bad[i], strlen(bad[i])),
           "not a timestamp: '%s'", bad[i]);
    }
}


int
main(void)
{
    ngx_unit_init();

    ngx_unit_vocabulary();
    ngx_unit_tables();
    ngx_unit_filters();
    ngx_unit_timestamps();

    return ngx_unit_done();
}
