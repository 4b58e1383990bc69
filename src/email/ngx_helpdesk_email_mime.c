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
 * DKIM (RFC 6376): rsa-sha256, relaxed/relaxed, over the headers above;
 * the signature header is put first.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ngx_helpdesk_email_mime.h"


typedef struct {
    u_char     *data;
    size_t      len;
    size_t      cap;
    ngx_flag_t  failed;
} ngx_helpdesk_buf_t;


#define NGX_HELPDESK_MAIL_HEADERS  11

typedef struct {
    const char  *name;
    ngx_str_t    value;         /* as written, folded, without the CRLF */
} ngx_helpdesk_mail_header_t;


static void ngx_helpdesk_buf_add(ngx_helpdesk_buf_t *b, const void *p,
    size_t n);
static void ngx_helpdesk_buf_str(ngx_helpdesk_buf_t *b, const char *s);
static ngx_flag_t ngx_helpdesk_mail_ascii(ngx_str_t *s);
static void ngx_helpdesk_mail_words(ngx_helpdesk_buf_t *b, ngx_str_t *s);
static void ngx_helpdesk_mail_mailbox(ngx_helpdesk_buf_t *b, ngx_str_t *name,
    ngx_str_t *addr);
static void ngx_helpdesk_mail_qp(ngx_helpdesk_buf_t *b, ngx_str_t *s);
static ngx_int_t ngx_helpdesk_mail_sign(ngx_helpdesk_mail_t *m,
    ngx_helpdesk_mail_header_t *h, ngx_uint_t n, ngx_str_t *body,
    ngx_helpdesk_buf_t *out, char *err, size_t size);
static void ngx_helpdesk_mail_relaxed_header(ngx_helpdesk_buf_t *b,
    const char *name, ngx_str_t *value);
static void ngx_helpdesk_mail_relaxed_body(ngx_helpdesk_buf_t *b,
    ngx_str_t *body);


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


static void
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


static void
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


static ngx_int_t
ngx_helpdesk_mail_sign(ngx_helpdesk_mail_t *m, ngx_helpdesk_mail_header_t *h,
    ngx_uint_t n, ngx_str_t *body, ngx_helpdesk_buf_t *out, char *err,
    size_t size)
{
    BIO                 *bio;
    size_t               siglen;
    EVP_PKEY            *key;
    ngx_str_t            raw, enc, value;
    ngx_uint_t           i;
    EVP_MD_CTX          *md;
    ngx_helpdesk_buf_t   cb, sig;
    unsigned int         len;
    u_char               hash[EVP_MAX_MD_SIZE], bh[64], s[512], b64[700];

    ngx_memzero(&cb, sizeof(ngx_helpdesk_buf_t));
    ngx_memzero(&sig, sizeof(ngx_helpdesk_buf_t));

    /* bh=: the body, relaxed */
    ngx_helpdesk_mail_relaxed_body(&cb, body);

    if (cb.failed
        || EVP_Digest(cb.data, cb.len, hash, &len, EVP_sha256(), NULL) != 1)
    {
        ngx_free(cb.data);
        ngx_cpystrn((u_char *) err, (u_char *) "cannot hash the body", size);
        return NGX_ERROR;
    }

    ngx_free(cb.data);

    raw.data = hash;
    raw.len = len;
    enc.data = bh;
    ngx_encode_base64(&enc, &raw);

    /* the signature's own header, with an empty b= */
    ngx_helpdesk_buf_str(&sig, "v=1; a=rsa-sha256; c=relaxed/relaxed; d=");
    ngx_helpdesk_buf_add(&sig, m->dkim_domain.data, m->dkim_domain.len);
    ngx_helpdesk_buf_str(&sig, "; s=");
    ngx_helpdesk_buf_add(&sig, m->dkim_selector.data, m->dkim_selector.len);
    ngx_helpdesk_buf_add(&sig, s, ngx_sprintf(s, "; t=%T; h=", m->date) - s);

    for (i = 0; i < n; i++) {
        if (i) {
            ngx_helpdesk_buf_add(&sig, ":", 1);
        }

        ngx_strlow(s, (u_char *) h[i].name, ngx_strlen(h[i].name));
        ngx_helpdesk_buf_add(&sig, s, ngx_strlen(h[i].name));
    }

    ngx_helpdesk_buf_str(&sig, "; bh=");
    ngx_helpdesk_buf_add(&sig, enc.data, enc.len);
    ngx_helpdesk_buf_str(&sig, "; b=");

    /* what is signed: the headers relaxed, then this one without CRLF */
    ngx_memzero(&cb, sizeof(ngx_helpdesk_buf_t));

    for (i = 0; i < n; i++) {
        ngx_helpdesk_mail_relaxed_header(&cb, h[i].name, &h[i].value);
        ngx_helpdesk_buf_add(&cb, "\r\n", 2);
    }

    value.data = sig.data;
    value.len = sig.len;
    ngx_helpdesk_mail_relaxed_header(&cb, "DKIM-Signature", &value);

    if (cb.failed || sig.failed) {
        goto failed;
    }

    bio = BIO_new_mem_buf(m->dkim_key.data, (int) m->dkim_key.len);
    if (bio == NULL) {
        goto failed;
    }

    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (key == NULL) {
        ngx_cpystrn((u_char *) err, (u_char *) "the DKIM key does not read",
                    size);
        goto error;
    }

    md = EVP_MD_CTX_new();
    siglen = sizeof(s);

    if (md == NULL
        || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(md, s, &siglen, cb.data, cb.len) != 1)
    {
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(key);
        goto failed;
    }

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);

    raw.data = s;
    raw.len = siglen;
    enc.data = b64;
    ngx_encode_base64(&enc, &raw);

    /*
     * folded where the signed form has one space ("; "), and b= in lines
     * of its own: the relaxed form of what goes out is what was signed
     */
    ngx_helpdesk_buf_str(out, "DKIM-Signature: ");

    for (i = 0; i < sig.len; i++) {
        if (sig.data[i] == ' ' && i && sig.data[i - 1] == ';') {
            ngx_helpdesk_buf_add(out, "\r\n ", 3);
            continue;
        }

        ngx_helpdesk_buf_add(out, &sig.data[i], 1);
    }

    for (i = 0; i < enc.len; i += 64) {
        ngx_helpdesk_buf_add(out, "\r\n ", 3);
        ngx_helpdesk_buf_add(out, enc.data + i, ngx_min(64, enc.len - i));
    }

    ngx_helpdesk_buf_add(out, "\r\n", 2);

    ngx_free(cb.data);
    ngx_free(sig.data);

    return out->failed ? NGX_ERROR : NGX_OK;

