/*
 * The raw message as nginx read the request body, for GMime: one stream
 * over its buffers and file ranges, and one pass over it before GMime
 * parses it (see ngx_helpdesk_mime.c for the bounds).  In the thread
 * pool, like the rest of the parser.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <gmime/gmime.h>
#include <openssl/evp.h>

#include "ngx_helpdesk_mime.h"
#include "ngx_helpdesk_mime_int.h"


/*
 * The request body as one stream: a buffer in memory (copied: it is at
 * most client_body_buffer_size) or a range of the temporary file (read in
 * place), or several of them in a row.
 */
GMimeStream *
ngx_helpdesk_mime_source(ngx_chain_t *body)
{
    ngx_buf_t    *b;
    ngx_uint_t    n;
    ngx_chain_t  *cl;
    GMimeStream  *cat, *one, *s;

    cat = NULL;
    one = NULL;
    n = 0;

    for (cl = body; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            if (b->file_last <= b->file_pos) {
                continue;
            }

            s = g_mime_stream_fs_new_with_bounds(b->file->fd, b->file_pos,
                                                 b->file_last);
            g_mime_stream_fs_set_owner(GMIME_STREAM_FS(s), FALSE);

        } else {
            if (b->last <= b->pos) {
                continue;
            }

            s = g_mime_stream_mem_new_with_buffer((const char *) b->pos,
                                                  b->last - b->pos);
        }

        if (n++ == 0) {
            one = s;
            continue;
        }

        if (cat == NULL) {
            cat = g_mime_stream_cat_new();
            g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), one);
            g_object_unref(one);
        }

        g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), s);
        g_object_unref(s);
    }

    if (cat) {
        return cat;
    }

    return one ? one : g_mime_stream_mem_new();
}


/*
 * What the pass before GMime keeps of the header blocks it crosses: the
 * message's own, one after each line that may be a boundary ("--": a part
 * needs no header, and GMime skips lines that are no field, they end
 * nothing), and one after a block that makes its body a message (a
 * Content-Type of message/..., or none that names a type after a
 * boundary: a digest's parts are messages by default).
 */
typedef struct {
    size_t          line;       /* bytes of the line so far, CR aside */
    ngx_uint_t      parts;      /* "Content-Type:" lines */
    ngx_uint_t      delimiters; /* lines that start with "--" */
    ngx_uint_t      fields;     /* lines of header blocks */
    size_t          listed;     /* bytes of fields GMime makes lists of */
    size_t          flen;
    ngx_uint_t      k;          /* of "content-type" at a line's start */
    ngx_uint_t      vk;         /* of "message/" at a Content-Type's value */
    unsigned        header:1;   /* in the message's own header block */
    unsigned        block:1;    /* in a header block */
    unsigned        after:1;    /* ... that follows a "--" line */
    unsigned        typed:1;    /* ... that has a Content-Type */
    unsigned        slash:1;    /* ... with a "/" in it */
    unsigned        message:1;  /* ... of message/... */
    unsigned        dash:1;     /* the line starts with "-" */
    unsigned        naming:1;   /* reading a field's name */
    unsigned        list:1;     /* in a field GMime makes a list of */
    unsigned        value:1;    /* in a Content-Type's value */
    u_char          name[32];
} ngx_helpdesk_mime_scan_t;


/*
 * The fields GMime parses into lists as it reads them (addresses, a part's
 * parameters): a few bytes of them ("a@b," or ";a=b") cost it a hundred
 * or more.
 */
