/*
 * What a delivery sends and what it keeps of the answer: the request's
 * headers from their structured list, its secrets opened (they come from
 * the database sealed), the check of a provider's media URL, and the
 * reply as printable text for PostgreSQL.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_outbox_request.h"
#include "lib/ngx_helpdesk_json.h"


/*
 * The request's headers: a JSON list of [name, value] pairs, each added
 * as one header.  A name that is not a token or a value with a control
 * character is refused, so no value can start a header of its own.
 */

const char *
ngx_helpdesk_outbox_headers(ngx_str_t *headers, ngx_helpdesk_curl_req_t *req)
{
    u_char        c;
    size_t        i, j, nlen, vlen;
    json_t       *list, *pair;
    const char   *name, *value, *error;
    json_error_t  err;

    if (headers->len == 0) {
        return NULL;
    }

    list = json_loadb((char *) headers->data, headers->len, 0, &err);

    if (!json_is_array(list)) {
        json_decref(list);
        return "refused: the request's headers are malformed";
    }

    error = NULL;

    for (i = 0; i < json_array_size(list) && error == NULL; i++) {
        pair = json_array_get(list, i);
        name = json_string_value(json_array_get(pair, 0));
        value = json_string_value(json_array_get(pair, 1));

        if (name == NULL || value == NULL || json_array_size(pair) != 2) {
            error = "refused: the request's headers are malformed";
            break;
        }

        nlen = json_string_length(json_array_get(pair, 0));
        vlen = json_string_length(json_array_get(pair, 1));

        if (nlen == 0 || nlen > 64 || vlen > 4096) {
            error = "refused: a header is too long";
            break;
        }

        for (j = 0; j < nlen; j++) {
            c = (u_char) name[j];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            {
                error = "refused: a header name is not a token";
                break;
            }
        }

        for (j = 0; j < vlen && error == NULL; j++) {
            c = (u_char) value[j];

            if (c < 0x20 || c == 0x7f) {
                error = "refused: a header value contains control "
                        "characters";
            }
        }

        if (error == NULL
            && ngx_helpdesk_curl_header(req, "%s: %s", name, value) != NGX_OK)
        {
            error = "cannot start the request";
        }
    }

    json_decref(list);

    return error;
}


const char *
ngx_helpdesk_outbox_media_host(ngx_helpdesk_curl_req_t *req,
    ngx_array_t *media_hosts)
{
    ngx_str_t  host;

    if (ngx_helpdesk_curl_host(req, &host) != NGX_OK
        || !ngx_helpdesk_curl_host_match(media_hosts, &host))
    {
        ngx_log_error(NGX_LOG_INFO, req->log, 0,
                      "helpdesk outbox: a media URL not on the provider's "
                      "hosts refused");
        return "refused: the media URL is not on the provider's hosts";
    }

    return NULL;
}


/*
 * The answer as printable UTF-8 (line feeds kept, for the JSON SQL reads
 * in it): a control character, a byte that is not UTF-8 or a C1 control
 * becomes '?'.  What a tenant is shown is cut further in SQL
 * (outbox.excerpt()).
 */

ngx_int_t
ngx_helpdesk_outbox_printable(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out)
{
    u_char    *q, *last, *start;
    uint32_t   ch;

    out->data = ngx_pnalloc(pool, in->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    last = in->data + in->len;
    q = in->data;
    out->len = 0;

    while (q < last) {
        start = q;

        if (*q < 0x80) {
            q++;
            out->data[out->len++] = (*start >= 0x20 && *start < 0x7f)
                                    || *start == '\n' ? *start : '?';
            continue;
        }

        ch = ngx_utf8_decode(&q, last - q);

        if (ch > 0x10ffff || ch < 0xa0 || (ch >= 0xd800 && ch < 0xe000)) {
            out->data[out->len++] = '?';
            q = start + 1;
            continue;
        }

        while (start < q) {
            out->data[out->len++] = *start++;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_helpdesk_outbox_open(ngx_pool_t *pool, ngx_log_t *log,
    ngx_helpdesk_secret_ring_t *ring, ngx_str_t *place, ngx_str_t *value)
{
    ngx_int_t  rc;
    ngx_str_t  plain;

    rc = ngx_helpdesk_secret_decrypt(pool, ring, place, value, &plain);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "outbox: the secret %V does not decrypt with the "
                      "keys of \"helpdesk_secret_key_file\"", place);
    }

    if (rc == NGX_OK) {
        *value = plain;
    }

    return rc;
}


ngx_int_t
ngx_helpdesk_outbox_open_url_body(ngx_pool_t *pool, ngx_log_t *log,
    ngx_helpdesk_secret_ring_t *ring, ngx_str_t *place, ngx_str_t *body)
{
    json_t     *json;
    ngx_int_t   rc;
    ngx_str_t   url;

    url = *body;

    rc = ngx_helpdesk_outbox_open(pool, log, ring, place, &url);
    if (rc != NGX_OK) {
        return rc;
    }

    json = json_pack("{s:s%}", "url", url.data, url.len);
    if (json == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_helpdesk_json_dump(pool, json, body);
    json_decref(json);

    return rc;
}


ngx_int_t
ngx_helpdesk_outbox_retry_params(ngx_helpdesk_pg_query_t *q, ngx_pool_t *pool,
    ngx_helpdesk_outbox_conf_t *conf)
{
    u_char     *p;
    ngx_str_t   v;

    p = ngx_pnalloc(pool, 3 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(v.data, "%ui", conf->attempts) - v.data;
    (void) ngx_helpdesk_pg_param(q, pool, &v);

    v.data = p + NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%M", conf->backoff) - v.data;
    (void) ngx_helpdesk_pg_param(q, pool, &v);

    v.data = p + 2 * NGX_INT_T_LEN;
    v.len = ngx_sprintf(v.data, "%M", conf->max_backoff) - v.data;
    (void) ngx_helpdesk_pg_param(q, pool, &v);

    return NGX_OK;
}
