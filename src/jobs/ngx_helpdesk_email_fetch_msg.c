/*
 * The IMAP fetch job, one message at a time (see ngx_helpdesk_email_fetch.c
 * for the run around it), the way a pushed mail goes
 * (ngx_http_helpdesk_email_inbound.c), so that a mailbox of large mails
 * costs a worker no more memory than a pushed one:
 *
 *   UID FETCH n BODY[]                libcurl's, written as it arrives to
 *                                     the run's temporary file (unlinked),
 *                                     bounded by max_size; a message whose
 *                                     listed size is over it is not read
 *                                     but refused, its reason recorded
 *   parse                             GMime, in the thread pool, from the
 *                                     file, under the worker's budget of
 *                                     messages being parsed (past it, the
 *                                     run ends and the mailbox is due
 *                                     again at once); the attachments
 *                                     decoded to a file of their own
 *   api.email_fetch_chunk()           the blob (the raw message, then the
 *                                     attachments) in pieces of
 *                                     NGX_HELPDESK_MIME_CHUNK, each read in
 *                                     the thread pool
 *   api.email_fetch_store()           with the last piece: the ingest of a
 *                                     pushed mail, and the last UID
 *                                     advanced with it
 *   UID STORE n +FLAGS.SILENT (\Seen) or UID MOVE n "move_to"
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_thread_pool.h>

#include "ngx_helpdesk_email_fetch_int.h"
#include "event/ngx_helpdesk_password.h"
#include "lib/ngx_helpdesk_crypto.h"
#include "lib/ngx_helpdesk_json.h"
#include <jansson.h>


typedef void (*ngx_helpdesk_fetch_task_pt)(void *data, ngx_log_t *log);


static void ngx_helpdesk_fetch_body(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req);
static ngx_int_t ngx_helpdesk_fetch_post(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_fetch_task_pt handler, ngx_event_handler_pt done);
static void ngx_helpdesk_fetch_thread(void *data, ngx_log_t *log);
static void ngx_helpdesk_fetch_parsed(ngx_event_t *ev);
static void ngx_helpdesk_fetch_piece(ngx_helpdesk_fetch_run_t *run);
static void ngx_helpdesk_fetch_read(void *data, ngx_log_t *log);
static void ngx_helpdesk_fetch_send(ngx_event_t *ev);
static void ngx_helpdesk_fetch_staged(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
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


/* never while a task runs: the run waits for it (run->working) */
void
ngx_helpdesk_fetch_msg_free(ngx_helpdesk_fetch_run_t *run)
{
    if (run->parsing) {
        ngx_helpdesk_mime_budget_give(run->mime.raw_len);
        run->parsing = 0;
    }

    ngx_helpdesk_mime_free(&run->mime);
    ngx_helpdesk_mime_init(&run->mime);

    if (run->meta.data) {
        free(run->meta.data);
        ngx_str_null(&run->meta);
    }

    if (run->chunk) {
        ngx_free(run->chunk);
        run->chunk = NULL;
    }
}


void
ngx_helpdesk_fetch_next(ngx_helpdesk_fetch_run_t *run)
{
    u_char                           *p;
    ngx_str_t                         url;
    ngx_helpdesk_fetch_msg_t         *m;
    ngx_helpdesk_email_fetch_conf_t  *conf = ngx_helpdesk_fetch_conf();
    u_char                            reason[128];

    if (run->next == run->msgs.nelts || ngx_exiting) {
        run->more |= (run->next < run->msgs.nelts);
        ngx_helpdesk_fetch_end(run, "ok", NULL);
        return;
    }

    m = ngx_helpdesk_fetch_msg(run);

    if (m->size > conf->max_size) {
        p = ngx_snprintf(reason, sizeof(reason) - 1,
                         "the message is %uL bytes, over the limit of %uz",
                         m->size, conf->max_size);
        *p = '\0';
        ngx_helpdesk_fetch_refuse(run, m->size, (char *) reason);
        return;
    }

    /* the run's file, made at its first message: unlinked at once */
    if (run->file.fd == NGX_INVALID_FILE) {
        run->file.log = run->log;

        if (conf->temp_path == NULL
            || ngx_create_temp_file(&run->file, conf->temp_path, run->pool,
                                    0, 0, NGX_FILE_DEFAULT_ACCESS)
               != NGX_OK)
        {
            run->file.fd = NGX_INVALID_FILE;
            ngx_helpdesk_fetch_end(run, "error", "cannot make a temporary "
                                   "file for the message");
            return;
        }
    }

    url.data = ngx_pnalloc(run->pool, run->folder_url.len
                                      + sizeof("/;UID=") + NGX_INT64_LEN);
    if (url.data == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    url.len = ngx_sprintf(url.data, "%V/;UID=%uL", &run->folder_url, m->uid)
              - url.data;

    /* a body: to the file, bounded by the limit, and given a longer time */
    run->to_file = 1;
    ngx_helpdesk_fetch_imap(run, &url, NULL, 4 * conf->timeout,
                            conf->max_size + 1, ngx_helpdesk_fetch_body);
}


static void
ngx_helpdesk_fetch_body(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req)
{
    size_t      len;
    ngx_flag_t  over;

    run->to_file = 0;

    len = req->file_len;
    over = req->truncated || len > ngx_helpdesk_fetch_conf()->max_size;

    ngx_helpdesk_curl_free(req);
    run->req = NULL;

    if (over) {
        ngx_helpdesk_fetch_refuse(run, ngx_helpdesk_fetch_msg(run)->size,
                                  "the message is larger than its size said, "
                                  "and over the limit");
        return;
    }

    if (len == 0) {
        ngx_helpdesk_fetch_refuse(run, 0, "the server sent an empty message");
        return;
    }

    if (ngx_helpdesk_thread_pool() == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "no thread pool to parse in");
        return;
    }

    /* the worker is parsing enough: this message in the next run, soon */
    if (ngx_helpdesk_mime_budget_take(len, run->log) != NGX_OK) {
        run->more = 1;
        ngx_helpdesk_fetch_end(run, "ok", NULL);
        return;
    }

    /* the message is the file, read in place by the task */
    ngx_memzero(&run->raw, sizeof(ngx_buf_t));
    run->raw.in_file = 1;
    run->raw.file = &run->file;
    run->raw.file_pos = 0;
    run->raw.file_last = (off_t) len;
    run->raw_cl.buf = &run->raw;
    run->raw_cl.next = NULL;

    ngx_helpdesk_mime_init(&run->mime);
    run->mime.body = &run->raw_cl;
    run->mime.raw_len = len;
    run->mime.temp_dir = (const char *) ngx_helpdesk_fetch_conf()->temp_dir;
    run->parsing = 1;

    if (ngx_helpdesk_fetch_post(run, ngx_helpdesk_fetch_thread,
                                ngx_helpdesk_fetch_parsed)
        != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "the thread pool's queue is "
                               "full");
    }
}


