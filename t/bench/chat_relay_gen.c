/*
 * The chat relay's load generator (make bench, t/bench/chat_relay.pl).
 *
 * One process, one epoll loop: an agent's WebSocket on one nginx worker,
 * visitors' on another (placed by the access log, as the worker's pid is
 * its first field), each visitor in a conversation the agent accepted
 * through the protocol (hello, start, offer, accept).  Then, at each rate,
 * the visitors send messages at a fixed total rate, each carrying its
 * sequence number and the time it was sent; the agent's side records the
 * latency and finds lost, doubled and reordered messages.  A visitor keeps
 * at most WINDOW messages unacknowledged: when the server's acks do not
 * keep up, the sender waits (back-pressure) instead of dropping, and the
 * rate reached is reported.
 *
 * The baseline, in the same run at the same rates, with the same pacing
 * and the same window: PUBLISH on one Redis connection, a subscriber on
 * another (hiredis).
 *
 * Output, one line per measurement (parsed by chat_relay.pl):
 *   relay RATE sent=N got=N lost=N dup=N reorder=N p50=MS p99=MS p999=MS
 *         max=MS achieved=MSG/S stalls=N errors=N
 *   redis RATE ... (the same fields)
 *   cpu relay|redis RATE wall=MS visitors=MS agent=MS redis=MS pg=MS gen=MS
 *         wvisitors=MS wagent=MS wredis=MS
 *         (CPU time over the measurement: the visitors' worker, the
 *         agent's, Redis, PostgreSQL and its backends, this program; then
 *         the time the workers and Redis were runnable but waited for a
 *         CPU)
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <dirent.h>

#include <hiredis/hiredis.h>


#define MAX_VISITORS  256


typedef struct {
    int        fd;
    char      *in;
    size_t     in_len;
    size_t     in_cap;
    char      *out;
    size_t     out_len;
    size_t     out_cap;
    int        inflight;
    int        index;           /* visitor number, -1 for the agent */
    char       conv[64];
} conn_t;


typedef struct {
    uint64_t   sent;
    uint64_t   got;
    uint64_t   lost;
    uint64_t   dup;
    uint64_t   reorder;
    uint64_t   stalls;
    uint64_t   errors;
    double     achieved;
    double     p50, p99, p999, max;
    double     ack50, ack99;        /* visitor's send -> its ack */
} result_t;


static const char  *opt_host = "127.0.0.1";
static int          opt_port;
static const char  *opt_agent_host;
static const char  *opt_agent_origin;
static const char  *opt_cookie;
static const char  *opt_visitor_origin;
static const char  *opt_tenant;
static const char  *opt_access_log;
static const char  *opt_redis;
static long         opt_redis_pid;
static long         opt_pg_pid;
static int          opt_visitors = 20;
static int          opt_window = 32;
static double       opt_seconds = 5;

static long         agent_pid, visitor_pid;
static conn_t       agent;
static conn_t       visitors[MAX_VISITORS];
static int          nvisitors;

/* the current relay measurement */
static uint8_t     *seen;
static uint64_t     seen_cap;
static uint32_t    *lat_us;
static uint64_t     lat_n;
static uint64_t    *sent_ns;        /* by sequence number, for the acks */
static uint32_t    *ack_us;
static uint64_t     ack_n;
static int64_t      last_seq[MAX_VISITORS];
static uint64_t     dup_n, reorder_n, errors_n;
static char         tag[32];
static int          debug, debug_n;

/* CHAT_RELAY_GEN_SPIKES=MS: the 10 ms slices of the run (by send time)
 * in which a message took longer than MS, to see when the slow ones were
 * sent (periodic or not) */
static double       spikes;
static uint64_t     run_start;
static uint32_t     slice_max[100000];


static void
die(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "chat_relay_gen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}


static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


static void
buf_append(char **b, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n > *cap) {
        *cap = (*len + n) * 2 + 4096;
        *b = realloc(*b, *cap);
        if (*b == NULL) {
            die("out of memory");
        }
    }

    memcpy(*b + *len, data, n);
    *len += n;
}


