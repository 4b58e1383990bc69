/*
 * The rules of the DNS check's gates over the answers (see
 * ngx_helpdesk_domain_check.c): whether every address of a name is one of
 * the provider's edge, and what the first non-empty CAA RRset allows.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_helpdesk_domain_check_int.h"


static ngx_str_t  ngx_helpdesk_dc_caa_tags[] = {
    ngx_string("issuewild"),
    ngx_string("iodef"),
    ngx_string("issuemail"),
    ngx_string("issuevmc"),
    ngx_string("contactemail"),
    ngx_string("contactphone"),
    ngx_null_string
};


static void
ngx_helpdesk_dc_elsewhere(ngx_helpdesk_dc_check_t *c, u_char *text,
    size_t len)
{
    c->elsewhere.data = ngx_pnalloc(c->job->pool, len);
    if (c->elsewhere.data) {
        c->elsewhere.len = ngx_cpymem(c->elsewhere.data, text, len)
                           - c->elsewhere.data;
    }
}


void
ngx_helpdesk_dc_addresses(ngx_helpdesk_dc_check_t *c,
    ngx_helpdesk_dns_answer_t *ans)
{
    size_t                             len;
    ngx_uint_t                         i, k, ours;
    in_addr_t                         *e4;
    struct in_addr                    *a;
    struct in6_addr                   *a6, *e6;
    ngx_helpdesk_domain_check_conf_t  *conf = c->job->conf;
    u_char                             text[NGX_INET6_ADDRSTRLEN];

    a = ans->a.elts;
    for (i = 0; i < ans->a.nelts; i++) {
        c->addresses++;
        ours = 0;

        e4 = conf->edge4->elts;
        for (k = 0; k < conf->edge4->nelts; k++) {
            if (e4[k] == a[i].s_addr) {
                ours = 1;
            }
        }

        if (!ours && c->elsewhere.len == 0) {
            len = ngx_inet_ntop(AF_INET, &a[i], text, NGX_INET6_ADDRSTRLEN);
            ngx_helpdesk_dc_elsewhere(c, text, len);
        }
    }

    a6 = ans->aaaa.elts;
    for (i = 0; i < ans->aaaa.nelts; i++) {
        c->addresses++;
        ours = 0;

        e6 = conf->edge6->elts;
        for (k = 0; k < conf->edge6->nelts; k++) {
            if (ngx_memcmp(&e6[k], &a6[i], sizeof(struct in6_addr)) == 0) {
                ours = 1;
            }
        }

        if (!ours && c->elsewhere.len == 0) {
            len = ngx_inet_ntop(AF_INET6, &a6[i], text,
                                NGX_INET6_ADDRSTRLEN);
            ngx_helpdesk_dc_elsewhere(c, text, len);
        }
    }
}


/*
 * The CAA RRset at c->caa_name: NGX_DECLINED when it is empty (the walk
 * goes up), NGX_OK when it decided (c->caa_forbids set if it forbids).
 */
ngx_int_t
ngx_helpdesk_dc_caa(ngx_helpdesk_dc_check_t *c, ngx_helpdesk_dns_answer_t *ans)
{
    u_char                  *p, *last;
    ngx_str_t                issuer, *ids;
    ngx_uint_t               i, k, issue, allowed, critical;
    ngx_helpdesk_dns_caa_t  *caa;
    u_char                   buf[512];

    if (ans->caa.nelts == 0) {
        return NGX_DECLINED;
    }

    caa = ans->caa.elts;
    ids = c->job->caa->elts;
    issue = 0;
    allowed = 0;
    critical = NGX_CONF_UNSET_UINT;

    p = buf;
    last = buf + sizeof(buf);

    for (i = 0; i < ans->caa.nelts; i++) {

        if (caa[i].tag.len == 5
            && ngx_strncasecmp(caa[i].tag.data, (u_char *) "issue", 5) == 0)
        {
            issue = 1;

            if (ngx_helpdesk_dns_caa_issuer(&caa[i].value, &issuer) != NGX_OK
                || issuer.len == 0)
            {
                continue;       /* authorizes nobody */
            }

            for (k = 0; k < c->job->caa->nelts; k++) {
                if (ids[k].len == issuer.len
                    && ngx_strncasecmp(ids[k].data, issuer.data, issuer.len)
                       == 0)
                {
                    allowed = 1;
                }
            }

            p = ngx_slprintf(p, last, "%s%V", p == buf ? "" : ", ", &issuer);
            continue;
        }

        /* the tags of RFC 8659 and RFC 9495 that do not bear on "issue" */
        for (k = 0; ngx_helpdesk_dc_caa_tags[k].len; k++) {
            if (caa[i].tag.len == ngx_helpdesk_dc_caa_tags[k].len
                && ngx_strncasecmp(caa[i].tag.data,
                                   ngx_helpdesk_dc_caa_tags[k].data,
                                   caa[i].tag.len) == 0)
            {
                break;
            }
        }

        if (ngx_helpdesk_dc_caa_tags[k].len) {
            continue;
        }

        if ((caa[i].flags & NGX_HELPDESK_DNS_CAA_CRITICAL)
            && critical == NGX_CONF_UNSET_UINT)
        {
            critical = i;
        }
    }

    if (critical != NGX_CONF_UNSET_UINT) {
        p = ngx_slprintf(buf, last, "%V has the unknown critical tag %V",
                         &c->caa_name, &caa[critical].tag);

    } else if (issue && !allowed) {
        issuer.data = ngx_pnalloc(c->job->pool, p - buf);
        if (issuer.data == NULL) {
            return NGX_OK;
        }

        issuer.len = p - buf;
        ngx_memcpy(issuer.data, buf, issuer.len);

        p = ngx_slprintf(buf, last, "%V allows %V", &c->caa_name,
                         issuer.len ? &issuer
                                    : &(ngx_str_t) ngx_string("no CA"));

    } else {
        return NGX_OK;
    }

    c->caa_forbids.data = ngx_pnalloc(c->job->pool, p - buf);
    if (c->caa_forbids.data == NULL) {
        ngx_str_set(&c->caa_forbids, "out of memory");
        return NGX_OK;
    }

    c->caa_forbids.len = p - buf;
    ngx_memcpy(c->caa_forbids.data, buf, p - buf);

    /* what a record says is shown as text: printable ASCII only */
    for (i = 0; i < c->caa_forbids.len; i++) {
        if (c->caa_forbids.data[i] < 0x20 || c->caa_forbids.data[i] > 0x7e) {
            c->caa_forbids.data[i] = '?';
        }
    }

    return NGX_OK;
}
