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
 * One pass over the raw message before GMime sees it: the lines that can
 * start a part's header ("Content-Type:" in any case, blanks before the
 * colon) counted, and the lines that can end one and open the next (a
 * boundary delimiter starts with "--": a part needs no header, and
 * "--b\n\n" over and over made a million parts of 5 MB, GMime's tree of
 * them more than a gigabyte, before the walk counted any), the lines of
 * the header blocks counted (a part's block is not measured, and 5 MB of
 * "X:y" fields cost GMime 600 MB), the message's own header block
 * measured, its SHA-256 taken.  NGX_DECLINED with the reason (*error) for
 * a message past a bound.
 */
ngx_int_t
ngx_helpdesk_mime_scan(GMimeStream *stream, size_t len, u_char *digest,
    const char **error)
{
    u_char         c;
    size_t         i;
    ssize_t        n;
    off_t          at;
    ngx_uint_t     parts, delimiters, fields, k, state, line;
    ngx_flag_t     header, dash, block;
    EVP_MD_CTX    *md;
    u_char         buf[65536];

    static const char  pat[] = "content-type";

    enum { MATCH = 0, BLANKS, SKIP };

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    parts = 0;
    delimiters = 0;
    fields = 0;
    dash = 0;
    block = 1;
    k = 0;
    state = MATCH;
    line = 0;
    header = 1;
    at = 0;

    for ( ;; ) {
        n = g_mime_stream_read(stream, (char *) buf, sizeof(buf));
        if (n <= 0) {
            break;
        }

        (void) EVP_DigestUpdate(md, buf, n);

        for (i = 0; i < (size_t) n; i++) {
            c = buf[i];

            if (c == '\n') {
                if (line == 0) {
                    header = 0;     /* the empty line: the body starts */
                    block = 0;
                }
                state = MATCH;
                k = 0;
                line = 0;
                continue;
            }

            if (c != '\r') {
                line++;

                /* "--" at the start of a line: maybe a boundary */
                if (line == 1) {
                    dash = (c == '-');

                    /*
                     * a line of a header block (the message's, or one
                     * after what may be a boundary, up to an empty line;
                     * GMime skips lines that are no header, they end
                     * nothing): each field costs GMime a few hundred
                     * bytes, however short it is
                     */
                    if (block && c != ' ' && c != '\t'
                        && ++fields > NGX_HELPDESK_MIME_FIELDS_MAX)
                    {
                        *error = "the message has too many header fields";
                    }

                } else if (line == 2 && dash && c == '-') {
                    block = 1;

                    if (++delimiters > NGX_HELPDESK_MIME_DELIMITERS_MAX) {
                        *error = "the message has too many parts";
                    }
                }
            }

            switch (state) {

            case MATCH:
                if (g_ascii_tolower(c) == pat[k]) {
                    if (++k == sizeof(pat) - 1) {
                        state = BLANKS;
                    }
                } else {
                    state = SKIP;
                }
                break;

            case BLANKS:
                if (c == ':') {
                    if (++parts > NGX_HELPDESK_MIME_PARTS_MAX) {
                        *error = "the message has too many parts";
                    }
                    state = SKIP;

                } else if (c != ' ' && c != '\t') {
                    state = SKIP;
                }
                break;

            default:
                break;
            }
        }

        at += n;

        if (header && at > NGX_HELPDESK_MIME_HEADER_MAX) {
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
