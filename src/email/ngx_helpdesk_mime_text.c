/*
 * What a mail says, made safe to show: HTML reduced to an allow-list of
 * tags and attributes, and HTML to plain text (the quoted history and the
 * signature of a plain-text reply are cut off in ngx_helpdesk_mime_trim.c;
 * an HTML reply's quote, here, as the sanitizer meets it).  Pure functions on UTF-8 text (the MIME
 * parser has converted every part to it), run in the thread pool with the
 * rest of the parsing.
 *
 * The sanitizer does not build a tree: it walks the markup once, keeps the
 * text (escaping what could start markup), keeps allowed tags with their
 * allowed attributes re-quoted, and drops everything else.  The content of
 * elements that are code or metadata (script, style, head, svg, ...) is
 * dropped with them.  Links keep http, https and mailto URLs only, checked
 * after their entities are decoded and their blanks and control characters
 * removed (so "jav&#x61;script:" and "java\tscript:" are refused), and open
 * with rel="noopener noreferrer"; images keep only "cid:" sources (parts of
 * the same mail): remote images are not loaded, their alt text stays.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_mime.h"


typedef struct {
    const char  *name;
    const char  *attrs;     /* allowed attributes, space-separated */
} ngx_helpdesk_mime_tag_t;


static const ngx_helpdesk_mime_tag_t  ngx_helpdesk_mime_tags[] = {
    { "a", " href title " }, { "abbr", " title " }, { "b", "" },
    { "blockquote", "" }, { "br", "" }, { "caption", "" }, { "cite", "" },
    { "code", "" }, { "dd", "" }, { "del", "" }, { "div", "" }, { "dl", "" },
    { "dt", "" }, { "em", "" }, { "h1", "" }, { "h2", "" }, { "h3", "" },
    { "h4", "" }, { "h5", "" }, { "h6", "" }, { "hr", "" }, { "i", "" },
    { "img", " src alt width height " }, { "ins", "" }, { "kbd", "" },
    { "li", "" }, { "ol", " start " }, { "p", "" }, { "pre", "" },
    { "q", "" }, { "s", "" }, { "small", "" }, { "span", "" },
    { "strike", "" }, { "strong", "" }, { "sub", "" }, { "sup", "" },
    { "table", "" }, { "tbody", "" }, { "td", " colspan rowspan " },
    { "tfoot", "" }, { "th", " colspan rowspan " }, { "thead", "" },
    { "tr", "" }, { "tt", "" }, { "u", "" }, { "ul", "" },
    { NULL, NULL }
};

/* dropped with everything inside them */
static const char *const  ngx_helpdesk_mime_drop[] = {
    "script", "style", "head", "title", "template", "iframe", "object",
    "embed", "noscript", "svg", "math", "textarea", "select", "xmp",
    "noembed", "noframes", "applet", "frameset", "plaintext", NULL
};

/* what ends a line when the HTML becomes text */
static const char *const  ngx_helpdesk_mime_blocks[] = {
    "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "table", "hr", "pre", "ul", "ol", "dl", "dt", "dd", NULL
};


#define NGX_HELPDESK_MIME_NAME  16
#define NGX_HELPDESK_MIME_ATTR  2048


typedef struct {
    char     name[NGX_HELPDESK_MIME_NAME];
    GString *value;
} ngx_helpdesk_mime_attr_t;


static ngx_flag_t
ngx_helpdesk_mime_in(const char *const *list, const char *name)
{
    for ( /* void */ ; *list; list++) {
        if (strcmp(*list, name) == 0) {
            return 1;
        }
    }

    return 0;
}


static const ngx_helpdesk_mime_tag_t *
ngx_helpdesk_mime_tag(const char *name)
{
    const ngx_helpdesk_mime_tag_t  *t;

    for (t = ngx_helpdesk_mime_tags; t->name; t++) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
    }

    return NULL;
}


