/*
 * lib/ngx_helpdesk_markdown.c: CommonMark rendered, and the safe mode that
 * lets the result into a page as it is: raw HTML dropped, dangerous links
 * emptied, text escaped, invalid UTF-8 and NUL bytes replaced.
 */


#include "ngx_unit.h"
#include "lib/ngx_helpdesk_markdown.h"


static void
ngx_unit_md(const char *md, size_t len, const char *want, const char *name)
{
    ngx_str_t    html;
    ngx_pool_t  *pool;

    pool = ngx_unit_pool();

    html.data = NULL;
    html.len = 0;

    if (ngx_unit_is_int(ngx_helpdesk_markdown_html(pool, (u_char *) md, len,
                                                   &html),
                        NGX_OK, __FILE__, __LINE__, "%s: rendered", name))
    {
        is_str(html.data, html.len, want, "%s", name);
        ok(html.data[html.len] == '\0', "%s: NUL-terminated", name);
    }

    ngx_destroy_pool(pool);
}


#define ngx_unit_render(md, want, name)                                      \
    ngx_unit_md(md, sizeof(md) - 1, want, name)


int
main(void)
{
    ngx_unit_init();

    /* rendering */
    ngx_unit_render("# Title\n\nHello *world*, **bold** and `code`.",
                    "<h1>Title</h1>\n<p>Hello <em>world</em>, "
                    "<strong>bold</strong> and <code>code</code>.</p>\n",
                    "a heading, emphasis, code");
    ngx_unit_render("- one\n- two\n\n1. first\n",
                    "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
                    "<ol>\n<li>first</li>\n</ol>\n", "lists");
    ngx_unit_render("    x = 1 < 2\n",
                    "<pre><code>x = 1 &lt; 2\n</code></pre>\n",
                    "a code block, escaped");
    ngx_unit_render("[docs](https://example.org/a?b=1&c=2 \"Docs\")",
                    "<p><a href=\"https://example.org/a?b=1&amp;c=2\" "
                    "title=\"Docs\">docs</a></p>\n", "an https link kept");
    ngx_unit_render("[mail](mailto:help@example.org)",
                    "<p><a href=\"mailto:help@example.org\">mail</a></p>\n",
                    "a mailto: link kept");
    ngx_unit_render("a < b & c > d \"e\"",
                    "<p>a &lt; b &amp; c &gt; d &quot;e&quot;</p>\n",
                    "text escaped");
    ngx_unit_render("", "", "nothing");

    /* raw HTML is dropped */
    ngx_unit_render("<script>alert(1)</script>",
                    "<!-- raw HTML omitted -->\n", "a script block dropped");
    ngx_unit_render("<div onclick=\"x()\">\nhi\n</div>",
                    "<!-- raw HTML omitted -->\n", "an HTML block dropped");
    ngx_unit_render("a <img src=x onerror=alert(1)> b",
                    "<p>a <!-- raw HTML omitted --> b</p>\n",
                    "inline HTML dropped");
    ngx_unit_render("<iframe src=\"https://evil.example\"></iframe>",
                    "<!-- raw HTML omitted -->\n", "an iframe dropped");

    /* dangerous links are emptied */
    ngx_unit_render("[x](javascript:alert(1))",
                    "<p><a href=\"\">x</a></p>\n", "a javascript: link");
    ngx_unit_render("[x](JavaScript:alert(1))",
                    "<p><a href=\"\">x</a></p>\n",
                    "a javascript: link in mixed case");
    ngx_unit_render("[x](vbscript:msgbox)",
                    "<p><a href=\"\">x</a></p>\n", "a vbscript: link");
    ngx_unit_render("[x](file:///etc/passwd)",
                    "<p><a href=\"\">x</a></p>\n", "a file: link");
    ngx_unit_render("[x](data:text/html;base64,PHNjcmlwdD4=)",
                    "<p><a href=\"\">x</a></p>\n", "a data: link");
    ngx_unit_render("![x](javascript:alert(1))",
                    "<p><img src=\"\" alt=\"x\" /></p>\n",
                    "a javascript: image");
    ngx_unit_render("![x](data:image/png;base64,iVBORw0KGgo=)",
                    "<p><img src=\"data:image/png;base64,iVBORw0KGgo=\" "
                    "alt=\"x\" /></p>\n", "a data: PNG image kept");
    ngx_unit_render("<javascript:alert(1)>",
                    "<p><a href=\"\">javascript:alert(1)</a></p>\n",
                    "a javascript: autolink");
    ngx_unit_render("[x](https://example.org/\"onmouseover=\"alert(1))",
                    "<p><a href=\"https://example.org/%22onmouseover=%22"
                    "alert(1)\">x</a></p>\n",
                    "a quote in a URL cannot end the attribute");

    /* bytes that are no text */
    ngx_unit_render("a\xff" "b", "<p>a\xef\xbf\xbd" "b</p>\n",
                    "invalid UTF-8 replaced");
    ngx_unit_render("a\0b", "<p>a\xef\xbf\xbd" "b</p>\n",
                    "a NUL byte replaced");

    return ngx_unit_done();
}
