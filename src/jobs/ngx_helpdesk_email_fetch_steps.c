/*
 * The IMAP fetch job: a run's steps up to its messages (the job, the
 * claim and the run's end: ngx_helpdesk_email_fetch.c; the folder's list,
 * a window of UIDs at a time: ngx_helpdesk_email_fetch_list.c; each
 * message's steps: ngx_helpdesk_email_fetch_msg.c).
 *
 *   STATUS "folder" (UIDVALIDITY UIDNEXT)   the login and the folder
 *   api.email_fetch_begin()                 where to start
 *   UID FETCH a:b (UID RFC822.SIZE FLAGS)   the messages since, their sizes
 *
 * and the one IMAP request every step of a run makes, with its one more
 * try when a kept session turns out closed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_email_fetch_int.h"


static void ngx_helpdesk_fetch_answered(ngx_helpdesk_curl_req_t *req,
    CURLcode result);
static void ngx_helpdesk_fetch_status(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req);
static void ngx_helpdesk_fetch_begun(ngx_helpdesk_pg_query_t *q,
    PGresult *res);


/* STATUS "folder" (UIDVALIDITY UIDNEXT): the login and the folder checked */
void
ngx_helpdesk_fetch_login(ngx_helpdesk_fetch_run_t *run)
{
    u_char     *p;
    ngx_str_t   command;

    command.len = sizeof("STATUS \"\" (UIDVALIDITY UIDNEXT)") - 1
                  + run->url.folder.len;
    command.data = ngx_pnalloc(run->pool, command.len + 1);
    if (command.data == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    p = ngx_sprintf(command.data, "STATUS \"%V\" (UIDVALIDITY UIDNEXT)",
                    &run->url.folder);
    *p = '\0';

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, run->log, 0,
                   "helpdesk email fetch: mailbox %V at %V%s",
                   &run->mailbox, &run->url.url,
                   run->bearer ? " (XOAUTH2)" : "");

    ngx_helpdesk_fetch_imap(run, &run->url.root, (char *) command.data,
                            ngx_helpdesk_fetch_conf()->timeout,
                            NGX_HELPDESK_FETCH_ANSWER_MAX,
                            ngx_helpdesk_fetch_status);
}


/* One IMAP request of the run; "step" has its answer, failures end it. */
void
ngx_helpdesk_fetch_imap(ngx_helpdesk_fetch_run_t *run, ngx_str_t *url,
    const char *command, ngx_msec_t timeout, size_t max,
    ngx_helpdesk_fetch_step_pt step)
{
    ngx_helpdesk_curl_req_t          *req;
    ngx_helpdesk_email_fetch_conf_t  *conf = ngx_helpdesk_fetch_conf();

    req = ngx_helpdesk_curl_imap(run->log, url, command, &run->user,
                                 &run->password, &conf->ca_file, timeout, max);
    if (req == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "cannot make the request");
        return;
    }

    /*
     * A session serves the steps of one run, which follow each other at
     * once; the next run logs in again, and sees the folder as it is then
     * (a session kept idle may still show the folder as it was).
     */
    curl_easy_setopt(req->easy, CURLOPT_MAXAGE_CONN, 0L);

    /* a provider's mailbox: SASL XOAUTH2 with the access token */
    if (run->bearer) {
        curl_easy_setopt(req->easy, CURLOPT_PASSWORD, NULL);
        curl_easy_setopt(req->easy, CURLOPT_XOAUTH2_BEARER,
                         (char *) run->password.data);
        curl_easy_setopt(req->easy, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
    }

    /* a message's body: to the run's file, emptied (a retry starts over) */
    if (run->to_file) {
        if (ftruncate(run->file.fd, 0) == -1) {
            ngx_helpdesk_curl_free(req);
            ngx_helpdesk_fetch_end(run, "error", "cannot empty the "
                                   "message's file: %s", strerror(ngx_errno));
            return;
        }

        ngx_helpdesk_curl_imap_to_file(req, run->file.fd);
    }

    if (step != run->step || url != &run->step_url) {
        run->step_url = *url;
        run->step_command = command;
        run->step_timeout = timeout;
        run->step_max = max;
        run->retried = 0;

    } else {
        curl_easy_setopt(req->easy, CURLOPT_FRESH_CONNECT, 1L);
    }

    req->handler = ngx_helpdesk_fetch_answered;
    req->data = run;
    run->req = req;
    run->step = step;

    if (ngx_helpdesk_curl_start(req) != NGX_OK) {
        run->req = NULL;
        ngx_helpdesk_curl_free(req);
        ngx_helpdesk_fetch_end(run, "error", "cannot start the request");
    }
}


