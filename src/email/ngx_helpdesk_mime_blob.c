/*
 * What a parsed message costs a worker, and its "blob" read back in
 * pieces: shared by the two ways mail comes in, pushed to the inbound
 * location (ngx_http_helpdesk_email_inbound.c) and fetched by IMAP
 * (src/jobs/ngx_helpdesk_email_fetch_msg.c), so that both are bounded
 * alike.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_mime.h"


/* this worker's messages being parsed, and their bytes */
static ngx_uint_t  ngx_helpdesk_mime_tasks;
static size_t      ngx_helpdesk_mime_bytes;


ngx_int_t
ngx_helpdesk_mime_budget_take(size_t size, ngx_log_t *log)
{
    if (ngx_helpdesk_mime_tasks >= NGX_HELPDESK_MIME_TASKS
        || (ngx_helpdesk_mime_tasks
            && ngx_helpdesk_mime_bytes + size > NGX_HELPDESK_MIME_BYTES))
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "helpdesk email: %ui messages (%uz bytes) being "
                      "parsed, this one (%uz bytes) refused for now",
                      ngx_helpdesk_mime_tasks, ngx_helpdesk_mime_bytes, size);
        return NGX_DECLINED;
    }

    ngx_helpdesk_mime_tasks++;
    ngx_helpdesk_mime_bytes += size;

    return NGX_OK;
}


void
ngx_helpdesk_mime_budget_give(size_t size)
{
    ngx_helpdesk_mime_tasks--;
    ngx_helpdesk_mime_bytes -= size;
}


/*
 * In the thread pool: bytes [at, at + len) of the blob, the raw message
 * (m->body's buffers and file ranges) then the attachments' file.
 */
ngx_int_t
ngx_helpdesk_mime_read(ngx_helpdesk_mime_t *m, off_t at, u_char *buf,
    size_t len, ngx_log_t *log)
{
    off_t         pos;
    size_t        want, n, part;
    ssize_t       got;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    n = 0;

    for (cl = m->body, pos = 0; cl && n < len; cl = cl->next) {
        b = cl->buf;
        part = b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);

        if (at >= pos + (off_t) part) {
            pos += part;
            continue;
        }

        want = ngx_min(part - (size_t) (at - pos), len - n);

        if (b->in_file) {
            got = pread(b->file->fd, buf + n, want, b->file_pos + (at - pos));
            if (got != (ssize_t) want) {
                ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                              "helpdesk email: reading the message's file "
                              "failed");
                return NGX_ERROR;
            }

        } else {
            ngx_memcpy(buf + n, b->pos + (at - pos), want);
        }

        n += want;
        at += want;
        pos += part;
    }

    while (n < len) {
        got = pread(m->files_fd, buf + n, len - n, at - (off_t) m->raw_len);
        if (got <= 0) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "helpdesk email: reading the attachments failed");
            return NGX_ERROR;
        }

        n += got;
        at += got;
    }

    return NGX_OK;
}
