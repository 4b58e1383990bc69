/*
 * lib/ngx_helpdesk_json.c: what the parser refuses (NUL bytes, duplicate
 * keys, deep nesting, numbers that overflow, invalid UTF-8), and the field
 * validator's rules, each with the error it lists.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_json.h"


#define REQ  NGX_HELPDESK_JSON_REQUIRED
#define NUL  NGX_HELPDESK_JSON_NULLABLE


static const char *const  ngx_unit_colours[] = { "red", "green", NULL };

static const ngx_helpdesk_json_field_t  ngx_unit_fields[] = {
    { "name", NGX_HELPDESK_JSON_STRING, REQ, 5, NULL, NULL },
    { "title", NGX_HELPDESK_JSON_STRING, 0, 5, NULL, "name" },
    { "colour", NGX_HELPDESK_JSON_ENUM, 0, 0, ngx_unit_colours, NULL },
    { "email", NGX_HELPDESK_JSON_EMAIL, 0, 0, NULL, NULL },
    { "meta", NGX_HELPDESK_JSON_OBJECT, NUL, 2, NULL, NULL },
    { "flag", NGX_HELPDESK_JSON_BOOL, 0, 0, NULL, NULL },
    { "colours", NGX_HELPDESK_JSON_ENUM_ARRAY, 0, 0, ngx_unit_colours, NULL },
    { "tags", NGX_HELPDESK_JSON_STRING_ARRAY, 0, 3, NULL, NULL },
    { "slug", NGX_HELPDESK_JSON_SLUG, 0, 0, NULL, NULL },
    { "note", NGX_HELPDESK_JSON_STRING, NUL, 0, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL }
};


static json_t *
ngx_unit_parse(const char *text, size_t len, json_error_t *err)
{
    return ngx_helpdesk_json_parse((u_char *) text, len, err);
}


/*
 * Validates "text" (a JSON document) against the table above; the errors
 * listed, in compact JSON, go to "errors", the accepted fields to "out".
 */
static void
ngx_unit_validate(const char *text, char *errors, size_t esize, char *out,
    size_t osize)
{
    char          *e, *o;
    json_t        *in, *list, *accepted;
    json_error_t   err;

    in = ngx_unit_parse(text, strlen(text), &err);
    if (in == NULL) {
        snprintf(errors, esize, "parse error: %s", err.text);
        out[0] = '\0';
        return;
    }

    list = json_array();
    accepted = ngx_helpdesk_json_validate(in, ngx_unit_fields, list);

    e = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
    o = json_dumps(accepted, JSON_COMPACT | JSON_SORT_KEYS);

    snprintf(errors, esize, "%s", e);
    snprintf(out, osize, "%s", o);

    free(e);
    free(o);
    json_decref(accepted);
    json_decref(list);
    json_decref(in);
}


static void
ngx_unit_valid(const char *text, const char *want, const char *name)
{
    char  errors[1024], out[1024];

    ngx_unit_validate(text, errors, sizeof(errors), out, sizeof(out));

    is_str(errors, strlen(errors), "[]", "%s: no errors", name);
    is_str(out, strlen(out), want, "%s: accepted as %s", name, want);
}


static void
ngx_unit_invalid(const char *text, const char *want, const char *name)
{
    char  errors[1024], out[1024];

    ngx_unit_validate(text, errors, sizeof(errors), out, sizeof(out));

    is_str(errors, strlen(errors), want, "%s", name);
}