static void
ngx_helpdesk_fetch_answered(ngx_helpdesk_curl_req_t *req, CURLcode result)
{
    long                       connects;
    ngx_helpdesk_fetch_run_t  *run = req->data;

    /*
     * A session kept from an earlier step or run that the server has
     * closed meanwhile (it logs idle clients out, or told them to log in
     * again after its UIDVALIDITY changed): the step once more, on a
     * connection of its own.
     */
    if ((result == CURLE_RECV_ERROR || result == CURLE_SEND_ERROR
         || result == CURLE_GOT_NOTHING)
        && !run->retried
        && curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &connects)
           == CURLE_OK
        && connects == 0)
    {
        ngx_log_error(NGX_LOG_INFO, run->log, 0,
                      "helpdesk email fetch: mailbox %V: a kept session was "
                      "closed (%s), trying again", &run->mailbox, req->error);
        run->req = NULL;
        ngx_helpdesk_curl_free(req);
        run->retried = 1;
        ngx_helpdesk_fetch_imap(run, &run->step_url, run->step_command,
                                run->step_timeout, run->step_max, run->step);
        return;
    }

    if (result != CURLE_OK) {
        run->req = NULL;
        ngx_helpdesk_fetch_end(run,
                               ngx_helpdesk_fetch_state(result, req->refused),
                               "%s", req->error);
        ngx_helpdesk_curl_free(req);
        return;
    }

    run->step(run, req);
}


static void
ngx_helpdesk_fetch_status(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req)
{
    ngx_helpdesk_pg_query_t  *q;

    if (ngx_helpdesk_fetch_uidvalidity(&req->body, &run->validity) != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "the server did not say the "
                               "folder's UIDVALIDITY");
        return;
    }

    /* where the listing's windows end (0: the server did not say) */
    run->uidnext = ngx_helpdesk_fetch_uidnext(&req->body);

    ngx_helpdesk_curl_free(req);
    run->req = NULL;

    /* the UIDNEXT: the boundary of what a mailbox held before its first run */
    q = ngx_helpdesk_fetch_query(run, "SELECT after, seen_below, reset FROM "
                                 "api.email_fetch_begin($1::bytea, $2, $3, $4,"
                                 " $5, $6, $7)", ngx_helpdesk_fetch_begun);
    if (q == NULL
        || ngx_helpdesk_fetch_num(run, run->validity) != NGX_OK
        || (run->uidnext
            ? ngx_helpdesk_fetch_num(run, run->uidnext)
            : ngx_helpdesk_pg_param(q, run->pool, NULL)) != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_helpdesk_fetch_begun(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    u_char                    *p;
    ngx_int_t                  n;
    ngx_helpdesk_fetch_run_t  *run = q->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        ngx_helpdesk_fetch_end(run, "error", "cannot record the run: %s",
                               ngx_helpdesk_fetch_pg_error(res));
        return;
    }

    n = ngx_atoi((u_char *) PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
    run->after = n > 0 ? (uint64_t) n : 0;
    n = ngx_atoi((u_char *) PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1));
    run->seen_below = n > 0 ? (uint64_t) n : 0;

    if (PQgetvalue(res, 0, 2)[0] == 't') {
        ngx_log_error(NGX_LOG_NOTICE, run->log, 0,
                      "helpdesk email fetch: mailbox %V: the folder's "
                      "UIDVALIDITY is now %uL, every message is looked at "
                      "again", &run->mailbox, run->validity);
    }

    /* the folder's URL, held to the UIDVALIDITY read */
    run->folder_url.data = ngx_pnalloc(run->pool, run->url.url.len
                                       + sizeof(";UIDVALIDITY=/;UID=") - 1
                                       + 2 * NGX_INT64_LEN + 1);
    if (run->folder_url.data == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    p = ngx_sprintf(run->folder_url.data, "%V;UIDVALIDITY=%uL",
                    &run->url.url, run->validity);
    run->folder_url.len = p - run->folder_url.data;

    run->lo = run->after + 1;
    run->listed_to = run->after;

    ngx_helpdesk_fetch_window(run);
}