static ngx_int_t
ngx_helpdesk_fetch_post(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_fetch_task_pt handler, ngx_event_handler_pt done)
{
    if (run->task == NULL) {
        run->task = ngx_thread_task_alloc(run->pool, 0);
        if (run->task == NULL) {
            return NGX_ERROR;
        }
    }

    run->task->ctx = run;
    run->task->handler = handler;
    run->task->event.handler = done;
    run->task->event.data = run;
    run->task->event.log = run->log;

    if (ngx_thread_task_post(ngx_helpdesk_thread_pool(), run->task) != NGX_OK)
    {
        return NGX_ERROR;
    }

    run->working = 1;

    return NGX_OK;
}


/* In the thread pool: the message parsed from its file. */
static void
ngx_helpdesk_fetch_thread(void *data, ngx_log_t *log)
{
    ngx_helpdesk_fetch_run_t  *run = data;

    run->rc = ngx_helpdesk_mime_parse(&run->mime);

    if (run->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "helpdesk email fetch: the message's files failed");
    }
}


static void
ngx_helpdesk_fetch_parsed(ngx_event_t *ev)
{
    u_char                           *p;
    json_t                           *link;
    ngx_helpdesk_fetch_run_t         *run = ev->data;
    ngx_helpdesk_fetch_msg_t         *m;
    ngx_helpdesk_email_fetch_conf_t  *conf;
    u_char                            id[16];

    run->working = 0;

    ngx_helpdesk_mime_budget_give(run->mime.raw_len);
    run->parsing = 0;

    m = ngx_helpdesk_fetch_msg(run);

    if (run->rc == NGX_DECLINED) {
        ngx_helpdesk_fetch_refuse(run, m->size, run->mime.error);
        return;
    }

    if (run->rc != NGX_OK) {
        ngx_helpdesk_fetch_end(run, "error", "cannot parse UID %uL", m->uid);
        return;
    }

    /*
     * where the tenant's portal is, for the links of the mails sent back,
     * as a pushed mail's request names it (ngx_http_helpdesk_req_link())
     */
    conf = ngx_helpdesk_fetch_conf();

    link = json_pack("{s:s, s:s#, s:s, s:b}",
                     "scheme", conf->link_https ? "https" : "http",
                     "base", conf->link_base.data
                             ? (char *) conf->link_base.data : "",
                     (int) conf->link_base.len,
                     "path", "", "domains", 1);

    if (link == NULL
        || (conf->link_port
            && json_object_set_new(link, "port",
                                   json_integer((json_int_t) conf->link_port))
               != 0)
        || json_object_set_new(run->mime.meta, "link", link) != 0)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    /*
     * the meta outside the run's pool, as PostgreSQL writes jsonb (a run
     * takes many messages: its pool does not grow with them)
     */
    run->meta.data = (u_char *) json_dumps(run->mime.meta, JSON_ENCODE_ANY);

    json_decref(run->mime.meta);
    run->mime.meta = NULL;

    run->total = run->mime.raw_len + run->mime.files_len;
    run->chunk = ngx_alloc(ngx_min(run->total, NGX_HELPDESK_MIME_CHUNK),
                           run->log);

    if (run->meta.data == NULL || run->chunk == NULL
        || ngx_helpdesk_random(id, sizeof(id)) != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    run->meta.len = ngx_strlen(run->meta.data);

    if (run->upload.data == NULL) {
        run->upload.data = ngx_pnalloc(run->pool, 36);
        if (run->upload.data == NULL) {
            ngx_helpdesk_fetch_end(run, "error", "out of memory");
            return;
        }
    }

    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    p = ngx_sprintf(run->upload.data, "%*xs-%*xs-%*xs-%*xs-%*xs", 4, id,
                    2, id + 4, 2, id + 6, 2, id + 8, 6, id + 10);
    run->upload.len = p - run->upload.data;

    run->sent = 0;
    run->seq = 0;

    ngx_helpdesk_fetch_piece(run);
}


/* the blob's next piece, read in the thread pool */
static void
ngx_helpdesk_fetch_piece(ngx_helpdesk_fetch_run_t *run)
{
    run->chunk_len = ngx_min(run->total - run->sent, NGX_HELPDESK_MIME_CHUNK);

    if (ngx_helpdesk_fetch_post(run, ngx_helpdesk_fetch_read,
                                ngx_helpdesk_fetch_send)
        != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "the thread pool's queue is "
                               "full");
    }
}


