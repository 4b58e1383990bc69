/*
 * Responses and RFC 9457 problem documents.
 *
 * Every error a client can see is a problem document: a "type" URI whose
 * last segment is a stable slug clients can switch on, a short "title",
 * the HTTP "status", a "detail" written for a person, and the request
 * path as "instance".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_helpdesk_http.h"
#include "ngx_http_helpdesk_request.h"
#include "lib/ngx_helpdesk_magic.h"


ngx_int_t
ngx_helpdesk_http_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;

    if (status == NGX_HTTP_UNPROCESSABLE_ENTITY) {
        /* nginx knows no reason phrase for it */
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Content");
    }
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = len;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_helpdesk_http_problem(ngx_http_request_t *r, ngx_uint_t status,
    const char *slug, const char *title, const char *detail, json_t *extra)
{
    char      *text;
    u_char    *body, *type;
    size_t     len;
    json_t    *doc;
    ngx_str_t  instance;

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) {
        ngx_http_helpdesk_req_refused(r, status, slug);
    }

    type = ngx_pnalloc(r->pool, sizeof(NGX_HELPDESK_PROBLEM_TYPE)
                                + ngx_strlen(slug));
    if (type == NULL) {
        json_decref(extra);
        return NGX_ERROR;
    }

    ngx_sprintf(type, NGX_HELPDESK_PROBLEM_TYPE "%s%Z", slug);

    doc = json_pack("{s:s, s:s, s:i, s:s}",
                    "type", (char *) type,
                    "title", title,
                    "status", (int) status,
                    "detail", detail ? detail : title);
    if (doc == NULL) {
        json_decref(extra);
        return NGX_ERROR;
    }

    /*
     * a path that nginx decoded into bytes that are not UTF-8 (%FF) is no
     * JSON string: the problem is told without it rather than not at all
     */
    instance = r->uri;
    (void) json_object_set_new(doc, "instance",
                               json_stringn((char *) instance.data,
                                            instance.len));

    if (extra) {
        json_object_update(doc, extra);
        json_decref(extra);
    }

    text = json_dumps(doc, 0);
    json_decref(doc);

    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);
    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(body, text, len);
    body[len] = '\n';
    free(text);

    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return ngx_helpdesk_http_send(r, status, "application/problem+json",
                                  body, len + 1);
}