/* an entity at s (after '&'): its length up to ';' inclusive, or 0 */
static size_t
ngx_helpdesk_mime_entity_len(const u_char *s, const u_char *last)
{
    const u_char  *p = s;

    if (p < last && *p == '#') {
        p++;
        if (p < last && (*p == 'x' || *p == 'X')) {
            p++;
            while (p < last && p - s < 9 && isxdigit(*p)) {
                p++;
            }

        } else {
            while (p < last && p - s < 9 && isdigit(*p)) {
                p++;
            }
        }

    } else {
        while (p < last && p - s < 32 && isalnum(*p)) {
            p++;
        }
    }

    if (p == s || p >= last || *p != ';' || (p - s == 1 && *s == '#')) {
        return 0;
    }

    return p - s + 1;
}


/* the character an entity stands for, as UTF-8, into out; 0 if unknown */
static ngx_flag_t
ngx_helpdesk_mime_entity(const u_char *s, size_t len, GString *out)
{
    gunichar     c;
    ngx_uint_t   i;

    static const struct { const char *name; gunichar c; }  named[] = {
        { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
        { "apos;", '\'' }, { "nbsp;", 0xa0 }, { "colon;", ':' },
        { "Tab;", '\t' }, { "NewLine;", '\n' }, { "lpar;", '(' },
        { "rpar;", ')' }, { "sol;", '/' }, { "copy;", 0xa9 },
        { "reg;", 0xae }, { "hellip;", 0x2026 }, { "mdash;", 0x2014 },
        { "ndash;", 0x2013 }, { "rsquo;", 0x2019 }, { "lsquo;", 0x2018 },
        { "ldquo;", 0x201c }, { "rdquo;", 0x201d }, { "euro;", 0x20ac },
        { NULL, 0 }
    };

    if (s[0] == '#') {
        c = (s[1] == 'x' || s[1] == 'X')
            ? (gunichar) strtoul((const char *) s + 2, NULL, 16)
            : (gunichar) strtoul((const char *) s + 1, NULL, 10);

        if (c == 0 || !g_unichar_validate(c)) {
            c = 0xfffd;
        }

        g_string_append_unichar(out, c);
        return 1;
    }

    for (i = 0; named[i].name; i++) {
        if (strlen(named[i].name) == len
            && memcmp(named[i].name, s, len) == 0)
        {
            g_string_append_unichar(out, named[i].c);
            return 1;
        }
    }

    return 0;
}


/* text with entities decoded (unknown ones kept as they are) */
static void
ngx_helpdesk_mime_decode(const u_char *p, const u_char *last, GString *out)
{
    size_t  n;

    while (p < last) {
        if (*p == '&') {
            n = ngx_helpdesk_mime_entity_len(p + 1, last);
            if (n && ngx_helpdesk_mime_entity(p + 1, n, out)) {
                p += 1 + n;
                continue;
            }
        }

        g_string_append_c(out, *p++);
    }
}


static void
ngx_helpdesk_mime_escape(GString *out, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        switch (s[i]) {
        case '&':  g_string_append(out, "&amp;"); break;
        case '<':  g_string_append(out, "&lt;"); break;
        case '>':  g_string_append(out, "&gt;"); break;
        case '"':  g_string_append(out, "&quot;"); break;
        case '\'': g_string_append(out, "&#39;"); break;
        case '\0': break;
        default:   g_string_append_c(out, s[i]);
        }
    }
}


/* a URL a link may keep: http, https, mailto; NULL otherwise */
static const char *
ngx_helpdesk_mime_url(GString *v, const char *const *schemes)
{
    size_t      i, j;
    const char *const  *s;

    /* blanks and control characters never count: "java\tscript:" */
    for (i = 0, j = 0; i < v->len; i++) {
        if ((u_char) v->str[i] > 0x20 && v->str[i] != 0x7f) {
            v->str[j++] = v->str[i];
        }
    }

    g_string_truncate(v, j);

    for (s = schemes; *s; s++) {
        if (g_ascii_strncasecmp(v->str, *s, strlen(*s)) == 0) {
            return v->str;
        }
    }

    return NULL;
}


