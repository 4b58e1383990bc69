/*
 * The conversations' operations on Redis and PostgreSQL.
 *
 * Every state change is one run of the chat script
 * (ngx_http_helpdesk_chat.lua, compiled in): EVALSHA with the script's
 * SHA-1, and EVAL with its text when the server does not know it yet (a
 * new or restarted Redis).  Its arguments are the op's name and one JSON
 * document, so that a change needs no more than the four arguments of
 * the command client.
 *
 * An op is allocated from the heap for one command or statement and
 * listed in its session: when the peer goes, its ops are cancelled (their
 * handlers never run) and freed.  Parameters of a statement live in the
 * op's own small pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include "ngx_http_helpdesk_chat_int.h"
#include "ngx_http_helpdesk_module.h"


extern const char  ngx_http_helpdesk_chat_lua[];


static void ngx_http_helpdesk_chat_op_redis(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_helpdesk_chat_op_pg(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_http_helpdesk_chat_op_done(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);


static u_char      ngx_http_helpdesk_chat_sha[40];
static ngx_str_t   ngx_http_helpdesk_chat_proof_str;


ngx_int_t
ngx_http_helpdesk_chat_store_init(ngx_cycle_t *cycle)
{
    u_char                          digest[20];
    ngx_sha1_t                      sha1;
    ngx_http_helpdesk_main_conf_t  *hmcf;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, ngx_http_helpdesk_chat_lua,
                    ngx_strlen(ngx_http_helpdesk_chat_lua));
    ngx_sha1_final(digest, &sha1);
    ngx_hex_dump(ngx_http_helpdesk_chat_sha, digest, 20);

    hmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_helpdesk_module);
    ngx_http_helpdesk_chat_proof_str = hmcf->provider_proof;

    return NGX_OK;
}


/* The module's proof to the chat's entry points ("\\x" and hex). */

ngx_str_t *
ngx_http_helpdesk_chat_proof(void)
{
    return &ngx_http_helpdesk_chat_proof_str;
}


ngx_http_helpdesk_chat_op_t *
ngx_http_helpdesk_chat_op(ngx_http_helpdesk_chat_session_t *s,
    ngx_http_helpdesk_chat_op_pt handler)
{
    ngx_log_t                    *log;
    ngx_http_helpdesk_chat_op_t  *op;

    log = s ? s->peer->log : ngx_cycle->log;

    op = ngx_alloc(sizeof(ngx_http_helpdesk_chat_op_t), log);
    if (op == NULL) {
        return NULL;
    }

    ngx_memzero(op, sizeof(ngx_http_helpdesk_chat_op_t));

    op->s = s;
    op->handler = handler;
    op->cmd.log = log;
    op->cmd.handler = ngx_http_helpdesk_chat_op_redis;
    op->cmd.data = op;
    op->pq.log = log;
    op->pq.handler = ngx_http_helpdesk_chat_op_pg;
    op->pq.data = op;

    if (s) {
        ngx_queue_insert_tail(&s->ops, &op->queue);
    }

    return op;
}


void
ngx_http_helpdesk_chat_op_free(ngx_http_helpdesk_chat_op_t *op)
{
    if (op->s) {
        ngx_queue_remove(&op->queue);
    }

    ngx_helpdesk_redis_cancel(&op->cmd);
    ngx_helpdesk_pg_cancel(&op->pq);

    if (op->params) {
        free(op->params);
    }

    if (op->pool) {
        ngx_destroy_pool(op->pool);
    }

    ngx_free(op);
}


void
ngx_http_helpdesk_chat_ops_cancel(ngx_http_helpdesk_chat_session_t *s)
{
    ngx_queue_t                  *q;
    ngx_http_helpdesk_chat_op_t  *op;

    while (!ngx_queue_empty(&s->ops)) {
        q = ngx_queue_head(&s->ops);
        op = ngx_queue_data(q, ngx_http_helpdesk_chat_op_t, queue);
        ngx_http_helpdesk_chat_op_free(op);
    }
}


/* Runs op "name" of the chat script; params is taken (decref'ed). */

