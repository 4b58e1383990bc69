/*
 * The chat's record: the persistence stream read, a chunk a command
 * (at most NGX_HELPDESK_CHAT_PERSIST_CHUNK entries, so that no read holds
 * Redis long), into the batch the job writes in one statement.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <jansson.h>

#include "ngx_helpdesk_chat_persist.h"
#include "ngx_helpdesk_chat_persist_int.h"


static void ngx_helpdesk_chat_persist_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);


/*
 * Own pending entries first (a batch that failed, the rest of one cut),
 * one at a time after the cursor while isolating a refused batch; then
 * entries of dead consumers now and then, then new ones.  A batch is
 * read a chunk a command: the next chunk while the last one came full
 * and the batch has room.
 */

void
ngx_helpdesk_chat_persist_read(void)
{
    u_char                       *p;
    ngx_uint_t                    n;
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    cp->state = NGX_HELPDESK_CHAT_PERSIST_READ;
    ngx_helpdesk_chat_persist_cmd(ngx_helpdesk_chat_persist_got);

    if (cp->batch == NULL) {
        /* a new batch */
        cp->claiming = 0;
        cp->cut = 0;
        cp->count = 0;
        cp->bytes = 0;
        cp->acked = 0;
        cp->entry_len = 0;
        cp->what_len = 0;

        cp->batch = json_array();
        cp->ids = json_array();

        if (cp->batch == NULL || cp->ids == NULL) {
            ngx_helpdesk_chat_persist_next(1000);
            return;
        }

        if (!cp->pending && cp->failed
            && ngx_current_msec - cp->failed_at
               >= NGX_HELPDESK_CHAT_PERSIST_RETRY)
        {
            /* the entries refused alone: each tried alone again */
            cp->failed = 0;
            cp->pending = 1;
            cp->isolate = 1;
            cp->cursor_len = 0;
        }
    }

    n = cp->isolate ? 1 : ngx_min(cp->limit - cp->count,
                                  NGX_HELPDESK_CHAT_PERSIST_CHUNK);
    cp->asked = n;

    p = ngx_sprintf(cp->limit_str, "%ui", n);
    cp->limit_len = p - cp->limit_str;

    if (cp->count == 0 && !cp->pending
        && ngx_current_msec - cp->claimed >= NGX_HELPDESK_CHAT_PERSIST_CLAIM)
    {
        cp->claimed = ngx_current_msec;
        cp->claiming = 1;

        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "XAUTOCLAIM", 10);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_STREAM,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_STREAM) - 1);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_GROUP,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_GROUP) - 1);
        ngx_helpdesk_redis_arg(&cp->cmd, cp->consumer, cp->consumer_len);
        ngx_helpdesk_redis_arg(&cp->cmd,
                               (u_char *) NGX_HELPDESK_CHAT_PERSIST_IDLE,
                               sizeof(NGX_HELPDESK_CHAT_PERSIST_IDLE) - 1);
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "0-0", 3);
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "COUNT", 5);
        ngx_helpdesk_redis_arg(&cp->cmd, cp->limit_str, cp->limit_len);

        ngx_helpdesk_redis_run(&cp->cmd);
        return;
    }

    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "XREADGROUP", 10);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "GROUP", 5);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_GROUP,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_GROUP) - 1);
    ngx_helpdesk_redis_arg(&cp->cmd, cp->consumer, cp->consumer_len);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "COUNT", 5);
    ngx_helpdesk_redis_arg(&cp->cmd, cp->limit_str, cp->limit_len);
    ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "STREAMS", 7);
    ngx_helpdesk_redis_arg(&cp->cmd,
                           (u_char *) NGX_HELPDESK_CHAT_PERSIST_STREAM,
                           sizeof(NGX_HELPDESK_CHAT_PERSIST_STREAM) - 1);

    if (!cp->pending) {
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) ">", 1);

    } else if (cp->count) {
        /* own pending entries after the batch's last one */
        ngx_helpdesk_redis_arg(&cp->cmd, cp->entry, cp->entry_len);

    } else if (cp->isolate && cp->cursor_len) {
        /* own pending entries after the last one written alone */
        ngx_helpdesk_redis_arg(&cp->cmd, cp->cursor, cp->cursor_len);

    } else {
        ngx_helpdesk_redis_arg(&cp->cmd, (u_char *) "0", 1);
    }

    ngx_helpdesk_redis_run(&cp->cmd);
}


