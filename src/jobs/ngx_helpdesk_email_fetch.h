/*
 * The IMAP fetch job: mailboxes of kind "imap" fetched on nginx events.
 */

#ifndef _NGX_HELPDESK_EMAIL_FETCH_H_INCLUDED_
#define _NGX_HELPDESK_EMAIL_FETCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "event/ngx_helpdesk_curl.h"
#include "lib/ngx_helpdesk_secret.h"


/*
 * An OAuth 2.0 provider of mailboxes (helpdesk_email_oauth): its consent
 * page, its token endpoint, where its mailboxes are read and where they
 * submit mail, and the scopes asked for.  Strings NUL-terminated.
 */
typedef struct {
    const char     *kind;           /* "microsoft365", "gmail" */
    ngx_str_t       authorize;
    ngx_str_t       token;
    ngx_str_t       imap;
    ngx_str_t       smtp;
    ngx_str_t       scope;
    unsigned        set:1;
} ngx_helpdesk_oauth_provider_t;

#define NGX_HELPDESK_OAUTH_PROVIDERS  2


typedef struct {
    ngx_flag_t      enabled;
    ngx_msec_t      interval;       /* how often a worker looks for work */
    ngx_uint_t      batch;          /* mailboxes a worker fetches at once */
    ngx_msec_t      timeout;        /* one IMAP command */
    ngx_uint_t      per_run;        /* messages a run takes, then another */
    size_t          max_size;       /* larger messages are refused */
    ngx_str_t       ca_file;        /* NUL-terminated; empty: the system's */

    /*
     * where a message is written as it is fetched, and its attachments
     * decoded (the first server's client_body_temp_path, as for a pushed
     * mail); temp_dir its name, NUL-terminated
     */
    ngx_path_t     *temp_path;
    u_char         *temp_dir;

    /*
     * where the tenants' portals are, for the links in the mails a
     * fetched one makes the helpdesk send (as a pushed mail's request
     * names them: the first server's helpdesk_base_domain and
     * helpdesk_link_scheme)
     */
    ngx_str_t       link_base;
    ngx_flag_t      link_https;
    ngx_uint_t      link_port;

    /* Microsoft 365 and Gmail (helpdesk_email_oauth) */
    ngx_helpdesk_oauth_provider_t  oauth[NGX_HELPDESK_OAUTH_PROVIDERS];

    /* the module's proof (outbox.proof), and the keys of the passwords */
    u_char         *proof;
    ngx_helpdesk_secret_ring_t  *secrets;
} ngx_helpdesk_email_fetch_conf_t;


void ngx_helpdesk_email_fetch_defaults(ngx_helpdesk_email_fetch_conf_t *conf);
char *ngx_helpdesk_email_fetch_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_helpdesk_email_fetch_conf_t *conf);
ngx_int_t ngx_helpdesk_email_fetch_init_worker(ngx_cycle_t *cycle,
    ngx_helpdesk_email_fetch_conf_t *conf);
void ngx_helpdesk_email_fetch_exit_worker(void);

/* helpdesk_email_oauth microsoft365|gmail [authorize=] [token=] [imap=]
   [smtp=] [scope=] */
char *ngx_helpdesk_email_oauth_parse(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t n, ngx_helpdesk_email_fetch_conf_t *conf);

/*
 * "s" form-encoded (application/x-www-form-urlencoded, RFC 3986's
 * unreserved characters kept) at "dst", which has room for 3 * s->len;
 * returns the end
 */
u_char *ngx_helpdesk_oauth_escape(u_char *dst, ngx_str_t *s);

/* the provider of a mailbox's kind, NULL for another kind */
ngx_helpdesk_oauth_provider_t *ngx_helpdesk_email_oauth_provider(
    ngx_helpdesk_email_fetch_conf_t *conf, u_char *kind, size_t len);


/* ngx_helpdesk_email_fetch_imap.c: the server's answers */

typedef struct {
    uint64_t        uid;
    uint64_t        size;
} ngx_helpdesk_fetch_msg_t;

/* UIDVALIDITY from a STATUS answer; NGX_ERROR when there is none */
ngx_int_t ngx_helpdesk_fetch_uidvalidity(ngx_str_t *body, uint64_t *v);

/* UIDNEXT from a STATUS answer; 0 when there is none */
uint64_t ngx_helpdesk_fetch_uidnext(ngx_str_t *body);

/*
 * The messages of a "UID FETCH a:b (UID RFC822.SIZE FLAGS)" answer with a
 * UID above "after" and not above "upto" (but those \Seen with a UID below
 * "seen_below"), added to "msgs", all in UID order; "*highest" the
 * highest UID listed (skipped ones too).
 */
ngx_int_t ngx_helpdesk_fetch_list(ngx_str_t *body, uint64_t after,
    uint64_t upto, uint64_t seen_below, ngx_array_t *msgs,
    uint64_t *highest);

/* what a failed transfer says of the mailbox: its state, and why */
const char *ngx_helpdesk_fetch_state(CURLcode result, ngx_flag_t refused);


#endif /* _NGX_HELPDESK_EMAIL_FETCH_H_INCLUDED_ */
