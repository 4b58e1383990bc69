/*
 * What a reply adds to a mail built by hand (ngx_helpdesk_email_mime.c):
 * the checks of the addresses and message ids put into its headers, and
 * its files as the parts of a multipart/mixed body.  Pure code with
 * malloc(), for the thread pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_email_mime.h"


#define NGX_HELPDESK_MAIL_B64_LINE  76


static ngx_flag_t ngx_helpdesk_mail_line(u_char **p, u_char *last,
    ngx_str_t *line);


ngx_flag_t
ngx_helpdesk_mail_address_ok(ngx_str_t *s)
{
    size_t      i;
    ngx_uint_t  at;

    if (s->len < 3 || s->len > 254) {
        return 0;
    }

    at = 0;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] <= 0x20 || s->data[i] >= 0x7f || s->data[i] == '<'
            || s->data[i] == '>' || s->data[i] == '"' || s->data[i] == ','
            || s->data[i] == '\\' || s->data[i] == ';')
        {
            return 0;
        }

        if (s->data[i] == '@') {
            at++;
        }
    }

    return at == 1 && s->data[0] != '@' && s->data[s->len - 1] != '@';
}


ngx_flag_t
ngx_helpdesk_mail_addresses_ok(ngx_str_t *s)
{
    u_char     *p, *last, *comma;
    ngx_str_t   one;

    p = s->data;
    last = s->data + s->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        one.data = p;
        one.len = comma - p;

        if (!ngx_helpdesk_mail_address_ok(&one)) {
            return 0;
        }

        p = comma + 1;

        if (comma + 1 == last) {
            return 0;       /* a trailing comma */
        }
    }

    return 1;
}


ngx_flag_t
ngx_helpdesk_mail_ids_ok(ngx_str_t *s)
{
    size_t      i;
    ngx_flag_t  in;

    if (s->len > 16000) {
        return 0;
    }

    in = 0;

    for (i = 0; i < s->len; i++) {
        if (!in) {
            if (s->data[i] != '<') {
                return 0;
            }

            in = 1;
            continue;
        }

        if (s->data[i] == '>') {
            in = 0;

            /* one space between two ids, none at the end */
            if (i + 1 < s->len
                && (s->data[i + 1] != ' ' || i + 2 >= s->len))
            {
                return 0;
            }

            i++;
            continue;
        }

        if (s->data[i] <= 0x20 || s->data[i] >= 0x7f || s->data[i] == '<') {
            return 0;
        }
    }

    return !in;
}


ngx_int_t
ngx_helpdesk_mail_files(ngx_str_t *files, const char *boundary,
    ngx_str_t *out, char *err, size_t size)
{
    u_char     *buf, *nbuf, *o, *p, *last, *q;
    size_t      cap, i, n, blen;
    ngx_str_t   type, name64, data64, name;

    blen = ngx_strlen(boundary);

    /* every line of base64 grows by 2, every file by its headers */
    cap = files->len + files->len / NGX_HELPDESK_MAIL_B64_LINE * 2 + 2;

    p = files->data;
    last = files->data + files->len;

    while (ngx_helpdesk_mail_line(&p, last, &type)
           && ngx_helpdesk_mail_line(&p, last, &name64)
           && ngx_helpdesk_mail_line(&p, last, &data64))
    {
        /* the name three times: decoded, %XX (x3), and a stand-in */
        cap += 256 + blen + type.len * 2 + name64.len * 5;
    }

    if (p != last) {
        ngx_cpystrn((u_char *) err, (u_char *) "the files of the mail are "
                    "not three lines each", size);
        return NGX_ERROR;
    }

    buf = malloc(cap);
    nbuf = malloc(files->len + 1);

    if (buf == NULL || nbuf == NULL) {
        ngx_free(buf);
        ngx_free(nbuf);
        ngx_cpystrn((u_char *) err, (u_char *) "out of memory", size);
        return NGX_ERROR;
    }

    o = buf;
    p = files->data;

    while (ngx_helpdesk_mail_line(&p, last, &type)
           && ngx_helpdesk_mail_line(&p, last, &name64)
           && ngx_helpdesk_mail_line(&p, last, &data64))
    {
        for (i = 0; i < type.len; i++) {
            if (type.data[i] == '\0'
                || !(isalnum(type.data[i])
                     || ngx_strchr("!#$&^_.+-/", type.data[i])))
            {
                ngx_str_set(&type, "application/octet-stream");
                break;
            }
        }

        name.data = nbuf;

        if (ngx_decode_base64(&name, &name64) != NGX_OK || name.len == 0) {
            ngx_str_set(&name, "file");
        }

        o = ngx_sprintf(o, "\r\n--%s\r\nContent-Type: %V; name=\"", boundary,
                        &type);

        /* the stand-in: printable ASCII, nothing that ends the string */
        q = o;
        for (i = 0; i < name.len && i < 100; i++) {
            *o++ = (name.data[i] < 0x20 || name.data[i] >= 0x7f
                    || name.data[i] == '"' || name.data[i] == '\\')
                   ? '_' : name.data[i];
        }

        n = o - q;
        o = ngx_sprintf(o, "\"\r\nContent-Disposition: attachment;\r\n"
                        " filename=\"%*s\";\r\n filename*=UTF-8''", n, q);

        for (i = 0; i < name.len; i++) {
            if (name.data[i] != '\0' && name.data[i] < 0x80
                && (isalnum(name.data[i])
                    || ngx_strchr("!#$&+-.^_`|~", name.data[i])))
            {
                *o++ = name.data[i];

            } else {
                o = ngx_sprintf(o, "%%%02XD", (uint32_t) name.data[i]);
            }
        }

        o = ngx_cpymem(o, "\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                       sizeof("\r\nContent-Transfer-Encoding: base64\r\n\r\n")
                       - 1);

        for (i = 0; i < data64.len; i += NGX_HELPDESK_MAIL_B64_LINE) {
            n = ngx_min(NGX_HELPDESK_MAIL_B64_LINE, data64.len - i);
            o = ngx_cpymem(o, data64.data + i, n);

            if (i + n < data64.len) {
                *o++ = '\r';
                *o++ = '\n';
            }
        }

    }

    ngx_free(nbuf);

    out->data = buf;
    out->len = o - buf;

    return NGX_OK;
}


/* the next line of s, without its "\n"; 0 at the end */

static ngx_flag_t
ngx_helpdesk_mail_line(u_char **p, u_char *last, ngx_str_t *line)
{
    u_char  *nl;

    if (*p >= last) {
        return 0;
    }

    nl = ngx_strlchr(*p, last, '\n');
    if (nl == NULL) {
        return 0;
    }

    line->data = *p;
    line->len = nl - *p;
    *p = nl + 1;

    return 1;
}
