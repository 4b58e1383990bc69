/*
 * A raw message parsed with GMime, in the thread pool (see the header).
 *
 * Bounds, so that no message costs more memory than a small constant:
 *  - the raw message is read where it lies (the request body's temporary
 *    file, through a GMime fs stream; GMime keeps the parts' contents as
 *    ranges of it, not copies), and its size is the location's body limit
 *    (the caller);
 *  - before GMime sees it, one pass over it counts the header lines that
 *    can open a part (past NGX_HELPDESK_MIME_PARTS_MAX the message is
 *    refused, so GMime's recursive parser never nests deeper than that)
 *    and the lines that can be boundaries (past
 *    NGX_HELPDESK_MIME_DELIMITERS_MAX: parts need no header),
 *    measures the message's own header block (at most
 *    NGX_HELPDESK_MIME_HEADER_MAX) and takes its SHA-256;
 *  - the walk stops at NGX_HELPDESK_MIME_DEPTH_MAX levels;
 *  - attachments (and a forwarded message whole, as a .eml) are decoded
 *    straight into a temporary file of their own, never into memory; a
 *    text part is decoded into memory only up to
 *    NGX_HELPDESK_MIME_TEXT_PART_MAX of its encoded size, a larger one is
 *    kept as an attachment.
 *
 * Text of any charset becomes UTF-8 (GMime converts parts by their
 * charset, encoded words by theirs; raw 8-bit headers are read as UTF-8 or
 * else ISO-8859-1), and anything still not valid UTF-8 is replaced.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <gmime/gmime.h>

#include "ngx_helpdesk_mime.h"
#include "ngx_helpdesk_mime_int.h"
#include "lib/ngx_helpdesk_crypto.h"
#include "lib/ngx_helpdesk_magic.h"



#define NGX_HELPDESK_MIME_ADDRESSES  100
#define NGX_HELPDESK_MIME_REFS       100


typedef struct {
    ngx_helpdesk_mime_t   *m;
    GMimeParserOptions    *options;
    GMimeStream           *files;       /* writes to m->files_fd */
    u_char                 digest[NGX_HELPDESK_SHA256_LEN];
    GString               *text;
    GString               *html;
    json_t                *attachments;
    json_t                *refused;
    ngx_uint_t             parts;
    ngx_uint_t             unnamed;
    ngx_flag_t             report;
    ngx_flag_t             failed;      /* a file could not be written */
    const char            *error;
} ngx_helpdesk_mime_walk_t;


/*
 * GMime's global state (its charset tables, the iconv cache, the GTypes)
 * is set up once per process, by a worker's init_process, before any task
 * can run: g_mime_init() itself is not safe to race.
 */
void
ngx_helpdesk_mime_init_process(void)
{
    g_mime_init();
}


/* valid UTF-8 of at most max bytes, control characters but \n \t gone */
static json_t *
ngx_helpdesk_mime_string(const char *s, size_t max, ngx_flag_t lines)
{
    char    *v, *p, *end;
    json_t  *j;

    if (s == NULL) {
        return NULL;
    }

    v = g_utf8_make_valid(s, -1);

    for (p = v; *p; p++) {
        if (((u_char) *p < 0x20 && !(lines && (*p == '\n' || *p == '\t')))
            || *p == 0x7f)
        {
            *p = (*p == '\r' && lines) ? '\r' : ' ';
        }
    }

    if (strlen(v) > max) {
        end = g_utf8_find_prev_char(v, v + max + 1);
        *(end ? end : v) = '\0';
    }

    j = json_string(v);
    g_free(v);

    return j;
}


static void
ngx_helpdesk_mime_set(json_t *o, const char *key, const char *s, size_t max)
{
    json_t  *v;

    v = ngx_helpdesk_mime_string(s, max, 0);
    if (v) {
        json_object_set_new(o, key, v);
    }
}


