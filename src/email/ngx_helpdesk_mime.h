/*
 * A raw RFC 5322 message into what the ticket service needs: its headers
 * for threading and loop detection, its text with the quoted history
 * trimmed, its HTML made safe, its attachments.  GMime does the MIME;
 * this runs in nginx's thread pool only (never on the event loop), on
 * memory of its own, and knows nothing of nginx's requests.
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
     */
    json_t      *meta;

    /*
     * The raw message at 0 (raw_len bytes, put there by the caller in a
     * buffer of blob_size bytes from malloc(), at least twice raw_len:
     * see ngx_helpdesk_mime_blob()), then each attachment's decoded bytes.
     */
    u_char      *blob;
    size_t       raw_len;
    size_t       blob_len;
    size_t       blob_size;

    /* NGX_DECLINED: why it is not a message we take */
    char         error[128];
} ngx_helpdesk_mime_t;


/* the size of the blob to allocate for a raw message of "len" bytes */
#define ngx_helpdesk_mime_blob(len)  (2 * (size_t) (len) + 65536)

/*
 * Parses the raw message at the start of m->blob.  NGX_OK with m->meta
 * and the attachments in the blob; NGX_DECLINED when it is not a message
 * we take (m->error says why).  ngx_helpdesk_mime_free() releases the
 * blob and the meta, in every case.
 */
ngx_int_t ngx_helpdesk_mime_parse(ngx_helpdesk_mime_t *m);
void ngx_helpdesk_mime_free(ngx_helpdesk_mime_t *m);


/* ngx_helpdesk_mime_text.c */
void ngx_helpdesk_mime_html_safe(const char *html, size_t len, GString *out,
    ngx_flag_t trim, ngx_flag_t *trimmed);
void ngx_helpdesk_mime_html_text(const char *html, size_t len, GString *out);
size_t ngx_helpdesk_mime_trim(const char *text, size_t len);


#endif /* _NGX_HELPDESK_MIME_H_INCLUDED_ */
