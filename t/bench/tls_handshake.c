/*
 * Full TLS 1.3 handshakes as fast as a server takes them (t/bench/tls.pl
 * runs it): N connections at once on epoll, each a new TCP connection and a
 * new handshake (X25519, no session resumption, no tickets) with the next
 * SNI name of a list, round-robin, closed once the handshake is done.
 *
 *   tls_handshake <ip> <port> <names file> <seconds> [connections]
 *
 * Prints "handshakes=<n> failed=<n> seconds=<s> p50_us=<n> p99_us=<n>".
 * The certificate is not verified: the server's cost is what is measured.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>


typedef struct {
    int        fd;
    SSL       *ssl;
    double     start;
} conn_t;


static char              **names;
static size_t              nnames, next_name;
static SSL_CTX            *ctx;
static struct sockaddr_in  addr;
static int                 ep;
static double             *lat;
static size_t              nlat, cap;
static unsigned long       done, failed;


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
open_conn(conn_t *c)
{
    struct epoll_event  ev;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd == -1) {
        return -1;
    }

    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (connect(c->fd, (struct sockaddr *) &addr, sizeof(addr)) == -1
        && errno != EINPROGRESS)
    {
        close(c->fd);
        return -1;
    }

    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, names[next_name++ % nnames]);
    SSL_set_connect_state(c->ssl);
    c->start = now();

    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.ptr = c;

    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}


static void
close_conn(conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl);
    close(c->fd);
    ERR_clear_error();
}


static void
step(conn_t *c)
{
    int  rc, err;

    rc = SSL_do_handshake(c->ssl);

    if (rc == 1) {
        if (nlat == cap) {
            cap = cap ? 2 * cap : 65536;
            lat = realloc(lat, cap * sizeof(double));
        }
        lat[nlat++] = now() - c->start;
        done++;

    } else {
        err = SSL_get_error(c->ssl, rc);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            return;
        }
        failed++;
    }

    close_conn(c);

    while (open_conn(c) == -1) {
        failed++;
    }
}


static int
cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


int
main(int argc, char **argv)
{
    int                 i, n, k, conns;
    char                line[512];
    FILE               *f;
    double              seconds, end, t0;
    conn_t             *cs;
    struct epoll_event  evs[256];

    if (argc < 5) {
        fprintf(stderr, "usage: %s ip port names seconds [connections]\n",
                argv[0]);
        return 2;
    }

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    seconds = atof(argv[4]);
    conns = argc > 5 ? atoi(argv[5]) : 16;

    f = fopen(argv[3], "r");
    if (f == NULL) {
        perror(argv[3]);
        return 2;
    }

    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') {
            continue;
        }
        names = realloc(names, (nnames + 1) * sizeof(char *));
        names[nnames++] = strdup(line);
    }

    fclose(f);

    if (nnames == 0) {
        fprintf(stderr, "no names\n");
        return 2;
    }

    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set1_groups_list(ctx, "X25519");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

    ep = epoll_create1(0);
    cs = calloc(conns, sizeof(conn_t));

    for (i = 0; i < conns; i++) {
        if (open_conn(&cs[i]) == -1) {
            perror("connect");
            return 1;
        }
    }

    t0 = now();
    end = t0 + seconds;

    while (now() < end) {
        n = epoll_wait(ep, evs, 256, 100);

        for (k = 0; k < n; k++) {
            step(evs[k].data.ptr);
        }
    }

    seconds = now() - t0;

    qsort(lat, nlat, sizeof(double), cmp);

    printf("handshakes=%lu failed=%lu seconds=%.3f p50_us=%.0f p99_us=%.0f\n",
           done, failed, seconds, nlat ? lat[nlat / 2] * 1e6 : 0,
           nlat ? lat[(size_t) (nlat * 0.99)] * 1e6 : 0);

    return 0;
}
