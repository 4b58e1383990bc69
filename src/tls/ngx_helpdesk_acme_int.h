/*
 * Inside the ACME client: the worker's directory, account and nonces
 * (ngx_helpdesk_acme.c), one request to the CA (signed POST with its nonce
 * and badNonce retries), and the orders (ngx_helpdesk_acme_order.c) the
 * job (src/jobs/ngx_helpdesk_acme_job.c) starts.
 */

#ifndef _NGX_HELPDESK_ACME_INT_H_INCLUDED_
#define _NGX_HELPDESK_ACME_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <openssl/evp.h>
#include <jansson.h>

#include "ngx_helpdesk_acme.h"
#include "event/ngx_helpdesk_curl.h"
#include "event/ngx_helpdesk_pg.h"


#define NGX_HELPDESK_ACME_NONCES       16
#define NGX_HELPDESK_ACME_NONCE_MAX    128
#define NGX_HELPDESK_ACME_BODY_MAX     (64 * 1024)
#define NGX_HELPDESK_ACME_BAD_NONCES   3
#define NGX_HELPDESK_ACME_RETRY_MAX    86400
/* an order's lease: a crashed node's order is resumed elsewhere after it */
#define NGX_HELPDESK_ACME_LEASE        300


typedef struct ngx_helpdesk_acme_call_s  ngx_helpdesk_acme_call_t;

typedef void (*ngx_helpdesk_acme_call_pt)(ngx_helpdesk_acme_call_t *call);


/* one request to the CA, with what came back */
struct ngx_helpdesk_acme_call_s {
    ngx_pool_t                 *pool;       /* the caller's */
    ngx_log_t                  *log;
    ngx_str_t                   url;
    ngx_str_t                   payload;    /* JSON; empty: POST-as-GET */
    const char                 *accept;     /* NULL: JSON */
    unsigned                    jwk:1;      /* signed with the key itself */
    unsigned                    get:1;      /* a plain GET (the directory) */
    unsigned                    head:1;     /* HEAD newNonce */

    ngx_uint_t                  bad_nonces;
    ngx_helpdesk_curl_req_t    *req;
    ngx_helpdesk_acme_call_t   *nonce;      /* HEAD newNonce before */

    /* the answer */
    CURLcode                    result;
    long                        status;
    ngx_str_t                   body;
    ngx_str_t                   location;
    ngx_int_t                   retry_after;    /* seconds, -1: none */
    json_t                     *json;           /* a JSON body, or NULL */
    ngx_str_t                   problem_type;   /* without the URN prefix */
    ngx_str_t                   problem_detail;
    char                        error[CURL_ERROR_SIZE];

    ngx_helpdesk_acme_call_pt   handler;
    void                       *data;
};


/* the worker's client */
typedef struct {
    ngx_helpdesk_acme_conf_t   *conf;
    ngx_log_t                  *log;

    /* the directory, refreshed daily */
    ngx_pool_t                 *dir_pool;
    ngx_str_t                   new_nonce;
    ngx_str_t                   new_account;
    ngx_str_t                   new_order;
    ngx_str_t                   revoke_cert;
    ngx_str_t                   renewal_info;
    ngx_array_t                *caa;        /* of ngx_str_t */
    time_t                      dir_at;
    ngx_str_t                   dir_host;   /* the operator's own host */

    /* the account */
    ngx_pool_t                 *acct_pool;
    EVP_PKEY                   *key;
    ngx_str_t                   account_id;
    ngx_str_t                   kid;
    ngx_str_t                   thumbprint;

    /* nonces, newest last */
    u_char                      nonces[NGX_HELPDESK_ACME_NONCES]
                                      [NGX_HELPDESK_ACME_NONCE_MAX];
    size_t                      nonce_len[NGX_HELPDESK_ACME_NONCES];
    ngx_uint_t                  nnonces;
} ngx_helpdesk_acme_client_t;


extern ngx_helpdesk_acme_client_t  ngx_helpdesk_acme_client;


/*
 * Sends call; its handler runs once (from inside this call only when the
 * request could not even be made: no memory, no key): a nonce from the
 * pool (HEAD newNonce when it is empty), the JWS, badNonce retried with
 * the CA's fresh nonce up to NGX_HELPDESK_ACME_BAD_NONCES times.
 */
void ngx_helpdesk_acme_send(ngx_helpdesk_acme_call_t *call);
void ngx_helpdesk_acme_call_cancel(ngx_helpdesk_acme_call_t *call);

/*
 * Whether a URL the CA gave in a Location header (raw bytes) is one to
 * keep: stored as text, sent again, and put in protected headers, so
 * printable ASCII only (no NUL, nothing that is no UTF-8), 1024 at most.
 */
ngx_flag_t ngx_helpdesk_acme_url_ok(ngx_str_t *url);

/* Retry-After: delta seconds or an HTTP-date, capped at a day; -1: none */
ngx_int_t ngx_helpdesk_acme_retry_after(ngx_str_t *value, time_t now);

