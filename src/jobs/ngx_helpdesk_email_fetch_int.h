/*
 * The IMAP fetch job's parts: a run of it on one mailbox
 * (ngx_helpdesk_email_fetch.c: claim, end; ngx_helpdesk_email_fetch_steps.c:
 * login, begin, and each IMAP request; ngx_helpdesk_email_fetch_list.c: the
 * list, a window of UIDs at a time) and its steps for one message
 * (ngx_helpdesk_email_fetch_msg.c: fetch, parse, store, mark).
 */

#ifndef _NGX_HELPDESK_EMAIL_FETCH_INT_H_INCLUDED_
#define _NGX_HELPDESK_EMAIL_FETCH_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_email_fetch.h"
#include "event/ngx_helpdesk_pg.h"
#include "event/ngx_helpdesk_curl_imap.h"
#include "email/ngx_helpdesk_mime.h"


/* what is kept of the answers to our own commands */
#define NGX_HELPDESK_FETCH_ANSWER_MAX  (2 * 1024 * 1024)

#define NGX_HELPDESK_FETCH_REASON_MAX  300

/*
 * The folder is listed a window of UIDs at a time.  libcurl counts a
 * command's untagged answer against its cap on response headers, 300 KB,
 * and counts each line with what follows it in the same read: about
 * lines^2 / 2 times a line's length (60-100 bytes) when the answer comes
 * in one read.  128 lines already failed now and then; 40 count at most
 * some 80 KB.  A run lists at most NGX_HELPDESK_FETCH_WINDOWS windows (or,
 * among the UIDs below the mailbox's boundary, where what had been read
 * before it was connected is left, on to the boundary or half its lease).
 */
#define NGX_HELPDESK_FETCH_WINDOW      40
#define NGX_HELPDESK_FETCH_WINDOWS     128


typedef struct ngx_helpdesk_fetch_run_s  ngx_helpdesk_fetch_run_t;

typedef void (*ngx_helpdesk_fetch_step_pt)(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req);


struct ngx_helpdesk_fetch_run_s {
    ngx_pool_t                     *pool;
    ngx_log_t                      *log;
    ngx_helpdesk_pg_query_t         query;

    ngx_str_t                       tenant;
    ngx_str_t                       mailbox;
    ngx_str_t                       token;      /* the lease's */
    ngx_str_t                       user;
    ngx_str_t                       password;   /* opened */
    ngx_str_t                       move_to;    /* empty: flag \Seen */
    ngx_helpdesk_imap_url_t         url;
    ngx_str_t                       folder_url; /* with ;UIDVALIDITY= */
    ngx_str_t                       lease;      /* ms, as text */

    /*
     * a provider's mailbox (microsoft365, gmail): XOAUTH2 with "password"
     * the access token; its client and tokens as claimed (sealed), the
     * seconds the access token has left (-1: none), a code to exchange
     * first (with its state, verifier and redirect URI)
     */
    ngx_helpdesk_oauth_provider_t  *oauth;
    ngx_str_t                       client_id;
    ngx_str_t                       client_secret;
    ngx_str_t                       refresh_token;
    ngx_str_t                       access_token;
    ngx_int_t                       access_ttl;
    ngx_str_t                       code;
    ngx_str_t                       verifier;
    ngx_str_t                       state_hash;
    ngx_str_t                       redirect_uri;
    ngx_str_t                       new_refresh;    /* sealed */
    ngx_str_t                       new_access;     /* sealed */
    ngx_int_t                       expires_in;
    unsigned                        bearer:1;
    unsigned                        exchanging:1;
    ngx_helpdesk_curl_req_t        *req_token;  /* to the token endpoint */

    uint64_t                        validity;
    uint64_t                        uidnext;    /* 0: not said */
    uint64_t                        after;

    /* the window listed: "UID FETCH lo:hi", "lo:*" when hi is 0 */
    uint64_t                        lo;
    uint64_t                        hi;
    uint64_t                        listed_to;  /* every UID up to it seen */
    ngx_uint_t                      windows;
    ngx_msec_t                      started;
    u_char                          list_command[
                                        sizeof("UID FETCH : (UID "
                                               "RFC822.SIZE FLAGS)")
                                        + 2 * NGX_INT64_LEN];
    uint64_t                        highest;
    uint64_t                        seen_below; /* \Seen below: left */
    ngx_array_t                     msgs;       /* ngx_helpdesk_fetch_msg_t */
    ngx_uint_t                      next;
    ngx_uint_t                      taken;      /* this run's messages */
    ngx_flag_t                      more;
    uint64_t                        cut;        /* first left for later */

