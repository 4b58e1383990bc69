/*
 * Cookie sessions, CSRF and Origin: what every cookie-based surface (the
 * portal, the console, the REST API called by the console) checks the
 * same way.  See ngx_http_helpdesk_session.c for the model.
 */

#ifndef _NGX_HTTP_HELPDESK_SESSION_H_INCLUDED_
#define _NGX_HTTP_HELPDESK_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "event/ngx_helpdesk_redis.h"
#include "ngx_http_helpdesk_request.h"


#define NGX_HTTP_HELPDESK_TOKEN_HEX    64      /* 32 random bytes */
#define NGX_HTTP_HELPDESK_SESSION_KEY  (sizeof("hd:sess:") - 1 + 64)

/* a session's kind: whose app made it */
#define NGX_HTTP_HELPDESK_SESSION_PORTAL   'p'
#define NGX_HTTP_HELPDESK_SESSION_CONSOLE  'c'


/* A cookie holding a token (64 lower-case hex digits), or NGX_DECLINED. */
ngx_int_t ngx_http_helpdesk_session_cookie(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *token);

/* "hd:sess:<sha256 hex of the token>" into key */
void ngx_http_helpdesk_session_key(ngx_str_t *token, u_char *key);

/*
 * A session's value, "<user> <csrf> <created> <kind>": the user's id (36)
 * and the CSRF token (64) into out, if it is of this kind and alive.
 */
ngx_int_t ngx_http_helpdesk_session_parse(u_char *p, size_t len, char kind,
    time_t lifetime, u_char *out, time_t *created);

/*
 * Prepares cmd to fetch the session at key and renew its idle timeout
 * (GETEX); the caller sets the handler and runs it.
 */
ngx_int_t ngx_http_helpdesk_session_fetch(ngx_http_helpdesk_req_t *req,
    ngx_helpdesk_redis_cmd_t *cmd, u_char *key);

/*
 * A state-changing request from one of our pages: no Origin of another
 * site, X-CSRF-Token equal to the hd_csrf cookie and, for a signed-in
 * session (session_csrf not NULL), to the session's own token.
 */
ngx_flag_t ngx_http_helpdesk_session_csrf_ok(ngx_http_helpdesk_req_t *req,
    ngx_str_t *session_csrf);

/* An Origin, and of this very site (for requests that carry no token). */
ngx_flag_t ngx_http_helpdesk_session_origin_ok(ngx_http_helpdesk_req_t *req);

/* 32 random bytes as 64 hex digits, in pool */
ngx_int_t ngx_http_helpdesk_session_random(ngx_pool_t *pool, ngx_str_t *out);


#endif /* _NGX_HTTP_HELPDESK_SESSION_H_INCLUDED_ */