failed:

    ngx_cpystrn((u_char *) err, (u_char *) "cannot sign the mail", size);

error:

    ngx_free(cb.data);
    ngx_free(sig.data);

    return NGX_ERROR;
}


/*
 * RFC 6376 3.4.2: the name in lower case, a colon, the value unfolded,
 * each run of spaces and tabs one space, none at its start or end.
 */

static void
ngx_helpdesk_mail_relaxed_header(ngx_helpdesk_buf_t *b, const char *name,
    ngx_str_t *value)
{
    u_char      c;
    size_t      i;
    ngx_flag_t  space;

    for (i = 0; name[i]; i++) {
        c = ngx_tolower(name[i]);
        ngx_helpdesk_buf_add(b, &c, 1);
    }

    ngx_helpdesk_buf_add(b, ":", 1);

    space = 0;

    for (i = 0; i < value->len; i++) {
        c = value->data[i];

        if (c == '\r' || c == '\n') {
            continue;
        }

        if (c == ' ' || c == '\t') {
            space = 1;
            continue;
        }

        if (space && b->len && b->data[b->len - 1] != ':') {
            ngx_helpdesk_buf_add(b, " ", 1);
        }

        space = 0;
        ngx_helpdesk_buf_add(b, &c, 1);
    }
}


/*
 * RFC 6376 3.4.4: in each line, runs of spaces and tabs one space and
 * none at its end; no empty lines at the end; a CRLF at the end.
 */

static void
ngx_helpdesk_mail_relaxed_body(ngx_helpdesk_buf_t *b, ngx_str_t *body)
{
    u_char      c;
    size_t      i;
    ngx_flag_t  space;

    space = 0;

    for (i = 0; i < body->len; i++) {
        c = body->data[i];

        if (c == ' ' || c == '\t') {
            space = 1;
            continue;
        }

        if (c == '\r' && i + 1 < body->len && body->data[i + 1] == '\n') {
            space = 0;      /* no space at a line's end */
            ngx_helpdesk_buf_add(b, "\r\n", 2);
            i++;
            continue;
        }

        if (space) {
            ngx_helpdesk_buf_add(b, " ", 1);
            space = 0;
        }

        ngx_helpdesk_buf_add(b, &c, 1);
    }

    if (b->failed) {
        return;
    }

    while (b->len >= 4 && ngx_strncmp(b->data + b->len - 4, "\r\n\r\n", 4) == 0)
    {
        b->len -= 2;
    }

    if (b->len == 2 && ngx_strncmp(b->data, "\r\n", 2) == 0) {
        b->len = 0;
    }

    if (b->len && (b->len < 2
                   || ngx_strncmp(b->data + b->len - 2, "\r\n", 2) != 0))
    {
        ngx_helpdesk_buf_add(b, "\r\n", 2);
    }
}


ngx_int_t
ngx_helpdesk_mail_dkim_key(ngx_str_t *pem, ngx_str_t *pub)
{
    BIO           *bio;
    int            der_len;
    char          *data;
    long           n;
    u_char        *der, *p;
    EVP_PKEY      *key;
    ngx_str_t      raw;
    ngx_int_t      rc;

    rc = NGX_ERROR;
    der = NULL;
    bio = NULL;

    key = EVP_RSA_gen(2048);
    if (key == NULL) {
        return NGX_ERROR;
    }

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL
        || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
    {
        goto done;
    }

    n = BIO_get_mem_data(bio, &data);

    pem->data = malloc(n);
    if (pem->data == NULL) {
        goto done;
    }

    ngx_memcpy(pem->data, data, n);
    pem->len = n;

    der_len = i2d_PUBKEY(key, NULL);
    if (der_len <= 0) {
        goto done;
    }

    der = malloc(der_len);
    if (der == NULL) {
        goto done;
    }

    p = der;
    i2d_PUBKEY(key, &p);

    pub->data = malloc(ngx_base64_encoded_length(der_len));
    if (pub->data == NULL) {
        goto done;
    }

    raw.data = der;
    raw.len = der_len;
    ngx_encode_base64(pub, &raw);

    rc = NGX_OK;

done:

    if (rc != NGX_OK && pem->data) {
        ngx_explicit_memzero(pem->data, pem->len);
        ngx_free(pem->data);
        pem->data = NULL;
    }

    ngx_free(der);
    BIO_free(bio);
    EVP_PKEY_free(key);

    return rc;
}
