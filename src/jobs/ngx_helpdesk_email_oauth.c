/*
 * The fetch job's OAuth 2.0 step, for the mailboxes of a provider
 * (microsoft365, gmail: helpdesk_email_oauth), before its IMAP login:
 *
 *   a code the admin's consent brought back (api.email_fetch_claim gives
 *   it with its state, PKCE verifier and redirect URI):
 *       POST token  grant_type=authorization_code: the refresh token
 *                   and an access token, sealed to the mailbox and
 *                   stored (api.email_oauth_tokens), the code dropped;
 *   an access token with less than NGX_HELPDESK_OAUTH_MARGIN seconds
 *   left, or none:
 *       POST token  grant_type=refresh_token: a new access token (and
 *                   the refresh token, when the provider turns it);
 *   then the login, SASL XOAUTH2 with the access token.
 *
 * Requests go to the configured token endpoint through the module's
 * libcurl multi handle, on nginx events.  A code the endpoint does not
 * take, or a refresh answered invalid_grant, is final: the mailbox is
 * auth_failed with the reason (api.email_oauth_failed, the tokens dropped
 * on invalid_grant) and waits for the admin to authorise it again.  Any
 * other failure of a refresh (the endpoint away, a 5xx, an answer that is
 * not a token) ends the run as unreachable or error, tried again with the
 * job's backoff.  Nothing of an answer that is not a token is kept.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>

#include "ngx_helpdesk_email_fetch_int.h"


#define NGX_HELPDESK_OAUTH_ANSWER_MAX  65536


static void ngx_helpdesk_oauth_token(ngx_helpdesk_fetch_run_t *run,
    ngx_str_t *body);
static void ngx_helpdesk_oauth_answered(ngx_helpdesk_curl_req_t *req,
    CURLcode result);
static void ngx_helpdesk_oauth_failed(ngx_helpdesk_fetch_run_t *run,
    ngx_flag_t revoke, const char *fmt, ...);
static void ngx_helpdesk_oauth_failed_done(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static void ngx_helpdesk_oauth_stored(ngx_helpdesk_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_helpdesk_oauth_seal(ngx_helpdesk_fetch_run_t *run,
    const char *column, const char *plain, ngx_str_t *out);
static void ngx_helpdesk_oauth_wipe(ngx_str_t *a, ngx_str_t *b, ngx_str_t *c);
static void ngx_helpdesk_oauth_forget(json_t *j);


u_char *
ngx_helpdesk_oauth_escape(u_char *dst, ngx_str_t *s)
{
    u_char       c;
    size_t       i;
    static u_char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~')
        {
            *dst++ = c;

        } else {
            *dst++ = '%';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
        }
    }

    return dst;
}


/* "name=value" pairs form-encoded, NULL-terminated, into a pool string */
static ngx_int_t
ngx_helpdesk_oauth_form(ngx_pool_t *pool, ngx_str_t *out, ngx_str_t *pairs)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; pairs[i].data; i += 2) {
        len += pairs[i].len + 2 + 3 * pairs[i + 1].len;
    }

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; pairs[i].data; i += 2) {
        if (i) {
            *p++ = '&';
        }

        p = ngx_cpymem(p, pairs[i].data, pairs[i].len);
        *p++ = '=';
        p = ngx_helpdesk_oauth_escape(p, &pairs[i + 1]);
    }

    out->len = p - out->data;

    return NGX_OK;
}


