/*
 * The conversations layer's own declarations: the session of a peer, the
 * worker's table of local listeners, the state changes in Redis.
 */

#ifndef _NGX_HTTP_HELPDESK_CHAT_INT_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_CHAT_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_helpdesk_chat.h"
#include "event/ngx_helpdesk_redis.h"
#include "event/ngx_helpdesk_redis_sub.h"
#include "event/ngx_helpdesk_pg.h"


#define NGX_HTTP_HELPDESK_CHAT_UUID_LEN  36
#define NGX_HTTP_HELPDESK_CHAT_ID_LEN    42     /* "<ms>-<seq>" */
#define NGX_HTTP_HELPDESK_CHAT_CID_LEN   64

/* what a catch-up reads from a stream at a time (a page) */
#define NGX_HTTP_HELPDESK_CHAT_RANGE     32


typedef struct ngx_http_helpdesk_chat_session_s
    ngx_http_helpdesk_chat_session_t;
typedef struct ngx_http_helpdesk_chat_member_s
    ngx_http_helpdesk_chat_member_t;
typedef struct ngx_http_helpdesk_chat_conv_s
    ngx_http_helpdesk_chat_conv_t;
typedef struct ngx_http_helpdesk_chat_tenant_s
    ngx_http_helpdesk_chat_tenant_t;
typedef struct ngx_http_helpdesk_chat_op_s
    ngx_http_helpdesk_chat_op_t;


/* the tenant's settings a session works with (peer->settings) */
typedef struct {
    ngx_uint_t                        max_chats;
    ngx_uint_t                        accept_timeout;
    ngx_uint_t                        reply_timeout;
    ngx_uint_t                        auto_ticket;      /* minutes, 0: no */
    ngx_str_t                         waiting_message;
    ngx_str_t                         greeting;
    unsigned                          reply_ticket:1;   /* else requeue */
    unsigned                          transfer:1;
    unsigned                          bot:1;
    unsigned                          kb:1;
    unsigned                          closed:1;         /* out of hours */
} ngx_http_helpdesk_chat_conf_t;


/* a peer's listening to one conversation */
struct ngx_http_helpdesk_chat_member_s {
    ngx_queue_t                       in_conv;
    ngx_queue_t                       in_session;
    ngx_http_helpdesk_chat_conv_t    *conv;
    ngx_http_helpdesk_chat_session_t *s;
    ngx_http_helpdesk_chat_op_t      *range;     /* a catch-up in flight */
    u_char                            last[NGX_HTTP_HELPDESK_CHAT_ID_LEN];
    size_t                            last_len;
    /* an agent's: the id from which the conversation is the agent's */
    u_char                            own[NGX_HTTP_HELPDESK_CHAT_ID_LEN];
    size_t                            own_len;
    unsigned                          missed:1;  /* published meanwhile */
    unsigned                          paused:1;  /* until the peer drains */
    unsigned                          stale:1;   /* no longer the agent's */
    unsigned                          checked:1; /* "last" within the stream */
};


/* a conversation with local listeners on this worker */
struct ngx_http_helpdesk_chat_conv_s {
    ngx_str_node_t                    sn;        /* the conversation id */
    ngx_queue_t                       members;
    ngx_str_t                         channel;
    u_char                            id[NGX_HTTP_HELPDESK_CHAT_UUID_LEN];
    unsigned                          ready:1;   /* subscribed */
};


/* a tenant with local agents or waiting visitors on this worker */
struct ngx_http_helpdesk_chat_tenant_s {
    ngx_str_node_t                    sn;
    ngx_queue_t                       sessions;
    ngx_str_t                         channel;
    u_char                            id[NGX_HTTP_HELPDESK_CHAT_UUID_LEN];
};


struct ngx_http_helpdesk_chat_session_s {
    ngx_http_helpdesk_chat_peer_t    *peer;
    ngx_http_helpdesk_chat_conf_t     conf;
    ngx_queue_t                       ops;       /* in flight */
    ngx_queue_t                       members;
    ngx_queue_t                       in_tenant;
    ngx_http_helpdesk_chat_tenant_t  *tenant;
    ngx_uint_t                        seq;       /* "~n" ids */
    size_t                            held;      /* held back, full */
    ngx_str_t                         tenant_id;