static ngx_flag_t
ngx_helpdesk_mime_digits(GString *v, size_t max)
{
    size_t  i;

    if (v->len == 0 || v->len > max) {
        return 0;
    }

    for (i = 0; i < v->len; i++) {
        if (!isdigit((u_char) v->str[i])) {
            return 0;
        }
    }

    return 1;
}


/* a start tag's name, lower case, into name; the end of it */
static const u_char *
ngx_helpdesk_mime_name(const u_char *p, const u_char *last, char *name)
{
    size_t  n = 0;

    while (p < last && (isalnum(*p) || *p == '-' || *p == '_' || *p == ':')) {
        if (n < NGX_HELPDESK_MIME_NAME - 1) {
            name[n++] = g_ascii_tolower(*p);
        }
        p++;
    }

    name[n] = '\0';

    return p;
}


/*
 * The attributes of a tag from p up to its '>': each one's name and
 * decoded value, at most "max"; the position after the '>' (or last).
 */
static const u_char *
ngx_helpdesk_mime_attrs(const u_char *p, const u_char *last,
    ngx_helpdesk_mime_attr_t *attrs, ngx_uint_t max, ngx_uint_t *n)
{
    u_char         q;
    const u_char  *v;
    char           name[NGX_HELPDESK_MIME_NAME];

    *n = 0;

    for ( ;; ) {
        while (p < last && (isspace(*p) || *p == '/')) {
            p++;
        }

        if (p >= last) {
            return last;
        }

        if (*p == '>') {
            return p + 1;
        }

        if (!(isalnum(*p) || *p == '-' || *p == '_' || *p == ':')) {
            p++;
            continue;
        }

        v = p;
        p = ngx_helpdesk_mime_name(p, last, name);

        if (p == v) {
            p++;        /* no name after all: never stand still */
            continue;
        }

        while (p < last && isspace(*p)) {
            p++;
        }

        v = NULL;

        if (p < last && *p == '=') {
            p++;
            while (p < last && isspace(*p)) {
                p++;
            }

            if (p < last && (*p == '"' || *p == '\'')) {
                q = *p++;
                v = p;
                while (p < last && *p != q) {
                    p++;
                }

                if (*n < max && p - v <= NGX_HELPDESK_MIME_ATTR) {
                    strcpy(attrs[*n].name, name);
                    g_string_truncate(attrs[*n].value, 0);
                    ngx_helpdesk_mime_decode(v, p, attrs[*n].value);
                    (*n)++;
                }

                if (p < last) {
                    p++;
                }

                continue;
            }

            v = p;
            while (p < last && !isspace(*p) && *p != '>') {
                p++;
            }
        }

        if (*n < max && (v == NULL || p - v <= NGX_HELPDESK_MIME_ATTR)) {
            strcpy(attrs[*n].name, name);
            g_string_truncate(attrs[*n].value, 0);
            if (v) {
                ngx_helpdesk_mime_decode(v, p, attrs[*n].value);
            }
            (*n)++;
        }
    }
}


/* where a reply's quoted history starts, in the HTML mail programs write */
static ngx_flag_t
ngx_helpdesk_mime_quote_start(const char *tag, ngx_helpdesk_mime_attr_t *a,
    ngx_uint_t n)
{
    ngx_uint_t   i;
    const char  *v;

    for (i = 0; i < n; i++) {
        v = a[i].value->str;

        if (strcmp(a[i].name, "class") == 0
            && (strstr(v, "gmail_quote") || strstr(v, "moz-cite-prefix")
                || strstr(v, "yahoo_quoted") || strstr(v, "protonmail_quote")
                || strstr(v, "OutlookMessageHeader")))
        {
            return 1;
        }

        if (strcmp(a[i].name, "id") == 0
            && (strstr(v, "divRplyFwdMsg") || strstr(v, "appendonsend")
                || strcmp(v, "stopSpelling") == 0))
        {
            return 1;
        }

        if (strcmp(tag, "blockquote") == 0 && strcmp(a[i].name, "type") == 0
            && g_ascii_strcasecmp(v, "cite") == 0)
        {
            return 1;
        }
    }

    return 0;
}