static void
ngx_unit_parser(void)
{
    size_t         i;
    char          *deep;
    json_t        *j;
    json_error_t   err;

    static const struct {
        const char  *text;
        size_t       len;
        const char  *why;
    } bad[] = {
        { "{\"name\":\"a\\u0000b\"}", 0, "an escaped NUL in a string" },
        { "{\"name\":\"a\0b\"}", 15, "a NUL byte in a string" },
        { "{\"name\":\"a\"}\0", 13, "a NUL byte after the document" },
        { "{\"a\":1,\"a\":2}", 0, "a duplicate key" },
        { "{\"a\":{\"b\":1,\"b\":1}}", 0, "a duplicate key, nested" },
        { "{\"n\":1e400}", 0, "a real that overflows" },
        { "{\"n\":-1e400}", 0, "a negative real that overflows" },
        { "{\"n\":99999999999999999999999}", 0, "an integer that overflows" },
        { "{\"n\":\"\xff\"}", 0, "invalid UTF-8" },
        { "{\"n\":\"\xed\xa0\x80\"}", 0, "a UTF-16 surrogate in UTF-8" },
        { "{\"n\":\"\\ud800\"}", 0, "a lone surrogate escaped" },
        { "{\"a\":}", 0, "a missing value" },
        { "{\"a\":1", 0, "an unterminated object" },
        { "{\"a\":1} x", 0, "text after the document" },
        { "", 0, "nothing" }
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = ngx_unit_parse(bad[i].text,
                           bad[i].len ? bad[i].len : strlen(bad[i].text),
                           &err);
        ok(j == NULL, "refused: %s (%s)", bad[i].why, j ? "" : err.text);
        json_decref(j);
    }

    j = ngx_unit_parse("{\n  \"a\": ,\n}", 12, &err);
    ok(j == NULL && err.line == 2 && err.column > 0 && err.position > 0,
       "an error has a line, a column and a position (%d:%d, %d)",
       err.line, err.column, err.position);
    json_decref(j);

    deep = malloc(3001);
    if (deep == NULL) {
        abort();
    }

    memset(deep, '[', 3000);
    deep[3000] = '\0';
    j = ngx_unit_parse(deep, 3000, &err);
    ok(j == NULL, "refused: 3000 nested arrays (%s)", j ? "" : err.text);
    json_decref(j);

    for (i = 0; i < 1500; i++) {
        deep[2 * i] = '[';
        deep[2 * i + 1] = '{';
    }
    j = ngx_unit_parse(deep, 3000, &err);
    ok(j == NULL, "refused: 3000 nested arrays and objects");
    json_decref(j);

    /* ten levels are fine */
    memset(deep, '[', 10);
    memset(deep + 10, ']', 10);
    j = ngx_unit_parse(deep, 20, &err);
    ok(j != NULL, "accepted: ten nested arrays");
    json_decref(j);

    free(deep);

    j = ngx_unit_parse("{\"n\":9223372036854775807,\"r\":1e300}", 35, &err);
    ok(j != NULL
       && json_integer_value(json_object_get(j, "n")) == INT64_MAX
       && json_real_value(json_object_get(j, "r")) == 1e300,
       "accepted: the largest integer and a large real");
    json_decref(j);

    j = ngx_unit_parse("{\"a\":\"\xc3\xa9\\u00e9\"}", 16, &err);
    ok(j != NULL && strcmp(json_string_value(json_object_get(j, "a")),
                           "\xc3\xa9\xc3\xa9") == 0,
       "accepted: UTF-8 and its escape");
    json_decref(j);
}


