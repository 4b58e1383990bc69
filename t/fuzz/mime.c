/*
 * A raw mail message as the inbound location hands it to the parser
 * (ngx_helpdesk_mime_parse(), GMime in the thread pool): anything, from
 * anyone holding a mailbox's token.  The input's first byte chooses where
 * the message lies: in memory, in a file (as nginx leaves a large body),
 * or split between both.  Whatever the input, the parser must answer
 * NGX_OK or NGX_DECLINED with a reason, every attachment it lists must lie
 * inside the file it wrote, and its meta must serialise.
 */

#define _GNU_SOURCE
#include "ngx_fuzz.h"
#include "email/ngx_helpdesk_mime.h"

#include <sys/mman.h>


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_fuzz_init();
    ngx_helpdesk_mime_init_process();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   fd;
    char                 *dump;
    size_t                i, off, len, split;
    json_t               *a, *att;
    ngx_int_t             rc;
    ngx_buf_t             mem, file;
    ngx_file_t            f;
    ngx_chain_t           c1, c2;
    struct stat           st;
    ngx_helpdesk_mime_t   m;
    uint8_t               how;

    if (size == 0) {
        return 0;
    }

    how = data[0] % 3;
    data++;
    size--;

    ngx_helpdesk_mime_init(&m);
    ngx_memzero(&mem, sizeof(ngx_buf_t));
    ngx_memzero(&file, sizeof(ngx_buf_t));
    ngx_memzero(&f, sizeof(ngx_file_t));

    fd = -1;
    split = (how == 2) ? size / 2 : (how == 1 ? 0 : size);

    mem.pos = (u_char *) data;
    mem.last = (u_char *) data + split;

    c1.buf = &mem;
    c1.next = NULL;

    if (split < size) {
        fd = memfd_create("mime", 0);
        if (fd == -1 || write(fd, "prefix--", 8) != 8
            || write(fd, data + split, size - split)
               != (ssize_t) (size - split))
        {
            abort();
        }

        f.fd = fd;
        file.in_file = 1;
        file.file = &f;
        file.file_pos = 8;
        file.file_last = 8 + (size - split);

        c2.buf = &file;
        c2.next = NULL;
        c1.next = &c2;
    }

    m.body = &c1;
    m.raw_len = size;
    m.temp_dir = "/tmp";

    rc = ngx_helpdesk_mime_parse(&m);

    if (rc == NGX_DECLINED) {
        if (m.error[0] == '\0' || memchr(m.error, '\0', sizeof(m.error)) == NULL)
        {
            abort();
        }

    } else if (rc != NGX_OK) {
        abort();

    } else {
        if (m.files_fd != NGX_INVALID_FILE) {
            if (fstat(m.files_fd, &st) != 0
                || (size_t) st.st_size != m.files_len)
            {
                abort();
            }
        }

        att = json_object_get(m.meta, "attachments");

        json_array_foreach(att, i, a) {
            off = json_integer_value(json_object_get(a, "offset"));
            len = json_integer_value(json_object_get(a, "size"));

            if (off < m.raw_len || off + len > m.raw_len + m.files_len) {
                abort();
            }
        }

        dump = json_dumps(m.meta, JSON_COMPACT);
        if (dump == NULL) {
            abort();
        }
        free(dump);
    }

    ngx_helpdesk_mime_free(&m);

    if (fd != -1) {
        close(fd);
    }

    return 0;
}
