/*
 * The helpdesk_postgres connection string, checked when the configuration
 * is read so that `nginx -t` names what is wrong.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_helpdesk_pg.h"


static char *ngx_helpdesk_pg_conninfo_hosts(PQconninfoOption *opts);


/*
 * Parses a conninfo string at configuration time, so that "nginx -t"
 * names a bad keyword instead of the first request failing.
 */

char *
ngx_helpdesk_pg_conninfo_check(ngx_pool_t *pool, ngx_str_t *conninfo)
{
    char             *err, *msg;
    size_t            len;
    PQconninfoOption *opts;

    err = NULL;
    opts = PQconninfoParse((const char *) conninfo->data, &err);

    if (opts == NULL) {
        if (err == NULL) {
            return "out of memory";
        }

        len = ngx_strlen(err);
        msg = ngx_pnalloc(pool, len + 1);
        if (msg != NULL) {
            ngx_memcpy(msg, err, len + 1);

            while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
                msg[--len] = '\0';
            }
        }

        PQfreemem(err);
        return msg ? msg : "invalid conninfo";
    }

    msg = ngx_helpdesk_pg_conninfo_hosts(opts);
    PQconninfoFree(opts);

    return msg;
}


/*
 * libpq resolves a host name with a blocking getaddrinfo() inside
 * PQconnectStart(), which would stall the worker and every request on it.
 * So a host must be a unix socket directory or an IP address, or come with
 * hostaddr= (then libpq connects to the address and uses the name only to
 * check a certificate).  A service file could name hosts we cannot see.
 */

static char *
ngx_helpdesk_pg_conninfo_hosts(PQconninfoOption *opts)
{
    u_char            *p, *last, *comma;
    size_t             len;
    PQconninfoOption  *o;
    const char        *host, *hostaddr;
    u_char             addr[sizeof(struct in6_addr)];
    u_char             buf[NGX_SOCKADDR_STRLEN + 1];

    host = NULL;
    hostaddr = NULL;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "service") == 0) {
            return "\"service\" is not supported: name the server with "
                   "host= (a socket directory or an IP address)";
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;
        }
    }

    if (host == NULL || hostaddr != NULL) {
        return NULL;
    }

    p = (u_char *) host;
    last = p + ngx_strlen(host);

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        len = comma - p;

        if (len && *p != '/' && *p != '@') {

            if (len >= sizeof(buf)) {
                return "a host name would be resolved by a blocking call: "
                       "give an IP address or a unix socket directory in "
                       "host=, or add hostaddr=";
            }

            ngx_memcpy(buf, p, len);
            buf[len] = '\0';

            if (inet_pton(AF_INET, (char *) buf, addr) != 1
#if (NGX_HAVE_INET6)
                && inet_pton(AF_INET6, (char *) buf, addr) != 1
#endif
               )
            {
                return "a host name would be resolved by a blocking call: "
                       "give an IP address or a unix socket directory in "
                       "host=, or add hostaddr=";
            }
        }

        p = comma + 1;
    }

    return NULL;
}