void
ngx_http_helpdesk_chat_script(ngx_http_helpdesk_chat_op_t *op,
    const char *name, json_t *params)
{
    if (op->params == NULL) {
        op->params = json_dumps(params, JSON_COMPACT);
        json_decref(params);
        op->name = name;
    }

    op->cmd.argc = 0;
    op->cmd.overflow = 0;

    if (op->params == NULL) {
        /* out of memory: fails when run */
        op->cmd.overflow = 1;
        ngx_helpdesk_redis_run(&op->cmd);
        return;
    }

    if (op->eval) {
        ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "EVAL", 4);
        ngx_helpdesk_redis_arg(&op->cmd, (u_char *) ngx_http_helpdesk_chat_lua,
                               ngx_strlen(ngx_http_helpdesk_chat_lua));

    } else {
        ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "EVALSHA", 7);
        ngx_helpdesk_redis_arg(&op->cmd, ngx_http_helpdesk_chat_sha, 40);
    }

    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) "0", 1);
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) name, ngx_strlen(name));
    ngx_helpdesk_redis_arg(&op->cmd, (u_char *) op->params,
                           ngx_strlen(op->params));

    ngx_helpdesk_redis_run(&op->cmd);
}


/* A plain command: the caller has put its arguments in op->cmd. */

void
ngx_http_helpdesk_chat_command(ngx_http_helpdesk_chat_op_t *op)
{
    ngx_helpdesk_redis_run(&op->cmd);
}


ngx_int_t
ngx_http_helpdesk_chat_sql_param(ngx_http_helpdesk_chat_op_t *op,
    u_char *data, size_t len)
{
    ngx_str_t  v;

    if (op->pool == NULL) {
        op->pool = ngx_create_pool(1024, op->pq.log);
        if (op->pool == NULL) {
            op->pq.broken = 1;
            return NGX_ERROR;
        }
    }

    if (data == NULL) {
        return ngx_helpdesk_pg_param(&op->pq, op->pool, NULL);
    }

    v.data = data;
    v.len = len;

    return ngx_helpdesk_pg_param(&op->pq, op->pool, &v);
}


void
ngx_http_helpdesk_chat_sql(ngx_http_helpdesk_chat_op_t *op, const char *sql)
{
    op->pg = 1;
    op->pq.sql = sql;
    ngx_helpdesk_pg_run(&op->pq);
}


static void
ngx_http_helpdesk_chat_op_redis(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_helpdesk_chat_op_t  *op = cmd->data;

    if (op->name && !op->eval && reply && reply->type == REDIS_REPLY_ERROR
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        op->eval = 1;
        ngx_http_helpdesk_chat_script(op, op->name, NULL);
        return;
    }

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, cmd->log, 0,
                      "helpdesk chat: redis: %*s", (size_t) reply->len,
                      reply->str);
        reply = NULL;
    }

    ngx_http_helpdesk_chat_op_done(op, reply, NULL);
}


static void
ngx_http_helpdesk_chat_op_pg(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_http_helpdesk_chat_op_t  *op = q->data;

    if (res && PQresultStatus(res) != PGRES_TUPLES_OK
        && PQresultStatus(res) != PGRES_COMMAND_OK)
    {
        ngx_log_error(NGX_LOG_ERR, q->log, 0,
                      "helpdesk chat: postgres: %s %s",
                      PQresultErrorField(res, PG_DIAG_SQLSTATE),
                      PQresultErrorMessage(res));
    }

    ngx_http_helpdesk_chat_op_done(op, NULL, res);
}


static void
ngx_http_helpdesk_chat_op_done(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    op->rerun = 0;

    op->handler(op, reply, res);

    if (!op->rerun) {
        ngx_http_helpdesk_chat_op_free(op);
    }
}


/* The i-th element of an array reply (or the reply itself, i == 0). */

ngx_int_t
ngx_http_helpdesk_chat_reply_str(redisReply *r, ngx_uint_t i, ngx_str_t *out)
{
    if (r == NULL) {
        return NGX_ERROR;
    }

    if (r->type == REDIS_REPLY_ARRAY) {
        if (i >= r->elements) {
            return NGX_ERROR;
        }

        r = r->element[i];

    } else if (i != 0) {
        return NGX_ERROR;
    }

    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
        return NGX_ERROR;
    }

    out->data = (u_char *) r->str;
    out->len = r->len;

    return NGX_OK;
}