static void
set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}


/* --- WebSocket client --------------------------------------------------- */

static void
ws_flush(conn_t *c)
{
    ssize_t  n;

    while (c->out_len) {
        n = write(c->fd, c->out, c->out_len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }
            die("write: %s", strerror(errno));
        }

        memmove(c->out, c->out + n, c->out_len - n);
        c->out_len -= n;
    }
}


static void
ws_send_frame(conn_t *c, int opcode, const char *data, size_t len)
{
    unsigned char  h[14];
    size_t         hl, i, at;
    uint32_t       key;

    h[0] = 0x80 | opcode;
    if (len < 126) {
        h[1] = 0x80 | len;
        hl = 2;
    } else if (len < 65536) {
        h[1] = 0x80 | 126;
        h[2] = len >> 8;
        h[3] = len & 0xff;
        hl = 4;
    } else {
        die("frame too long");
    }

    key = (uint32_t) random();
    memcpy(h + hl, &key, 4);
    hl += 4;

    buf_append(&c->out, &c->out_len, &c->out_cap, (char *) h, hl);
    at = c->out_len;
    buf_append(&c->out, &c->out_len, &c->out_cap, data, len);

    for (i = 0; i < len; i++) {
        c->out[at + i] ^= h[hl - 4 + (i & 3)];
    }

    ws_flush(c);
}


static void
ws_send(conn_t *c, const char *text)
{
    ws_send_frame(c, 1, text, strlen(text));
}


static int
ws_connect(conn_t *c, const char *path, const char *host,
    const char *origin, const char *cookie)
{
    struct sockaddr_in  sa;
    char                req[2048], *end;
    ssize_t             n;
    int                 one = 1;

    memset(c, 0, sizeof(conn_t));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        die("socket: %s", strerror(errno));
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(opt_port);
    inet_pton(AF_INET, opt_host, &sa.sin_addr);

    if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        die("connect: %s", strerror(errno));
    }

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: %s\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: helpdesk.chat.v1\r\n"
             "Origin: %s\r\n%s%s%s\r\n",
             path, host, origin, cookie ? "Cookie: " : "",
             cookie ? cookie : "", cookie ? "\r\n" : "");

    if (write(c->fd, req, strlen(req)) != (ssize_t) strlen(req)) {
        die("handshake write");
    }

    /* the response head; what follows it is the first frames */
    for ( ;; ) {
        char  b[4096];

        n = read(c->fd, b, sizeof(b));
        if (n <= 0) {
            die("handshake read");
        }

        buf_append(&c->in, &c->in_len, &c->in_cap, b, n);
        buf_append(&c->in, &c->in_len, &c->in_cap, "", 1);
        c->in_len--;

        end = strstr(c->in, "\r\n\r\n");
        if (end) {
            break;
        }
    }

    if (strncmp(c->in, "HTTP/1.1 101", 12) != 0) {
        die("handshake: %.*s", (int) (end - c->in), c->in);
    }

    n = end + 4 - c->in;
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;

    set_nonblock(c->fd);
    return 0;
}


typedef void (*ws_handler_t)(conn_t *c, char *text, size_t len);


