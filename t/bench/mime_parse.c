/*
 * The mail parser's time per MB (t/bench/email.pl runs it): the module's
 * own ngx_helpdesk_mime_parse(), linked from the very objects the module
 * is built of, on messages read from a file as the IMAP fetch and a large
 * pushed mail give them to it (a range of a temporary file), against
 * baselines on the same bytes in the same run:
 *
 *   read      the file read in 64 KB blocks (from the page cache)
 *   sha256    the same, and its SHA-256 (OpenSSL)
 *   gmime     GMime's parse alone, with the module's options: the
 *             message's structure, the parts' contents left as ranges
 *   gmime+dec GMime's parse, then every leaf part decoded (base64,
 *             quoted-printable, charset) into a null stream
 *   module    ngx_helpdesk_mime_parse(): the pass before GMime (bounds,
 *             SHA-256), GMime's parse, the walk (text and safe HTML,
 *             trimming, addresses, attachments decoded into their file),
 *             the meta as JSON
 *
 *   mime_parse <seconds> <temp dir> <file>...
 *
 * MIME_PARSE_ONLY=<measure> runs that one alone (for a profiler).
 *
 * Each is repeated for at least <seconds> (and at least 3 times); one
 * line per file and measure: name, bytes, runs, ms per message, ms per
 * MB, MB/s.
 */

#define _GNU_SOURCE
#include <ngx_config.h>
#include <ngx_core.h>
#include <gmime/gmime.h>
#include <openssl/evp.h>

#include "email/ngx_helpdesk_mime.h"

#include <time.h>


typedef int (*bench_fn)(int fd, size_t size, const char *tmp);


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
bench_read(int fd, size_t size, const char *tmp)
{
    off_t    at;
    ssize_t  n;
    u_char   buf[65536];

    for (at = 0; (size_t) at < size; at += n) {
        n = pread(fd, buf, sizeof(buf), at);
        if (n <= 0) {
            return -1;
        }
    }

    return 0;
}


static int
bench_sha256(int fd, size_t size, const char *tmp)
{
    off_t          at;
    ssize_t        n;
    u_char         buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned int   len;
    EVP_MD_CTX    *ctx;

    ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

    for (at = 0; (size_t) at < size; at += n) {
        n = pread(fd, buf, sizeof(buf), at);
        if (n <= 0) {
            EVP_MD_CTX_free(ctx);
            return -1;
        }

        EVP_DigestUpdate(ctx, buf, n);
    }

    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);

    return 0;
}


static GMimeMessage *
bench_gmime_message(int fd, size_t size)
{
    GMimeStream         *stream;
    GMimeParser         *parser;
    GMimeMessage        *msg;
    GMimeParserOptions  *options;

    static const char   *charsets[] = { "UTF-8", "ISO-8859-1", NULL };

    /* the stream and options as ngx_helpdesk_mime_parse() makes them */
    stream = g_mime_stream_fs_new_with_bounds(fd, 0, size);
    g_mime_stream_fs_set_owner(GMIME_STREAM_FS(stream), FALSE);

    options = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(options, charsets);
    g_mime_parser_options_set_address_compliance_mode(options,
                                                      GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(options,
                                                       GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_rfc2047_compliance_mode(options,
                                                     GMIME_RFC_COMPLIANCE_LOOSE);

    parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    msg = g_mime_parser_construct_message(parser, options);

    g_object_unref(parser);
    g_object_unref(stream);
    g_mime_parser_options_free(options);

    return msg;
}


static int
bench_gmime(int fd, size_t size, const char *tmp)
{
    GMimeMessage  *msg;

    msg = bench_gmime_message(fd, size);
    if (msg == NULL) {
        return -1;
    }

    g_object_unref(msg);

    return 0;
}


static void
bench_decode_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
    GMimeStream       *null, *filtered;
    GMimeFilter       *charset;
    GMimeDataWrapper  *content;
    const char        *cs;

    if (!GMIME_IS_PART(part)) {
        return;
    }

    content = g_mime_part_get_content(GMIME_PART(part));
    if (content == NULL) {
        return;
    }

    null = g_mime_stream_null_new();
    filtered = g_mime_stream_filter_new(null);

    cs = g_mime_object_get_content_type_parameter(part, "charset");

    if (cs && GMIME_IS_TEXT_PART(part)) {
        charset = g_mime_filter_charset_new(cs, "UTF-8");
        if (charset) {
            g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), charset);
            g_object_unref(charset);
        }
    }

    /* decodes the transfer encoding, then the charset filter */
    g_mime_data_wrapper_write_to_stream(content, filtered);

    g_object_unref(filtered);
    g_object_unref(null);
}


