/*
 * Building a mail by hand: the headers we send are few and known, and
 * every value that may carry a customer's words is encoded, never copied.
 *
 *   From, Reply-To, To   a display name as a quoted-string when it is
 *                        printable ASCII, otherwise RFC 2047 encoded words
 *                        (UTF-8, base64); addresses checked for anything
 *                        that could end a header
 *   Subject              as it is when printable ASCII, otherwise encoded
 *                        words of at most 75 characters, cut between UTF-8
 *                        characters, folded onto lines of their own
 *   the bodies           multipart/alternative: text/plain then text/html,
 *                        both UTF-8 in quoted-printable (RFC 2045: lines of
 *                        at most 76 characters, soft breaks, "=" and
 *                        anything outside printable ASCII as =XX, a space
 *                        before a line end encoded)
 *
 * Signed with DKIM by ngx_helpdesk_email_sign.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/rand.h>

#include "ngx_helpdesk_email_mime.h"
#include "ngx_helpdesk_email_mime_int.h"


#define NGX_HELPDESK_MAIL_HEADERS  11


static ngx_flag_t ngx_helpdesk_mail_ascii(ngx_str_t *s);
static void ngx_helpdesk_mail_words(ngx_helpdesk_buf_t *b, ngx_str_t *s);
static void ngx_helpdesk_mail_mailbox(ngx_helpdesk_buf_t *b, ngx_str_t *name,
    ngx_str_t *addr);
static void ngx_helpdesk_mail_qp(ngx_helpdesk_buf_t *b, ngx_str_t *s);


static const char  *ngx_helpdesk_mail_days[] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static const char  *ngx_helpdesk_mail_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec"
};


ngx_int_t
ngx_helpdesk_mail_build(ngx_helpdesk_mail_t *m, ngx_str_t *out, char *err,
    size_t size)
{
    u_char                      *p;
    struct tm                    tm;
    ngx_str_t                    body, s, parts;
    ngx_uint_t                   n, i;
    ngx_helpdesk_buf_t           hb, bb, ob;
    ngx_helpdesk_mail_header_t   h[NGX_HELPDESK_MAIL_HEADERS];
    u_char                       rnd[12], boundary[40], mixed[40];
    u_char                       date[64];
    size_t                       off[NGX_HELPDESK_MAIL_HEADERS];

    ngx_memzero(&hb, sizeof(ngx_helpdesk_buf_t));
    ngx_memzero(&bb, sizeof(ngx_helpdesk_buf_t));
    ngx_memzero(&ob, sizeof(ngx_helpdesk_buf_t));

    if (!ngx_helpdesk_mail_address_ok(&m->from_address)
        || !ngx_helpdesk_mail_address_ok(&m->to)
        || (m->reply_to.len && !ngx_helpdesk_mail_address_ok(&m->reply_to))
        || !ngx_helpdesk_mail_addresses_ok(&m->cc))
    {
        ngx_cpystrn((u_char *) err, (u_char *) "a sender or recipient "
                    "address is not one a mail can be sent to", size);
        return NGX_ERROR;
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_cpystrn((u_char *) err, (u_char *) "no random bytes", size);
        return NGX_ERROR;
    }

    if (!ngx_helpdesk_mail_ids_ok(&m->in_reply_to)
        || !ngx_helpdesk_mail_ids_ok(&m->references))
    {
        ngx_cpystrn((u_char *) err, (u_char *) "In-Reply-To or References "
                    "is not a list of message ids", size);
        return NGX_ERROR;
    }

    p = ngx_cpymem(boundary, "=_hd_", 5);
    p = ngx_hex_dump(p, rnd, sizeof(rnd));
    *p = '\0';

    p = ngx_cpymem(mixed, "=_hdm_", 6);
    p = ngx_hex_dump(p, rnd, sizeof(rnd));
    *p = '\0';

    ngx_str_null(&parts);

    if (m->files.len
        && ngx_helpdesk_mail_files(&m->files, (char *) mixed, &parts, err, size)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    gmtime_r(&m->date, &tm);
    *ngx_sprintf(date, "%s, %02d %s %4d %02d:%02d:%02d +0000",
                 ngx_helpdesk_mail_days[tm.tm_wday], tm.tm_mday,
                 ngx_helpdesk_mail_months[tm.tm_mon], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec) = '\0';

    /* the headers, each value written into hb and remembered by offset */
    n = 0;