void
ngx_helpdesk_fetch_oauth(ngx_helpdesk_fetch_run_t *run)
{
    ngx_int_t  rc;
    ngx_str_t  secret, plain, code, verifier, body;
    ngx_str_t  pairs[16];

    ngx_str_null(&plain);
    ngx_str_null(&code);
    ngx_str_null(&verifier);

    /* a token that lasts long enough: the login */
    if (run->code.len == 0 && run->access_token.len
        && run->access_ttl > NGX_HELPDESK_OAUTH_MARGIN)
    {
        rc = ngx_helpdesk_fetch_open(run, "email_mailboxes",
                                     "oauth_access_token", &run->mailbox,
                                     &run->access_token, &run->password);
        if (rc == NGX_OK) {
            run->bearer = 1;
            ngx_helpdesk_fetch_login(run);
            return;
        }

        /* a token that does not open is refreshed */
    }

    rc = ngx_helpdesk_fetch_open(run, "email_mailboxes", "oauth_client_secret",
                                 &run->mailbox, &run->client_secret, &secret);
    if (rc != NGX_OK) {
        ngx_helpdesk_fetch_end(run, "error", "the stored client secret does "
                               "not decrypt (a key missing from the key file, "
                               "or a value altered or moved)");
        return;
    }

    ngx_str_set(&pairs[0], "client_id");
    pairs[1] = run->client_id;
    ngx_str_set(&pairs[2], "client_secret");
    pairs[3] = secret;
    ngx_str_set(&pairs[4], "grant_type");

    if (run->code.len) {
        run->exchanging = 1;

        if (ngx_helpdesk_fetch_open(run, "email_oauth_states", "code",
                                    &run->state_hash, &run->code, &code)
            != NGX_OK
            || ngx_helpdesk_fetch_open(run, "email_oauth_states", "verifier",
                                       &run->state_hash, &run->verifier,
                                       &verifier)
               != NGX_OK)
        {
            ngx_helpdesk_oauth_wipe(&secret, &code, NULL);
            ngx_helpdesk_oauth_failed(run, 0, "the authorisation code does "
                                      "not decrypt: authorise the mailbox "
                                      "again");
            return;
        }

        ngx_str_set(&pairs[5], "authorization_code");
        ngx_str_set(&pairs[6], "code");
        pairs[7] = code;
        ngx_str_set(&pairs[8], "redirect_uri");
        pairs[9] = run->redirect_uri;
        ngx_str_set(&pairs[10], "code_verifier");
        pairs[11] = verifier;
        pairs[12].data = NULL;

    } else {
        if (run->refresh_token.len == 0) {
            ngx_helpdesk_oauth_wipe(&secret, NULL, NULL);
            ngx_helpdesk_oauth_failed(run, 1, "not authorised: authorise the "
                                      "mailbox");
            return;
        }

        if (ngx_helpdesk_fetch_open(run, "email_mailboxes",
                                    "oauth_refresh_token", &run->mailbox,
                                    &run->refresh_token, &plain)
            != NGX_OK)
        {
            ngx_helpdesk_oauth_wipe(&secret, NULL, NULL);
            ngx_helpdesk_fetch_end(run, "error", "the stored refresh token "
                                   "does not decrypt");
            return;
        }

        ngx_str_set(&pairs[5], "refresh_token");
        ngx_str_set(&pairs[6], "refresh_token");
        pairs[7] = plain;
        pairs[8].data = NULL;
    }

    rc = ngx_helpdesk_oauth_form(run->pool, &body, pairs);

    /* in the form now (or nowhere): the plaintexts go */
    ngx_helpdesk_oauth_wipe(&secret, &code, &verifier);
    ngx_helpdesk_oauth_wipe(&plain, NULL, NULL);

    if (rc != NGX_OK) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    /* the request holds a copy of the form, wiped when it is freed */
    ngx_helpdesk_oauth_token(run, &body);

    ngx_explicit_memzero(body.data, body.len);
}


/* opened secrets, wiped (each may be NULL, or never opened) */
static void
ngx_helpdesk_oauth_wipe(ngx_str_t *a, ngx_str_t *b, ngx_str_t *c)
{
    ngx_str_t   *s[3];
    ngx_uint_t   i;

    s[0] = a;
    s[1] = b;
    s[2] = c;

    for (i = 0; i < 3; i++) {
        if (s[i] && s[i]->data && s[i]->len) {
            ngx_explicit_memzero(s[i]->data, s[i]->len);
            s[i]->len = 0;
        }
    }
}


