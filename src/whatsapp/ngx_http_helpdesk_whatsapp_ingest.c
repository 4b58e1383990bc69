/*
 * Group commit for WhatsApp deliveries.
 *
 * A webhook's 200 must wait for its delivery to be durably committed, and
 * a commit waits for a disk flush: one transaction per delivery caps the
 * rate at the disk's flushes per second.  So each worker gathers the
 * deliveries that arrive within NGX_HTTP_HELPDESK_WA_WINDOW (or until
 * NGX_HTTP_HELPDESK_WA_BATCH of them, or NGX_HTTP_HELPDESK_WA_BYTES of
 * bodies) and stores them with one statement, one transaction, one flush;
 * then every request of the batch gets its own answer.  Inside the
 * transaction each delivery has its own subtransaction, so one that fails
 * is answered 500 (and retried by its provider) without undoing the rest.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "event/ngx_helpdesk_pg.h"
#include "ngx_http_helpdesk_whatsapp_ingest.h"


#define NGX_HTTP_HELPDESK_WA_WINDOW  1              /* ms */
#define NGX_HTTP_HELPDESK_WA_BATCH   64
#define NGX_HTTP_HELPDESK_WA_BYTES   (4 * 1024 * 1024)


typedef struct {
    ngx_pool_t                 *pool;
    ngx_queue_t                 items;
    ngx_helpdesk_pg_query_t     query;
} ngx_http_helpdesk_wa_batch_t;


typedef struct {
    ngx_queue_t                 pending;
    ngx_uint_t                  count;
    size_t                      bytes;
    ngx_event_t                 timer;
    unsigned                    ready:1;
} ngx_http_helpdesk_wa_batcher_t;


static void ngx_http_helpdesk_wa_flush_timer(ngx_event_t *ev);
static void ngx_http_helpdesk_wa_flush(void);
static void ngx_http_helpdesk_wa_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_wa_owner_gone(void *data);
static void ngx_http_helpdesk_wa_answer(ngx_http_helpdesk_wa_item_t *item,
    ngx_int_t rc, ngx_str_t *result);


static ngx_http_helpdesk_wa_batcher_t  ngx_http_helpdesk_wa_batcher;


ngx_int_t
ngx_http_helpdesk_wa_ingest(ngx_http_helpdesk_wa_item_t *item)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_helpdesk_wa_batcher_t  *b = &ngx_http_helpdesk_wa_batcher;

    if (item->owner) {
        cln = ngx_pool_cleanup_add(item->owner, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_helpdesk_wa_owner_gone;
        cln->data = item;
    }

    if (!b->ready) {
        ngx_queue_init(&b->pending);
        b->timer.handler = ngx_http_helpdesk_wa_flush_timer;
        b->timer.data = b;
        b->timer.log = ngx_cycle->log;
        b->ready = 1;
    }

    ngx_queue_insert_tail(&b->pending, &item->queue);
    item->pending = 1;
    b->count++;
    b->bytes += item->body.len;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, item->log, 0,
                   "helpdesk whatsapp: item:%p queued, %ui pending",
                   item, b->count);

    /*
     * Never flush from inside this call: the flush may answer items, and
     * the caller does not expect to hear back before this returns.
     */
    if (b->count >= NGX_HTTP_HELPDESK_WA_BATCH
        || b->bytes >= NGX_HTTP_HELPDESK_WA_BYTES)
    {
        if (b->timer.timer_set) {
            ngx_del_timer(&b->timer);
        }

        ngx_add_timer(&b->timer, 0);

    } else if (!b->timer.timer_set) {
        ngx_add_timer(&b->timer, NGX_HTTP_HELPDESK_WA_WINDOW);
    }

    return NGX_OK;
}


static void
ngx_http_helpdesk_wa_owner_gone(void *data)
{
    ngx_http_helpdesk_wa_item_t     *item = data;
    ngx_http_helpdesk_wa_batcher_t  *b = &ngx_http_helpdesk_wa_batcher;

    if (item->pending) {
        ngx_queue_remove(&item->queue);
        item->pending = 0;
        b->count--;
        b->bytes -= item->body.len;

    } else if (item->sent) {
        /* its row is found by number, so the others keep theirs */
        ngx_queue_remove(&item->queue);
        item->sent = 0;

    } else {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, item->log, 0,
                   "helpdesk whatsapp: item:%p left before its answer", item);
}


static void
ngx_http_helpdesk_wa_answer(ngx_http_helpdesk_wa_item_t *item, ngx_int_t rc,
    ngx_str_t *result)
{
    item->pending = 0;
    item->sent = 0;
    item->done(item, rc, result);
}


static void
ngx_http_helpdesk_wa_flush_timer(ngx_event_t *ev)
{
    ngx_http_helpdesk_wa_flush();
}


/*
 * [{"k": token, "ip": address|null, "b": body}, ...]: the bodies were
 * checked to be JSON objects, so they go in verbatim.  A delivery names
 * its connection by the token it arrived on (as the database keeps it,
 * "sha256:<hex>"), never by ids: the database routes it again, so the statement
 * cannot put a delivery into a tenant the token does not name.
 */