#define HEADER(nm)  h[n].name = nm; off[n] = hb.len
#define END_HEADER  h[n].value.len = hb.len - off[n]; n++

    HEADER("From");
    ngx_helpdesk_mail_mailbox(&hb, &m->from_name, &m->from_address);
    END_HEADER;

    if (m->reply_to.len) {
        HEADER("Reply-To");
        ngx_helpdesk_buf_add(&hb, m->reply_to.data, m->reply_to.len);
        END_HEADER;
    }

    HEADER("To");
    ngx_helpdesk_buf_add(&hb, m->to.data, m->to.len);
    END_HEADER;

    if (m->cc.len) {
        HEADER("Cc");

        for (i = 0; i < m->cc.len; i++) {
            if (m->cc.data[i] == ',') {
                ngx_helpdesk_buf_add(&hb, ",\r\n ", 4);

            } else {
                ngx_helpdesk_buf_add(&hb, &m->cc.data[i], 1);
            }
        }

        END_HEADER;
    }

    HEADER("Subject");
    ngx_helpdesk_mail_words(&hb, &m->subject);
    END_HEADER;

    HEADER("Date");
    ngx_helpdesk_buf_str(&hb, (char *) date);
    END_HEADER;

    HEADER("Message-ID");
    ngx_helpdesk_buf_add(&hb, "<", 1);
    ngx_helpdesk_buf_add(&hb, m->message_id.data, m->message_id.len);
    ngx_helpdesk_buf_add(&hb, ">", 1);
    END_HEADER;

    if (m->in_reply_to.len) {
        HEADER("In-Reply-To");
        ngx_helpdesk_buf_add(&hb, m->in_reply_to.data, m->in_reply_to.len);
        END_HEADER;
    }

    if (m->references.len) {
        HEADER("References");

        for (i = 0; i < m->references.len; i++) {
            if (m->references.data[i] == ' ') {
                ngx_helpdesk_buf_add(&hb, "\r\n ", 3);

            } else {
                ngx_helpdesk_buf_add(&hb, &m->references.data[i], 1);
            }
        }

        END_HEADER;
    }

    HEADER("MIME-Version");
    ngx_helpdesk_buf_str(&hb, "1.0");
    END_HEADER;

    HEADER("Content-Type");
    ngx_helpdesk_buf_str(&hb, parts.len ? "multipart/mixed; boundary=\""
                                        : "multipart/alternative; boundary=\"");
    ngx_helpdesk_buf_str(&hb, (char *) (parts.len ? mixed : boundary));
    ngx_helpdesk_buf_str(&hb, "\"");
    END_HEADER;

