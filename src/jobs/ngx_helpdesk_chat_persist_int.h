/*
 * The chat's record, inside the job: its state, shared by the job
 * (ngx_helpdesk_chat_persist.c: the ticks, the statement, the
 * acknowledgements, the dead letters) and its reads of the stream
 * (ngx_helpdesk_chat_persist_read.c).
 */

#ifndef _NGX_HELPDESK_CHAT_PERSIST_INT_H_INCLUDED_
#define _NGX_HELPDESK_CHAT_PERSIST_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>

#include "event/ngx_helpdesk_pg.h"
#include "event/ngx_helpdesk_redis.h"


#define NGX_HELPDESK_CHAT_PERSIST_STREAM    "hd:chat:persist"
#define NGX_HELPDESK_CHAT_PERSIST_GROUP     "persist"
#define NGX_HELPDESK_CHAT_PERSIST_INTERVAL  200
#define NGX_HELPDESK_CHAT_PERSIST_BATCH     500
#define NGX_HELPDESK_CHAT_PERSIST_BYTES     (1024 * 1024)
#define NGX_HELPDESK_CHAT_PERSIST_CHUNK     100     /* entries a command */
#define NGX_HELPDESK_CHAT_PERSIST_DEAD      "hd:chat:persist:dead"
#define NGX_HELPDESK_CHAT_PERSIST_TRIES     "5"      /* deliveries, then dead */
#define NGX_HELPDESK_CHAT_PERSIST_RETRY     1000
#define NGX_HELPDESK_CHAT_PERSIST_IDLE      "30000"     /* a dead consumer */
#define NGX_HELPDESK_CHAT_PERSIST_CLAIM     5000        /* how often */


typedef enum {
    NGX_HELPDESK_CHAT_PERSIST_IDLE_STATE = 0,
    NGX_HELPDESK_CHAT_PERSIST_GROUP_STATE,
    NGX_HELPDESK_CHAT_PERSIST_READ,
    NGX_HELPDESK_CHAT_PERSIST_WRITE,
    NGX_HELPDESK_CHAT_PERSIST_ACK,
    NGX_HELPDESK_CHAT_PERSIST_DEAD_STATE
} ngx_helpdesk_chat_persist_state_e;


typedef struct {
    ngx_event_t                         tick;
    ngx_log_t                          *log;
    u_char                             *proof;
    ngx_helpdesk_redis_cmd_t            cmd;
    ngx_helpdesk_pg_query_t             q;
    ngx_pool_t                         *pool;
    json_t                             *batch;     /* the entries read */
    json_t                             *ids;       /* their ids, to ack */
    size_t                              bytes;
    ngx_uint_t                          asked;      /* by the last read */
    ngx_uint_t                          acked;
    ngx_helpdesk_chat_persist_state_e   state;
    ngx_msec_t                          claimed;
    ngx_msec_t                          failed_at;
    ngx_uint_t                          count;
    ngx_uint_t                          limit;      /* entries per read */
    u_char                              limit_str[NGX_INT_T_LEN];
    size_t                              limit_len;
    u_char                              consumer[NGX_MAXHOSTNAMELEN + 32];
    size_t                              consumer_len;
    /* writing one by one: the entry, and the last one done */
    u_char                              entry[48];
    size_t                              entry_len;
    u_char                              cursor[48];
    size_t                              cursor_len;
    u_char                              what[80];   /* tenant/conversation */
    size_t                              what_len;
    ngx_str_t                           error;      /* in pool */
    unsigned                            group:1;
    unsigned                            pending:1;  /* read own first */
    unsigned                            claiming:1;
    unsigned                            ready:1;
    unsigned                            isolate:1;  /* one entry at a time */
    unsigned                            failed:1;   /* one left pending */
    unsigned                            cut:1;      /* the batch was cut */
    unsigned                            more:1;     /* read or ack goes on */
} ngx_helpdesk_chat_persist_t;


extern ngx_helpdesk_chat_persist_t  ngx_helpdesk_chat_persist;


/* the job's next tick after delay (0: at once), the batch dropped */
void ngx_helpdesk_chat_persist_next(ngx_msec_t delay);
/* the batch's next read or acknowledgement, once this handler returned */
void ngx_helpdesk_chat_persist_again(void);
/* cp->cmd made ready for a command answered to handler */
void ngx_helpdesk_chat_persist_cmd(ngx_helpdesk_redis_handler_pt handler);
/* a chunk of the batch read from the stream (or a batch begun) */
void ngx_helpdesk_chat_persist_read(void);
/* the batch read written in one statement */
void ngx_helpdesk_chat_persist_write(void);


#endif /* _NGX_HELPDESK_CHAT_PERSIST_INT_H_INCLUDED_ */