/* reads what there is, calls h for each complete text message */
static void
ws_read(conn_t *c, ws_handler_t h)
{
    char      b[65536];
    ssize_t   n;
    size_t    off, len, pos;
    int       op;
    unsigned char  *p;

    for ( ;; ) {
        n = read(c->fd, b, sizeof(b));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            die("read: %s", strerror(errno));
        }
        if (n == 0) {
            die("connection closed by the server");
        }
        buf_append(&c->in, &c->in_len, &c->in_cap, b, n);
        if ((size_t) n < sizeof(b)) {
            break;
        }
    }

    /* a byte of room after the data */
    buf_append(&c->in, &c->in_len, &c->in_cap, "", 1);
    c->in_len--;

    pos = 0;
    while (c->in_len - pos >= 2) {
        p = (unsigned char *) c->in + pos;
        op = p[0] & 0x0f;
        len = p[1] & 0x7f;
        off = 2;

        if (p[1] & 0x80) {
            die("masked frame from the server");
        }

        if (len == 126) {
            if (c->in_len - pos < 4) {
                break;
            }
            len = ((size_t) p[2] << 8) | p[3];
            off = 4;

        } else if (len == 127) {
            if (c->in_len - pos < 10) {
                break;
            }
            len = 0;
            for (int i = 0; i < 8; i++) {
                len = (len << 8) | p[2 + i];
            }
            off = 10;
        }

        if (c->in_len - pos < off + len) {
            break;
        }

        if (!(p[0] & 0x80)) {
            die("fragmented message (not expected from the chat)");
        }

        if (op == 1) {
            /* the handler gets the text NUL-terminated in place: the byte
             * after it (there is always room, see above) is put back */
            char  *t = c->in + pos + off;
            char   after = t[len];

            t[len] = '\0';
            h(c, t, len);
            t[len] = after;

        } else if (op == 9) {
            ws_send_frame(c, 10, c->in + pos + off, len);

        } else if (op == 8) {
            die("close frame from the server (%zu bytes)", len);
        }

        pos += off + len;
    }

    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
}


/* --- setup through the protocol ----------------------------------------- */

static const char  *want1, *want2;
static char         found[8192];
static int          found_ok;


static void
wait_handler(conn_t *c, char *text, size_t len)
{
    if (found_ok) {
        return;
    }
    if (strstr(text, want1) && (want2 == NULL || strstr(text, want2))) {
        snprintf(found, sizeof(found), "%s", text);
        found_ok = 1;
    }
}


static char *
wait_for(conn_t *c, const char *a, const char *b, int secs)
{
    struct pollfd  pfd;
    uint64_t       until;

    want1 = a;
    want2 = b;
    found_ok = 0;
    until = now_ns() + (uint64_t) secs * 1000000000;

    ws_read(c, wait_handler);
    while (!found_ok) {
        if (now_ns() > until) {
            die("timed out waiting for %s %s", a, b ? b : "");
        }
        pfd.fd = c->fd;
        pfd.events = POLLIN;
        poll(&pfd, 1, 10);
        ws_read(c, wait_handler);
    }

    return found;
}


static void
json_str(const char *json, const char *field, char *out, size_t size)
{
    char         key[64];
    const char  *p, *q;

    snprintf(key, sizeof(key), "\"%s\":\"", field);
    p = strstr(json, key);
    if (p == NULL) {
        die("no %s in %s", field, json);
    }
    p += strlen(key);
    q = strchr(p, '"');
    if (q == NULL || (size_t) (q - p) >= size) {
        die("bad %s in %s", field, json);
    }
    memcpy(out, p, q - p);
    out[q - p] = '\0';
}


/* the access log's lines whose request contains what; the pid of the last */
static int
log_lines(const char *what, long *pid)
{
    FILE  *f;
    char   line[4096];
    int    n = 0;

    f = fopen(opt_access_log, "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, what)) {
            n++;
            *pid = atol(line);
        }
    }
    fclose(f);
    return n;
}