/*
 * The token endpoint's answer let go: the tokens in it wiped first (the
 * access token's copy for the login is the run's password, and both are
 * sealed by then).
 */
static void
ngx_helpdesk_oauth_forget(json_t *j)
{
    json_t      *v;
    ngx_uint_t   i;

    static const char *const  keys[] = { "access_token", "refresh_token",
                                         "id_token", NULL };

    if (json_is_object(j)) {
        for (i = 0; keys[i]; i++) {
            v = json_object_get(j, keys[i]);
            if (json_is_string(v) && json_string_length(v)) {
                ngx_explicit_memzero((char *) json_string_value(v),
                                     json_string_length(v));
            }
        }
    }

    json_decref(j);
}


static void
ngx_helpdesk_oauth_token(ngx_helpdesk_fetch_run_t *run, ngx_str_t *body)
{
    ngx_helpdesk_curl_req_t          *req;
    ngx_helpdesk_email_fetch_conf_t  *conf = ngx_helpdesk_fetch_conf();

    req = ngx_helpdesk_curl_create(run->log, "POST", &run->oauth->token, body,
                                   conf->timeout,
                                   NGX_HELPDESK_OAUTH_ANSWER_MAX);
    if (req == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "cannot make the request");
        return;
    }

    /* the operator's endpoint (helpdesk_email_oauth), not a tenant's */
    req->trusted = 1;

    /* the form holds the client secret and a code or refresh token; the
       answer, the tokens */
    req->secret = 1;

    if (ngx_helpdesk_curl_header(req, "Content-Type: "
                                 "application/x-www-form-urlencoded")
        != NGX_OK
        || ngx_helpdesk_curl_header(req, "Accept: application/json") != NGX_OK)
    {
        ngx_helpdesk_curl_free(req);
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    if (conf->ca_file.len) {
        curl_easy_setopt(req->easy, CURLOPT_CAINFO, (char *) conf->ca_file.data);
    }

    req->handler = ngx_helpdesk_oauth_answered;
    req->data = run;
    run->req_token = req;

    if (ngx_helpdesk_curl_start(req) != NGX_OK) {
        run->req_token = NULL;
        ngx_helpdesk_curl_free(req);
        ngx_helpdesk_fetch_end(run, "error", "cannot start the request");
    }
}


/* a member of the answer as text (printable ASCII, bounded), or "" */
static const char *
ngx_helpdesk_oauth_text(json_t *o, const char *key, size_t max)
{
    size_t       i, n;
    json_t      *v;
    const char  *s;

    v = json_object_get(o, key);
    if (!json_is_string(v)) {
        return "";
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n > max) {
        return "";
    }

    for (i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e) {
            return "";
        }
    }

    return s;
}