    /* a visitor */
    u_char                            visitor[NGX_HTTP_HELPDESK_CHAT_UUID_LEN];
    u_char                            token[64];
    u_char                            conv[NGX_HTTP_HELPDESK_CHAT_UUID_LEN];
    ngx_str_t                         name;      /* from the pre-chat form */
    json_t                           *hello;     /* page, lang, last */
    /* the portal's signed-in customer linked at the hello: id, name... */
    json_t                           *customer;
    json_t                           *pending;   /* a oneshot's message */
    ngx_event_t                       sse;       /* a stream's own hello */
    ngx_http_helpdesk_chat_member_t  *member;    /* its conversation */
    ngx_event_t                       prune;     /* posted: stale members */

    /* an agent */
    ngx_str_t                         agent;     /* user id */
    /* its groups: {"v", "mine", "groups"} (ngx_http_helpdesk_chat_groups.c) */
    json_t                           *groups;

    unsigned                          greeted:1; /* hello answered */
    unsigned                          busy:1;    /* hello in progress */
    unsigned                          has_conv:1;
    unsigned                          waiting:1; /* in the tenant's queue */
    unsigned                          gone:1;
    unsigned                          answered:1; /* a oneshot's answer */
    unsigned                          no_agent:1; /* none available */
    unsigned                          counted:1; /* an agent's connection */
    unsigned                          retoken:1; /* a new token was tried */
};


typedef void (*ngx_http_helpdesk_chat_op_pt)(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);

/*
 * One Redis command or PostgreSQL statement of a session (or of a job,
 * s == NULL), heap-allocated, listed in its session so that gone()
 * cancels it.  The handler gets the reply (NULL: Redis failed) or the
 * result (NULL: PostgreSQL failed; q.status says why); the op is freed
 * after the handler returns unless it was run again from there.
 */
struct ngx_http_helpdesk_chat_op_s {
    ngx_helpdesk_redis_cmd_t          cmd;
    ngx_helpdesk_pg_query_t           pq;
    ngx_queue_t                       queue;
    ngx_http_helpdesk_chat_session_t *s;
    ngx_http_helpdesk_chat_op_pt      handler;
    ngx_pool_t                       *pool;      /* parameters, the op's */
    char                             *params;    /* a script's JSON */
    const char                       *name;      /* a script's op */
    void                             *data;
    u_char                            cid[NGX_HTTP_HELPDESK_CHAT_CID_LEN];
    size_t                            cid_len;
    u_char                            conv[NGX_HTTP_HELPDESK_CHAT_UUID_LEN];
    unsigned                          pg:1;
    unsigned                          rerun:1;
    unsigned                          eval:1;    /* EVAL after NOSCRIPT */
};


/* ngx_http_helpdesk_chat_store.c */
ngx_int_t ngx_http_helpdesk_chat_store_init(ngx_cycle_t *cycle);
ngx_http_helpdesk_chat_op_t *ngx_http_helpdesk_chat_op(
    ngx_http_helpdesk_chat_session_t *s, ngx_http_helpdesk_chat_op_pt handler);
void ngx_http_helpdesk_chat_script(ngx_http_helpdesk_chat_op_t *op,
    const char *name, json_t *params);
void ngx_http_helpdesk_chat_command(ngx_http_helpdesk_chat_op_t *op);
void ngx_http_helpdesk_chat_sql(ngx_http_helpdesk_chat_op_t *op,
    const char *sql);
ngx_int_t ngx_http_helpdesk_chat_sql_param(ngx_http_helpdesk_chat_op_t *op,
    u_char *data, size_t len);
void ngx_http_helpdesk_chat_op_free(ngx_http_helpdesk_chat_op_t *op);
void ngx_http_helpdesk_chat_ops_cancel(ngx_http_helpdesk_chat_session_t *s);
ngx_int_t ngx_http_helpdesk_chat_reply_str(redisReply *r, ngx_uint_t i,
    ngx_str_t *out);
