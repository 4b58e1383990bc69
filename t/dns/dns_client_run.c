/*
 * Runs src/event/ngx_helpdesk_dns_client.c on nginx's own event loop (the
 * epoll module, the timer tree, the posted events), outside nginx: the
 * client has no directive of its own yet, and no test-only handler goes
 * into the module for it.  t/dns_client.t runs it against real and
 * hostile DNS servers and reads what it prints, one line per query:
 *
 *   dns_client_run [-t ms] [-n count] [-c now|handler|<ms>] [-v]
 *                  TYPE NAME SERVER[:PORT]...
 *
 *   status=OK rcode=NOERROR tries=1 ms=3 chain=a,b final=b a=1.2.3.4
 *       txt="..." caa=0,issue,"..." issuer=...
 *
 * -n starts that many queries at once; -c cancels each: at once, from
 * inside its handler, or after that many ms.  The last line counts what
 * happened ("summary done=1 canceled=0 inflight=0 reentrant=0").
 */

#include "../unit/ngx_unit.h"
#include <ngx_event.h>
#include "event/ngx_helpdesk_dns_client.h"


extern ngx_module_t  ngx_epoll_module;


typedef struct {
    ngx_uint_t  events;
    ngx_uint_t  aio_requests;
} ngx_dns_run_epoll_conf_t;


static ngx_uint_t   done_n, canceled_n, reentrant, in_call, cancel_in_handler;
static ngx_msec_t   started;
static ngx_array_t  queries;


static void
print_answer(ngx_helpdesk_dns_query_t *q)
{
    u_char                   text[NGX_INET6_ADDRSTRLEN];
    size_t                   n;
    ngx_str_t               *s, issuer;
    ngx_uint_t               i;
    struct in_addr          *a;
    struct in6_addr         *aaaa;
    ngx_helpdesk_dns_caa_t  *caa;

    printf(" rcode=%s", ngx_helpdesk_dns_rcode_text(q->answer.rcode));

    printf(" chain=");
    s = q->answer.chain.elts;
    for (i = 0; i < q->answer.chain.nelts; i++) {
        printf("%s%.*s", i ? "," : "", (int) s[i].len, s[i].data);
    }

    printf(" final=%.*s", (int) q->answer.final.len, q->answer.final.data);

    a = q->answer.a.elts;
    for (i = 0; i < q->answer.a.nelts; i++) {
        n = ngx_inet_ntop(AF_INET, &a[i], text, sizeof(text));
        printf(" a=%.*s", (int) n, text);
    }

    aaaa = q->answer.aaaa.elts;
    for (i = 0; i < q->answer.aaaa.nelts; i++) {
        n = ngx_inet_ntop(AF_INET6, &aaaa[i], text, sizeof(text));
        printf(" aaaa=%.*s", (int) n, text);
    }

    s = q->answer.txt.elts;
    for (i = 0; i < q->answer.txt.nelts; i++) {
        printf(" txt=\"%.*s\"", (int) s[i].len, s[i].data);
    }

    caa = q->answer.caa.elts;
    for (i = 0; i < q->answer.caa.nelts; i++) {
        printf(" caa=%u,%.*s,\"%.*s\"", (unsigned) caa[i].flags,
               (int) caa[i].tag.len, caa[i].tag.data,
               (int) caa[i].value.len, caa[i].value.data);

        if (ngx_helpdesk_dns_caa_issuer(&caa[i].value, &issuer) == NGX_OK) {
            printf(" issuer=%.*s", (int) issuer.len, issuer.data);
        }
    }
}


static void
handler(ngx_helpdesk_dns_query_t *q, void *data)
{
    ngx_uint_t                  i;
    ngx_helpdesk_dns_query_t  **all;

    if (in_call) {
        reentrant++;
    }

    all = queries.elts;
    for (i = 0; i < queries.nelts; i++) {
        if (all[i] == q) {
            all[i] = NULL;
        }
    }

    done_n++;

    printf("status=%s tries=%u ms=%u server=%.*s",
           q->status == NGX_OK ? "OK"
           : q->status == NGX_BUSY ? "BUSY" : "ERROR",
           (unsigned) q->tries, (unsigned) (ngx_current_msec - started),
           (int) q->server.len, q->server.data);

    if (q->status == NGX_OK) {
        print_answer(q);
    }

    if (q->error) {
        printf(" error=\"%s\"", q->error);
    }

    printf("\n");

    if (cancel_in_handler) {
        ngx_helpdesk_dns_cancel(q);
    }
}