static void
ngx_helpdesk_oauth_answered(ngx_helpdesk_curl_req_t *req, CURLcode result)
{
    long                       status;
    json_t                    *j, *v;
    const char                *access, *refresh, *error, *desc, *missing;
    json_error_t               jerr;
    ngx_helpdesk_pg_query_t   *q;
    ngx_helpdesk_fetch_run_t  *run = req->data;
    u_char                     why[CURL_ERROR_SIZE];

    run->req_token = NULL;
    status = req->status;

    if (result != CURLE_OK) {
        ngx_cpystrn(why, (u_char *) req->error, sizeof(why));
        ngx_helpdesk_curl_free(req);

        if (run->exchanging) {
            ngx_helpdesk_oauth_failed(run, 0, "the token endpoint could not "
                                      "be reached (%s): authorise the mailbox "
                                      "again", why);
            return;
        }

        ngx_helpdesk_fetch_end(run, "unreachable", "the token endpoint: %s",
                               why);
        return;
    }

    j = (req->body.len && !req->truncated)
        ? json_loadb((char *) req->body.data, req->body.len, 0, &jerr)
        : NULL;

    ngx_helpdesk_curl_free(req);

    if (!json_is_object(j)) {
        ngx_helpdesk_oauth_forget(j);

        if (run->exchanging) {
            ngx_helpdesk_oauth_failed(run, 0, "the token endpoint answered "
                                      "HTTP %l without a token: authorise the "
                                      "mailbox again", status);
            return;
        }

        ngx_helpdesk_fetch_end(run, status >= 500 ? "unreachable" : "error",
                               "the token endpoint answered HTTP %l without "
                               "a token", status);
        return;
    }

    if (status != 200) {
        error = ngx_helpdesk_oauth_text(j, "error", 100);
        desc = ngx_helpdesk_oauth_text(j, "error_description", 200);

        if (run->exchanging) {
            ngx_helpdesk_oauth_failed(run, 0, "the token endpoint refused the "
                                      "authorisation code (HTTP %l %s%s%s): "
                                      "authorise the mailbox again", status,
                                      error, *desc ? ": " : "", desc);

        } else if (ngx_strcmp(error, "invalid_grant") == 0) {
            ngx_helpdesk_oauth_failed(run, 1, "the provider refused the "
                                      "refresh token (invalid_grant%s%s): "
                                      "authorise the mailbox again",
                                      *desc ? ": " : "", desc);

        } else {
            ngx_helpdesk_fetch_end(run, status >= 500 ? "unreachable"
                                                      : "auth_failed",
                                   "the token endpoint answered HTTP %l %s%s%s",
                                   status, error, *desc ? ": " : "", desc);
        }

        ngx_helpdesk_oauth_forget(j);
        return;
    }

    access = ngx_helpdesk_oauth_text(j, "access_token", 8192);
    refresh = ngx_helpdesk_oauth_text(j, "refresh_token", 8192);
    v = json_object_get(j, "expires_in");

    /* some providers give the number as text */
    run->expires_in = json_is_integer(v) ? (ngx_int_t) json_integer_value(v)
                      : json_is_string(v)
                        ? ngx_atoi((u_char *) json_string_value(v),
                                   json_string_length(v))
                        : 3600;

    if (run->expires_in < 0 || run->expires_in > 86400 * 366) {
        run->expires_in = 3600;
    }

    if (*access == '\0' || (run->exchanging && *refresh == '\0')) {
        /* which is missing, read before the answer (access in it) goes */
        missing = *access ? "no refresh token" : "no access token";
        ngx_helpdesk_oauth_forget(j);

        if (run->exchanging) {
            ngx_helpdesk_oauth_failed(run, 0, "the token endpoint gave %s: "
                                      "was offline access asked for? "
                                      "authorise the mailbox again",
                                      missing);
            return;
        }

        ngx_helpdesk_fetch_end(run, "error", "the token endpoint gave no "
                               "access token");
        return;
    }

    /* the access token for the login, then both sealed to the mailbox */
    run->password.len = ngx_strlen(access);
    run->password.data = ngx_pnalloc(run->pool, run->password.len + 1);

    if (run->password.data == NULL
        || ngx_helpdesk_oauth_seal(run, "oauth_access_token", access,
                                   &run->new_access) != NGX_OK
        || (*refresh && ngx_helpdesk_oauth_seal(run, "oauth_refresh_token",
                                                refresh, &run->new_refresh)
                        != NGX_OK))
    {
        ngx_helpdesk_oauth_forget(j);
        ngx_helpdesk_fetch_end(run, "error", "the tokens cannot be sealed");
        return;
    }

    ngx_memcpy(run->password.data, access, run->password.len + 1);
    ngx_helpdesk_oauth_forget(j);
    run->bearer = 1;

    q = ngx_helpdesk_fetch_query(run, "SELECT api.email_oauth_tokens($1::bytea,"
                                 " $2, $3, $4, $5, $6, $7, $8, $9)",
                                 ngx_helpdesk_oauth_stored);
    if (q == NULL
        || ngx_helpdesk_pg_param(q, run->pool,
                                 run->exchanging ? &run->state_hash : NULL)
           != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool,
                                 run->new_refresh.len ? &run->new_refresh
                                                      : NULL)
           != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &run->new_access) != NGX_OK
        || ngx_helpdesk_fetch_num(run, (uint64_t) run->expires_in) != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static ngx_int_t