static void
ngx_http_helpdesk_wa_flush(void)
{
    u_char                          *p;
    size_t                           len;
    ngx_str_t                        arg;
    ngx_queue_t                     *q;
    ngx_http_helpdesk_wa_item_t     *item;
    ngx_http_helpdesk_wa_batch_t    *batch;
    ngx_http_helpdesk_wa_batcher_t  *b = &ngx_http_helpdesk_wa_batcher;
    ngx_pool_t                      *pool;
    ngx_uint_t                       row;

    if (b->timer.timer_set) {
        ngx_del_timer(&b->timer);
    }

    if (b->count == 0) {
        return;
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    batch = pool ? ngx_pcalloc(pool, sizeof(ngx_http_helpdesk_wa_batch_t))
                 : NULL;

    len = 2 + b->bytes + b->count * (sizeof("{\"k\":\"\",\"ip\":\"\","
                                            "\"b\":},")
                                     + NGX_HTTP_HELPDESK_WA_KEY_LEN
                                     + NGX_SOCKADDR_STRLEN);
    arg.data = batch ? ngx_pnalloc(pool, len) : NULL;

    if (arg.data == NULL) {
        /* answer everyone: the provider will deliver again */
        while (!ngx_queue_empty(&b->pending)) {
            q = ngx_queue_head(&b->pending);
            ngx_queue_remove(q);
            item = ngx_queue_data(q, ngx_http_helpdesk_wa_item_t, queue);
            ngx_http_helpdesk_wa_answer(item, NGX_ERROR, NULL);
        }

        b->count = 0;
        b->bytes = 0;

        if (pool) {
            ngx_destroy_pool(pool);
        }

        return;
    }

    batch->pool = pool;
    ngx_queue_init(&batch->items);

    /* the whole pending queue becomes the batch */
    ngx_queue_add(&batch->items, &b->pending);
    ngx_queue_init(&b->pending);
    b->count = 0;
    b->bytes = 0;

    p = arg.data;
    *p++ = '[';
    row = 0;

    for (q = ngx_queue_head(&batch->items);
         q != ngx_queue_sentinel(&batch->items);
         q = ngx_queue_next(q))
    {
        item = ngx_queue_data(q, ngx_http_helpdesk_wa_item_t, queue);
        item->pending = 0;
        item->sent = 1;
        item->row = row++;

        if (p != arg.data + 1) {
            *p++ = ',';
        }

        p = ngx_sprintf(p, "{\"k\":\"%V\",", &item->token);

        if (item->ip.len) {
            p = ngx_sprintf(p, "\"ip\":\"%V\",", &item->ip);

        } else {
            p = ngx_cpymem(p, "\"ip\":null,", 10);
        }

        p = ngx_cpymem(p, "\"b\":", 4);
        p = ngx_cpymem(p, item->body.data, item->body.len);
        *p++ = '}';
    }

    *p++ = ']';
    arg.len = p - arg.data;

    batch->query.sql = "SELECT r FROM api.whatsapp_ingest_batch($1::jsonb) r";
    batch->query.handler = ngx_http_helpdesk_wa_stored;
    batch->query.data = batch;
    batch->query.log = ngx_cycle->log;

    if (ngx_helpdesk_pg_param(&batch->query, pool, &arg) != NGX_OK) {
        batch->query.status = NGX_HELPDESK_PG_UNAVAILABLE;
        ngx_http_helpdesk_wa_stored(&batch->query, NULL);
        return;
    }

    ngx_helpdesk_pg_run(&batch->query);
}


static void
ngx_http_helpdesk_wa_stored(ngx_helpdesk_pg_query_t *pq, PGresult *res)
{
    int                            n;
    ngx_int_t                      rc;
    ngx_str_t                      result;
    ngx_queue_t                   *q;
    ngx_http_helpdesk_wa_item_t   *item;
    ngx_http_helpdesk_wa_batch_t  *batch = pq->data;

    n = (res && PQresultStatus(res) == PGRES_TUPLES_OK) ? PQntuples(res) : -1;

    if (res && n < 0) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "helpdesk whatsapp: batch failed: %s",
                      PQresultErrorMessage(res));
    }

    while (!ngx_queue_empty(&batch->items)) {
        q = ngx_queue_head(&batch->items);
        ngx_queue_remove(q);
        item = ngx_queue_data(q, ngx_http_helpdesk_wa_item_t, queue);

        if (n < 0 || item->row >= (ngx_uint_t) n) {
            /* no answer for it: not stored, the provider must retry */
            ngx_http_helpdesk_wa_answer(item, NGX_ERROR, NULL);
            continue;
        }

        result.data = (u_char *) PQgetvalue(res, item->row, 0);
        result.len = PQgetlength(res, item->row, 0);

        rc = (result.len > 9 && ngx_strncmp(result.data, "{\"error\":", 9) == 0)
             ? NGX_DECLINED : NGX_OK;

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, item->log, 0,
                          "helpdesk whatsapp: delivery not stored: %V",
                          &result);
        }

        /* the handler copies what it keeps: the result dies with res */
        ngx_http_helpdesk_wa_answer(item, rc, &result);
    }

    ngx_destroy_pool(batch->pool);
}