static void
ngx_unit_rules(void)
{
    char  tags[512];
    int   i;
    char *p;

    ngx_unit_valid("{\"name\":\"Ann\"}", "{\"name\":\"Ann\"}",
                   "the required field alone");

    ngx_unit_valid("{\"name\":\"Ann\",\"colour\":\"green\","
                   "\"email\":\"ann@example.org\",\"meta\":{\"a\":1},"
                   "\"flag\":false,\"colours\":[\"red\",\"green\"],"
                   "\"tags\":[\"a\",\"abc\"],\"slug\":\"a-1\",\"note\":\"x\"}",
                   "{\"colour\":\"green\",\"colours\":[\"red\",\"green\"],"
                   "\"email\":\"ann@example.org\",\"flag\":false,"
                   "\"meta\":{\"a\":1},\"name\":\"Ann\",\"note\":\"x\","
                   "\"slug\":\"a-1\",\"tags\":[\"a\",\"abc\"]}",
                   "every field");

    /* required */
    ngx_unit_invalid("{}", "[{\"field\":\"name\",\"message\":\"is required\"}]",
                     "a missing required field");
    ngx_unit_invalid("{\"name\":\"\"}",
                     "[{\"field\":\"name\",\"message\":\"must not be empty\"}]",
                     "a required field empty");
    ngx_unit_invalid("{\"name\":null}",
                     "[{\"field\":\"name\",\"message\":\"must not be null\"}]",
                     "a required field null");

    /* lengths are counted in characters, not bytes */
    ngx_unit_valid("{\"name\":\"h\xc3\xa9llo\"}",
                   "{\"name\":\"h\xc3\xa9llo\"}",
                   "5 characters in 6 bytes");
    ngx_unit_valid("{\"name\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"
                   "\xe6\x97\xa5\xe6\x9c\xac\"}",
                   "{\"name\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"
                   "\xe6\x97\xa5\xe6\x9c\xac\"}",
                   "5 characters in 15 bytes");
    ngx_unit_valid("{\"name\":\"\\ud83d\\ude00\\ud83d\\ude00abc\"}",
                   "{\"name\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80" "abc\"}",
                   "5 characters with two outside the BMP");
    ngx_unit_invalid("{\"name\":\"h\xc3\xa9llo!\"}",
                     "[{\"field\":\"name\",\"message\":"
                     "\"must be at most 5 characters\"}]",
                     "6 characters refused");

    /* types */
    ngx_unit_invalid("{\"name\":5}",
                     "[{\"field\":\"name\",\"message\":\"must be a string\"}]",
                     "a number for a string");
    ngx_unit_invalid("{\"name\":[\"a\"]}",
                     "[{\"field\":\"name\",\"message\":\"must be a string\"}]",
                     "an array for a string");
    ngx_unit_invalid("{\"name\":\"a\",\"flag\":\"true\"}",
                     "[{\"field\":\"flag\",\"message\":"
                     "\"must be true or false\"}]",
                     "a string for a boolean");
    ngx_unit_invalid("{\"name\":\"a\",\"flag\":1}",
                     "[{\"field\":\"flag\",\"message\":"
                     "\"must be true or false\"}]",
                     "a number for a boolean");
    ngx_unit_invalid("{\"name\":\"a\",\"meta\":[]}",
                     "[{\"field\":\"meta\",\"message\":\"must be an object\"}]",
                     "an array for an object");
    ngx_unit_invalid("{\"name\":\"a\",\"meta\":{\"a\":1,\"b\":2,\"c\":3}}",
                     "[{\"field\":\"meta\",\"message\":"
                     "\"must have at most 2 keys\"}]",
                     "an object over its number of keys");
    ngx_unit_valid("{\"name\":\"a\",\"meta\":null,\"note\":null}",
                   "{\"meta\":null,\"name\":\"a\",\"note\":null}",
                   "nullable fields null");
    ngx_unit_invalid("{\"name\":\"a\",\"flag\":null}",
                     "[{\"field\":\"flag\",\"message\":\"must not be null\"}]",
                     "null where it may not be");

    /* enums */
    ngx_unit_invalid("{\"name\":\"a\",\"colour\":\"blue\"}",
                     "[{\"field\":\"colour\",\"message\":"
                     "\"must be one of: red green\"}]",
                     "a value outside an enum");
    ngx_unit_invalid("{\"name\":\"a\",\"colour\":\"Red\"}",
                     "[{\"field\":\"colour\",\"message\":"
                     "\"must be one of: red green\"}]",
                     "enums are case-sensitive");
    ngx_unit_invalid("{\"name\":\"a\",\"colours\":[]}",
                     "[{\"field\":\"colours\",\"message\":"
                     "\"must be a non-empty array of strings\"}]",
                     "an empty enum array");
    ngx_unit_invalid("{\"name\":\"a\",\"colours\":[\"red\",\"blue\"]}",
                     "[{\"field\":\"colours\",\"message\":"
                     "\"must be one of: red green\"}]",
                     "an enum array with a value outside the enum");
    ngx_unit_invalid("{\"name\":\"a\",\"colours\":[\"red\",1]}",
                     "[{\"field\":\"colours\",\"message\":"
                     "\"must be one of: red green\"}]",
                     "an enum array with a number");

    /* string arrays */
    ngx_unit_invalid("{\"name\":\"a\",\"tags\":[\"abcd\"]}",
                     "[{\"field\":\"tags\",\"message\":"
                     "\"must hold strings of at most 3 characters\"}]",
                     "a string array with a string too long");
    ngx_unit_invalid("{\"name\":\"a\",\"tags\":[true]}",
                     "[{\"field\":\"tags\",\"message\":"
                     "\"must hold strings of at most 3 characters\"}]",
                     "a string array with a boolean");

    p = tags + sprintf(tags, "{\"name\":\"a\",\"tags\":[");
    for (i = 0; i < 21; i++) {
        p += sprintf(p, "%s\"t\"", i ? "," : "");
    }
    sprintf(p, "]}");

    ngx_unit_invalid(tags,
                     "[{\"field\":\"tags\",\"message\":"
                     "\"must be an array of at most 20 strings\"}]",
                     "a string array of 21 strings");

    /* emails and slugs */
    ngx_unit_invalid("{\"name\":\"a\",\"email\":\"ann@example\"}",
                     "[{\"field\":\"email\",\"message\":"
                     "\"must be an email address\"}]",
                     "an email address without a dot in its domain");
    ngx_unit_invalid("{\"name\":\"a\",\"slug\":\"-ab\"}",
                     "[{\"field\":\"slug\",\"message\":\"must be 1 to 63 "
                     "lowercase letters, digits or inner hyphens\"}]",
                     "a slug starting with a hyphen");
    ngx_unit_invalid("{\"name\":\"a\",\"slug\":\"Ab\"}",
                     "[{\"field\":\"slug\",\"message\":\"must be 1 to 63 "
                     "lowercase letters, digits or inner hyphens\"}]",
                     "a slug with a capital");

    /* names: unknown fields, aliases */
    ngx_unit_invalid("{\"name\":\"a\",\"nmae\":\"b\"}",
                     "[{\"field\":\"nmae\",\"message\":\"unknown field\"}]",
                     "an unknown field");
    ngx_unit_valid("{\"title\":\"Ann\"}", "{\"name\":\"Ann\"}",
                   "an alias stands in for a required field");
    ngx_unit_invalid("{\"title\":\"Annabel\"}",
                     "[{\"field\":\"title\",\"message\":"
                     "\"must be at most 5 characters\"}]",
                     "an alias is checked, under its own name");
    ngx_unit_invalid("{\"name\":\"a\",\"title\":\"b\"}",
                     "[{\"field\":\"title\",\"message\":\"conflicts with "
                     "another field of the same meaning\"}]",
                     "a field and its alias together");

    /* every error is listed, not only the first */
    ngx_unit_invalid("{\"colour\":\"blue\",\"flag\":0,\"zzz\":1}",
                     "[{\"field\":\"colour\",\"message\":"
                     "\"must be one of: red green\"},"
                     "{\"field\":\"flag\",\"message\":"
                     "\"must be true or false\"},"
                     "{\"field\":\"zzz\",\"message\":\"unknown field\"},"
                     "{\"field\":\"name\",\"message\":\"is required\"}]",
                     "four errors listed, in the body's order, then what is "
                     "missing");

    ngx_unit_invalid("[{\"name\":\"a\"}]",
                     "[{\"field\":\"\",\"message\":"
                     "\"the body must be a JSON object\"}]",
                     "an array for the body");
    ngx_unit_invalid("\"name\"",
                     "parse error: '[' or '{' expected near '\"name\"'",
                     "a string for the body");
}


