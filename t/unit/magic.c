/*
 * lib/ngx_helpdesk_magic.c: files typed by their first bytes only, so
 * that HTML, SVG, XML or script uploaded under an image's name and type
 * is never named an image.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_magic.h"


static void
ngx_unit_kind(const char *data, size_t len, const char *type,
    ngx_uint_t inline_ok, const char *name)
{
    const ngx_helpdesk_magic_t  *k;

    k = ngx_helpdesk_magic((const u_char *) data, len);

    is_str((u_char *) k->type, ngx_strlen(k->type), type, "%s: %s", name,
           type);
    ok(k->inline_ok == inline_ok, "%s: %s", name,
       inline_ok ? "shown inline" : "a download");
}


#define ngx_unit_magic(data, type, inl, name)                                \
    ngx_unit_kind(data, sizeof(data) - 1, type, inl, name)


static void
ngx_unit_refused(const char *fname, const char *type, const char *data,
    size_t len, ngx_flag_t want, const char *what)
{
    ngx_str_t  n, t;

    n.data = (u_char *) fname;
    n.len = ngx_strlen(fname);
    t.data = (u_char *) type;
    t.len = ngx_strlen(type);

    ok(ngx_helpdesk_magic_refused(&n, &t, (const u_char *) data, len) == want,
       "%s: %s", what, want ? "refused" : "taken");
}


#define ngx_unit_refuse(fname, type, data, want, what)                       \
    ngx_unit_refused(fname, type, data, sizeof(data) - 1, want, what)


int
main(void)
{
    ngx_unit_init();

    ngx_unit_magic("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png", 1, "PNG");
    ngx_unit_magic("\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg", 1, "JPEG");
    ngx_unit_magic("GIF89a\1\0\1\0", "image/gif", 1, "GIF89a");
    ngx_unit_magic("GIF87a\1\0\1\0", "image/gif", 1, "GIF87a");
    ngx_unit_magic("RIFF\x24\0\0\0WEBPVP8 ", "image/webp", 1, "WebP");
    ngx_unit_magic("%PDF-1.7\n", "application/pdf", 0, "PDF");
    ngx_unit_magic("OggS\0\2", "audio/ogg", 0, "Ogg");
    ngx_unit_magic("\0\0\0\x18" "ftypmp42", "video/mp4", 0, "MP4");
    ngx_unit_magic("PK\3\4\x14\0", "application/zip", 0, "ZIP");

    /* what a browser would run or render: never named for what it claims */
    ngx_unit_magic("<!doctype html><script>alert(1)</script>",
                   "application/octet-stream", 0, "HTML");
    ngx_unit_magic("<svg xmlns=\"http://www.w3.org/2000/svg\"><script/>",
                   "application/octet-stream", 0, "SVG");
    ngx_unit_magic("<?xml version=\"1.0\"?><x/>", "application/octet-stream",
                   0, "XML");
    ngx_unit_magic("alert(document.cookie)", "application/octet-stream", 0,
                   "JavaScript");
    ngx_unit_magic("\x89PNG<html>", "application/octet-stream", 0,
                   "half a PNG signature, then HTML");
    ngx_unit_magic("RIFF\x24\0\0\0AVI ", "application/octet-stream", 0,
                   "RIFF that is no WebP");
    ngx_unit_magic(" %PDF-1.4", "application/octet-stream", 0,
                   "a signature not at the start");

    /* short and empty files */
    ngx_unit_magic("\xff\xd8", "application/octet-stream", 0,
                   "two bytes of JPEG");
    ngx_unit_kind("", 0, "application/octet-stream", 0, "empty");
    ngx_unit_magic("RIFF", "application/octet-stream", 0, "RIFF alone");

    /* what is not taken at all: programs and scripts, however named */
    ngx_unit_refuse("setup.exe", "application/octet-stream", "x", 1,
                    "a program by its name");
    ngx_unit_refuse("SETUP.EXE", "", "x", 1, "... in capitals");
    ngx_unit_refuse("x", "application/x-msdownload", "x", 1,
                    "a program by its declared type");
    ngx_unit_refuse("x", "Text/JavaScript; charset=utf-8", "x", 1,
                    "a script by its type, with parameters");
    ngx_unit_refuse("invoice.pdf", "application/pdf", "MZ\x90\0\3", 1,
                    "a Windows program named as a PDF, by its bytes");
    ngx_unit_refuse("photo.png", "image/png", "\x7f" "ELF\2\1", 1,
                    "a Linux program named as an image");
    ngx_unit_refuse("notes", "text/plain", "#!/bin/sh\n", 1, "a script");
    ngx_unit_refuse("app", "", "\xcf\xfa\xed\xfe\7\0", 1,
                    "a macOS program");
    ngx_unit_refuse("photo.png", "image/png", "\x89PNG\r\n\x1a\n", 0,
                    "an image");
    ngx_unit_refuse("report.pdf", "application/pdf", "%PDF-1.7", 0, "a PDF");
    ngx_unit_refuse("archive.tar.gz", "", "\x1f\x8b", 0,
                    "a compressed file");
    ngx_unit_refuse("no-extension.", "", "text", 0, "a name ending in a dot");
    ngx_unit_refuse("x.exe.txt", "text/plain", "text", 0,
                    "an extension that is not the last one");
    ngx_unit_refused("setup.exe", "", NULL, 0, 1,
                     "without its bytes, by its name");
    ngx_unit_refused("report.pdf", "application/pdf", NULL, 0, 0,
                     "a document, without its bytes");

    return ngx_unit_done();
}