    ngx_helpdesk_curl_req_t        *req;
    ngx_helpdesk_fetch_step_pt      step;

    /* the step's request, for one more try on a connection of its own */
    ngx_str_t                       step_url;
    const char                     *step_command;
    ngx_msec_t                      step_timeout;
    size_t                          step_max;
    unsigned                        retried:1;
    /*
     * the message the run is at: fetched into "file" (the run's, unlinked,
     * emptied for each message), parsed from it (mime.body is "raw", one
     * buffer of the file), its blob sent to PostgreSQL in pieces of
     * NGX_HELPDESK_MIME_CHUNK bytes under "upload"
     */
    ngx_file_t                      file;
    ngx_buf_t                       raw;
    ngx_chain_t                     raw_cl;
    unsigned                        to_file:1;  /* the request's answer */
    ngx_helpdesk_mime_t             mime;
    ngx_int_t                       rc;         /* of the task */
    ngx_thread_task_t              *task;
    unsigned                        parsing:1;  /* counted in the budget */
    unsigned                        working:1;  /* a task in the pool */

    ngx_str_t                       meta;
    ngx_str_t                       upload;     /* a uuid */
    u_char                         *chunk;      /* ngx_alloc() */
    size_t                          chunk_len;
    size_t                          sent;
    size_t                          total;
    ngx_uint_t                      seq;

    const char                     *state;      /* of the run's end */
    u_char                          reason[NGX_HELPDESK_FETCH_REASON_MAX];
    ngx_str_t                       why;
};

ngx_helpdesk_email_fetch_conf_t *ngx_helpdesk_fetch_conf(void);

/* the run over without more to record: freed, the mailbox's slot freed */
void ngx_helpdesk_fetch_release(ngx_helpdesk_fetch_run_t *run);

/* the run's login checked: STATUS of its folder, then the run's steps */
void ngx_helpdesk_fetch_login(ngx_helpdesk_fetch_run_t *run);

/*
 * ngx_helpdesk_email_oauth.c: a provider's mailbox gets a usable access
 * token (a code exchanged, or the token refreshed when it has less than
 * NGX_HELPDESK_OAUTH_MARGIN seconds left), then logs in with it.
 */
#define NGX_HELPDESK_OAUTH_MARGIN  300

void ngx_helpdesk_fetch_oauth(ngx_helpdesk_fetch_run_t *run);

/* a value opened: sealed to "<table>.<column>:<row>" */
ngx_int_t ngx_helpdesk_fetch_open(ngx_helpdesk_fetch_run_t *run,
    const char *table, const char *column, ngx_str_t *row, ngx_str_t *sealed,
    ngx_str_t *plain);

/* One IMAP request of the run; "step" has its answer, failures end it. */
void ngx_helpdesk_fetch_imap(ngx_helpdesk_fetch_run_t *run, ngx_str_t *url,
    const char *command, ngx_msec_t timeout, size_t max,
    ngx_helpdesk_fetch_step_pt step);

/* The run's end, recorded (state, and why: a format, or NULL). */
void ngx_helpdesk_fetch_end(ngx_helpdesk_fetch_run_t *run, const char *state,
    const char *fmt, ...);

/*
 * A statement of the run: the proof, the tenant, the mailbox, the lease's
 * token and length are its first five parameters; then numbers.
 */
ngx_helpdesk_pg_query_t *ngx_helpdesk_fetch_query(
    ngx_helpdesk_fetch_run_t *run, const char *sql,
    ngx_helpdesk_pg_handler_pt handler);
ngx_int_t ngx_helpdesk_fetch_num(ngx_helpdesk_fetch_run_t *run, uint64_t n);

/*
 * What PostgreSQL said of a failed statement, never NULL: its primary
 * message, else libpq's whole message, else a word that says there was
 * none (a result with no error fields: no row where one was expected).
 */
const char *ngx_helpdesk_fetch_pg_error(PGresult *res);

/*
 * ngx_helpdesk_email_fetch_list.c: the folder listed from "after", a
 * window after the other, then its messages taken
 */
void ngx_helpdesk_fetch_window(ngx_helpdesk_fetch_run_t *run);

/* the message the run is at, and the next one */
ngx_helpdesk_fetch_msg_t *ngx_helpdesk_fetch_msg(
    ngx_helpdesk_fetch_run_t *run);
void ngx_helpdesk_fetch_next(ngx_helpdesk_fetch_run_t *run);

/* what the message the run is at holds (its parse, its piece), freed */
void ngx_helpdesk_fetch_msg_free(ngx_helpdesk_fetch_run_t *run);


#endif /* _NGX_HELPDESK_EMAIL_FETCH_INT_H_INCLUDED_ */