static void
ngx_helpdesk_mime_start_tag(GString *out, const ngx_helpdesk_mime_tag_t *t,
    ngx_helpdesk_mime_attr_t *a, ngx_uint_t n)
{
    ngx_uint_t   i;
    char         key[NGX_HELPDESK_MIME_NAME + 2];
    const char  *url, *alt;

    static const char *const  links[] = { "http://", "https://", "mailto:",
                                          NULL };
    static const char *const  images[] = { "cid:", NULL };

    if (strcmp(t->name, "img") == 0) {
        url = NULL;
        alt = NULL;

        for (i = 0; i < n; i++) {
            if (strcmp(a[i].name, "src") == 0) {
                url = ngx_helpdesk_mime_url(a[i].value, images);
            } else if (strcmp(a[i].name, "alt") == 0) {
                alt = a[i].value->str;
            }
        }

        if (url == NULL) {
            /* a remote (or data:) image is not loaded: its alt text stays */
            if (alt && *alt) {
                g_string_append_c(out, '[');
                ngx_helpdesk_mime_escape(out, alt, strlen(alt));
                g_string_append_c(out, ']');
            }
            return;
        }
    }

    g_string_append_c(out, '<');
    g_string_append(out, t->name);

    for (i = 0; i < n; i++) {
        g_snprintf(key, sizeof(key), " %s ", a[i].name);

        if (strstr(t->attrs, key) == NULL) {
            continue;
        }

        if (strcmp(a[i].name, "href") == 0) {
            if (ngx_helpdesk_mime_url(a[i].value, links) == NULL) {
                continue;
            }

        } else if (strcmp(a[i].name, "src") == 0) {
            if (ngx_helpdesk_mime_url(a[i].value, images) == NULL) {
                continue;
            }

        } else if (strcmp(a[i].name, "title") != 0
                   && strcmp(a[i].name, "alt") != 0
                   && !ngx_helpdesk_mime_digits(a[i].value, 4))
        {
            continue;
        }

        g_string_append_printf(out, " %s=\"", a[i].name);
        ngx_helpdesk_mime_escape(out, a[i].value->str, a[i].value->len);
        g_string_append_c(out, '"');
    }

    if (strcmp(t->name, "a") == 0) {
        g_string_append(out, " rel=\"noopener noreferrer nofollow\""
                             " target=\"_blank\"");
    }

    g_string_append_c(out, '>');
}


/* past the end of the element "name" whose content is dropped */
static const u_char *
ngx_helpdesk_mime_skip(const u_char *p, const u_char *last, const char *name)
{
    size_t  n = strlen(name);

    for ( /* void */ ; p + 2 + n <= last; p++) {
        if (p[0] == '<' && p[1] == '/'
            && g_ascii_strncasecmp((const char *) p + 2, name, n) == 0
            && (p + 2 + n == last || !isalnum(p[2 + n])))
        {
            p = memchr(p, '>', last - p);
            return p ? p + 1 : last;
        }
    }

    return last;
}