static void
setup(void)
{
    char   path[256], vpath[256], msg[512], cid[128];
    long   pid;
    int    tries, before, i;
    conn_t v;

    snprintf(path, sizeof(path), "/agent/_/chat/v1/ws");
    ws_connect(&agent, path, opt_agent_host, opt_agent_origin, opt_cookie);
    agent.index = -1;
    ws_send(&agent, "{\"type\":\"hello\",\"cid\":\"a0\"}");
    wait_for(&agent, "\"welcome\"", NULL, 10);
    log_lines(path, &agent_pid);

    snprintf(vpath, sizeof(vpath), "/chat/v1/ws?tenant=%s", opt_tenant);

    for (tries = 0; nvisitors < opt_visitors && tries < 400; tries++) {
        before = log_lines(vpath, &pid);
        ws_connect(&v, vpath, "127.0.0.1", opt_visitor_origin, NULL);
        pid = 0;
        for (i = 0; i < 200; i++) {
            if (log_lines(vpath, &pid) > before) {
                break;
            }
            pid = 0;
            usleep(10000);
        }
        if (pid == 0 || pid == agent_pid) {
            close(v.fd);
            free(v.in);
            free(v.out);
            continue;
        }

        v.index = nvisitors;
        visitor_pid = pid;
        ws_send(&v, "{\"type\":\"hello\",\"cid\":\"h\"}");
        wait_for(&v, "\"welcome\"", NULL, 10);
        ws_send(&v, "{\"type\":\"start\",\"cid\":\"s\","
                    "\"prechat\":{\"name\":\"V\"}}");
        json_str(wait_for(&v, "\"ack\"", NULL, 10), "conversation",
                 v.conv, sizeof(v.conv));

        wait_for(&agent, "\"offer\"", v.conv, 10);
        snprintf(cid, sizeof(cid), "acc%s", v.conv);
        snprintf(msg, sizeof(msg), "{\"type\":\"accept\",\"cid\":\"%s\","
                 "\"conversation\":\"%s\"}", cid, v.conv);
        ws_send(&agent, msg);
        wait_for(&agent, "\"ack\"", cid, 10);

        visitors[nvisitors++] = v;
    }

    if (nvisitors < opt_visitors) {
        die("could not place %d visitors on the other worker",
            opt_visitors);
    }

    fprintf(stderr, "agent on worker %ld, %d visitors on the other\n",
            agent_pid, nvisitors);
}


/* --- CPU used, from /proc (utime + stime, in ms) ----------------------- */

static double
cpu_ms(long pid, long *ppid)
{
    char                 path[64], buf[1024], *p;
    FILE                *f;
    unsigned long        ut, st;
    long                 pp;
    size_t               n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    /* after the command's closing parenthesis: state ppid ... */
    p = strrchr(buf, ')');
    if (p == NULL
        || sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                  &pp, &ut, &st) != 3)
    {
        return 0;
    }
    if (ppid) {
        *ppid = pp;
    }
    return (ut + st) * 1000.0 / sysconf(_SC_CLK_TCK);
}


/* a process and its children (PostgreSQL's backends) */
static double
cpu_tree_ms(long parent)
{
    DIR            *d;
    struct dirent  *e;
    double          ms;
    long            pid, pp;

    ms = cpu_ms(parent, NULL);
    d = opendir("/proc");
    if (d == NULL) {
        return ms;
    }
    while ((e = readdir(d)) != NULL) {
        pid = atol(e->d_name);
        if (pid > 0 && pid != parent) {
            pp = 0;
            double  c = cpu_ms(pid, &pp);

            if (pp == parent) {
                ms += c;
            }
        }
    }
    closedir(d);
    return ms;
}


