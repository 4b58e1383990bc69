/*
 * The outbound policy's check of a URL a tenant saves (a webhook's URL, a
 * WhatsApp connection's base URL), with libcurl's own URL parser, the
 * one the request will use: an absolute http or https URL, no
 * credentials, a port in 1-65535, and a host that is a public name or an
 * address outside the refused ranges.  The address a name stands for is
 * checked when a request is made (ngx_helpdesk_curl.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_curl.h"
#include "lib/ngx_helpdesk_addr.h"


static const char *ngx_helpdesk_curl_url_parts(CURLU *u, ngx_array_t *allow,
    u_char *buf, size_t size);


const char *
ngx_helpdesk_curl_url_check(u_char *url, size_t len, ngx_array_t *allow,
    u_char *buf, size_t size)
{
    size_t       i;
    CURLU       *u;
    CURLUcode    rc;
    const char  *why;
    char         s[4096];

    if (len >= sizeof(s)) {
        return "is too long";
    }

    for (i = 0; i < len; i++) {
        if (url[i] <= 0x20 || url[i] >= 0x7f) {
            return "must not contain spaces, control characters or "
                   "characters outside ASCII";
        }
    }

    u = curl_url();
    if (u == NULL) {
        return "cannot be checked";
    }

    ngx_memcpy(s, url, len);
    s[len] = '\0';

    rc = curl_url_set(u, CURLUPART_URL, s, 0);

    switch (rc) {

    case CURLUE_OK:
        why = ngx_helpdesk_curl_url_parts(u, allow, buf, size);
        break;

    case CURLUE_BAD_PORT_NUMBER:
        why = "must have a port between 1 and 65535";
        break;

    case CURLUE_UNSUPPORTED_SCHEME:
        why = "must be an http:// or https:// URL";
        break;

    default:
        why = "must be an absolute http:// or https:// URL with a host";
    }

    curl_url_cleanup(u);

    return why;
}


static const char *
ngx_helpdesk_curl_url_parts(CURLU *u, ngx_array_t *allow, u_char *buf,
    size_t size)
{
    char        *v;
    size_t       len;
    ngx_int_t    port;
    ngx_str_t    host;
    const char  *why;

    if (curl_url_get(u, CURLUPART_SCHEME, &v, 0) != CURLUE_OK) {
        return "must be an http:// or https:// URL";
    }

    why = (ngx_strcmp(v, "http") == 0 || ngx_strcmp(v, "https") == 0)
          ? NULL : "must be an http:// or https:// URL";
    curl_free(v);

    if (why) {
        return why;
    }

    if (curl_url_get(u, CURLUPART_USER, &v, 0) == CURLUE_OK) {
        curl_free(v);
        return "must not contain credentials (user:password@)";
    }

    if (curl_url_get(u, CURLUPART_PASSWORD, &v, 0) == CURLUE_OK) {
        curl_free(v);
        return "must not contain credentials (user:password@)";
    }

    if (curl_url_get(u, CURLUPART_PORT, &v, CURLU_DEFAULT_PORT) != CURLUE_OK)
    {
        return "must have a port between 1 and 65535";
    }

    port = ngx_atoi((u_char *) v, ngx_strlen(v));
    curl_free(v);

    if (port < 1 || port > 65535) {
        return "must have a port between 1 and 65535";
    }

    /* the host as libcurl will use it: 0x7f000001 and 127.1 normalised */
    if (curl_url_get(u, CURLUPART_HOST, &v, 0) != CURLUE_OK) {
        return "must be an absolute http:// or https:// URL with a host";
    }

    host.data = (u_char *) v;
    host.len = ngx_strlen(v);

    if (host.len && host.data[host.len - 1] == '.') {
        host.len--;         /* "example.com." is "example.com" */
    }

    if (ngx_helpdesk_addr_text_refused(host.data, host.len, allow, &why)
        == NGX_OK)
    {
        if (why) {
            len = ngx_snprintf(buf, size - 1, "points at a %s address, "
                               "which is not allowed", why) - buf;
            buf[len] = '\0';
            why = (const char *) buf;
        }

    } else {
        why = ngx_helpdesk_addr_name_refused(host.data, host.len);

        if (why) {
            len = ngx_snprintf(buf, size - 1, "host %s", why) - buf;
            buf[len] = '\0';
            why = (const char *) buf;
        }
    }

    curl_free(v);

    return why;
}


/*
 * Whether "host" is one of "names" (ngx_str_t): an exact name, or
 * "*.suffix" for any name below suffix.
 */

ngx_flag_t
ngx_helpdesk_curl_host_match(ngx_array_t *names, ngx_str_t *host)
{
    size_t       n;
    ngx_str_t   *name;
    ngx_uint_t   i;

    if (names == NULL) {
        return 0;
    }

    name = names->elts;

    for (i = 0; i < names->nelts; i++) {

        if (name[i].len > 2 && name[i].data[0] == '*'
            && name[i].data[1] == '.')
        {
            n = name[i].len - 1;        /* ".suffix" */

            if (host->len > n
                && ngx_strncasecmp(host->data + host->len - n,
                                   name[i].data + 1, n) == 0)
            {
                return 1;
            }

            continue;
        }

        if (host->len == name[i].len
            && ngx_strncasecmp(host->data, name[i].data, host->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
