/*
 * A raw RFC 5322 message into what the ticket service needs: its headers
 * for threading and loop detection, its text with the quoted history
 * trimmed, its HTML made safe, its attachments.  GMime does the MIME;
 * this runs in nginx's thread pool only (never on the event loop), reads
 * the message where it lies (a file, or memory) and writes the attachments
 * to a file of its own: its memory does not grow with the message's size.
 * It knows nothing of nginx's requests.
 */

#ifndef _NGX_HELPDESK_MIME_H_INCLUDED_
#define _NGX_HELPDESK_MIME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <glib.h>
#include <jansson.h>


/* an attachment's largest decoded size */
#define NGX_HELPDESK_MIME_ATTACHMENT_MAX  (25 * 1024 * 1024)

/* parts of a message, all nesting included, and how deep they nest */
#define NGX_HELPDESK_MIME_PARTS_MAX       1000

/*
 * lines that start with "--" (each may be a boundary, and open a part
 * without a header): a text may have some of its own
 */
#define NGX_HELPDESK_MIME_DELIMITERS_MAX  (10 * NGX_HELPDESK_MIME_PARTS_MAX)

/* the lines of every header block of the message together */
#define NGX_HELPDESK_MIME_FIELDS_MAX      20000

/*
 * the bytes of the fields GMime parses into lists (From, To, Cc, ...,
 * Content-Type, Content-Disposition) in every header block together
 */
#define NGX_HELPDESK_MIME_LISTED_MAX      (256 * 1024)
#define NGX_HELPDESK_MIME_DEPTH_MAX       32

/* what is kept of the text and of the safe HTML */
#define NGX_HELPDESK_MIME_TEXT_MAX        (256 * 1024)
#define NGX_HELPDESK_MIME_HTML_MAX        (512 * 1024)


typedef struct {
    /*
     * {message_id, in_reply_to, references[], from{address,name}, to[],
     * cc[], recipients[], subject, auto_submitted, precedence, autoreply,
     * report, null_return_path, loop, text, trimmed, html,
     * attachments[{filename, content_type, offset, size, inline,
     * content_id}], refused[{filename, reason}], raw{offset, size}}
     *
     * Offsets are in the message's "blob": the raw message at 0, then the
     * attachments' file (files_fd) at raw_len.
     */
    json_t      *meta;

    /*
     * In: the raw message, raw_len bytes, as nginx read the request body:
     * buffers in memory or ranges of its temporary file, read in place
     * (never copied whole into memory, never written to) by the task.
     */
    ngx_chain_t *body;
    size_t       raw_len;

    /*
     * In: the directory for the attachments' file (NUL-terminated).  Out:
     * that file, unlinked (NGX_INVALID_FILE when the message has none),
     * each attachment's decoded bytes one after the other, files_len in
     * all.  ngx_helpdesk_mime_free() closes it.
     */
    const char  *temp_dir;
    ngx_fd_t     files_fd;
    size_t       files_len;

    /* NGX_DECLINED: why it is not a message we take */
    char         error[128];
} ngx_helpdesk_mime_t;


/*
 * The largest text part taken as the message's text (its encoded size);
 * a larger one is kept as an attachment, so that no part of any size is
 * decoded into memory.
 */
#define NGX_HELPDESK_MIME_TEXT_PART_MAX   (1024 * 1024)

/* the largest header block of the message itself */
#define NGX_HELPDESK_MIME_HEADER_MAX      (1024 * 1024)

/* m with nothing in it yet: fds invalid */
void ngx_helpdesk_mime_init(ngx_helpdesk_mime_t *m);

/*
 * Parses the raw message.  NGX_OK with m->meta and the attachments in
 * m->files_fd; NGX_DECLINED when it is not a message we take (m->error
 * says why); NGX_ERROR when the system failed (a file could not be read
 * or written).  ngx_helpdesk_mime_free() releases the meta and the file,
 * in every case.
 */
ngx_int_t ngx_helpdesk_mime_parse(ngx_helpdesk_mime_t *m);
void ngx_helpdesk_mime_init_process(void);
void ngx_helpdesk_mime_free(ngx_helpdesk_mime_t *m);


/* ngx_helpdesk_mime_blob.c */

/*
 * Messages a worker parses at once, and their bytes, pushed and fetched
 * alike: past either, a new one waits (a message alone is always taken,
 * up to its own limit).  NGX_DECLINED: not now.
 */
#define NGX_HELPDESK_MIME_TASKS           4
#define NGX_HELPDESK_MIME_BYTES           (48 * 1024 * 1024)

ngx_int_t ngx_helpdesk_mime_budget_take(size_t size, ngx_log_t *log);
void ngx_helpdesk_mime_budget_give(size_t size);

/*
 * What of a blob goes to PostgreSQL at once (libpq's buffer grows to
 * twice it, and never shrinks).
 */
#define NGX_HELPDESK_MIME_CHUNK           (512 * 1024)

/* in the thread pool: bytes [at, at + len) of the blob into buf */
ngx_int_t ngx_helpdesk_mime_read(ngx_helpdesk_mime_t *m, off_t at,
    u_char *buf, size_t len, ngx_log_t *log);


/* ngx_helpdesk_mime_text.c */
void ngx_helpdesk_mime_html_safe(const char *html, size_t len, GString *out,
    ngx_flag_t trim, ngx_flag_t *trimmed);
void ngx_helpdesk_mime_html_text(const char *html, size_t len, GString *out);

/* ngx_helpdesk_mime_trim.c */
size_t ngx_helpdesk_mime_trim(const char *text, size_t len);


#endif /* _NGX_HELPDESK_MIME_H_INCLUDED_ */
