/*
 * What the unit tests of src/lib share: nginx's globals set up as a worker
 * has them (a log that writes nowhere, a clock the tests can set), and a
 * few assertions that print TAP ("ok 1 - name", "not ok 2 - name", then
 * "1..N"), so that prove runs each compiled test.  A test's main() ends
 * with "return ngx_unit_done();": non-zero when anything failed.
 */

#ifndef _NGX_UNIT_H_INCLUDED_
#define _NGX_UNIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdarg.h>


static ngx_uint_t      ngx_unit_count;
static ngx_uint_t      ngx_unit_failed;
static ngx_log_t       ngx_unit_log;
static ngx_open_file_t ngx_unit_log_file;
static ngx_time_t      ngx_unit_time;


static ngx_inline void
ngx_unit_init(void)
{
    ngx_uint_t  n;

    ngx_pagesize = getpagesize();
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }

    ngx_time_init();
    ngx_use_stderr = 0;

    ngx_unit_log_file.fd = open("/dev/null", O_WRONLY);
    ngx_unit_log.file = &ngx_unit_log_file;
    ngx_unit_log.log_level = NGX_LOG_EMERG;

    setvbuf(stdout, NULL, _IONBF, 0);
}


/* ngx_time() is "sec" from now on */
static ngx_inline void
ngx_unit_set_time(time_t sec)
{
    ngx_unit_time.sec = sec;
    ngx_unit_time.msec = 0;
    ngx_cached_time = &ngx_unit_time;
}


static ngx_inline ngx_pool_t *
ngx_unit_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, &ngx_unit_log);
    if (pool == NULL) {
        abort();
    }

    return pool;
}


static ngx_inline ngx_str_t
ngx_unit_str(const char *s)
{
    ngx_str_t  str;

    str.data = (u_char *) s;
    str.len = strlen(s);

    return str;
}


static ngx_inline void
ngx_unit_vresult(int pass, const char *file, int line, const char *fmt,
    va_list args)
{
    ngx_unit_count++;

    printf("%sok %lu - ", pass ? "" : "not ", (unsigned long) ngx_unit_count);
    vprintf(fmt, args);
    printf("\n");

    if (!pass) {
        ngx_unit_failed++;
        printf("#   Failed test at %s line %d.\n", file, line);
    }
}


static ngx_inline int
ngx_unit_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_unit_vresult(pass, file, line, fmt, args);
    va_end(args);

    return pass;
}


static ngx_inline int
ngx_unit_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_unit_vresult(got == want, file, line, fmt, args);
    va_end(args);

    if (got != want) {
        printf("#          got: %lld\n#     expected: %lld\n", got, want);
    }

    return got == want;
}


/* a string of a length against a C string */
static ngx_inline int
ngx_unit_is_str(const u_char *got, size_t len, const char *want,
    const char *file, int line, const char *fmt, ...)
{
    int      pass;
    va_list  args;

    pass = got != NULL && len == strlen(want)
           && memcmp(got, want, len) == 0;

    va_start(args, fmt);
    ngx_unit_vresult(pass, file, line, fmt, args);
    va_end(args);

    if (!pass) {
        printf("#          got: '%.*s'\n#     expected: '%s'\n",
               got ? (int) len : 6, got ? (const char *) got : "(null)",
               want);
    }

    return pass;
}


/* bytes against their hex form ("ba7816bf...") */
static ngx_inline int
ngx_unit_is_hex(const u_char *got, size_t len, const char *want,
    const char *file, int line, const char *fmt, ...)
{
    int      pass;
    size_t   i;
    va_list  args;
    char     hex[2 * 256 + 1];

    if (len > 256) {
        len = 256;
    }

    for (i = 0; i < len; i++) {
        sprintf(hex + 2 * i, "%02x", got[i]);
    }

    hex[2 * len] = '\0';

    pass = strcmp(hex, want) == 0;

    va_start(args, fmt);
    ngx_unit_vresult(pass, file, line, fmt, args);
    va_end(args);

    if (!pass) {
        printf("#          got: %s\n#     expected: %s\n", hex, want);
    }

    return pass;
}


static ngx_inline int
ngx_unit_done(void)
{
    printf("1..%lu\n", (unsigned long) ngx_unit_count);

    if (ngx_unit_failed) {
        printf("# Looks like you failed %lu test%s of %lu.\n",
               (unsigned long) ngx_unit_failed,
               ngx_unit_failed == 1 ? "" : "s",
               (unsigned long) ngx_unit_count);
    }

    return ngx_unit_failed ? 1 : 0;
}


#define ok(cond, ...)                                                        \
    ngx_unit_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                               \
    ngx_unit_is_int((long long) (got), (long long) (want), __FILE__,         \
                    __LINE__, __VA_ARGS__)

#define is_str(got, len, want, ...)                                          \
    ngx_unit_is_str((const u_char *) (got), len, want, __FILE__, __LINE__,   \
                    __VA_ARGS__)

#define is_hex(got, len, want, ...)                                          \
    ngx_unit_is_hex((const u_char *) (got), len, want, __FILE__, __LINE__,   \
                    __VA_ARGS__)


#endif /* _NGX_UNIT_H_INCLUDED_ */
