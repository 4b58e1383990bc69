/*
 * The fetch job's listing of a folder: the messages above the last UID
 * stored, their sizes and flags, a window of UIDs at a time.
 *
 *   UID FETCH lo:hi (UID RFC822.SIZE FLAGS)   hi - lo < FETCH_WINDOW, while
 *                                             the folder's UIDNEXT (from
 *                                             STATUS) is further
 *   UID FETCH lo:* (UID RFC822.SIZE FLAGS)    the last window (or the only
 *                                             one, when the server did not
 *                                             say its UIDNEXT): what came
 *                                             since STATUS included
 *
 * An empty window is a gap of expunged UIDs, not the folder's end: that
 * is UIDNEXT's.  The listing stops once it holds per_run messages, or
 * after FETCH_WINDOWS windows; the run then records how far it listed and
 * asks for the next run at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_email_fetch_int.h"


static void ngx_helpdesk_fetch_listed(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req);


void
ngx_helpdesk_fetch_window(ngx_helpdesk_fetch_run_t *run)
{
    u_char                           *p;
    uint64_t                          end;
    ngx_helpdesk_email_fetch_conf_t  *conf = ngx_helpdesk_fetch_conf();

    /* the highest UID the folder can hold now */
    end = run->uidnext ? run->uidnext - 1 : 0;

    if (end >= run->lo && end - run->lo >= NGX_HELPDESK_FETCH_WINDOW) {
        run->hi = run->lo + NGX_HELPDESK_FETCH_WINDOW - 1;
        p = ngx_sprintf(run->list_command,
                        "UID FETCH %uL:%uL (UID RFC822.SIZE FLAGS)",
                        run->lo, run->hi);

    } else {
        run->hi = 0;
        p = ngx_sprintf(run->list_command,
                        "UID FETCH %uL:* (UID RFC822.SIZE FLAGS)", run->lo);
    }

    *p = '\0';
    run->windows++;

    ngx_helpdesk_fetch_imap(run, &run->folder_url, (char *) run->list_command,
                            conf->timeout, NGX_HELPDESK_FETCH_ANSWER_MAX,
                            ngx_helpdesk_fetch_listed);
}


static void
ngx_helpdesk_fetch_listed(ngx_helpdesk_fetch_run_t *run,
    ngx_helpdesk_curl_req_t *req)
{
    uint64_t                          upto;
    ngx_flag_t                        truncated, more_windows;
    ngx_helpdesk_fetch_msg_t         *last;
    ngx_helpdesk_email_fetch_conf_t  *conf = ngx_helpdesk_fetch_conf();

    upto = run->hi ? run->hi : (uint64_t) 0xffffffff;

    if (ngx_helpdesk_fetch_list(&req->body, run->lo - 1, upto,
                                run->seen_below, &run->msgs, &run->highest)
        != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    truncated = req->truncated;

    ngx_helpdesk_curl_free(req);
    run->req = NULL;

    if (truncated) {
        /* an answer cut short: what it held now, the rest on the next run */
        if (run->msgs.nelts) {
            last = (ngx_helpdesk_fetch_msg_t *) run->msgs.elts
                   + run->msgs.nelts - 1;
            run->listed_to = ngx_max(run->listed_to, last->uid);
        }

        run->more = 1;

    } else if (run->hi) {
        run->listed_to = run->hi;

        /*
         * the next window: until the run has its messages; below the
         * mailbox's boundary (what had been read before it was connected
         * is left there) it lists on while half its lease is left, so that
         * a run goes past long stretches of read mail
         */
        more_windows = run->windows < NGX_HELPDESK_FETCH_WINDOWS
                       || (run->hi + 1 < run->seen_below
                           && ngx_current_msec - run->started
                              < 5 * conf->timeout);

        if (run->msgs.nelts < conf->per_run && more_windows && !ngx_exiting) {
            run->lo = run->hi + 1;
            ngx_helpdesk_fetch_window(run);
            return;
        }

        run->more = 1;      /* the folder goes on past this window */

    } else {
        run->listed_to = ngx_max(run->highest, run->listed_to);
    }

    if (run->msgs.nelts > conf->per_run) {
        run->cut = ((ngx_helpdesk_fetch_msg_t *) run->msgs.elts)
                   [conf->per_run].uid;
        run->msgs.nelts = conf->per_run;
        run->more = 1;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_EVENT, run->log, 0,
                   "helpdesk email fetch: mailbox %V: %ui to fetch after "
                   "UID %uL, listed to %uL in %ui windows", &run->mailbox,
                   run->msgs.nelts, run->after, run->listed_to, run->windows);

    ngx_helpdesk_fetch_next(run);
}