/* time spent runnable but waiting for a CPU (schedstat's second field) */
static double
runq_ms(long pid)
{
    char                path[64];
    FILE               *f;
    unsigned long long  run, wait;
    int                 n;

    snprintf(path, sizeof(path), "/proc/%ld/schedstat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    n = fscanf(f, "%llu %llu", &run, &wait);
    fclose(f);
    return n == 2 ? wait / 1e6 : 0;
}


typedef struct {
    double  visitors, agent, redis, pg, gen;
    double  wvisitors, wagent, wredis;
    uint64_t  at;
} cpu_t;


static void
cpu_sample(cpu_t *c)
{
    c->visitors = cpu_ms(visitor_pid, NULL);
    c->agent = cpu_ms(agent_pid, NULL);
    c->redis = opt_redis_pid ? cpu_ms(opt_redis_pid, NULL) : 0;
    c->pg = opt_pg_pid ? cpu_tree_ms(opt_pg_pid) : 0;
    c->gen = cpu_ms(getpid(), NULL);
    c->wvisitors = runq_ms(visitor_pid);
    c->wagent = runq_ms(agent_pid);
    c->wredis = opt_redis_pid ? runq_ms(opt_redis_pid) : 0;
    c->at = now_ns();
}


static void
cpu_print(const char *what, int rate, cpu_t *a, cpu_t *b)
{
    printf("cpu %s %d wall=%.0f visitors=%.0f agent=%.0f redis=%.0f "
           "pg=%.0f gen=%.0f wvisitors=%.0f wagent=%.0f wredis=%.0f\n",
           what, rate, (b->at - a->at) / 1e6,
           b->visitors - a->visitors, b->agent - a->agent,
           b->redis - a->redis, b->pg - a->pg, b->gen - a->gen,
           b->wvisitors - a->wvisitors, b->wagent - a->wagent,
           b->wredis - a->wredis);
    fflush(stdout);
}


/* --- measurement -------------------------------------------------------- */

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t  x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return x < y ? -1 : x > y;
}


static void
finish(result_t *r, uint64_t sent, double elapsed)
{
    uint64_t  i;

    r->sent = sent;
    r->got = 0;
    for (i = 0; i < sent; i++) {
        r->got += seen[i] ? 1 : 0;
    }
    r->lost = sent - r->got;
    r->dup = dup_n;
    r->reorder = reorder_n;
    r->errors = errors_n;
    r->achieved = sent / elapsed;

    if (spikes > 0) {
        fprintf(stderr, "slow (> %.1f ms) by send time, ms from the start:",
                spikes);
        for (i = 0; i < 100000; i++) {
            if (slice_max[i] > spikes * 1000) {
                fprintf(stderr, " %llu:%.1f", (unsigned long long) i * 10,
                        slice_max[i] / 1000.0);
            }
        }
        fprintf(stderr, "\n");
    }

    qsort(ack_us, ack_n, sizeof(uint32_t), cmp_u32);
    if (ack_n) {
        r->ack50 = ack_us[(ack_n - 1) * 50 / 100] / 1000.0;
        r->ack99 = ack_us[(ack_n - 1) * 99 / 100] / 1000.0;
    }

    qsort(lat_us, lat_n, sizeof(uint32_t), cmp_u32);
    if (lat_n) {
        r->p50 = lat_us[(lat_n - 1) * 50 / 100] / 1000.0;
        r->p99 = lat_us[(lat_n - 1) * 99 / 100] / 1000.0;
        r->p999 = lat_us[(lat_n - 1) * 999 / 1000] / 1000.0;
        r->max = lat_us[lat_n - 1] / 1000.0;
    }
}


static void
record(uint64_t seq, uint64_t ts, int visitor)
{
    uint64_t  now = now_ns();

    if (seq >= seen_cap) {
        return;
    }
    if (seen[seq]) {
        dup_n++;
        return;
    }
    seen[seq] = 1;
    lat_us[lat_n++] = (uint32_t) ((now - ts) / 1000);

    if (spikes > 0 && ts > run_start
        && (ts - run_start) / 10000000 < 100000)
    {
        uint32_t  *m = &slice_max[(ts - run_start) / 10000000];

        if (lat_us[lat_n - 1] > *m) {
            *m = lat_us[lat_n - 1];
        }
    }

    if (visitor >= 0) {
        if ((int64_t) seq < last_seq[visitor]) {
            reorder_n++;
        } else {
            last_seq[visitor] = seq;
        }
    }
}


static void
agent_handler(conn_t *c, char *text, size_t len)
{
    char                *p;
    unsigned long long   seq, ts;
    char                 prefix[48];

    if (strstr(text, "\"type\":\"message\"") == NULL) {
        return;
    }
    snprintf(prefix, sizeof(prefix), "\"text\":\"b:%s:", tag);
    p = strstr(text, prefix);
    if (p == NULL) {
        return;
    }
    if (sscanf(p + strlen(prefix), "%llu:%llu", &seq, &ts) != 2) {
        return;
    }
    record(seq, ts, (int) (seq % nvisitors));
}


