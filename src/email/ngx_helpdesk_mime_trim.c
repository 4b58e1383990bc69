/*
 * A plain-text reply's quoted history and signature cut off: where the
 * text the customer wrote ends ("On ... wrote:", "-----Original
 * Message-----", "> " lines, "-- ").  A pure function on UTF-8 text, run
 * in the thread pool with the rest of the parsing.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_mime.h"


/* the line at p (up to '\n'), without its '\r' and leading blanks */
static ngx_flag_t
ngx_helpdesk_mime_line_starts(const char *p, const char *end,
    const char *const *prefixes)
{
    const char *const  *s;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    for (s = prefixes; *s; s++) {
        if ((size_t) (end - p) >= strlen(*s)
            && g_ascii_strncasecmp(p, *s, strlen(*s)) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_flag_t
ngx_helpdesk_mime_line_ends(const char *p, const char *end,
    const char *const *suffixes)
{
    const char *const  *s;

    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) {
        end--;
    }

    for (s = suffixes; *s; s++) {
        if ((size_t) (end - p) >= strlen(*s)
            && memcmp(end - strlen(*s), *s, strlen(*s)) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The length of the new part of a reply: up to where the quoted history
 * or the signature starts, without the blank lines before it; "len" when
 * there is none, or nothing would be left.
 */
size_t
ngx_helpdesk_mime_trim(const char *text, size_t len)
{
    size_t       cut;
    ngx_uint_t   i, k;
    const char  *line[8], *end[8], *p, *last, *q;

    static const char *const  intro[] = { "On ", "Em ", "El ", "Le ",
                                          "Am ", NULL };
    static const char *const  wrote[] = { "wrote:", "escreveu:",
                                          "escribi\xc3\xb3:", "a \xc3\xa9" "crit :",
                                          "schrieb:", NULL };
    static const char *const  original[] = { "-----Original Message",
        "----- Original Message", "-----Mensagem original",
        "----- Mensagem original", "-----Mensaje original",
        "----- Mensaje original", NULL };
    static const char *const  from[] = { "From:", "De:", "*From:*", NULL };
    static const char *const  sent[] = { "Sent:", "Enviado:", "Enviada em:",
        "Date:", "Data:", "Fecha:", "*Sent:*", NULL };
    static const char *const  rule[] = { "__________", NULL };
    static const char *const  quote[] = { ">", NULL };

    p = text;
    last = text + len;

    while (p < last) {
        /* this line and the next few */
        q = p;
        for (k = 0; k < 8; k++) {
            line[k] = q;
            end[k] = q < last ? memchr(q, '\n', last - q) : NULL;
            if (end[k] == NULL) {
                end[k] = last;
            }
            q = end[k] < last ? end[k] + 1 : last;
        }

        if ((ngx_helpdesk_mime_line_starts(line[0], end[0], intro)
             && (ngx_helpdesk_mime_line_ends(line[0], end[0], wrote)
                 || (line[1] < last
                     && ngx_helpdesk_mime_line_ends(line[1], end[1], wrote))))
            || ngx_helpdesk_mime_line_starts(line[0], end[0], original))
        {
            goto found;
        }

        /* "-- ", the signature's separator */
        if ((end[0] - line[0] == 3 && memcmp(line[0], "-- ", 3) == 0)
            || (end[0] - line[0] == 4 && memcmp(line[0], "-- \r", 4) == 0))
        {
            goto found;
        }

        /* Outlook: "From: ... Sent: ... Subject:", maybe under a rule */
        k = ngx_helpdesk_mime_line_starts(line[0], end[0], rule) ? 1 : 0;

        if (ngx_helpdesk_mime_line_starts(line[k], end[k], from)) {
            for (i = k + 1; i < 6; i++) {
                if (ngx_helpdesk_mime_line_starts(line[i], end[i], sent)) {
                    goto found;
                }
            }
        }

        /* a quote that runs to the end */
        if (ngx_helpdesk_mime_line_starts(line[0], end[0], quote)) {
            for (q = p; q < last; q = end[1] < last ? end[1] + 1 : last) {
                end[1] = memchr(q, '\n', last - q);
                if (end[1] == NULL) {
                    end[1] = last;
                }
                if (!ngx_helpdesk_mime_line_starts(q, end[1], quote)) {
                    for (i = 0; q + i < end[1]; i++) {
                        if (!isspace((u_char) q[i])) {
                            break;
                        }
                    }
                    if (q + i < end[1]) {
                        break;
                    }
                }
            }

            if (q >= last) {
                goto found;
            }
        }

        p = end[0] < last ? end[0] + 1 : last;
    }

    return len;

found:

    cut = p - text;

    while (cut > 0 && isspace((u_char) text[cut - 1])) {
        cut--;
    }

    return cut ? cut : len;
}