static void
ngx_unit_helpers(void)
{
    size_t       i;
    ngx_str_t    out;
    json_t      *j;
    ngx_pool_t  *pool;

    static const char  *good[] = {
        "a@b.co", "ann.lee+tag@mail.example.org", "x@y.z.w"
    };

    static const char  *bad[] = {
        "", "a@b", "@b.co", "a@.co", "a@b.", "a@@b.co", "a@b@c.co",
        "a b@c.co", "a<b@c.co", "a@b.co>", "a\"b@c.co", "a,b@c.co",
        "a@b,c.co", "a\\b@c.co"
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok(ngx_helpdesk_json_email_valid(good[i], strlen(good[i])),
           "an email address: %s", good[i]);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(!ngx_helpdesk_json_email_valid(bad[i], strlen(bad[i])),
           "not an email address: '%s'", bad[i]);
    }

    ok(!ngx_helpdesk_json_email_valid("a@b.c\0o", 7),
       "not an email address: one with a NUL byte");

    is_int(ngx_helpdesk_json_utf8_chars("", 0), 0, "no characters");
    is_int(ngx_helpdesk_json_utf8_chars("h\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80",
                                        10),
           4, "characters of 1, 2, 3 and 4 bytes");

    pool = ngx_unit_pool();

    j = json_pack("{s:i, s:[s, b]}", "a", 1, "b", "x", 1);
    is_int(ngx_helpdesk_json_dump(pool, j, &out), NGX_OK, "dumped");
    is_str(out.data, out.len, "{\"a\": 1, \"b\": [\"x\", true]}",
           "the way PostgreSQL writes jsonb");
    ok(out.data[out.len] == '\0', "NUL-terminated");
    json_decref(j);

    ngx_destroy_pool(pool);
}


int
main(void)
{
    ngx_unit_init();

    ngx_unit_parser();
    ngx_unit_rules();
    ngx_unit_helpers();

    return ngx_unit_done();
}