static void
ngx_helpdesk_mime_addresses(InternetAddressList *list, json_t *out)
{
    int               i, n;
    InternetAddress  *a;
    json_t           *o;

    n = list ? internet_address_list_length(list) : 0;

    for (i = 0; i < n && json_array_size(out) < NGX_HELPDESK_MIME_ADDRESSES;
         i++)
    {
        a = internet_address_list_get_address(list, i);

        if (INTERNET_ADDRESS_IS_GROUP(a)) {
            ngx_helpdesk_mime_addresses(
                internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)),
                out);
            continue;
        }

        if (!INTERNET_ADDRESS_IS_MAILBOX(a)) {
            continue;
        }

        o = json_object();
        ngx_helpdesk_mime_set(o, "address",
            internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)),
            254);
        ngx_helpdesk_mime_set(o, "name", internet_address_get_name(a), 200);
        json_array_append_new(out, o);
    }
}


/* the addresses of a header, parsed from its value */
static void
ngx_helpdesk_mime_header_addresses(ngx_helpdesk_mime_walk_t *w,
    GMimeObject *msg, const char *name, json_t *out)
{
    const char           *v;
    InternetAddressList  *list;

    v = g_mime_object_get_header(msg, name);
    if (v == NULL) {
        return;
    }

    list = internet_address_list_parse(w->options, v);
    if (list) {
        ngx_helpdesk_mime_addresses(list, out);
        g_object_unref(list);
    }
}


static void
ngx_helpdesk_mime_refuse(ngx_helpdesk_mime_walk_t *w, const char *name,
    const char *reason)
{
    json_t  *o;

    o = json_object();
    ngx_helpdesk_mime_set(o, "filename", name, 255);
    json_object_set_new(o, "reason", json_string(reason));
    json_array_append_new(w->refused, o);
}