static void
ngx_helpdesk_chat_persist_got(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    char                          key[2];
    size_t                        i, k, size;
    json_t                       *row;
    redisReply                   *entries, *e, *f;
    ngx_helpdesk_chat_persist_t  *cp = &ngx_helpdesk_chat_persist;

    entries = NULL;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        if (ngx_strncmp(reply->str, "NOGROUP", 7) == 0) {
            cp->group = 0;      /* the stream is gone (Redis was emptied) */

        } else {
            ngx_log_error(NGX_LOG_ERR, cp->log, 0,
                          "helpdesk chat persist: %*s", (size_t) reply->len,
                          reply->str);
        }

        /* what was read of the batch stays pending: read again first */
        if (cp->count) {
            cp->pending = 1;
        }

        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    if (reply == NULL) {
        if (cp->count) {
            cp->pending = 1;
        }

        ngx_helpdesk_chat_persist_next(1000);
        return;
    }

    if (cp->claiming) {
        /* [cursor, entries, deleted ids] */
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
            entries = reply->element[1];
        }

    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1
               && reply->element[0]->type == REDIS_REPLY_ARRAY
               && reply->element[0]->elements == 2)
    {
        /* [[stream, entries]] */
        entries = reply->element[0]->element[1];
    }

    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY
        || entries->elements == 0)
    {
        if (cp->count) {
            /* the batch has what there was */
            ngx_helpdesk_chat_persist_write();
            return;
        }

        if (cp->pending && !cp->claiming) {
            if (cp->isolate) {
                /* each written alone: those refused are tried again */
                cp->isolate = 0;
                cp->failed_at = ngx_current_msec;
            }

            cp->pending = 0;
            ngx_helpdesk_chat_persist_next(0);
            return;
        }

        ngx_helpdesk_chat_persist_next(cp->claiming ? 0
                                       : NGX_HELPDESK_CHAT_PERSIST_INTERVAL);
        return;
    }

    for (i = 0; i < entries->elements; i++) {
        e = entries->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[0]->len >= sizeof(cp->entry))
        {
            continue;
        }

        f = e->element[1];

        /* at most about a megabyte: the rest is read again at once */
        size = 0;

        for (k = 0; f->type == REDIS_REPLY_ARRAY && k < f->elements; k++) {
            if (f->element[k]->type == REDIS_REPLY_STRING) {
                size += f->element[k]->len;
            }
        }

        if (cp->count && cp->bytes + size > NGX_HELPDESK_CHAT_PERSIST_BYTES) {
            cp->cut = 1;
            break;
        }

        cp->bytes += size;
        cp->count++;

        ngx_memcpy(cp->entry, e->element[0]->str, e->element[0]->len);
        cp->entry_len = e->element[0]->len;

        json_array_append_new(cp->ids, json_stringn(e->element[0]->str,
                                                    e->element[0]->len));

        if (f->type != REDIS_REPLY_ARRAY) {
            continue;       /* deleted meanwhile: acknowledged only */
        }

        row = json_object();

        for (k = 0; row && k + 1 < f->elements; k += 2) {
            if (f->element[k]->type != REDIS_REPLY_STRING
                || f->element[k]->len != 1
                || f->element[k + 1]->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            key[0] = f->element[k]->str[0];
            key[1] = '\0';

            json_object_set_new(row, key,
                                json_stringn(f->element[k + 1]->str,
                                             f->element[k + 1]->len));
        }

        if (row) {
            cp->what_len = ngx_snprintf(cp->what, sizeof(cp->what),
                              "%s/%s",
                              json_string_value(json_object_get(row, "t"))
                              ? json_string_value(json_object_get(row, "t"))
                              : "-",
                              json_string_value(json_object_get(row, "c"))
                              ? json_string_value(json_object_get(row, "c"))
                              : "-")
                           - cp->what;
            json_array_append_new(cp->batch, row);
        }
    }

    if (cp->count && cp->count < cp->limit && !cp->cut && !cp->isolate
        && !cp->claiming && entries->elements >= cp->asked)
    {
        /* a full chunk and room in the batch: the next chunk */
        ngx_helpdesk_chat_persist_again();
        return;
    }

    ngx_helpdesk_chat_persist_write();
}