/* In the thread pool: bytes [sent, sent + chunk_len) of the blob. */
static void
ngx_helpdesk_fetch_read(void *data, ngx_log_t *log)
{
    ngx_helpdesk_fetch_run_t  *run = data;

    run->rc = ngx_helpdesk_mime_read(&run->mime, (off_t) run->sent,
                                     run->chunk, run->chunk_len, log);
}


static void
ngx_helpdesk_fetch_send(ngx_event_t *ev)
{
    ngx_helpdesk_pg_query_t   *q;
    ngx_helpdesk_fetch_run_t  *run = ev->data;
    ngx_helpdesk_fetch_msg_t  *m;

    run->working = 0;

    m = ngx_helpdesk_fetch_msg(run);

    if (run->rc != NGX_OK) {
        ngx_helpdesk_fetch_end(run, "error", "cannot read UID %uL back",
                               m->uid);
        return;
    }

    if (run->sent + run->chunk_len < run->total) {
        /* a piece staged, in its own statement (the lease renewed) */
        q = ngx_helpdesk_fetch_query(run, "SELECT api.email_fetch_chunk("
                                     "$1::bytea, $2, $3, $4, $5, $6::uuid,"
                                     " $7::int, $8::bytea)",
                                     ngx_helpdesk_fetch_staged);
        if (q == NULL
            || ngx_helpdesk_pg_param(q, run->pool, &run->upload) != NGX_OK
            || ngx_helpdesk_fetch_num(run, run->seq) != NGX_OK
            || ngx_helpdesk_pg_param_binary(q, run->chunk, run->chunk_len)
               != NGX_OK)
        {
            ngx_helpdesk_fetch_end(run, "error", "out of memory");
            return;
        }

        ngx_helpdesk_pg_run(q);
        return;
    }

    /* the last piece, with the message: one transaction */
    q = ngx_helpdesk_fetch_query(run, "SELECT api.email_fetch_store($1::bytea,"
                                 " $2, $3, $4, $5, $6, $7, $8, $9::jsonb,"
                                 " $10::bytea, $11::uuid)::text",
                                 ngx_helpdesk_fetch_stored);
    if (q == NULL
        || ngx_helpdesk_fetch_num(run, run->validity) != NGX_OK
        || ngx_helpdesk_fetch_num(run, m->uid) != NGX_OK
        || ngx_helpdesk_fetch_num(run, m->size) != NGX_OK
        || q->nparams >= NGX_HELPDESK_PG_MAX_PARAMS - 2)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    /* the meta as it is (NUL-terminated text), not copied */
    q->values[q->nparams] = (const char *) run->meta.data;
    q->lengths[q->nparams] = (int) run->meta.len;
    q->nparams++;

    if (ngx_helpdesk_pg_param_binary(q, run->chunk, run->chunk_len) != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &run->upload) != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_helpdesk_fetch_staged(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_fetch_run_t  *run = q->data;

    if (res == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "PostgreSQL is unavailable");
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_helpdesk_fetch_end(run, "error", "cannot stage UID %uL: %s",
                               ngx_helpdesk_fetch_msg(run)->uid,
                               ngx_helpdesk_fetch_pg_error(res));
        return;
    }

    run->sent += run->chunk_len;
    run->seq++;

    ngx_helpdesk_fetch_piece(run);
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

    ngx_helpdesk_fetch_msg_free(run);

    if (res == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "PostgreSQL is unavailable");
        return;
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the lease taken over, or the mailbox deleted: the run is over */
        ngx_helpdesk_fetch_end(run, "error", "cannot store UID %uL: %s",
                               ngx_helpdesk_fetch_msg(run)->uid,
                               ngx_helpdesk_fetch_pg_error(res));
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