/* the attachments' file, opened on the first one */
static ngx_int_t
ngx_helpdesk_mime_files(ngx_helpdesk_mime_walk_t *w)
{
    char                 *path;
    ngx_fd_t              fd;
    ngx_helpdesk_mime_t  *m = w->m;

    if (w->files) {
        return NGX_OK;
    }

    fd = NGX_INVALID_FILE;

#ifdef O_TMPFILE
    fd = open(m->temp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif

    if (fd == NGX_INVALID_FILE) {
        path = g_strdup_printf("%s/mail-XXXXXX", m->temp_dir);
        fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
        if (fd != NGX_INVALID_FILE) {
            (void) unlink(path);
        }
        g_free(path);
    }

    if (fd == NGX_INVALID_FILE) {
        w->failed = 1;
        return NGX_ERROR;
    }

    m->files_fd = fd;
    m->files_len = 0;

    /* a pipe stream: plain write()s, and a flush that is no fsync() */
    w->files = g_mime_stream_pipe_new(fd);
    g_mime_stream_pipe_set_owner(GMIME_STREAM_PIPE(w->files), FALSE);

    return NGX_OK;
}


/*
 * What was just written to the attachments' file from m->files_len on:
 * listed as an attachment, or taken back (truncated) and refused.
 */
static void
ngx_helpdesk_mime_keep(ngx_helpdesk_mime_walk_t *w, const char *name,
    const char *type, const char *cid, ngx_flag_t inl, ssize_t written)
{
    off_t                 end;
    json_t               *o;
    ssize_t               n;
    ngx_str_t             fn, t;
    ngx_helpdesk_mime_t  *m = w->m;
    u_char                head[16];

    end = lseek(m->files_fd, 0, SEEK_CUR);

    if (written < 0 || end < (off_t) m->files_len) {
        w->failed = 1;
        return;
    }

    fn.data = (u_char *) name;
    fn.len = strlen(name);
    t.data = (u_char *) type;
    t.len = strlen(type);

    n = pread(m->files_fd, head, sizeof(head), m->files_len);

    if (end - (off_t) m->files_len > NGX_HELPDESK_MIME_ATTACHMENT_MAX) {
        ngx_helpdesk_mime_refuse(w, name, "larger than 25 MB");

    } else if (n < 0) {
        w->failed = 1;

    } else if (ngx_helpdesk_magic_refused(&fn, &t, head, n)) {
        ngx_helpdesk_mime_refuse(w, name, "a kind of file not accepted");

    } else {
        o = json_object();
        ngx_helpdesk_mime_set(o, "filename", name, 255);
        ngx_helpdesk_mime_set(o, "content_type", type, 255);
        if (cid) {
            ngx_helpdesk_mime_set(o, "content_id", cid, 255);
        }
        json_object_set_new(o, "inline", json_boolean(inl));
        json_object_set_new(o, "offset",
                            json_integer(m->raw_len + m->files_len));
        json_object_set_new(o, "size", json_integer(end - m->files_len));
        json_array_append_new(w->attachments, o);

        m->files_len = end;
        return;
    }

    /* refused: its bytes taken back */
    if (ftruncate(m->files_fd, m->files_len) != 0
        || lseek(m->files_fd, m->files_len, SEEK_SET) != (off_t) m->files_len)
    {
        w->failed = 1;
    }
}


static void
ngx_helpdesk_mime_append(GString *to, const char *text, size_t max)
{
    char  *v;

    if (text == NULL || to->len >= max) {
        return;
    }

    v = g_utf8_make_valid(text, -1);

    if (to->len && to->str[to->len - 1] != '\n') {
        g_string_append_c(to, '\n');
    }

    g_string_append(to, v);
    g_free(v);
}


static void ngx_helpdesk_mime_walk(ngx_helpdesk_mime_walk_t *w,
    GMimeObject *obj, ngx_uint_t depth, ngx_flag_t forwarded);


static void
ngx_helpdesk_mime_forward(ngx_helpdesk_mime_walk_t *w, GMimeMessage *inner,
    ngx_uint_t depth, ngx_flag_t forwarded)
{
    char         *from, *name;
    ssize_t       n;
    const char   *subject;

    subject = g_mime_message_get_subject(inner);

    if (!forwarded && ngx_helpdesk_mime_files(w) == NGX_OK) {
        /* the forwarded message whole, as a file of its own */
        n = g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, w->files);
        name = g_strdup_printf("%.100s.eml",
                               (subject && *subject) ? subject : "forwarded");
        g_strdelimit(name, "/\\\r\n\t", '_');
        ngx_helpdesk_mime_keep(w, name, "message/rfc822", NULL, 0, n);
        g_free(name);
    }

    from = internet_address_list_to_string(g_mime_message_get_from(inner),
                                           NULL, FALSE);

    /* as much as the text keeps: a forward's From and Subject are short */
    if (w->text->len < NGX_HELPDESK_MIME_TEXT_MAX) {
        g_string_append_printf(w->text,
            "%s---------- Forwarded message ----------\nFrom: %.300s\n"
            "Subject: %.300s\n\n", w->text->len ? "\n\n" : "",
            from ? from : "", subject ? subject : "");
    }

    g_free(from);

    ngx_helpdesk_mime_walk(w, g_mime_message_get_mime_part(inner), depth + 1,
                           1);
}


/* the encoded size of a part's content, -1 when unknown */
static ssize_t
ngx_helpdesk_mime_encoded(GMimeDataWrapper *content)
{
    GMimeStream  *src;

    src = content ? g_mime_data_wrapper_get_stream(content) : NULL;

    return src ? g_mime_stream_length(src) : -1;
}