#undef HEADER
#undef END_HEADER

    /* the body: the text and HTML, then the files, if any */
    if (parts.len) {
        ngx_helpdesk_buf_str(&bb, "--");
        ngx_helpdesk_buf_str(&bb, (char *) mixed);
        ngx_helpdesk_buf_str(&bb, "\r\nContent-Type: multipart/alternative; "
                             "boundary=\"");
        ngx_helpdesk_buf_str(&bb, (char *) boundary);
        ngx_helpdesk_buf_str(&bb, "\"\r\n\r\n");
    }

    ngx_helpdesk_buf_str(&bb, "--");
    ngx_helpdesk_buf_str(&bb, (char *) boundary);
    ngx_helpdesk_buf_str(&bb, "\r\nContent-Type: text/plain; charset=UTF-8"
                         "\r\nContent-Transfer-Encoding: quoted-printable"
                         "\r\n\r\n");
    ngx_helpdesk_mail_qp(&bb, &m->text);
    ngx_helpdesk_buf_str(&bb, "\r\n--");
    ngx_helpdesk_buf_str(&bb, (char *) boundary);
    ngx_helpdesk_buf_str(&bb, "\r\nContent-Type: text/html; charset=UTF-8"
                         "\r\nContent-Transfer-Encoding: quoted-printable"
                         "\r\n\r\n");
    ngx_helpdesk_mail_qp(&bb, &m->html);
    ngx_helpdesk_buf_str(&bb, "\r\n--");
    ngx_helpdesk_buf_str(&bb, (char *) boundary);
    ngx_helpdesk_buf_str(&bb, "--\r\n");

    if (parts.len) {
        ngx_helpdesk_buf_add(&bb, parts.data, parts.len);
        ngx_helpdesk_buf_str(&bb, "\r\n--");
        ngx_helpdesk_buf_str(&bb, (char *) mixed);
        ngx_helpdesk_buf_str(&bb, "--\r\n");
        ngx_free(parts.data);
        ngx_str_null(&parts);
    }

    if (hb.failed || bb.failed) {
        goto nomem;
    }

    for (i = 0; i < n; i++) {
        h[i].value.data = hb.data + off[i];
    }

    body.data = bb.data;
    body.len = bb.len;

    if (m->dkim_key.len) {
        if (ngx_helpdesk_mail_sign(m, h, n, &body, &ob, err, size) != NGX_OK) {
            goto failed;
        }
    }

    for (i = 0; i < n; i++) {
        ngx_helpdesk_buf_str(&ob, h[i].name);
        ngx_helpdesk_buf_add(&ob, ": ", 2);
        ngx_helpdesk_buf_add(&ob, h[i].value.data, h[i].value.len);
        ngx_helpdesk_buf_add(&ob, "\r\n", 2);
    }

    /*
     * automatic (RFC 3834) unless a person wrote it, and ours either way:
     * mail in drops it if it comes back
     */
    if (!m->human) {
        ngx_helpdesk_buf_str(&ob, "Auto-Submitted: auto-generated\r\n");
    }

    ngx_helpdesk_buf_str(&ob, "X-Helpdesk-Loop: ");
    ngx_helpdesk_buf_add(&ob, m->message_id.data, m->message_id.len);
    ngx_helpdesk_buf_str(&ob, "\r\n\r\n");
    ngx_helpdesk_buf_add(&ob, body.data, body.len);

    if (ob.failed) {
        goto nomem;
    }

    s.data = ob.data;
    s.len = ob.len;
    *out = s;

    ngx_free(hb.data);
    ngx_free(bb.data);

    return NGX_OK;

nomem:

    ngx_cpystrn((u_char *) err, (u_char *) "out of memory", size);

failed:

    ngx_free(hb.data);
    ngx_free(bb.data);
    ngx_free(ob.data);

    return NGX_ERROR;
}


void
ngx_helpdesk_buf_add(ngx_helpdesk_buf_t *b, const void *p, size_t n)
{
    u_char  *d;
    size_t   cap;

    if (b->failed) {
        return;
    }

    if (b->len + n > b->cap) {
        cap = ngx_max(b->cap * 2, 4096);

        while (cap < b->len + n) {
            cap *= 2;
        }

        d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = 1;
            return;
        }

        b->data = d;
        b->cap = cap;
    }

    ngx_memcpy(b->data + b->len, p, n);
    b->len += n;
}


void
ngx_helpdesk_buf_str(ngx_helpdesk_buf_t *b, const char *s)
{
    ngx_helpdesk_buf_add(b, s, ngx_strlen(s));
}


/* printable ASCII and spaces only: nothing to encode */

static ngx_flag_t
ngx_helpdesk_mail_ascii(ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] >= 0x7f) {
            return 0;
        }
    }

    /* "=?" would be read as the start of an encoded word */
    return ngx_strnstr(s->data, "=?", s->len) == NULL;
}


/*
 * RFC 2047: "=?UTF-8?B?...?=" words of 39 bytes of text each (52 of
 * base64, 64 in all: under the limit of 75, and a line with "Subject: "
 * or "From: " stays under 78), never cutting a character in two; one word
 * a line, folded.  Control characters become spaces first.
 */