static void
cancel_timer(ngx_event_t *ev)
{
    ngx_uint_t                 i;
    ngx_array_t               *queries;
    ngx_helpdesk_dns_query_t **q;

    queries = ev->data;
    q = queries->elts;

    for (i = 0; i < queries->nelts; i++) {
        if (q[i]) {
            ngx_helpdesk_dns_cancel(q[i]);
            canceled_n++;
        }
    }

    queries->nelts = 0;
}


static ngx_cycle_t *
event_loop_init(ngx_log_t *log)
{
    void                     **conf_ctx;
    static void               *events_ctx[1];
    static void              **events_conf = events_ctx;
    static ngx_dns_run_epoll_conf_t  epcf;
    ngx_uint_t                 i, n;
    ngx_event_t               *rev, *wev;
    ngx_cycle_t               *cycle;
    ngx_connection_t          *c, *next;
    ngx_event_module_t        *m;

    if (ngx_preinit_modules() != NGX_OK) {
        return NULL;
    }

    cycle = calloc(1, sizeof(ngx_cycle_t));
    conf_ctx = calloc(ngx_max_module, sizeof(void *));

    n = 256;
    c = calloc(n, sizeof(ngx_connection_t));
    rev = calloc(n, sizeof(ngx_event_t));
    wev = calloc(n, sizeof(ngx_event_t));

    if (!cycle || !conf_ctx || !c || !rev || !wev) {
        return NULL;
    }

    cycle->log = log;
    cycle->pool = ngx_create_pool(NGX_CYCLE_POOL_SIZE, log);
    cycle->connection_n = n;
    cycle->connections = c;
    cycle->read_events = rev;
    cycle->write_events = wev;
    ngx_queue_init(&cycle->reusable_connections_queue);

    for (i = 0; i < n; i++) {
        rev[i].closed = 1;
        rev[i].instance = 1;
        wev[i].closed = 1;
    }

    next = NULL;
    i = n;

    do {
        i--;
        c[i].data = next;
        c[i].read = &rev[i];
        c[i].write = &wev[i];
        c[i].fd = (ngx_socket_t) -1;
        next = &c[i];
    } while (i);

    cycle->free_connections = next;
    cycle->free_connection_n = n;

    epcf.events = 64;
    ngx_epoll_module.ctx_index = 0;
    events_ctx[0] = &epcf;
    conf_ctx[ngx_events_module.index] = &events_conf;
    cycle->conf_ctx = (void ****) conf_ctx;

    ngx_cycle = cycle;

    ngx_queue_init(&ngx_posted_events);
    ngx_queue_init(&ngx_posted_next_events);

    if (ngx_event_timer_init(log) != NGX_OK) {
        return NULL;
    }

    m = ngx_epoll_module.ctx;

    if (m->actions.init(cycle, 0) != NGX_OK) {
        return NULL;
    }

    return cycle;
}