static void
ngx_helpdesk_mime_part(ngx_helpdesk_mime_walk_t *w, GMimePart *part,
    ngx_flag_t forwarded)
{
    char              *text, *name;
    ssize_t            n, encoded;
    const char        *filename, *disposition, *cid;
    GMimeContentType  *ct;
    GMimeDataWrapper  *content;
    ngx_flag_t         attachment, plain;

    ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
    filename = g_mime_part_get_filename(part);
    disposition = g_mime_object_get_disposition(GMIME_OBJECT(part));
    attachment = filename != NULL
                 || (disposition && g_ascii_strcasecmp(disposition,
                                                       "attachment") == 0);
    content = g_mime_part_get_content(part);
    encoded = ngx_helpdesk_mime_encoded(content);

    if (g_mime_content_type_is_type(ct, "message", "delivery-status")
        || g_mime_content_type_is_type(ct, "message", "disposition-notification"))
    {
        w->report = 1;
    }

    plain = g_mime_content_type_is_type(ct, "text", "plain");

    if (!attachment && GMIME_IS_TEXT_PART(part)
        && (plain || g_mime_content_type_is_type(ct, "text", "html"))
        && encoded <= NGX_HELPDESK_MIME_TEXT_PART_MAX)
    {
        /* small enough to be decoded in memory */
        text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));

        if (plain) {
            ngx_helpdesk_mime_append(w->text, text, NGX_HELPDESK_MIME_TEXT_MAX);

        } else if (!forwarded) {
            ngx_helpdesk_mime_append(w->html, text,
                                     4 * NGX_HELPDESK_MIME_HTML_MAX);
        }

        g_free(text);
        return;
    }

    if (forwarded || content == NULL) {
        return;     /* the forwarded message's .eml holds it */
    }

    cid = g_mime_part_get_content_id(part);

    if (filename) {
        name = g_strdup(filename);

    } else {
        name = g_strdup_printf("%s-%lu.%s", cid ? "image" : "attachment",
                               (unsigned long) ++w->unnamed,
                               g_mime_content_type_get_media_subtype(ct));
    }

    g_strdelimit(name, "/\\\r\n\t", '_');

    /* an encoded part much larger than any attachment is not decoded */
    if (encoded > 2 * NGX_HELPDESK_MIME_ATTACHMENT_MAX) {
        ngx_helpdesk_mime_refuse(w, name, "larger than 25 MB");
        g_free(name);
        return;
    }

    if (ngx_helpdesk_mime_files(w) == NGX_OK) {
        /* decoded straight into the file, a few KB at a time */
        n = g_mime_data_wrapper_write_to_stream(content, w->files);

        text = g_mime_content_type_get_mime_type(ct);
        ngx_helpdesk_mime_keep(w, name, text, cid,
                               cid != NULL && !attachment, n);
        g_free(text);
    }

    g_free(name);
}


static void
ngx_helpdesk_mime_walk(ngx_helpdesk_mime_walk_t *w, GMimeObject *obj,
    ngx_uint_t depth, ngx_flag_t forwarded)
{
    int                i, n;
    GMimeContentType  *ct;

    if (obj == NULL || w->error) {
        return;
    }

    if (++w->parts > NGX_HELPDESK_MIME_PARTS_MAX) {
        w->error = "the message has too many parts";
        return;
    }

    if (depth > NGX_HELPDESK_MIME_DEPTH_MAX) {
        w->error = "the message's parts nest too deep";
        return;
    }

    if (GMIME_IS_MULTIPART(obj)) {
        ct = g_mime_object_get_content_type(obj);

        if (g_mime_content_type_is_type(ct, "multipart", "report")) {
            w->report = 1;
        }

        n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));

        for (i = 0; i < n; i++) {
            ngx_helpdesk_mime_walk(w,
                g_mime_multipart_get_part(GMIME_MULTIPART(obj), i),
                depth + 1, forwarded);
        }

        return;
    }

    if (GMIME_IS_MESSAGE_PART(obj)) {
        if (g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj))) {
            ngx_helpdesk_mime_forward(w,
                g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj)),
                depth, forwarded);
        }
        return;
    }

    if (GMIME_IS_PART(obj)) {
        ngx_helpdesk_mime_part(w, GMIME_PART(obj), forwarded);
    }
}