void
ngx_helpdesk_mime_html_safe(const char *html, size_t len, GString *out,
    ngx_flag_t trim, ngx_flag_t *trimmed)
{
    size_t                          n;
    ngx_uint_t                      i, na;
    const u_char                   *p, *last, *e;
    const ngx_helpdesk_mime_tag_t  *t;
    ngx_helpdesk_mime_attr_t        attrs[16];
    char                            name[NGX_HELPDESK_MIME_NAME];

    for (i = 0; i < 16; i++) {
        attrs[i].value = g_string_sized_new(64);
    }

    p = (const u_char *) html;
    last = p + len;

    while (p < last) {
        if (*p != '<') {
            if (*p == '&') {
                n = ngx_helpdesk_mime_entity_len(p + 1, last);
                if (n) {
                    g_string_append_len(out, (const char *) p, n + 1);
                    p += n + 1;
                    continue;
                }
            }

            ngx_helpdesk_mime_escape(out, (const char *) p, 1);
            p++;
            continue;
        }

        if (last - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            e = (const u_char *) g_strstr_len((const char *) p + 4,
                                              last - p - 4, "-->");
            p = e ? e + 3 : last;
            continue;
        }

        if (p + 1 < last && (p[1] == '!' || p[1] == '?')) {
            e = memchr(p, '>', last - p);
            p = e ? e + 1 : last;
            continue;
        }

        if (p + 2 < last && p[1] == '/' && isalpha(p[2])) {
            e = ngx_helpdesk_mime_name(p + 2, last, name);
            p = memchr(e, '>', last - e);
            p = p ? p + 1 : last;

            t = ngx_helpdesk_mime_tag(name);
            if (t && strcmp(name, "br") && strcmp(name, "hr")
                && strcmp(name, "img"))
            {
                g_string_append_printf(out, "</%s>", name);
            }

            continue;
        }

        if (p + 1 < last && isalpha(p[1])) {
            e = ngx_helpdesk_mime_name(p + 1, last, name);
            p = ngx_helpdesk_mime_attrs(e, last, attrs, 16, &na);

            if (trim && ngx_helpdesk_mime_quote_start(name, attrs, na)) {
                *trimmed = 1;
                break;
            }

            if (ngx_helpdesk_mime_in(ngx_helpdesk_mime_drop, name)) {
                p = ngx_helpdesk_mime_skip(p, last, name);
                continue;
            }

            t = ngx_helpdesk_mime_tag(name);
            if (t) {
                ngx_helpdesk_mime_start_tag(out, t, attrs, na);
            }

            continue;
        }

        g_string_append(out, "&lt;");
        p++;
    }

    for (i = 0; i < 16; i++) {
        g_string_free(attrs[i].value, TRUE);
    }
}


/* safe HTML (the sanitizer's) to plain text */
void
ngx_helpdesk_mime_html_text(const char *html, size_t len, GString *out)
{
    size_t         n, start;
    ngx_uint_t     nl, space, closing;
    const u_char  *p, *last, *e;
    char           name[NGX_HELPDESK_MIME_NAME];
    GString       *tmp;

    p = (const u_char *) html;
    last = p + len;
    nl = 2;
    space = 0;
    start = out->len;
    tmp = g_string_sized_new(16);

    while (p < last) {
        if (*p == '<') {
            closing = (p + 1 < last && p[1] == '/');
            e = closing ? p + 2 : p + 1;
            e = ngx_helpdesk_mime_name(e, last, name);
            p = memchr(e, '>', last - e);
            p = p ? p + 1 : last;

            if (ngx_helpdesk_mime_in(ngx_helpdesk_mime_blocks, name)) {
                if (nl < 2 && (nl == 0 || strcmp(name, "br") == 0
                               || strcmp(name, "p") == 0))
                {
                    g_string_append_c(out, '\n');
                    nl++;
                }

                if (strcmp(name, "li") == 0 && !closing) {
                    g_string_append(out, "- ");
                    nl = 0;
                }

                space = 0;
            }

            continue;
        }

        if (isspace(*p)) {
            space = 1;
            p++;
            continue;
        }

        if (space && nl == 0) {
            g_string_append_c(out, ' ');
        }

        space = 0;
        nl = 0;

        if (*p == '&') {
            n = ngx_helpdesk_mime_entity_len(p + 1, last);
            g_string_truncate(tmp, 0);
            if (n && ngx_helpdesk_mime_entity(p + 1, n, tmp)) {
                g_string_append_len(out, tmp->str, tmp->len);
                p += n + 1;
                continue;
            }
        }

        g_string_append_c(out, *p++);
    }

    while (out->len > start && out->str[out->len - 1] == '\n') {
        g_string_truncate(out, out->len - 1);
    }

    g_string_free(tmp, TRUE);
}
