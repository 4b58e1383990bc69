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