int
main(int argc, char **argv)
{
    int                         ch;
    char                       *cancel;
    ngx_int_t                   count, i, wait_ms;
    ngx_str_t                   name, text;
    ngx_uint_t                  type;
    ngx_msec_t                  timeout, timer;
    ngx_addr_t                 *addr;
    ngx_pool_t                 *pool;
    ngx_array_t                 servers;
    ngx_event_t                 cancel_ev;
    ngx_cycle_t                *cycle;
    ngx_helpdesk_dns_query_t   *q, **qp;

    timeout = 1000;
    count = 1;
    cancel = NULL;

    ngx_unit_init();

    while ((ch = getopt(argc, argv, "t:n:c:v")) != -1) {
        switch (ch) {
        case 't':
            timeout = atoi(optarg);
            break;
        case 'n':
            count = atoi(optarg);
            break;
        case 'c':
            cancel = optarg;
            break;
        case 'v':
            ngx_unit_log_file.fd = 2;
            ngx_unit_log.log_level = NGX_LOG_INFO;
            break;
        default:
            return 2;
        }
    }

    if (argc - optind < 2) {
        fprintf(stderr, "usage: dns_client_run [-t ms] [-n count] "
                "[-c now|handler|<ms>] [-v] TYPE NAME SERVER...\n");
        return 2;
    }

    type = !strcmp(argv[optind], "A") ? 1 : !strcmp(argv[optind], "AAAA") ? 28
           : !strcmp(argv[optind], "CNAME") ? 5
           : !strcmp(argv[optind], "TXT") ? 16
           : !strcmp(argv[optind], "CAA") ? 257 : 0;

    if (type == 0) {
        fprintf(stderr, "unknown type %s\n", argv[optind]);
        return 2;
    }

    name = ngx_unit_str(argv[optind + 1]);

    cycle = event_loop_init(&ngx_unit_log);
    if (cycle == NULL) {
        fprintf(stderr, "no event loop\n");
        return 1;
    }

    pool = cycle->pool;

    if (ngx_array_init(&servers, pool, 2, sizeof(ngx_addr_t)) != NGX_OK
        || ngx_array_init(&queries, pool, count + 1, sizeof(void *))
           != NGX_OK)
    {
        return 1;
    }

    for (i = optind + 2; i < argc; i++) {
        addr = ngx_array_push(&servers);
        text = ngx_unit_str(argv[i]);

        if (addr == NULL
            || ngx_parse_addr_port(pool, addr, text.data, text.len)
               != NGX_OK)
        {
            fprintf(stderr, "bad server %s\n", argv[i]);
            return 2;
        }

        addr->name = text;
    }

    cancel_in_handler = cancel && !strcmp(cancel, "handler");
    wait_ms = cancel && cancel[0] >= '0' && cancel[0] <= '9'
              ? atoi(cancel) : -1;

    ngx_time_update();
    started = ngx_current_msec;

    for (i = 0; i < count; i++) {
        in_call = 1;
        q = ngx_helpdesk_dns_query(&name, type, &servers, timeout, handler,
                                   NULL, &ngx_unit_log);
        in_call = 0;

        if (q == NULL) {
            printf("query failed\n");
            return 1;
        }

        if (cancel && !strcmp(cancel, "now")) {
            in_call = 1;
            ngx_helpdesk_dns_cancel(q);
            in_call = 0;
            canceled_n++;
            continue;
        }

        qp = ngx_array_push(&queries);
        *qp = q;
    }

    printf("inflight=%u\n", (unsigned) ngx_helpdesk_dns_inflight());

    ngx_memzero(&cancel_ev, sizeof(ngx_event_t));

    if (wait_ms >= 0) {
        cancel_ev.handler = cancel_timer;
        cancel_ev.data = &queries;
        cancel_ev.log = &ngx_unit_log;
        ngx_add_timer(&cancel_ev, (ngx_msec_t) wait_ms);
    }

    /* until every query ended, and a little longer for stray events */

    while (done_n + canceled_n < (ngx_uint_t) count
           || ngx_current_msec - started < 200)
    {
        timer = ngx_event_find_timer();

        if (timer == NGX_TIMER_INFINITE || timer > 50) {
            timer = 50;
        }

        (void) ngx_process_events(cycle, timer, NGX_UPDATE_TIME);
        ngx_event_expire_timers();
        ngx_event_process_posted(cycle, &ngx_posted_events);

        if (ngx_current_msec - started > 60000) {
            printf("hung\n");
            return 1;
        }
    }

    printf("summary done=%u canceled=%u inflight=%u reentrant=%u "
           "free=%u\n", (unsigned) done_n, (unsigned) canceled_n,
           (unsigned) ngx_helpdesk_dns_inflight(), (unsigned) reentrant,
           (unsigned) cycle->free_connection_n);

    return 0;
}