static int
bench_gmime_decode(int fd, size_t size, const char *tmp)
{
    GMimeMessage  *msg;

    msg = bench_gmime_message(fd, size);
    if (msg == NULL) {
        return -1;
    }

    g_mime_message_foreach(msg, bench_decode_part, NULL);
    g_object_unref(msg);

    return 0;
}


static int
bench_module(int fd, size_t size, const char *tmp)
{
    ngx_int_t             rc;
    ngx_buf_t             b;
    ngx_file_t            f;
    ngx_chain_t           cl;
    ngx_helpdesk_mime_t   m;

    ngx_memzero(&b, sizeof(ngx_buf_t));
    ngx_memzero(&f, sizeof(ngx_file_t));

    f.fd = fd;
    b.in_file = 1;
    b.file = &f;
    b.file_pos = 0;
    b.file_last = size;
    cl.buf = &b;
    cl.next = NULL;

    ngx_helpdesk_mime_init(&m);
    m.body = &cl;
    m.raw_len = size;
    m.temp_dir = tmp;

    rc = ngx_helpdesk_mime_parse(&m);

    if (rc != NGX_OK) {
        fprintf(stderr, "parse: %s\n", rc == NGX_DECLINED ? m.error : "error");
    }

    ngx_helpdesk_mime_free(&m);

    return rc == NGX_OK ? 0 : -1;
}


int
main(int argc, char **argv)
{
    int          i, k, fd, runs;
    double       secs, t0, t, mb;
    const char  *name, *tmp, *only;
    struct stat  st;

    static const struct {
        const char  *name;
        bench_fn     fn;
    } measures[] = {
        { "read", bench_read },
        { "sha256", bench_sha256 },
        { "gmime", bench_gmime },
        { "gmime+dec", bench_gmime_decode },
        { "module", bench_module },
    };

    if (argc < 4) {
        fprintf(stderr, "usage: %s <seconds> <temp dir> <file>...\n", argv[0]);
        return 2;
    }

    secs = atof(argv[1]);
    tmp = argv[2];
    only = getenv("MIME_PARSE_ONLY");

    g_mime_init();

    for (i = 3; i < argc; i++) {
        fd = open(argv[i], O_RDONLY);
        if (fd == -1 || fstat(fd, &st) == -1) {
            perror(argv[i]);
            return 1;
        }

        name = strrchr(argv[i], '/');
        name = name ? name + 1 : argv[i];
        mb = st.st_size / 1048576.0;

        for (k = 0; k < (int) (sizeof(measures) / sizeof(measures[0])); k++) {

            if (only && strcmp(only, measures[k].name) != 0) {
                continue;
            }

            /* one run first: the page cache, GMime's tables, iconv */
            if (measures[k].fn(fd, st.st_size, tmp) != 0) {
                fprintf(stderr, "%s: %s failed\n", name, measures[k].name);
                return 1;
            }

            runs = 0;
            t0 = bench_now();

            do {
                if (measures[k].fn(fd, st.st_size, tmp) != 0) {
                    return 1;
                }

                runs++;
                t = bench_now() - t0;

            } while (t < secs || runs < 3);

            printf("%s %ld %s %d %.4f %.4f %.2f\n", name, (long) st.st_size,
                   measures[k].name, runs, t * 1000 / runs,
                   t * 1000 / runs / mb, mb * runs / t);
            fflush(stdout);
        }

        close(fd);
    }

    return 0;
}