ngx_helpdesk_oauth_seal(ngx_helpdesk_fetch_run_t *run, const char *column,
    const char *plain, ngx_str_t *out)
{
    ngx_str_t                         aad, v;
    ngx_helpdesk_email_fetch_conf_t  *conf = ngx_helpdesk_fetch_conf();
    u_char                            buf[NGX_HELPDESK_SECRET_AAD_MAX];

    if (conf->secrets == NULL) {
        return NGX_ERROR;
    }

    ngx_helpdesk_secret_aad(&aad, buf, "email_mailboxes", column,
                            &run->mailbox);

    v.data = (u_char *) plain;
    v.len = ngx_strlen(plain);

    return ngx_helpdesk_secret_encrypt(run->pool, conf->secrets, &aad, &v,
                                       out);
}


static void
ngx_helpdesk_oauth_stored(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_fetch_run_t  *run = q->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_helpdesk_fetch_end(run, "error", "cannot store the tokens: %s",
                               ngx_helpdesk_fetch_pg_error(res));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, run->log, 0,
                  "helpdesk email fetch: mailbox %V: %s, the access token "
                  "lasts %is", &run->mailbox,
                  run->exchanging ? "authorised" : "access token refreshed",
                  run->expires_in);

    ngx_helpdesk_fetch_login(run);
}


/*
 * The tokens could not be had for good: the mailbox is auth_failed (and
 * its tokens dropped when "revoke"), the lease given back.
 */
static void
ngx_helpdesk_oauth_failed(ngx_helpdesk_fetch_run_t *run, ngx_flag_t revoke,
    const char *fmt, ...)
{
    u_char                   *p;
    va_list                   args;
    ngx_str_t                 v;
    ngx_helpdesk_pg_query_t  *q;

    va_start(args, fmt);
    p = ngx_vslprintf(run->reason, run->reason + sizeof(run->reason), fmt,
                      args);
    va_end(args);

    run->why.data = run->reason;
    run->why.len = p - run->reason;

    ngx_log_error(NGX_LOG_WARN, run->log, 0,
                  "helpdesk email fetch: mailbox %V: auth_failed: %V",
                  &run->mailbox, &run->why);

    q = ngx_helpdesk_fetch_query(run, "SELECT api.email_oauth_failed($1::bytea,"
                                 " $2, $3, $4, $5, $6, $7, $8)",
                                 ngx_helpdesk_oauth_failed_done);
    if (q == NULL) {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    if (revoke) {
        ngx_str_set(&v, "t");

    } else {
        ngx_str_set(&v, "f");
    }

    if (ngx_helpdesk_pg_param(q, run->pool,
                              run->exchanging ? &run->state_hash : NULL)
        != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &v) != NGX_OK
        || ngx_helpdesk_pg_param(q, run->pool, &run->why) != NGX_OK)
    {
        ngx_helpdesk_fetch_end(run, "error", "out of memory");
        return;
    }

    ngx_helpdesk_pg_run(q);
}


static void
ngx_helpdesk_oauth_failed_done(ngx_helpdesk_pg_query_t *q, PGresult *res)
{
    ngx_helpdesk_fetch_run_t  *run = q->data;
    u_char                     why[NGX_HELPDESK_FETCH_REASON_MAX];

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* recorded as a failed run instead: tried again later */
        ngx_memcpy(why, run->why.data, run->why.len);
        ngx_helpdesk_fetch_end(run, "auth_failed", "%*s", run->why.len, why);
        return;
    }

    ngx_helpdesk_fetch_release(run);
}
