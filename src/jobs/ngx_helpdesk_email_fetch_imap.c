/*
 * The fetch job's reading of an IMAP server's answers: the untagged lines
 * libcurl hands over for our own commands.  They come from a server a
 * tenant named: every number is bounded, every line may be cut short.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_email_fetch.h"


static u_char *ngx_helpdesk_fetch_number(u_char *p, u_char *last,
    uint64_t *n);
static ngx_int_t ngx_helpdesk_fetch_items(u_char *p, u_char *last,
    uint64_t *uid, uint64_t *size, ngx_flag_t *seen);
static int ngx_libc_cdecl ngx_helpdesk_fetch_cmp(const void *a,
    const void *b);


/* "* STATUS INBOX (UIDVALIDITY 1700000000 UIDNEXT 5)" */

ngx_int_t
ngx_helpdesk_fetch_uidvalidity(ngx_str_t *body, uint64_t *v)
{
    u_char  *p, *last;

    /*
     * a server may answer STATUS with no untagged line at all: no body
     * (body->data NULL, which ngx_strlcasestrn() would read)
     */
    if (body->len < sizeof("UIDVALIDITY 1") - 1) {
        return NGX_ERROR;
    }

    last = body->data + body->len;

    p = ngx_strlcasestrn(body->data, last, (u_char *) "UIDVALIDITY ",
                         sizeof("UIDVALIDITY ") - 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p += sizeof("UIDVALIDITY ") - 1;

    if (ngx_helpdesk_fetch_number(p, last, v) == NULL
        || *v > 0xffffffff)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "UIDNEXT 5" in the same answer: the UID the folder's next message will
 * have, so every message there now has a lower one
 */

uint64_t
ngx_helpdesk_fetch_uidnext(ngx_str_t *body)
{
    u_char    *p, *last;
    uint64_t   v;

    if (body->len < sizeof("UIDNEXT 1") - 1) {
        return 0;
    }

    last = body->data + body->len;

    p = ngx_strlcasestrn(body->data, last, (u_char *) "UIDNEXT ",
                         sizeof("UIDNEXT ") - 2);
    if (p == NULL) {
        return 0;
    }

    p += sizeof("UIDNEXT ") - 1;

    if (ngx_helpdesk_fetch_number(p, last, &v) == NULL
        || v > (uint64_t) 0xffffffff + 1)
    {
        return 0;
    }

    return v;
}


/* "* 3 FETCH (UID 7 RFC822.SIZE 1234 FLAGS (\Seen))", any order */

ngx_int_t
ngx_helpdesk_fetch_list(ngx_str_t *body, uint64_t after, uint64_t upto,
    uint64_t seen_below, ngx_array_t *msgs, uint64_t *highest)
{
    u_char                    *line, *eol, *last, *f;
    uint64_t                   uid, size;
    ngx_flag_t                 seen;
    ngx_helpdesk_fetch_msg_t  *m;

    last = body->data + body->len;

    for (line = body->data; line < last; line = eol + 1) {

        eol = ngx_strlchr(line, last, '\n');
        if (eol == NULL) {
            break;                  /* a line cut short: the next run */
        }

        if (eol - line < 8 || line[0] != '*' || line[1] != ' ') {
            continue;
        }

        f = ngx_strlcasestrn(line, eol, (u_char *) " FETCH (",
                             sizeof(" FETCH (") - 2);
        if (f == NULL) {
            continue;
        }

        if (ngx_helpdesk_fetch_items(f + sizeof(" FETCH (") - 1, eol, &uid,
                                     &size, &seen)
            != NGX_OK)
        {
            continue;
        }

        if (uid <= after || uid > upto) {
            continue;               /* "a:*" answers the last one anyway */
        }

        if (uid > *highest) {
            *highest = uid;
        }

        if (seen && uid < seen_below) {
            continue;               /* read before the mailbox was connected */
        }

        m = ngx_array_push(msgs);
        if (m == NULL) {
            return NGX_ERROR;
        }

        m->uid = uid;
        m->size = size;
    }

    ngx_qsort(msgs->elts, msgs->nelts, sizeof(ngx_helpdesk_fetch_msg_t),
              ngx_helpdesk_fetch_cmp);

    return NGX_OK;
}


/*
 * The items of one FETCH answer, "UID 7 RFC822.SIZE 1234 FLAGS (\Seen)":
 * names and values at the top level of the list, whatever their order;
 * the UID and the size are required, \Seen is looked for in FLAGS only.
 */

static ngx_int_t
ngx_helpdesk_fetch_items(u_char *p, u_char *last, uint64_t *uid,
    uint64_t *size, ngx_flag_t *seen)
{
    u_char    *name, *end;
    size_t     len;
    ngx_int_t  got;

    got = 0;
    *seen = 0;

    while (p < last) {

        while (p < last && *p == ' ') {
            p++;
        }

        if (p == last || *p == ')') {
            break;
        }

        name = p;

        while (p < last && *p != ' ' && *p != '(' && *p != ')') {
            p++;
        }

        len = p - name;

        if (p == last || *p != ' ') {
            return NGX_ERROR;
        }

        p++;

        if (len == 3 && ngx_strncasecmp(name, (u_char *) "UID", 3) == 0) {
            p = ngx_helpdesk_fetch_number(p, last, uid);
            got |= 1;

        } else if (len == 11
                   && ngx_strncasecmp(name, (u_char *) "RFC822.SIZE", 11)
                      == 0)
        {
            p = ngx_helpdesk_fetch_number(p, last, size);
            got |= 2;

        } else if (p < last && *p == '(') {
            end = ngx_strlchr(p, last, ')');
            if (end == NULL) {
                return NGX_ERROR;
            }

            if (len == 5 && ngx_strncasecmp(name, (u_char *) "FLAGS", 5) == 0
                && ngx_strlcasestrn(p, end, (u_char *) "\\Seen",
                                    sizeof("\\Seen") - 2))
            {
                *seen = 1;
            }

            p = end + 1;

        } else {
            /* an atom or a number we did not ask for */
            while (p < last && *p != ' ' && *p != ')') {
                p++;
            }
        }

        if (p == NULL) {
            return NGX_ERROR;
        }
    }

    return (got == 3 && *uid > 0 && *uid <= 0xffffffff) ? NGX_OK : NGX_ERROR;
}


const char *
ngx_helpdesk_fetch_state(CURLcode result, ngx_flag_t refused)
{
    if (refused) {
        return "unreachable";
    }

    switch (result) {

    case CURLE_LOGIN_DENIED:
        return "auth_failed";

    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_SSL_CACERT_BADFILE:
        return "unreachable";

    default:
        return "error";
    }
}


static u_char *
ngx_helpdesk_fetch_number(u_char *p, u_char *last, uint64_t *n)
{
    ngx_uint_t  digits;

    *n = 0;

    for (digits = 0; p < last && *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits == 15) {
            return NULL;            /* more than IMAP's numbers hold */
        }

        *n = *n * 10 + (*p - '0');
    }

    return digits ? p : NULL;
}


static int ngx_libc_cdecl
ngx_helpdesk_fetch_cmp(const void *a, const void *b)
{
    const ngx_helpdesk_fetch_msg_t  *x = a, *y = b;

    return (x->uid > y->uid) - (x->uid < y->uid);
}