static void
ngx_helpdesk_mail_words(ngx_helpdesk_buf_t *b, ngx_str_t *s)
{
    size_t     i, n;
    ngx_str_t  raw, enc;
    u_char     chunk[39], out[64];

    if (ngx_helpdesk_mail_ascii(s)) {
        ngx_helpdesk_buf_add(b, s->data, s->len);
        return;
    }

    i = 0;

    while (i < s->len) {
        n = ngx_min(sizeof(chunk), s->len - i);

        /* back to the start of a character */
        while (n < s->len - i && n > 0 && (s->data[i + n] & 0xc0) == 0x80) {
            n--;
        }

        if (n == 0) {
            n = ngx_min(sizeof(chunk), s->len - i);
        }

        ngx_memcpy(chunk, s->data + i, n);

        for (raw.len = 0; raw.len < n; raw.len++) {
            if (chunk[raw.len] < 0x20 || chunk[raw.len] == 0x7f) {
                chunk[raw.len] = ' ';
            }
        }

        raw.data = chunk;
        enc.data = out;
        ngx_encode_base64(&enc, &raw);

        if (i) {
            ngx_helpdesk_buf_add(b, "\r\n ", 3);
        }

        ngx_helpdesk_buf_str(b, "=?UTF-8?B?");
        ngx_helpdesk_buf_add(b, enc.data, enc.len);
        ngx_helpdesk_buf_str(b, "?=");

        i += n;
    }
}


static void
ngx_helpdesk_mail_mailbox(ngx_helpdesk_buf_t *b, ngx_str_t *name,
    ngx_str_t *addr)
{
    size_t  i;

    if (name->len) {
        if (ngx_helpdesk_mail_ascii(name)) {
            ngx_helpdesk_buf_add(b, "\"", 1);

            for (i = 0; i < name->len; i++) {
                if (name->data[i] == '"' || name->data[i] == '\\') {
                    ngx_helpdesk_buf_add(b, "\\", 1);
                }

                ngx_helpdesk_buf_add(b, &name->data[i], 1);
            }

            ngx_helpdesk_buf_add(b, "\"", 1);

            ngx_helpdesk_buf_add(b, " ", 1);

        } else {
            /* the address on a line of its own after the last word */
            ngx_helpdesk_mail_words(b, name);
            ngx_helpdesk_buf_add(b, "\r\n ", 3);
        }
    }

    ngx_helpdesk_buf_add(b, "<", 1);
    ngx_helpdesk_buf_add(b, addr->data, addr->len);
    ngx_helpdesk_buf_add(b, ">", 1);
}


/*
 * Quoted-printable, line by line: a line of the text ends in a hard break
 * (CRLF); a longer one is cut with soft breaks ("=" CRLF) so that no line
 * has more than 76 characters.
 */

static void
ngx_helpdesk_mail_qp(ngx_helpdesk_buf_t *b, ngx_str_t *s)
{
    u_char        c;
    size_t        i, col, n;
    ngx_flag_t    end;
    u_char        enc[3];
    static u_char hex[] = "0123456789ABCDEF";

    col = 0;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c == '\r' && i + 1 < s->len && s->data[i + 1] == '\n') {
            continue;
        }

        if (c == '\n') {
            ngx_helpdesk_buf_add(b, "\r\n", 2);
            col = 0;
            continue;
        }

        /* a space or tab is kept as it is unless a line end follows */
        end = (i + 1 == s->len || s->data[i + 1] == '\n'
               || s->data[i + 1] == '\r');

        if ((c >= 33 && c <= 126 && c != '=')
            || ((c == ' ' || c == '\t') && !end))
        {
            enc[0] = c;
            n = 1;

        } else {
            enc[0] = '=';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 0xf];
            n = 3;
        }

        if (col + n > 75) {
            ngx_helpdesk_buf_add(b, "=\r\n", 3);
            col = 0;
        }

        ngx_helpdesk_buf_add(b, enc, n);
        col += n;
    }
}