ngx_str_t *ngx_http_helpdesk_chat_proof(void);

/* ngx_http_helpdesk_chat_hub.c */
ngx_http_helpdesk_chat_member_t *ngx_http_helpdesk_chat_join(
    ngx_http_helpdesk_chat_session_t *s, u_char *conv, ngx_str_t *last);
void ngx_http_helpdesk_chat_leave(ngx_http_helpdesk_chat_member_t *m);
void ngx_http_helpdesk_chat_own(ngx_http_helpdesk_chat_member_t *m,
    ngx_str_t *id);
ngx_http_helpdesk_chat_member_t *ngx_http_helpdesk_chat_member(
    ngx_http_helpdesk_chat_session_t *s, u_char *conv);
ngx_int_t ngx_http_helpdesk_chat_tenant_join(
    ngx_http_helpdesk_chat_session_t *s);
void ngx_http_helpdesk_chat_tenant_leave(ngx_http_helpdesk_chat_session_t *s);
ngx_int_t ngx_http_helpdesk_chat_id_cmp(u_char *a, size_t alen, u_char *b,
    size_t blen);
void ngx_http_helpdesk_chat_publish(ngx_str_t *tenant, u_char *conv,
    const char *aud, json_t *event);
void ngx_http_helpdesk_chat_deliver(ngx_http_helpdesk_chat_member_t *m,
    u_char *id, size_t id_len, u_char *aud, size_t aud_len, u_char *json,
    size_t len);

/* ngx_http_helpdesk_chat_catchup.c */
void ngx_http_helpdesk_chat_catch_up(ngx_http_helpdesk_chat_member_t *m);
void ngx_http_helpdesk_chat_drained(ngx_http_helpdesk_chat_peer_t *peer);
void ngx_http_helpdesk_chat_held(ngx_http_helpdesk_chat_session_t *s,
    size_t len);

/* ngx_http_helpdesk_chat_session.c */
void ngx_http_helpdesk_chat_settings(ngx_http_helpdesk_chat_session_t *s,
    u_char *data, size_t len);
void ngx_http_helpdesk_chat_send_json(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg);
void ngx_http_helpdesk_chat_send_event(ngx_http_helpdesk_chat_session_t *s,
    u_char *conv, u_char *id, size_t id_len, u_char *json, size_t len);
void ngx_http_helpdesk_chat_error(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *cid, const char *code, const char *detail);
void ngx_http_helpdesk_chat_error_op(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply);
void ngx_http_helpdesk_chat_ack(ngx_http_helpdesk_chat_session_t *s,
    u_char *cid, size_t cid_len, ngx_str_t *ref, u_char *conv);
void ngx_http_helpdesk_chat_tenant_event(ngx_http_helpdesk_chat_session_t *s,
    json_t *event, u_char *raw, size_t len);


/* ngx_http_helpdesk_chat_limits.c */
json_t *ngx_http_helpdesk_chat_limits(ngx_http_helpdesk_chat_session_t *s,
    ngx_uint_t start);

/* ngx_http_helpdesk_chat_hello.c */
void ngx_http_helpdesk_chat_visitor_stream(ngx_event_t *ev);
void ngx_http_helpdesk_chat_v_follow(ngx_http_helpdesk_chat_session_t *s,
    json_t *ev);
void ngx_http_helpdesk_chat_v_hello(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid);

/* ngx_http_helpdesk_chat_say.c: what both sides say, and its answer */
ngx_http_helpdesk_chat_op_t *ngx_http_helpdesk_chat_op_cid(
    ngx_http_helpdesk_chat_session_t *s, ngx_http_helpdesk_chat_op_pt handler,
    ngx_str_t *cid);
void ngx_http_helpdesk_chat_acked(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);
void ngx_http_helpdesk_chat_conv_script(ngx_http_helpdesk_chat_session_t *s,
    ngx_http_helpdesk_chat_op_t *op, const char *name, u_char *conv,
    json_t *params);