/* the headers that thread, route and flag a message */
static void
ngx_helpdesk_mime_headers(ngx_helpdesk_mime_walk_t *w, GMimeMessage *msg)
{
    int               i, n;
    json_t           *meta, *a;
    const char       *v;
    GMimeObject      *o = GMIME_OBJECT(msg);
    GMimeReferences  *refs;
    u_char            id[2 * NGX_HELPDESK_SHA256_LEN + 16];

    meta = w->m->meta;

    v = g_mime_message_get_message_id(msg);
    if (v && *v) {
        ngx_helpdesk_mime_set(meta, "message_id", v, 998);

    } else {
        /* none: one of its own bytes, so that a retry is still the same */
        ngx_hex_dump(id, w->digest, sizeof(w->digest));
        ngx_memcpy(id + 2 * sizeof(w->digest), "@no-message-id", 15);
        json_object_set_new(meta, "message_id", json_string((char *) id));
    }

    v = g_mime_object_get_header(o, "In-Reply-To");
    if (v) {
        refs = g_mime_references_parse(w->options, v);
        if (refs && g_mime_references_length(refs) > 0) {
            ngx_helpdesk_mime_set(meta, "in_reply_to",
                                  g_mime_references_get_message_id(refs, 0),
                                  998);
        }
        if (refs) {
            g_mime_references_free(refs);
        }
    }

    a = json_array();
    v = g_mime_object_get_header(o, "References");
    refs = v ? g_mime_references_parse(w->options, v) : NULL;
    n = refs ? g_mime_references_length(refs) : 0;

    for (i = n > NGX_HELPDESK_MIME_REFS ? n - NGX_HELPDESK_MIME_REFS : 0;
         i < n; i++)
    {
        json_array_append_new(a, ngx_helpdesk_mime_string(
            g_mime_references_get_message_id(refs, i), 998, 0));
    }
    json_object_set_new(meta, "references", a);

    if (refs) {
        g_mime_references_free(refs);
    }

    a = json_array();
    ngx_helpdesk_mime_addresses(g_mime_message_get_from(msg), a);
    if (json_array_size(a)) {
        json_object_set(meta, "from", json_array_get(a, 0));
    }
    json_decref(a);

    a = json_array();
    ngx_helpdesk_mime_addresses(g_mime_message_get_to(msg), a);
    json_object_set_new(meta, "to", a);

    a = json_array();
    ngx_helpdesk_mime_addresses(g_mime_message_get_cc(msg), a);
    json_object_set_new(meta, "cc", a);

    /* where it was delivered: the reply-address token is found there */
    a = json_array();
    ngx_helpdesk_mime_header_addresses(w, o, "Delivered-To", a);
    ngx_helpdesk_mime_header_addresses(w, o, "X-Original-To", a);
    ngx_helpdesk_mime_header_addresses(w, o, "Envelope-To", a);
    ngx_helpdesk_mime_addresses(g_mime_message_get_to(msg), a);
    ngx_helpdesk_mime_addresses(g_mime_message_get_cc(msg), a);
    {
        json_t  *flat = json_array();
        size_t   k;

        for (k = 0; k < json_array_size(a); k++) {
            json_t  *addr = json_object_get(json_array_get(a, k), "address");
            if (addr) {
                json_array_append(flat, addr);
            }
        }

        json_object_set_new(meta, "recipients", flat);
    }
    json_decref(a);

    ngx_helpdesk_mime_set(meta, "subject", g_mime_message_get_subject(msg),
                          998);
    ngx_helpdesk_mime_set(meta, "auto_submitted",
                          g_mime_object_get_header(o, "Auto-Submitted"), 100);
    ngx_helpdesk_mime_set(meta, "precedence",
                          g_mime_object_get_header(o, "Precedence"), 100);

    json_object_set_new(meta, "autoreply", json_boolean(
        g_mime_object_get_header(o, "X-Autoreply")
        || g_mime_object_get_header(o, "X-Autorespond")
        || g_mime_object_get_header(o, "X-Autoresponder")));

    v = g_mime_object_get_header(o, "Return-Path");
    if (v) {
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        json_object_set_new(meta, "null_return_path",
                            json_boolean(strncmp(v, "<>", 2) == 0));
    }

    ngx_helpdesk_mime_set(meta, "loop",
                          g_mime_object_get_header(o, "X-Helpdesk-Loop"), 200);
}


void
ngx_helpdesk_mime_init(ngx_helpdesk_mime_t *m)
{
    ngx_memzero(m, sizeof(ngx_helpdesk_mime_t));
    m->files_fd = NGX_INVALID_FILE;
}