static void
visitor_handler(conn_t *c, char *text, size_t len)
{
    if (debug && debug_n < 60) {
        debug_n++;
        fprintf(stderr, "visitor %d: %s\n", c->index, text);
    }

    /* an ack of one of ours frees a place in the window */
    char                *p;
    char                 prefix[48];
    unsigned long long   seq;

    snprintf(prefix, sizeof(prefix), "\"cid\":\"m%s_", tag);

    if (strstr(text, "\"type\":\"ack\"") && (p = strstr(text, prefix))) {
        if (sscanf(p + strlen(prefix), "%llu", &seq) == 1 && seq < seen_cap
            && sent_ns[seq] && ack_n < seen_cap)
        {
            ack_us[ack_n++] = (uint32_t) ((now_ns() - sent_ns[seq]) / 1000);
        }
        if (c->inflight > 0) {
            c->inflight--;
        }

    } else if (strstr(text, "\"type\":\"error\"")) {
        /* a refused message: counted, and its place in the window freed */
        errors_n++;
        if (c->inflight > 0) {
            c->inflight--;
        }
        if (errors_n <= 3) {
            fprintf(stderr, "visitor %d: %s\n", c->index, text);
        }
    }
}


static void
reset(uint64_t cap)
{
    int  i;

    free(seen);
    free(lat_us);
    free(sent_ns);
    free(ack_us);
    seen_cap = cap;
    seen = calloc(cap, 1);
    lat_us = calloc(cap, sizeof(uint32_t));
    sent_ns = calloc(cap, sizeof(uint64_t));
    ack_us = calloc(cap, sizeof(uint32_t));
    ack_n = 0;
    if (seen == NULL || lat_us == NULL || sent_ns == NULL || ack_us == NULL) {
        die("out of memory");
    }
    lat_n = 0;
    memset(slice_max, 0, sizeof(slice_max));
    run_start = now_ns();
    dup_n = 0;
    reorder_n = 0;
    errors_n = 0;
    for (i = 0; i < MAX_VISITORS; i++) {
        last_seq[i] = -1;
    }
}


static void
relay(int ep, int rate, result_t *r)
{
    struct epoll_event   ev[64];
    uint64_t             start, now, due, seq, stop, end_send;
    int                  n, i, waiting;
    conn_t              *c, *v;
    char                 msg[256];

    memset(r, 0, sizeof(result_t));
    snprintf(tag, sizeof(tag), "%d", rate);
    reset((uint64_t) (rate * opt_seconds) + 16);

    seq = 0;
    waiting = 0;
    r->stalls = 0;
    start = now_ns();
    end_send = start + (uint64_t) (opt_seconds * 1e9);
    stop = 0;

    for ( ;; ) {
        now = now_ns();

        if (now < end_send) {
            due = (uint64_t) ((double) (now - start) * rate / 1e9);
            while (seq < due && seq < seen_cap) {
                v = &visitors[seq % nvisitors];
                if (v->inflight >= opt_window) {
                    if (!waiting) {
                        r->stalls++;
                        waiting = 1;
                    }
                    break;
                }
                waiting = 0;
                snprintf(msg, sizeof(msg),
                         "{\"type\":\"message\",\"cid\":\"m%s_%llu\","
                         "\"text\":\"b:%s:%llu:%llu\"}", tag,
                         (unsigned long long) seq, tag,
                         (unsigned long long) seq,
                         (unsigned long long) (sent_ns[seq] = now_ns()));
                v->inflight++;
                ws_send(v, msg);
                seq++;
            }

        } else if (stop == 0) {
            stop = now + 2000000000ULL;   /* two seconds' grace */
        }

        if (stop && (now > stop || lat_n + dup_n >= seq)) {
            break;
        }

        n = epoll_wait(ep, ev, 64, 1);
        for (i = 0; i < n; i++) {
            c = ev[i].data.ptr;
            if (ev[i].events & EPOLLOUT) {
                ws_flush(c);
            }
            if (ev[i].events & EPOLLIN) {
                ws_read(c, c == &agent ? agent_handler : visitor_handler);
            }
        }
    }

    /* the acks of the last messages, before the next rate */
    for (i = 0; i < 200; i++) {
        int  left = 0;

        for (n = 0; n < nvisitors; n++) {
            ws_read(&visitors[n], visitor_handler);
            left += visitors[n].inflight;
        }
        if (left == 0) {
            break;
        }
        usleep(10000);
    }
    ws_read(&agent, agent_handler);

    finish(r, seq, (double) ((end_send < now ? end_send : now) - start) / 1e9);
}