ngx_int_t ngx_http_helpdesk_chat_message_check(
    ngx_http_helpdesk_chat_session_t *s, json_t *msg, ngx_str_t *cid,
    json_t **text, json_t **att);
void ngx_http_helpdesk_chat_say(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *cid, u_char *conv, const char *type, const char *kind,
    ngx_str_t *name, json_t *text, json_t *att, json_t *params);
json_t *ngx_http_helpdesk_chat_typing_on(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid);
void ngx_http_helpdesk_chat_typing(ngx_http_helpdesk_chat_session_t *s,
    u_char *conv, const char *from, const char *aud, json_t *on);
ngx_int_t ngx_http_helpdesk_chat_pointer(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *type, ngx_str_t *cid, const char *from,
    const char *aud, json_t **params);
json_t *ngx_http_helpdesk_chat_by(const char *by, json_t *ev);
json_t *ngx_http_helpdesk_chat_end(const char *by);

/* ngx_http_helpdesk_chat_visitor.c */
void ngx_http_helpdesk_chat_visitor(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *type, ngx_str_t *cid);

/* ngx_http_helpdesk_chat_bot.c */
void ngx_http_helpdesk_chat_v_bot(ngx_http_helpdesk_chat_session_t *s,
    json_t *text);
void ngx_http_helpdesk_chat_v_queued(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);

/* ngx_http_helpdesk_chat_forms.c */
json_t *ngx_http_helpdesk_chat_v_prechat(ngx_http_helpdesk_chat_session_t *s,
    json_t *prechat, const char **err);
void ngx_http_helpdesk_chat_v_transcript(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid);

/* ngx_http_helpdesk_chat_agent.c */
void ngx_http_helpdesk_chat_agent(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *type, ngx_str_t *cid);
void ngx_http_helpdesk_chat_agent_gone(ngx_http_helpdesk_chat_session_t *s);

/* ngx_http_helpdesk_chat_groups.c */
void ngx_http_helpdesk_chat_groups_hello(ngx_http_helpdesk_chat_session_t *s,
    u_char *data, size_t len, json_t *params);
json_t *ngx_http_helpdesk_chat_groups_list(
    ngx_http_helpdesk_chat_session_t *s);
ngx_uint_t ngx_http_helpdesk_chat_group_sees(
    ngx_http_helpdesk_chat_session_t *s, json_t *item);
void ngx_http_helpdesk_chat_groups_event(ngx_http_helpdesk_chat_session_t *s,
    json_t *ev);
void ngx_http_helpdesk_chat_group_transfer(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *cid, u_char *conv, json_t *group, json_t *params);

/* ngx_http_helpdesk_chat_convert.c: by an agent (s) or a deadline */
void ngx_http_helpdesk_chat_convert(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *tenant, u_char *conv, ngx_str_t *cid, const char *by);
/* a deadline's conversion, which releases its lease once done */
void ngx_http_helpdesk_chat_convert_leased(ngx_str_t *tenant, u_char *conv,
    const char *by, ngx_str_t *m, ngx_str_t *lease);

/* ngx_http_helpdesk_chat_attach.c: files in messages */
void ngx_http_helpdesk_chat_said(ngx_http_helpdesk_chat_session_t *s,
    ngx_str_t *cid, u_char *conv, json_t *att, json_t *params);
char *ngx_http_helpdesk_chat_links(ngx_http_helpdesk_chat_session_t *s,
    u_char *json, size_t len);

/* ngx_http_helpdesk_chat_timers.c */
ngx_int_t ngx_http_helpdesk_chat_timers_init(ngx_cycle_t *cycle);
void ngx_http_helpdesk_chat_release(ngx_str_t *m, ngx_str_t *lease);
/* a deadline that is none: logged and removed (lease NULL: whatever it is) */
void ngx_http_helpdesk_chat_drop(ngx_str_t *m, ngx_str_t *lease,
    const char *why);
void ngx_http_helpdesk_chat_timers_exit(void);


#endif /* _NGX_HTTP_HELPDESK_CHAT_INT_H_INCLUDED_ */