ngx_int_t
ngx_helpdesk_mime_parse(ngx_helpdesk_mime_t *m)
{
    size_t                     cut;
    json_t                    *meta, *text;
    ngx_int_t                  rc;
    GString                   *safe, *plain;
    GMimeStream               *stream;
    GMimeParser               *parser;
    GMimeMessage              *msg;
    ngx_flag_t                 trimmed;
    ngx_helpdesk_mime_walk_t   w;

    static const char         *charsets[] = { "UTF-8", "ISO-8859-1", NULL };

    ngx_memzero(&w, sizeof(ngx_helpdesk_mime_walk_t));
    w.m = m;

    stream = ngx_helpdesk_mime_source(m->body);

    rc = ngx_helpdesk_mime_scan(stream, m->raw_len, w.digest, &w.error);

    if (rc != NGX_OK) {
        g_object_unref(stream);

        if (rc == NGX_DECLINED) {
            ngx_cpystrn((u_char *) m->error, (u_char *) w.error,
                        sizeof(m->error));
        }

        return rc;
    }

    w.options = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(w.options, charsets);
    g_mime_parser_options_set_address_compliance_mode(w.options,
                                                      GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(w.options,
                                                       GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_rfc2047_compliance_mode(w.options,
                                                     GMIME_RFC_COMPLIANCE_LOOSE);

    /* parts' contents stay ranges of the stream (persist_stream) */
    parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    msg = g_mime_parser_construct_message(parser, w.options);
    g_object_unref(parser);

    meta = json_object();
    m->meta = meta;
    w.text = g_string_sized_new(1024);
    w.html = g_string_sized_new(0);
    w.attachments = json_array();
    w.refused = json_array();

    if (msg == NULL || g_mime_message_get_from(msg) == NULL
        || internet_address_list_length(g_mime_message_get_from(msg)) == 0)
    {
        w.error = "this is not a mail message: it has no From address";

    } else {
        ngx_helpdesk_mime_headers(&w, msg);

        if (json_object_get(meta, "from") == NULL) {
            w.error = "this is not a mail message: its From has no address";

        } else {
            ngx_helpdesk_mime_walk(&w, g_mime_message_get_mime_part(msg), 0, 0);
        }
    }

    if (msg) {
        g_object_unref(msg);
    }

    if (w.files) {
        g_object_unref(w.files);
    }

    g_object_unref(stream);
    g_mime_parser_options_free(w.options);

    if (w.error == NULL) {
        /* the HTML made safe, cut where the quoted history starts */
        trimmed = 0;
        safe = g_string_sized_new(w.html->len);
        ngx_helpdesk_mime_html_safe(w.html->str, w.html->len, safe, 1,
                                    &trimmed);

        if (w.text->len == 0 && safe->len) {
            plain = g_string_sized_new(safe->len);
            ngx_helpdesk_mime_html_text(safe->str, safe->len, plain);
            g_string_assign(w.text, plain->str);
            g_string_free(plain, TRUE);

        } else {
            cut = ngx_helpdesk_mime_trim(w.text->str, w.text->len);
            trimmed = cut < w.text->len;
            g_string_truncate(w.text, cut);
        }

        if (safe->len && safe->len <= NGX_HELPDESK_MIME_HTML_MAX) {
            ngx_helpdesk_mime_set(meta, "html", safe->str, SIZE_MAX);
        }

        text = ngx_helpdesk_mime_string(w.text->str, NGX_HELPDESK_MIME_TEXT_MAX,
                                        1);
        json_object_set_new(meta, "text", text);
        json_object_set_new(meta, "trimmed", json_boolean(trimmed));
        json_object_set_new(meta, "report", json_boolean(w.report));
        g_string_free(safe, TRUE);
    }

    g_string_free(w.text, TRUE);
    g_string_free(w.html, TRUE);

    json_object_set_new(meta, "attachments", w.attachments);
    json_object_set_new(meta, "refused", w.refused);
    json_object_set_new(meta, "raw", json_pack("{s:i,s:I}", "offset", 0,
                                               "size", (json_int_t) m->raw_len));

    if (w.failed) {
        return NGX_ERROR;
    }

    if (w.error) {
        ngx_cpystrn((u_char *) m->error, (u_char *) w.error, sizeof(m->error));
        return NGX_DECLINED;
    }

    return NGX_OK;
}


void
ngx_helpdesk_mime_free(ngx_helpdesk_mime_t *m)
{
    if (m->meta) {
        json_decref(m->meta);
        m->meta = NULL;
    }

    if (m->files_fd != NGX_INVALID_FILE) {
        (void) close(m->files_fd);
        m->files_fd = NGX_INVALID_FILE;
    }
}