/* --- the baseline: PUBLISH -> subscriber --------------------------------- */

static void
redis_baseline(int rate, result_t *r)
{
    redisContext  *pub, *sub;
    redisReply    *rep;
    uint64_t       start, now, due, seq, stop, end_send;
    int            inflight, waiting, window;
    unsigned long long  s, ts;
    struct pollfd  pfd[2];
    void          *aux;
    int            done;

    pub = redisConnectUnix(opt_redis);
    sub = redisConnectUnix(opt_redis);
    if (pub == NULL || pub->err || sub == NULL || sub->err) {
        die("redis connect");
    }

    rep = redisCommand(sub, "SUBSCRIBE bench");
    if (rep == NULL) {
        die("SUBSCRIBE");
    }
    freeReplyObject(rep);

    /* from here the contexts are read and written without blocking */
    pub->flags &= ~REDIS_BLOCK;
    sub->flags &= ~REDIS_BLOCK;
    set_nonblock(pub->fd);
    set_nonblock(sub->fd);

    memset(r, 0, sizeof(result_t));
    snprintf(tag, sizeof(tag), "r%d", rate);
    reset((uint64_t) (rate * opt_seconds) + 16);

    window = opt_window * nvisitors;
    inflight = 0;
    waiting = 0;
    r->stalls = 0;
    seq = 0;
    start = now_ns();
    end_send = start + (uint64_t) (opt_seconds * 1e9);
    stop = 0;

    for ( ;; ) {
        now = now_ns();

        if (now < end_send) {
            due = (uint64_t) ((double) (now - start) * rate / 1e9);
            while (seq < due && seq < seen_cap) {
                if (inflight >= window) {
                    if (!waiting) {
                        r->stalls++;
                        waiting = 1;
                    }
                    break;
                }
                waiting = 0;
                redisAppendCommand(pub, "PUBLISH bench b:%llu:%llu",
                                   (unsigned long long) seq,
                                   (unsigned long long) now_ns());
                inflight++;
                seq++;
            }
            if (redisBufferWrite(pub, &done) != REDIS_OK) {
                die("PUBLISH write");
            }

        } else if (stop == 0) {
            stop = now + 2000000000ULL;
        }

        if (stop && (now > stop || lat_n + dup_n >= seq)) {
            break;
        }

        pfd[0].fd = sub->fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = pub->fd;
        pfd[1].events = POLLIN | (sdslen(pub->obuf) ? POLLOUT : 0);
        poll(pfd, 2, 1);

        if (pfd[1].revents & POLLOUT) {
            redisBufferWrite(pub, &done);
        }
        if (pfd[1].revents & POLLIN) {
            if (redisBufferRead(pub) != REDIS_OK) {
                die("PUBLISH read");
            }
            while (redisGetReply(pub, &aux) == REDIS_OK && aux) {
                freeReplyObject(aux);
                inflight--;
            }
        }
        if (pfd[0].revents & POLLIN) {
            if (redisBufferRead(sub) != REDIS_OK) {
                die("subscriber read");
            }
            while (redisGetReply(sub, &aux) == REDIS_OK && aux) {
                rep = aux;
                if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3
                    && sscanf(rep->element[2]->str, "b:%llu:%llu", &s, &ts)
                       == 2)
                {
                    record(s, ts, -1);
                }
                freeReplyObject(rep);
            }
        }
    }

    finish(r, seq, (double) ((end_send < now ? end_send : now) - start) / 1e9);
    redisFree(pub);
    redisFree(sub);
}


