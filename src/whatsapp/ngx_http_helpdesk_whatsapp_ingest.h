/*
 * WhatsApp deliveries, committed in batches.
 */

#ifndef _NGX_HTTP_HELPDESK_WHATSAPP_INGEST_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_WHATSAPP_INGEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* a webhook token's longest */
#define NGX_HTTP_HELPDESK_WA_TOKEN_MAX  64

/* what a delivery is routed by: "sha256:" and the token's hex SHA-256 */
#define NGX_HTTP_HELPDESK_WA_KEY_LEN    (7 + 64)


typedef struct ngx_http_helpdesk_wa_item_s  ngx_http_helpdesk_wa_item_t;

/*
 * rc: NGX_OK with the delivery's counts in "result" (a JSON object), or
 * NGX_DECLINED when PostgreSQL refused this delivery (result holds the
 * error), or NGX_ERROR when PostgreSQL could not be reached.
 */
typedef void (*ngx_http_helpdesk_wa_done_pt)(ngx_http_helpdesk_wa_item_t *item,
    ngx_int_t rc, ngx_str_t *result);


struct ngx_http_helpdesk_wa_item_s {
    ngx_queue_t                     queue;
    ngx_str_t                       token;      /* sha256:<hex>, routed */
    ngx_str_t                       tenant;     /* for the log only */
    ngx_str_t                       connection;
    ngx_str_t                       ip;         /* empty for unix sockets */
    ngx_str_t                       body;       /* a JSON object */
    ngx_http_helpdesk_wa_done_pt    done;
    void                           *data;
    ngx_log_t                      *log;

    /*
     * The waiting request's pool: when it is destroyed first, the item
     * leaves its batch and "done" is never called (the delivery itself
     * may still be stored; the provider, with no answer, sends it again
     * and it is recognised as a duplicate).
     */
    ngx_pool_t                     *owner;

    /* the batcher's */
    ngx_uint_t                      row;
    unsigned                        pending:1;  /* waits for the next flush */
    unsigned                        sent:1;     /* in a batch being stored */
};


/* NGX_ERROR when the item could not be queued (nothing was called). */
ngx_int_t ngx_http_helpdesk_wa_ingest(ngx_http_helpdesk_wa_item_t *item);


#endif /* _NGX_HTTP_HELPDESK_WHATSAPP_INGEST_H_INCLUDED_ */