/* the problem document of an answer as JSON text for api.acme_result() */
ngx_int_t ngx_helpdesk_acme_problem_json(ngx_pool_t *pool,
    ngx_helpdesk_acme_call_t *call, ngx_str_t *out);

/* a string member of a JSON object, or an empty string */
void ngx_helpdesk_acme_json_str(json_t *obj, const char *name, ngx_str_t *s);

/* the parameters every statement of the job starts with */
void ngx_helpdesk_acme_proof(ngx_helpdesk_pg_query_t *q);

/* an order the claim handed out: row "row" of "res" */
void ngx_helpdesk_acme_order_start(PGresult *res, int row);
extern ngx_uint_t  ngx_helpdesk_acme_inflight;


/* one order in flight (ngx_helpdesk_acme_order.c, _steps.c) */
typedef struct ngx_helpdesk_acme_order_s  ngx_helpdesk_acme_order_t;

typedef void (*ngx_helpdesk_acme_next_pt)(ngx_helpdesk_acme_order_t *o);

struct ngx_helpdesk_acme_order_s {
    ngx_pool_t                 *pool;
    ngx_log_t                  *log;
    ngx_str_t                   tenant;
    ngx_str_t                   host;
    ngx_str_t                   kind;
    ngx_str_t                   step;
    ngx_str_t                   lease;
    ngx_str_t                   order_url;
    ngx_str_t                   challenge_url;
    ngx_str_t                   token;
    ngx_str_t                   finalize_url;
    ngx_str_t                   cert_url;
    ngx_str_t                   key_sealed;
    ngx_str_t                   replaces;   /* ARI certID, or empty */
    ngx_str_t                   cert_der;
    ngx_array_t                *authz;      /* of ngx_str_t */
    ngx_uint_t                  authz_i;
    EVP_PKEY                   *key;        /* the certificate's */

    ngx_helpdesk_acme_call_t    call;
    ngx_helpdesk_pg_query_t     query;
    ngx_helpdesk_acme_next_pt   next;       /* after a step is stored */
    ngx_helpdesk_acme_call_pt   polled;     /* after a poll's answer */
    ngx_str_t                   poll_url;
    ngx_event_t                 wait;
    ngx_msec_t                  delay;
    ngx_uint_t                  polls;
    ngx_uint_t                  rounds;     /* order "pending" again */
    ngx_uint_t                  calls;      /* requests of the order */
    unsigned                    finalized:1;    /* the CSR was posted */
};


/* the order's life (ngx_helpdesk_acme_order.c) */

/* whether s is text */
ngx_flag_t ngx_helpdesk_acme_is(ngx_str_t *s, const char *text);

/* the step written to the row (patch: consumed, may be NULL), then next */
void ngx_helpdesk_acme_order_step(ngx_helpdesk_acme_order_t *o,
    const char *step, json_t *patch, ngx_helpdesk_acme_next_pt next);
/* a request of the order (payload NULL: POST-as-GET) */
void ngx_helpdesk_acme_order_call(ngx_helpdesk_acme_order_t *o,
    ngx_str_t *url, ngx_str_t *payload, const char *accept,
    ngx_helpdesk_acme_call_pt handler);
/* a 2xx answer */
ngx_flag_t ngx_helpdesk_acme_order_ok(ngx_helpdesk_acme_call_t *call);
/* a URL member of the CA's answer, copied NUL-terminated into the order */
ngx_int_t ngx_helpdesk_acme_order_keep(ngx_helpdesk_acme_order_t *o,
    json_t *obj, const char *name, ngx_str_t *to);
/* url asked again after the wait (Retry-After, else the order's delay) */
void ngx_helpdesk_acme_order_poll(ngx_helpdesk_acme_order_t *o,
    ngx_str_t *url, ngx_helpdesk_acme_call_pt handler);
/* the failure recorded (api.acme_result), then the order ends */
void ngx_helpdesk_acme_order_failed(ngx_helpdesk_acme_order_t *o,
    ngx_helpdesk_acme_call_t *call, const char *type, const char *detail);
/* the handler of a statement that ends the order */
void ngx_helpdesk_acme_order_recorded(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
void ngx_helpdesk_acme_order_done(ngx_helpdesk_acme_order_t *o);


/* the steps at the CA (ngx_helpdesk_acme_steps.c) */
void ngx_helpdesk_acme_order_new(ngx_helpdesk_acme_order_t *o);
void ngx_helpdesk_acme_order_authz(ngx_helpdesk_acme_order_t *o);
void ngx_helpdesk_acme_order_read(ngx_helpdesk_acme_order_t *o);
void ngx_helpdesk_acme_order_finalize(ngx_helpdesk_acme_order_t *o);
void ngx_helpdesk_acme_order_revoke(ngx_helpdesk_acme_order_t *o);

/* the account is gone at the CA: read it again before the next order */
void ngx_helpdesk_acme_account_lost(void);

/* ACME Renewal Information rounds (ngx_helpdesk_acme_ari.c) */
void ngx_helpdesk_acme_ari_run(ngx_log_t *log);
void ngx_helpdesk_acme_ari_reset(void);


#endif /* _NGX_HELPDESK_ACME_INT_H_INCLUDED_ */