static void
print(const char *what, int rate, result_t *r)
{
    printf("%s %d sent=%llu got=%llu lost=%llu dup=%llu reorder=%llu "
           "p50=%.3f p99=%.3f p999=%.3f max=%.3f achieved=%.0f stalls=%llu "
           "errors=%llu ack50=%.3f ack99=%.3f\n",
           what, rate, (unsigned long long) r->sent,
           (unsigned long long) r->got, (unsigned long long) r->lost,
           (unsigned long long) r->dup, (unsigned long long) r->reorder,
           r->p50, r->p99, r->p999, r->max, r->achieved,
           (unsigned long long) r->stalls, (unsigned long long) r->errors,
           r->ack50, r->ack99);
    fflush(stdout);
}


static void
usage(void)
{
    fprintf(stderr,
        "usage: chat_relay_gen -p port -t tenant -l access.log -r redis.sock\n"
        "         -a agent-host -A agent-origin -c cookie -o visitor-origin\n"
        "         [-n visitors] [-w window] [-s seconds]\n"
        "         [-R redis-pid] [-G postmaster-pid] rate...\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    struct epoll_event  ev;
    result_t            r;
    cpu_t               c0, c1;
    int                 opt, ep, i, rate;

    while ((opt = getopt(argc, argv, "p:t:l:r:a:A:c:o:n:w:s:R:G:")) != -1) {
        switch (opt) {
        case 'p': opt_port = atoi(optarg); break;
        case 't': opt_tenant = optarg; break;
        case 'l': opt_access_log = optarg; break;
        case 'r': opt_redis = optarg; break;
        case 'a': opt_agent_host = optarg; break;
        case 'A': opt_agent_origin = optarg; break;
        case 'c': opt_cookie = optarg; break;
        case 'o': opt_visitor_origin = optarg; break;
        case 'n': opt_visitors = atoi(optarg); break;
        case 'w': opt_window = atoi(optarg); break;
        case 's': opt_seconds = atof(optarg); break;
        case 'R': opt_redis_pid = atol(optarg); break;
        case 'G': opt_pg_pid = atol(optarg); break;
        default: usage();
        }
    }

    if (!opt_port || !opt_tenant || !opt_access_log || !opt_redis
        || !opt_agent_host || !opt_agent_origin || !opt_cookie
        || !opt_visitor_origin || optind == argc
        || opt_visitors < 1 || opt_visitors > MAX_VISITORS
        || opt_window < 1)
    {
        usage();
    }

    debug = getenv("CHAT_RELAY_GEN_DEBUG") != NULL;
    spikes = getenv("CHAT_RELAY_GEN_SPIKES")
             ? atof(getenv("CHAT_RELAY_GEN_SPIKES")) : 0;
    srandom(getpid());
    setup();

    ep = epoll_create1(0);
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.ptr = &agent;
    epoll_ctl(ep, EPOLL_CTL_ADD, agent.fd, &ev);
    for (i = 0; i < nvisitors; i++) {
        ev.data.ptr = &visitors[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, visitors[i].fd, &ev);
    }

    for (i = optind; i < argc; i++) {
        rate = atoi(argv[i]);
        cpu_sample(&c0);
        redis_baseline(rate, &r);
        cpu_sample(&c1);
        print("redis", rate, &r);
        cpu_print("redis", rate, &c0, &c1);
        cpu_sample(&c0);
        relay(ep, rate, &r);
        cpu_sample(&c1);
        print("relay", rate, &r);
        cpu_print("relay", rate, &c0, &c1);
    }

    return 0;
}
