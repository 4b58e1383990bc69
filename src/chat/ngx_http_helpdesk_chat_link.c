/*
 * Download links of the chat's files.
 *
 * An agent's link is the file's path under the console, where its session
 * cookie goes.  A visitor's page is on the tenant's site and its files on
 * the provider's host, where the widget's images are loaded by <img>
 * elements that send no header: its link carries its own credential,
 *
 *   <prefix><file>?tenant=<slug>&exp=<unix time>&sig=<64 hex digits>
 *
 * sig being HMAC-SHA256("<tenant id>/<file id>/<exp>") under a key
 * derived from the module's secret keys (helpdesk_secret_key_file):
 * HMAC-SHA256(key, "helpdesk chat file links v1").  The current key signs
 * and every key of the ring is accepted, so a key rotation leaves the
 * links of the day valid.  A link is valid for a day and an hour at most:
 * "exp" is rounded up to the hour, so that the same file has the same
 * link for an hour and browsers can keep its image.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>

#include "ngx_http_helpdesk_module.h"
#include "ngx_http_helpdesk_chat_http.h"


#define NGX_HTTP_HELPDESK_CHAT_LINK_CONTEXT  "helpdesk chat file links v1"
#define NGX_HTTP_HELPDESK_CHAT_LINK_HOURS    25


static ngx_int_t ngx_http_helpdesk_chat_link_sig(
    ngx_helpdesk_secret_key_t *key, u_char *tenant, u_char *file,
    time_t exp, u_char *out);
static ngx_helpdesk_secret_ring_t *ngx_http_helpdesk_chat_link_ring(void);


json_t *
ngx_http_helpdesk_chat_link(ngx_str_t *prefix, u_char *tenant,
    ngx_str_t *slug, u_char *file)
{
    u_char                      *buf, *p;
    size_t                       len;
    json_t                      *link;
    time_t                       exp;
    ngx_helpdesk_secret_ring_t  *ring;
    u_char                       sig[32];

    len = prefix->len + NGX_HELPDESK_UUID_LEN
          + (slug ? sizeof("?tenant=&exp=&sig=") - 1 + slug->len
                    + NGX_TIME_T_LEN + 64
                  : 0);

    buf = ngx_alloc(len, ngx_cycle->log);
    if (buf == NULL) {
        return NULL;
    }

    p = ngx_cpymem(buf, prefix->data, prefix->len);
    p = ngx_cpymem(p, file, NGX_HELPDESK_UUID_LEN);

    if (slug) {
        ring = ngx_http_helpdesk_chat_link_ring();

        exp = (ngx_time() / 3600 + NGX_HTTP_HELPDESK_CHAT_LINK_HOURS) * 3600;

        if (ring == NULL || ring->keys.nelts == 0
            || ngx_http_helpdesk_chat_link_sig(ring->keys.elts, tenant, file,
                                               exp, sig)
               != NGX_OK)
        {
            ngx_free(buf);
            return NULL;
        }

        p = ngx_sprintf(p, "?tenant=%V&exp=%T&sig=", slug, exp);
        p = ngx_hex_dump(p, sig, sizeof(sig));
    }

    link = json_stringn((char *) buf, p - buf);
    ngx_free(buf);

    return link;
}


/*
 * A visitor's link, checked: NGX_OK when sig is the signature of the file
 * of the tenant until exp under one of the keys, NGX_DECLINED otherwise
 * (whether it expired is the caller's to say, after this).
 */

ngx_int_t
ngx_http_helpdesk_chat_link_check(u_char *tenant, u_char *file, time_t exp,
    ngx_str_t *sig)
{
    ngx_uint_t                   i;
    ngx_helpdesk_secret_key_t   *key;
    ngx_helpdesk_secret_ring_t  *ring;
    u_char                       want[32], hex[64];

    ring = ngx_http_helpdesk_chat_link_ring();

    if (ring == NULL || sig->len != sizeof(hex)) {
        return NGX_DECLINED;
    }

    key = ring->keys.elts;

    for (i = 0; i < ring->keys.nelts; i++) {
        if (ngx_http_helpdesk_chat_link_sig(&key[i], tenant, file, exp, want)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        ngx_hex_dump(hex, want, sizeof(want));

        if (CRYPTO_memcmp(hex, sig->data, sizeof(hex)) == 0) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_helpdesk_chat_link_sig(ngx_helpdesk_secret_key_t *key,
    u_char *tenant, u_char *file, time_t exp, u_char *out)
{
    u_char  *p;
    u_char   derived[32];
    u_char   msg[2 * NGX_HELPDESK_UUID_LEN + 2 + NGX_TIME_T_LEN];

    if (ngx_helpdesk_hmac_sha256(key->key, sizeof(key->key),
                                 (u_char *) NGX_HTTP_HELPDESK_CHAT_LINK_CONTEXT,
                                 sizeof(NGX_HTTP_HELPDESK_CHAT_LINK_CONTEXT)
                                 - 1, derived)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_cpymem(msg, tenant, NGX_HELPDESK_UUID_LEN);
    *p++ = '/';
    p = ngx_cpymem(p, file, NGX_HELPDESK_UUID_LEN);
    p = ngx_sprintf(p, "/%T", exp);

    if (ngx_helpdesk_hmac_sha256(derived, sizeof(derived), msg, p - msg, out)
        != NGX_OK)
    {
        ngx_explicit_memzero(derived, sizeof(derived));
        return NGX_ERROR;
    }

    ngx_explicit_memzero(derived, sizeof(derived));

    return NGX_OK;
}


static ngx_helpdesk_secret_ring_t *
ngx_http_helpdesk_chat_link_ring(void)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_cycle_get_module_main_conf((ngx_cycle_t *) ngx_cycle,
                                               ngx_http_helpdesk_module);

    return hmcf ? hmcf->secrets : NULL;
}
