/*
 * File types by their signatures ("magic bytes").  A browser decides what
 * to do with a response from its Content-Type (and, without nosniff, from
 * its content), so a file uploaded as "image/png" named "x.png" that is
 * really HTML or SVG would run script in our origin if we repeated the
 * uploader's type.  Only kinds whose signature is unambiguous and which no
 * browser executes are named here; whatever else a file is, it is sent as
 * opaque bytes.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_magic.h"


static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_png =
    { "image/png", 1 };
static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_jpeg =
    { "image/jpeg", 1 };
static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_gif =
    { "image/gif", 1 };
static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_webp =
    { "image/webp", 1 };
static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_pdf =
    { "application/pdf", 0 };
static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_ogg =
    { "audio/ogg", 0 };
static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_mp4 =
    { "video/mp4", 0 };
static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_zip =
    { "application/zip", 0 };
static const ngx_helpdesk_magic_t  ngx_helpdesk_magic_other =
    { "application/octet-stream", 0 };


#define ngx_helpdesk_magic_is(data, len, off, sig)                           \
    ((len) >= (off) + sizeof(sig) - 1                                        \
     && ngx_memcmp((data) + (off), sig, sizeof(sig) - 1) == 0)


const ngx_helpdesk_magic_t *
ngx_helpdesk_magic(const u_char *data, size_t len)
{
    if (ngx_helpdesk_magic_is(data, len, 0, "\x89PNG\r\n\x1a\n")) {
        return &ngx_helpdesk_magic_png;
    }

    if (ngx_helpdesk_magic_is(data, len, 0, "\xff\xd8\xff")) {
        return &ngx_helpdesk_magic_jpeg;
    }

    if (ngx_helpdesk_magic_is(data, len, 0, "GIF87a")
        || ngx_helpdesk_magic_is(data, len, 0, "GIF89a"))
    {
        return &ngx_helpdesk_magic_gif;
    }

    if (ngx_helpdesk_magic_is(data, len, 0, "RIFF")
        && ngx_helpdesk_magic_is(data, len, 8, "WEBP"))
    {
        return &ngx_helpdesk_magic_webp;
    }

    if (ngx_helpdesk_magic_is(data, len, 0, "%PDF-")) {
        return &ngx_helpdesk_magic_pdf;
    }

    if (ngx_helpdesk_magic_is(data, len, 0, "OggS")) {
        return &ngx_helpdesk_magic_ogg;
    }

    if (ngx_helpdesk_magic_is(data, len, 4, "ftyp")) {
        return &ngx_helpdesk_magic_mp4;
    }

    if (ngx_helpdesk_magic_is(data, len, 0, "PK\x03\x04")) {
        return &ngx_helpdesk_magic_zip;
    }

    return &ngx_helpdesk_magic_other;
}



/*
 * Files that would run on a support agent's computer when opened are not
 * accepted: programs, installers, scripts, shortcuts, by their name, the
 * type they were declared with, or (when given) their first bytes -- a
 * Windows or Linux program, a macOS one or a script with its "#!" line,
 * whatever it is called.  Everything else is stored and served as a
 * download (or an image shown inline, ngx_helpdesk_magic()).
 */

ngx_flag_t
ngx_helpdesk_magic_refused(ngx_str_t *name, ngx_str_t *type,
    const u_char *data, size_t len)
{
    u_char       *dot;
    size_t        n;
    const char  **e;
    u_char        ext[8];

    static const char  *exts[] = {
        "exe", "com", "scr", "pif", "bat", "cmd", "msi", "msp", "dll", "cpl",
        "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta", "ps1", "psm1", "lnk",
        "reg", "jar", "app", "sh", "apk", "iso", NULL
    };

    static const char  *types[] = {
        "application/x-msdownload", "application/x-msdos-program",
        "application/x-ms-installer", "application/x-msi",
        "application/x-sh", "application/x-executable",
        "application/vnd.microsoft.portable-executable",
        "application/java-archive", "application/x-bat",
        "text/javascript", "application/javascript", "application/hta", NULL
    };

    if (data
        && (ngx_helpdesk_magic_is(data, len, 0, "MZ")
            || ngx_helpdesk_magic_is(data, len, 0, "\x7f" "ELF")
            || ngx_helpdesk_magic_is(data, len, 0, "#!")
            || ngx_helpdesk_magic_is(data, len, 0, "\xfe\xed\xfa\xce")
            || ngx_helpdesk_magic_is(data, len, 0, "\xfe\xed\xfa\xcf")
            || ngx_helpdesk_magic_is(data, len, 0, "\xce\xfa\xed\xfe")
            || ngx_helpdesk_magic_is(data, len, 0, "\xcf\xfa\xed\xfe")
            || ngx_helpdesk_magic_is(data, len, 0, "\xca\xfe\xba\xbe")))
    {
        return 1;
    }

    for (e = types; *e; e++) {
        n = ngx_strlen(*e);

        if (type->len >= n
            && ngx_strncasecmp(type->data, (u_char *) *e, n) == 0
            && (type->len == n || type->data[n] == ';'))
        {
            return 1;
        }
    }

    dot = NULL;

    for (n = 0; n < name->len; n++) {
        if (name->data[n] == '.') {
            dot = name->data + n;
        }
    }

    if (dot == NULL) {
        return 0;
    }

    n = name->data + name->len - dot - 1;
    if (n == 0 || n >= sizeof(ext)) {
        return 0;
    }

    ngx_strlow(ext, dot + 1, n);

    for (e = exts; *e; e++) {
        if (ngx_strlen(*e) == n && ngx_strncmp(ext, *e, n) == 0) {
            return 1;
        }
    }

    return 0;
}
