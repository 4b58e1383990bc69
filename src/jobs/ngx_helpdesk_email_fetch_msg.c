/*
 * The IMAP fetch job, one message at a time (see ngx_helpdesk_email_fetch.c
 * for the run around it):
 *
 *   UID FETCH n BODY[]                libcurl's, bounded by max_size; a
 *                                     message whose listed size is over it
 *                                     is not read but refused, its reason
 *                                     recorded
 *   parse                             GMime, in the thread pool, as for a
 *                                     pushed mail
 *   api.email_fetch_store()           the ingest of a pushed mail, and the
 *                                     last UID advanced with it
 *   UID STORE n +FLAGS.SILENT (\Seen) or UID MOVE n "move_to"
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_helpdesk_email_fetch_int.h"
#include "event/ngx_helpdesk_password.h"
#include "lib/ngx_helpdesk_json.h"


static void ngx_helpdesk_fetch_body(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req);
static void ngx_helpdesk_fetch_thread(void *data, ngx_log_t *log);
static void ngx_helpdesk_fetch_parsed(ngx_event_t *ev);
static void ngx_helpdesk_fetch_refuse(ngx_helpdesk_fetch_run_t *run,
    uint64_t size, const char *reason);
static void ngx_helpdesk_fetch_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_fetch_mark(ngx_helpdesk_fetch_run_t *run);
static void ngx_helpdesk_fetch_marked(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req);


ngx_helpdesk_fetch_msg_t *
ngx_helpdesk_fetch_msg(ngx_helpdesk_fetch_run_t *run)
{
    ngx_helpdesk_fetch_msg_t  *m = run->msgs.elts;

    return &m[run->next];
}


void
ngx_helpdesk_fetch_next(ngx_helpdesk_fetch_run_t *run)
{
    u_char                    *p;
    ngx_str_t                  url;
    ngx_helpdesk_fetch_msg_t  *m;
    u_char                     reason[128];

    if (run->next == run->msgs.nelts || ngx_exiting) {
        run->more |= (run->next < run->msgs.nelts);
        ngx_helpdesk_fetch_end(run, "ok", NULL);
        return;
    }

    m = ngx_helpdesk_fetch_msg(run);

    if (m->size > ngx_helpdesk_fetch_conf()->max_size) {
        p = ngx_snprintf(reason, sizeof(reason) - 1,
                         "the message is %uL bytes, over the limit of %uz",
                         m->size, ngx_helpdesk_fetch_conf()->max_size);
        *p = '\0';
        ngx_helpdesk_fetch_refuse(run, m->size, (char *) reason);
        return;
    }

    url.data = ngx_pnalloc(run->pool, run->folder_url.len
                                      + sizeof("/;UID=") + NGX_INT64_LEN);
    if (url.data == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    url.len = ngx_sprintf(url.data, "%V/;UID=%uL", &run->folder_url, m->uid)
              - url.data;

    /* a body: bounded by the limit, and given a longer time */
    ngx_helpdesk_fetch_imap(run, &url, NULL,
                            4 * ngx_helpdesk_fetch_conf()->timeout,
                            ngx_helpdesk_fetch_conf()->max_size + 1,
                            ngx_helpdesk_fetch_body);
}


static void
ngx_helpdesk_fetch_body(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req)
{
    ngx_thread_pool_t  *tp;
    ngx_thread_task_t  *task;

    if (req->truncated || req->body.len > ngx_helpdesk_fetch_conf()->max_size)
    {
        ngx_helpdesk_curl_free(req);
        run->req = NULL;
        ngx_helpdesk_fetch_refuse(run, ngx_helpdesk_fetch_msg(run)->size,
                                  "the message is larger than its size said, "
                                  "and over the limit");
        return;
    }

    if (req->body.len == 0) {
        ngx_helpdesk_curl_free(req);
        run->req = NULL;
        ngx_helpdesk_fetch_refuse(run, 0, "the server sent an empty message");
        return;
    }

    tp = ngx_helpdesk_thread_pool();
    if (tp == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "no thread pool to parse in");
        return;
    }

    /* the raw message and room for its attachments: copied in the task */
    run->mime.raw_len = req->body.len;
    run->mime.blob_size = ngx_helpdesk_mime_blob(req->body.len);
    run->mime.blob = ngx_alloc(run->mime.blob_size, run->log);
    if (run->mime.blob == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory for a message "
                               "of %uz bytes", req->body.len);
        return;
    }

    task = ngx_thread_task_alloc(run->pool, 0);
    if (task == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    task->ctx = run;
    task->handler = ngx_helpdesk_fetch_thread;
    task->event.handler = ngx_helpdesk_fetch_parsed;
    task->event.data = run;
    task->event.log = run->log;

    if (ngx_thread_task_post(tp, task) != NGX_OK) {
        ngx_helpdesk_fetch_end(run, "error", "the thread pool's queue is "
                               "full");
        return;
    }

    run->parsing = 1;
}


