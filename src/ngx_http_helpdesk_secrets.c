/*
 * The key file of secrets at rest (helpdesk_secret_key_file), and the
 * module's two uses of it: sealing a secret before it is sent to
 * PostgreSQL, opening one where the module needs it.
 *
 * The file is read once, when the configuration is loaded, by the master
 * (which may be root): a file that group or others may read, or that is
 * not a regular file, is refused, so "nginx -t" catches a key left open.
 * The workers keep the keys in memory only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"


/* a key line is under 80 bytes: thousands of keys fit */
#define NGX_HTTP_HELPDESK_KEY_FILE_MAX  65536


char *
ngx_http_helpdesk_secret_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_helpdesk_main_conf_t  *hmcf = conf;

    u_char                      *buf;
    ssize_t                      n;
    ngx_fd_t                     fd;
    ngx_str_t                   *value, name;
    ngx_file_t                   file;
    ngx_uint_t                   mode;
    ngx_file_info_t              fi;
    ngx_helpdesk_secret_ring_t  *ring;
    u_char                       err[256];

    if (hmcf->secrets) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open \"%V\" in \"%V\" directive",
                           &name, &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot stat \"%V\" in \"%V\" directive",
                           &name, &cmd->name);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" in \"%V\" directive is not a regular file",
                           &name, &cmd->name);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    mode = ngx_file_access(&fi);

    if (mode & 077) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" in \"%V\" directive may be read by group "
                           "or others (mode 0%ui%ui%ui): make it 0600 or 0400",
                           &name, &cmd->name, (ngx_uint_t) (mode >> 6) & 7,
                           (ngx_uint_t) (mode >> 3) & 7, (ngx_uint_t) mode & 7);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->temp_pool, NGX_HTTP_HELPDESK_KEY_FILE_MAX);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = name;
    file.log = cf->log;

    n = ngx_read_file(&file, buf, NGX_HTTP_HELPDESK_KEY_FILE_MAX, 0);
    ngx_close_file(fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    if (n == NGX_HTTP_HELPDESK_KEY_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" in \"%V\" directive is too large",
                           &name, &cmd->name);
        return NGX_CONF_ERROR;
    }

    ring = ngx_pcalloc(cf->pool, sizeof(ngx_helpdesk_secret_ring_t));
    if (ring == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_helpdesk_secret_ring_parse(cf->pool, buf, n, ring, err,
                                       sizeof(err))
        != NGX_OK)
    {
        ngx_explicit_memzero(buf, n);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key file \"%V\" in \"%V\" directive: %s",
                           &name, &cmd->name, err);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(buf, n);

    hmcf->secrets = ring;
    hmcf->outbox.secrets = ring;

    return NGX_CONF_OK;
}


ngx_helpdesk_secret_ring_t *
ngx_http_helpdesk_secrets(ngx_http_request_t *r)
{
    ngx_http_helpdesk_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_helpdesk_module);

    return hmcf->secrets;
}


ngx_int_t
ngx_http_helpdesk_secret_seal(ngx_http_request_t *r, json_t *args,
    const char *field, const char *table, const char *column, ngx_str_t *row)
{
    json_t                      *v;
    ngx_str_t                    aad, plain, out;
    ngx_helpdesk_secret_ring_t  *ring;
    u_char                       buf[NGX_HELPDESK_SECRET_AAD_MAX];

    v = json_object_get(args, field);
    if (v == NULL || !json_is_string(v)) {
        return NGX_OK;
    }

    ring = ngx_http_helpdesk_secrets(r);

    if (ring == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "a secret cannot be stored: "
                      "\"helpdesk_secret_key_file\" is not configured");
        return NGX_ERROR;
    }

    plain.data = (u_char *) json_string_value(v);
    plain.len = json_string_length(v);

    ngx_helpdesk_secret_aad(&aad, buf, table, column, row);

    if (ngx_helpdesk_secret_encrypt(r->pool, ring, &aad, &plain, &out)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return json_object_set_new(args, field,
                               json_stringn((char *) out.data, out.len))
           == 0 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_helpdesk_secret_open(ngx_helpdesk_secret_ring_t *ring,
    ngx_pool_t *pool, ngx_log_t *log, const char *table, const char *column,
    ngx_str_t *row, ngx_str_t *value, ngx_str_t *plain)
{
    ngx_int_t   rc;
    ngx_str_t   aad;
    u_char      buf[NGX_HELPDESK_SECRET_AAD_MAX];

    ngx_helpdesk_secret_aad(&aad, buf, table, column, row);

    rc = ngx_helpdesk_secret_decrypt(pool, ring, &aad, value, plain);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "the secret %s.%s of %V does not decrypt with the "
                      "keys of \"helpdesk_secret_key_file\" (a missing key, "
                      "or a value altered or moved)", table, column,
                      row);
    }

    return rc;
}
