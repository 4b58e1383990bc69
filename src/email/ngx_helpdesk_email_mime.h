/*
 * Outgoing mail: an RFC 5322 message with a text and an HTML part, and
 * its DKIM signature.  Pure code: no pool, no event loop, no log; safe to
 * run in a thread pool.  Memory comes from malloc() (ngx_alloc without a
 * log) and is the caller's to free with ngx_free().
 */

#ifndef _NGX_HELPDESK_EMAIL_MIME_H_INCLUDED_
#define _NGX_HELPDESK_EMAIL_MIME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    ngx_str_t   from_name;      /* UTF-8, may be empty */
    ngx_str_t   from_address;
    ngx_str_t   reply_to;       /* may be empty */
    ngx_str_t   to;
    ngx_str_t   subject;        /* UTF-8, one line */
    ngx_str_t   text;           /* UTF-8, lines end in \n or \r\n */
    ngx_str_t   html;           /* UTF-8 */
    ngx_str_t   message_id;     /* without the angle brackets */
    time_t      date;

    /* a reply to a ticket's mail */
    ngx_str_t   cc;             /* addresses separated by commas */
    ngx_str_t   in_reply_to;    /* "<id>" */
    ngx_str_t   references;     /* "<id> <id> ..." */
    ngx_flag_t  human;          /* a person wrote it: not Auto-Submitted */
    ngx_str_t   files;          /* see ngx_helpdesk_mail_files() */

    /* DKIM: signed when the key is given (PEM) */
    ngx_str_t   dkim_domain;
    ngx_str_t   dkim_selector;
    ngx_str_t   dkim_key;
} ngx_helpdesk_mail_t;


/*
 * Builds the message, signed when a key is given, into "out" (CRLF line
 * ends).  NGX_ERROR with a reason in "err" otherwise.
 */
ngx_int_t ngx_helpdesk_mail_build(ngx_helpdesk_mail_t *m, ngx_str_t *out,
    char *err, size_t size);

/*
 * A new RSA-2048 key: the private half in PEM (PKCS#8) and the public
 * half as the base64 of its SubjectPublicKeyInfo, the p= of the record.
 */
ngx_int_t ngx_helpdesk_mail_dkim_key(ngx_str_t *pem, ngx_str_t *pub);

/* Whether s is a mailbox we put into a header: no spaces, controls, <>. */
ngx_flag_t ngx_helpdesk_mail_address_ok(ngx_str_t *s);

/* Whether s is a list of them separated by commas (empty: yes). */
ngx_flag_t ngx_helpdesk_mail_addresses_ok(ngx_str_t *s);

/* Whether s is "<id>" tokens separated by spaces, nothing else. */
ngx_flag_t ngx_helpdesk_mail_ids_ok(ngx_str_t *s);

/*
 * The attachments of a mail as the parts of a multipart/mixed body, each
 * opened by "\r\n--boundary\r\n": "files" is, for each file, three lines
 * ending in "\n": its content type, its name in base64 (UTF-8), its bytes
 * in base64.  The name goes out as RFC 2231 (filename*=UTF-8'') with a
 * plain ASCII stand-in; the bytes in base64 lines of 76.  malloc()ed into
 * "out"; NGX_ERROR with a reason in "err".
 */
ngx_int_t ngx_helpdesk_mail_files(ngx_str_t *files, const char *boundary,
    ngx_str_t *out, char *err, size_t size);


#endif /* _NGX_HELPDESK_EMAIL_MIME_H_INCLUDED_ */