ngx_table_elt_t *
ngx_helpdesk_http_header_in(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


ngx_int_t
ngx_helpdesk_http_header_out(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/*
 * What an error of the database means over HTTP: the one table.  The
 * service functions raise errors of their own class "HD" with a code that
 * says what went wrong, never which HTTP status to send; the problem's
 * slug comes as HINT, field errors (a JSON array) or extra members (a JSON
 * object) as DETAIL.  A few of PostgreSQL's own are answered here too;
 * anything else is logged and answered 500.
 */

typedef struct {
    const char     *sqlstate;
    ngx_uint_t      status;
    const char     *title;
    const char     *slug;       /* when the error brings none */
    const char     *detail;     /* the same */
} ngx_helpdesk_http_sqlstate_t;


static const ngx_helpdesk_http_sqlstate_t  ngx_helpdesk_http_sqlstates[] = {
    { "HDUNA", NGX_HTTP_UNAUTHORIZED, "Unauthorized", "unauthorized", NULL },
    { "HDDEN", NGX_HTTP_FORBIDDEN, "Forbidden", "forbidden", NULL },
    { "HDNFD", NGX_HTTP_NOT_FOUND, "Not Found", "not-found", NULL },
    { "HDCNF", NGX_HTTP_CONFLICT, "Conflict", "conflict", NULL },
    { "HDINV", NGX_HTTP_UNPROCESSABLE_ENTITY, "Validation Error",
      "validation-error", NULL },
    /* a limit of the database's own (DETAIL: {"retry_after": seconds}) */
    { "HDLIM", NGX_HTTP_TOO_MANY_REQUESTS, "Too Many Requests",
      "rate-limited", NULL },

    /* text no client may send: bytes that are not UTF-8, a NUL */
    { "22021", NGX_HTTP_BAD_REQUEST, "Bad Request", "invalid-encoding",
      "the request is not valid UTF-8" },
    { "22P05", NGX_HTTP_BAD_REQUEST, "Bad Request", "invalid-encoding",
      "the request holds a character that cannot be stored (NUL)" },

    /* statement_timeout */
    { "57014", NGX_HTTP_GATEWAY_TIME_OUT, "Gateway Timeout",
      "dependency-timeout", "postgresql did not answer in time" },

    /* two writers met: the client may simply try again */
    { "40001", NGX_HTTP_SERVICE_UNAVAILABLE, "Service Unavailable",
      "retry", "the change met another one; send it again" },
    { "40P01", NGX_HTTP_SERVICE_UNAVAILABLE, "Service Unavailable",
      "retry", "the change met another one; send it again" },

    { NULL, 0, NULL, NULL, NULL }
};


ngx_int_t
ngx_helpdesk_http_sql_problem(ngx_http_request_t *r, PGresult *res,
    ngx_str_t *challenge)
{
    char                                *state, *msg, *slug, *detail;
    json_t                              *errors, *extra, *retry;
    json_error_t                         err;
    const ngx_helpdesk_http_sqlstate_t  *e;

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    slug = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

    for (e = ngx_helpdesk_http_sqlstates; state && e->sqlstate; e++) {
        if (ngx_strcmp(state, e->sqlstate) == 0) {
            break;
        }
    }

    if (state == NULL || e->sqlstate == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "helpdesk postgres: %s: %s",
                      state ? state : "-", PQresultErrorMessage(res));

        return ngx_helpdesk_http_problem(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                   "internal-error", "Internal Server Error",
                   "the request failed; the error was logged", NULL);
    }

    if (e->detail) {
        /* PostgreSQL's own: its words are not for the client */
        return ngx_helpdesk_http_problem(r, e->status, e->slug, e->title,
                   e->detail, json_pack("{s:s}", "dependency", "postgresql"));
    }

    if (e->status == NGX_HTTP_UNAUTHORIZED && challenge) {
        if (ngx_helpdesk_http_header_out(r, "WWW-Authenticate", challenge)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    extra = NULL;

    if (detail && detail[0] == '[') {
        errors = json_loads(detail, 0, &err);
        if (errors) {
            extra = json_pack("{s:o}", "errors", errors);
        }

    } else if (detail && detail[0] == '{') {
        /* members of the problem document, e.g. the templates to use */
        extra = json_loads(detail, 0, &err);
    }

    retry = json_object_get(extra, "retry_after");

    if (e->status == NGX_HTTP_TOO_MANY_REQUESTS && json_is_integer(retry)
        && json_integer_value(retry) > 0
        && json_integer_value(retry) < 86400)
    {
        (void) ngx_http_helpdesk_req_retry_after(r,
                                     (ngx_uint_t) json_integer_value(retry));
    }

    return ngx_helpdesk_http_problem(r, e->status, slug ? slug : e->slug,
                                     e->title, msg ? msg : e->title, extra);
}


/* a response header already set, by name */
ngx_table_elt_t *
ngx_helpdesk_http_header_sent(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * A stored file, served so that no browser runs it.  What it is comes
 * from its bytes (lib/ngx_helpdesk_magic.c), never from the type or the
 * name it was uploaded with: a real PNG, JPEG, GIF or WebP image may be
 * shown in a page ("inline", with its own type); anything else is a
 * download, and anything a browser could render as a document (HTML, SVG,
 * XML, script, unknown bytes) is application/octet-stream.  Every answer
 * carries nosniff and a sandboxing policy with no sources at all, so even
 * a file opened directly has no script, no origin and nothing to load.
 */

#define NGX_HELPDESK_FILE_CSP  "sandbox; default-src 'none'"

ngx_int_t
ngx_helpdesk_http_send_file(ngx_http_request_t *r, PGresult *res)
{
    u_char                      *p, *name, *data;
    size_t                       len, n, dlen;
    ngx_str_t                    v;
    ngx_uint_t                   i;
    const ngx_helpdesk_magic_t  *kind;

    if (PQntuples(res) != 1 || PQnfields(res) != 3) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    name = (u_char *) PQgetvalue(res, 0, 0);
    n = PQgetlength(res, 0, 0);
    dlen = PQgetlength(res, 0, 2);

    kind = ngx_helpdesk_magic((u_char *) PQgetvalue(res, 0, 2), dlen);

    /*
     * inline or attachment; filename="<ASCII>"; filename*=UTF-8''<%-enc>
     */
    len = sizeof("attachment; filename=\"\"; filename*=UTF-8''") + 4 * n;
    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.data = p;
    p = kind->inline_ok ? ngx_cpymem(p, "inline", 6)
                        : ngx_cpymem(p, "attachment", 10);
    p = ngx_cpymem(p, "; filename=\"", 12);

    for (i = 0; i < n; i++) {
        if ((name[i] & 0xc0) == 0x80) {
            continue;       /* one '_' per character, not per byte */
        }

        *p++ = (name[i] >= 0x20 && name[i] < 0x7f && name[i] != '"'
                && name[i] != '\\') ? name[i] : '_';
    }

    p = ngx_cpymem(p, "\"; filename*=UTF-8''", 20);
    p = (u_char *) ngx_escape_uri(p, name, n, NGX_ESCAPE_URI_COMPONENT);
    v.len = p - v.data;

    if (ngx_helpdesk_http_header_out(r, "Content-Disposition", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_helpdesk_http_header_sent(r, "X-Content-Type-Options") == NULL) {
        ngx_str_set(&v, "nosniff");
        if (ngx_helpdesk_http_header_out(r, "X-Content-Type-Options", &v)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_helpdesk_http_file_csp(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "private, no-store");
    if (ngx_helpdesk_http_header_out(r, "Cache-Control", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    data = ngx_pnalloc(r->pool, dlen ? dlen : 1);
    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(data, PQgetvalue(res, 0, 2), dlen);

    return ngx_helpdesk_http_send(r, NGX_HTTP_OK, kind->type, data, dlen);
}


/*
 * The file's policy replaces any the surface set for its pages: a second
 * Content-Security-Policy header would be enforced too, but the file's
 * must be the one that says "sandbox", whatever else is configured.
 */
ngx_int_t
ngx_helpdesk_http_file_csp(ngx_http_request_t *r)
{
    ngx_str_t         v;
    ngx_table_elt_t  *h;

    ngx_str_set(&v, NGX_HELPDESK_FILE_CSP);

    h = ngx_helpdesk_http_header_sent(r, "Content-Security-Policy");
    if (h) {
        h->value = v;
        return NGX_OK;
    }

    return ngx_helpdesk_http_header_out(r, "Content-Security-Policy", &v);
}
