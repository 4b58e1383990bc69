/*
 * What a visitor fills in: the pre-chat form, checked against the
 * tenant's fields, and "email me the transcript" (an email job in the
 * outbox, as the portal's mails).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_chat_int.h"
#include "lib/ngx_helpdesk_json.h"


static void ngx_http_helpdesk_chat_v_mailed(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res);


void
ngx_http_helpdesk_chat_v_transcript(ngx_http_helpdesk_chat_session_t *s,
    json_t *msg, ngx_str_t *cid)
{
    json_t                       *email;
    ngx_str_t                    *proof;
    ngx_http_helpdesk_chat_op_t  *op;

    email = json_object_get(msg, "email");

    if (!json_is_string(email) || json_string_length(email) > 254
        || !ngx_helpdesk_json_email_valid(json_string_value(email),
                                          json_string_length(email)))
    {
        ngx_http_helpdesk_chat_error(s, cid, "bad_message",
                                     "\"email\" must be an email address");
        return;
    }

    if (!s->member) {
        ngx_http_helpdesk_chat_error(s, cid, "conflict", "no conversation");
        return;
    }

    op = ngx_http_helpdesk_chat_op_cid(s, ngx_http_helpdesk_chat_v_mailed, cid);
    if (op == NULL) {
        return;
    }

    proof = ngx_http_helpdesk_chat_proof();

    (void) ngx_http_helpdesk_chat_sql_param(op, proof->data, proof->len);
    (void) ngx_http_helpdesk_chat_sql_param(op, s->peer->tenant,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(op, s->member->conv->id,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(op, s->visitor,
                                            NGX_HTTP_HELPDESK_CHAT_UUID_LEN);
    (void) ngx_http_helpdesk_chat_sql_param(op,
                                  (u_char *) json_string_value(email),
                                  json_string_length(email));

    ngx_http_helpdesk_chat_sql(op,
        "SELECT api.chat_transcript($1::bytea, $2::uuid, $3::uuid, $4::uuid, "
        "$5)");
}


static void
ngx_http_helpdesk_chat_v_mailed(ngx_http_helpdesk_chat_op_t *op,
    redisReply *reply, PGresult *res)
{
    char       *state;
    ngx_str_t   cid;

    cid.data = op->cid;
    cid.len = op->cid_len;

    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (state && ngx_strcmp(state, "HDLIM") == 0) {
        ngx_http_helpdesk_chat_error(op->s, &cid, "rate_limited",
                                     "this conversation's transcript was "
                                     "emailed enough times");
        return;
    }

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_http_helpdesk_chat_error(op->s, &cid, "unavailable",
                                     "the transcript could not be queued, "
                                     "try again");
        return;
    }

    ngx_http_helpdesk_chat_ack(op->s, op->cid, op->cid_len, NULL, NULL);
}


json_t *
ngx_http_helpdesk_chat_v_prechat(ngx_http_helpdesk_chat_session_t *s,
    json_t *prechat, const char **err)
{
    size_t       i;
    json_t      *out, *js, *fields, *f, *v, *custom, *ocustom;
    const char  *name, *key;

    if (prechat && !json_is_object(prechat)) {
        *err = "\"prechat\" must be an object";
        return NULL;
    }

    out = json_object();
    ocustom = json_object();
    if (out == NULL || ocustom == NULL) {
        json_decref(out);
        json_decref(ocustom);
        return NULL;
    }

    v = json_object_get(prechat, "name");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) > 200) {
            *err = "\"prechat.name\" must be a string of at most 200";
            goto failed;
        }

        json_object_set(out, "name", v);
    }

    v = json_object_get(prechat, "email");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) > 254
            || (json_string_length(v)
                && !ngx_helpdesk_json_email_valid(json_string_value(v),
                                                  json_string_length(v))))
        {
            *err = "\"prechat.email\" must be an email address";
            goto failed;
        }

        json_object_set(out, "email", v);
    }

    custom = json_object_get(prechat, "fields");
    if (custom) {
        if (!json_is_object(custom) || json_object_size(custom) > 20) {
            *err = "\"prechat.fields\" must be an object of at most 20";
            goto failed;
        }

        json_object_foreach(custom, key, v) {
            if (!json_is_string(v) || json_string_length(v) > 500
                || ngx_strlen(key) > 64)
            {
                *err = "a pre-chat field is a string of at most 500";
                goto failed;
            }

            json_object_set(ocustom, key, v);
        }
    }

    json_object_set_new(out, "fields", ocustom);
    ocustom = NULL;

    js = s->peer->settings.len
         ? json_loadb((char *) s->peer->settings.data, s->peer->settings.len,
                      0, NULL)
         : NULL;
    fields = json_object_get(js, "prechat");

    for (i = 0; i < json_array_size(fields); i++) {
        f = json_array_get(fields, i);
        name = json_string_value(json_object_get(f, "name"));

        if (name == NULL || !json_is_true(json_object_get(f, "required"))) {
            continue;
        }

        v = (ngx_strcmp(name, "name") == 0 || ngx_strcmp(name, "email") == 0)
            ? json_object_get(out, name)
            : json_object_get(json_object_get(out, "fields"), name);

        if (json_string_length(v) == 0) {
            json_decref(js);
            *err = "a required pre-chat field is missing";
            goto failed;
        }
    }

    json_decref(js);

    return out;

failed:

    json_decref(out);
    json_decref(ocustom);
    return NULL;
}