/* In the thread pool: the body into the blob, then parsed. */
static void
ngx_helpdesk_fetch_thread(void *data, ngx_log_t *log)
{
    ngx_helpdesk_fetch_run_t  *run = data;

    ngx_memcpy(run->mime.blob, run->req->body.data, run->mime.raw_len);
    run->rc = ngx_helpdesk_mime_parse(&run->mime);
}


static void
ngx_helpdesk_fetch_parsed(ngx_event_t *ev)
{
    ngx_str_t                  meta;
    ngx_helpdesk_pg_query_t   *q;
    ngx_helpdesk_fetch_run_t  *run = ev->data;
    ngx_helpdesk_fetch_msg_t  *m;

    run->parsing = 0;

    /* the raw bytes are in the blob: the transfer's copy goes */
    ngx_helpdesk_curl_free(run->req);
    run->req = NULL;

    m = ngx_helpdesk_fetch_msg(run);

    if (run->rc == NGX_DECLINED) {
        ngx_helpdesk_fetch_refuse(run, m->size, run->mime.error);
        return;
    }

    if (run->rc != NGX_OK
        || ngx_helpdesk_json_dump(run->pool, run->mime.meta, &meta) != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "cannot parse UID %uL", m->uid);
        return;
    }

    q = ngx_helpdesk_fetch_query(run, "SELECT api.email_fetch_store($1::bytea,"
                                 " $2, $3, $4, $5, $6, $7, $8, $9::jsonb,"
                                 " $10::bytea)::text",
                                 ngx_helpdesk_fetch_stored);
    if (q == NULL
        || ngx_helpdesk_fetch_num(run, run->validity) != NGX_OK
        || ngx_helpdesk_fetch_num(run, m->uid) != NGX_OK
        || ngx_helpdesk_fetch_num(run, m->size) != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &meta) != NGX_OK
        || ngx_helpdesk_pg_param_binary(q, run->mime.blob, run->mime.blob_len)
           != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_helpdesk_fetch_refuse(ngx_helpdesk_fetch_run_t *run, uint64_t size,
    const char *reason)
{
    ngx_str_t                  v;
    ngx_helpdesk_pg_query_t   *q;
    ngx_helpdesk_fetch_msg_t  *m = ngx_helpdesk_fetch_msg(run);

    ngx_log_error(NGX_LOG_WARN, run->log, 0,
                  "helpdesk email fetch: mailbox %V: UID %uL refused: %s",
                  &run->mailbox, m->uid, reason);

    q = ngx_helpdesk_fetch_query(run, "SELECT api.email_fetch_refuse("
                                 "$1::bytea, $2, $3, $4, $5, $6, $7, $8, $9)"
                                 "::text", ngx_helpdesk_fetch_stored);

    v.data = (u_char *) reason;
    v.len = ngx_strlen(reason);

    if (q == NULL
        || ngx_helpdesk_fetch_num(run, run->validity) != NGX_OK
        || ngx_helpdesk_fetch_num(run, m->uid) != NGX_OK
        || ngx_helpdesk_fetch_num(run, size) != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &v) != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    ngx_helpdesk_pg_run(q);
}


/* a message stored (or refused): the UID has advanced; now mark it */
static void
ngx_helpdesk_fetch_stored(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_fetch_run_t  *run = q->data;

    ngx_helpdesk_mime_free(&run->mime);

    if (res == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "PostgreSQL is unavailable");
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the lease taken over, or the mailbox deleted: the run is over */
        ngx_helpdesk_fetch_end(run, "error", "cannot store UID %uL: %s",
                               ngx_helpdesk_fetch_msg(run)->uid,
                               PQresultErrorField(res,
                                                  PG_DIAG_MESSAGE_PRIMARY));
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, run->log, 0,
                   "helpdesk email fetch: mailbox %V: UID %uL: %s",
                   &run->mailbox, ngx_helpdesk_fetch_msg(run)->uid,
                   PQgetvalue(res, 0, 0));

    run->taken++;
    ngx_helpdesk_fetch_mark(run);
}


static void
ngx_helpdesk_fetch_mark(ngx_helpdesk_fetch_run_t *run)
{
    u_char                    *command, *p;
    ngx_helpdesk_fetch_msg_t  *m = ngx_helpdesk_fetch_msg(run);

    command = ngx_pnalloc(run->pool, run->move_to.len + 64);
    if (command == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    if (run->move_to.len) {
        p = ngx_sprintf(command, "UID MOVE %uL \"%V\"", m->uid, &run->move_to);

    } else {
        p = ngx_sprintf(command, "UID STORE %uL +FLAGS.SILENT (\\Seen)",
                        m->uid);
    }

    *p = '\0';

    ngx_helpdesk_fetch_imap(run, &run->folder_url, (char *) command,
                            ngx_helpdesk_fetch_conf()->timeout,
                            NGX_HELPDESK_FETCH_ANSWER_MAX,
                            ngx_helpdesk_fetch_marked);
}


static void
ngx_helpdesk_fetch_marked(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req)
{
    ngx_helpdesk_curl_free(req);
    run->req = NULL;

    run->next++;
    ngx_helpdesk_fetch_next(run);
}