static ngx_flag_t
ngx_helpdesk_mime_listed(u_char *name, size_t len)
{
    ngx_uint_t  i;

    static const char *const  names[] = {
        "from", "sender", "reply-to", "to", "cc", "bcc", "content-type",
        "content-disposition", NULL
    };

    if (len > 7 && ngx_strncmp(name, "resent-", 7) == 0) {
        return 1;
    }

    for (i = 0; names[i]; i++) {
        if (ngx_strlen(names[i]) == len
            && ngx_strncmp(name, names[i], len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* One byte of the message: NULL, or the bound it passes. */
static const char *
ngx_helpdesk_mime_scan_byte(ngx_helpdesk_mime_scan_t *s, u_char c)
{
    static const char  ct[] = "content-type", msg[] = "message/";

    if (c == '\n') {
        if (s->line == 0 && s->block) {
            /* the empty line: a body, or a message's header block */
            s->block = s->message || (s->after && !(s->typed && s->slash));
            s->header = 0;

        } else if (s->line == 0) {
            s->header = 0;
        }

        if (s->line == 0) {
            s->after = 0;
            s->typed = 0;
            s->slash = 0;
            s->message = 0;
            s->list = 0;
            s->value = 0;
        }

        s->line = 0;
        s->naming = 0;
        s->k = 0;

        return NULL;
    }

    if (c == '\r') {
        return NULL;
    }

    s->line++;

    if (s->line == 1) {
        s->dash = (c == '-');

        if (s->block && c != ' ' && c != '\t') {
            /* maybe a field: its name, up to the colon */
            s->naming = 1;
            s->flen = 0;
            s->list = 0;
            s->value = 0;
        }

    } else if (s->line == 2 && s->dash && c == '-') {
        /* maybe a boundary: a part's header block follows */
        s->block = 1;
        s->after = 1;
        s->typed = 0;
        s->slash = 0;
        s->message = 0;
        s->naming = 0;
        s->list = 0;
        s->value = 0;

        if (++s->delimiters > NGX_HELPDESK_MIME_DELIMITERS_MAX) {
            return "the message has too many parts";
        }
    }

    /* "Content-Type:" at a line's start, blanks before the colon */
    if (s->k < sizeof(ct) - 1) {
        if (s->line == s->k + 1 && g_ascii_tolower(c) == (u_char) ct[s->k]) {
            s->k++;

        } else {
            s->k = sizeof(ct) + 1;
        }

    } else if (s->k == sizeof(ct) - 1) {
        if (c == ':') {
            s->k = sizeof(ct) + 1;

            if (++s->parts > NGX_HELPDESK_MIME_PARTS_MAX) {
                return "the message has too many parts";
            }

        } else if (c != ' ' && c != '\t') {
            s->k = sizeof(ct) + 1;
        }
    }

    if (s->naming) {
        if (c == ':') {
            /* a field (a line without a colon GMime skips) */
            if (++s->fields > NGX_HELPDESK_MIME_FIELDS_MAX) {
                return "the message has too many header fields";
            }

            s->naming = 0;

            if (s->flen > sizeof(s->name)) {
                return NULL;    /* a name longer than any listed */
            }

            while (s->flen && (s->name[s->flen - 1] == ' '
                               || s->name[s->flen - 1] == '\t'))
            {
                s->flen--;
            }

            s->list = ngx_helpdesk_mime_listed(s->name, s->flen);

            if (s->flen == sizeof(ct) - 1
                && ngx_strncmp(s->name, ct, s->flen) == 0)
            {
                s->typed = 1;
                s->value = 1;
                s->vk = 0;
            }

        } else if (s->flen < sizeof(s->name)) {
            s->name[s->flen++] = g_ascii_tolower(c);

        } else {
            s->flen = sizeof(s->name) + 1;  /* none of the listed */
        }

        return NULL;
    }

    if (s->list && ++s->listed > NGX_HELPDESK_MIME_LISTED_MAX) {
        return "the message's address or parameter fields are too large";
    }

    /*
     * a Content-Type's value: "message/" anywhere in it (a comment may
     * come first), or no type at all, makes the body a message
     */
    if (s->value) {
        if (c == '/') {
            s->slash = 1;
        }

        if (g_ascii_tolower(c) == (u_char) msg[s->vk]) {
            if (++s->vk == sizeof(msg) - 1) {
                s->message = 1;
                s->value = 0;
            }

        } else {
            s->vk = (g_ascii_tolower(c) == 'm');
        }
    }

    return NULL;
}


/*
 * One pass over the raw message before GMime sees it, so that no message
 * costs GMime much more memory than its bytes: the lines that can start a
 * part's header ("Content-Type:" in any case, blanks before the colon)
 * counted, and the lines that may be boundaries (a million "--b" lines
 * and empty ones, 5 MB, made GMime build a million parts, 1.3 GB, before
 * the walk counted any); the lines of every header block (5 MB of "X:y"
 * fields in a part cost 600 MB) and the bytes of the fields GMime makes
 * lists of (a forwarded message's To of 4 MB cost 290 MB); the message's
 * own header block measured; its SHA-256 taken.  NGX_DECLINED with the
 * reason (*error) for a message past a bound.
 */
ngx_int_t
ngx_helpdesk_mime_scan(GMimeStream *stream, size_t len, u_char *digest,
    const char **error)
{
    size_t                     i;
    ssize_t                    n;
    off_t                      at;
    EVP_MD_CTX                *md;
    ngx_helpdesk_mime_scan_t   s;
    u_char                     buf[65536];

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    ngx_memzero(&s, sizeof(ngx_helpdesk_mime_scan_t));
    s.header = 1;
    s.block = 1;
    at = 0;

    for ( ;; ) {
        n = g_mime_stream_read(stream, (char *) buf, sizeof(buf));
        if (n <= 0) {
            break;
        }

        (void) EVP_DigestUpdate(md, buf, n);

        for (i = 0; i < (size_t) n && *error == NULL; i++) {
            *error = ngx_helpdesk_mime_scan_byte(&s, buf[i]);
        }

        at += n;

        if (s.header && at > NGX_HELPDESK_MIME_HEADER_MAX) {
            *error = "the message's header is too large";
        }

        if (*error) {
            break;
        }
    }

    /* a bounded stream's end reads as -1: the count says it all */
    n = EVP_DigestFinal_ex(md, digest, NULL);

    EVP_MD_CTX_free(md);

    if (*error) {
        return NGX_DECLINED;
    }

    if (n != 1 || (size_t) at != len
        || g_mime_stream_reset(stream) != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
