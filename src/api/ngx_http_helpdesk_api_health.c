/*
 * GET /v1/health: whether this node reaches PostgreSQL (the statement the
 * API's core runs for it) and Redis (a PING here): 200 with both up, 503
 * naming the one that is not, with Retry-After.  No key: load balancers
 * ask it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_helpdesk_module.h"
#include "ngx_http_helpdesk_api.h"


static void ngx_http_helpdesk_api_health_redis(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply);


static const ngx_http_helpdesk_api_op_t  ngx_http_helpdesk_api_health_ops[] = {
    { NGX_HTTP_GET, 200, "health", NULL, NGX_HTTP_HELPDESK_AUTH_NONE, NULL,
      NULL },
    { 0, 0, NULL, NULL, 0, NULL, NULL }
};

const ngx_http_helpdesk_api_route_t  ngx_http_helpdesk_api_health_routes[] = {
    { "/v1/health", ngx_http_helpdesk_api_health_ops },
    { NULL, NULL }
};


void
ngx_http_helpdesk_api_health(ngx_http_helpdesk_api_ctx_t *ctx)
{
    ngx_http_helpdesk_api_redis_cmd(ctx, ngx_http_helpdesk_api_health_redis);
    ngx_helpdesk_redis_arg(&ctx->rcmd, (u_char *) "PING", 4);
    ngx_helpdesk_redis_run(&ctx->rcmd);
}


static void
ngx_http_helpdesk_api_health_redis(ngx_helpdesk_redis_cmd_t *cmd,
    redisReply *reply)
{
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_flag_t                    redis_up;
    ngx_http_helpdesk_api_ctx_t  *ctx = cmd->data;

    redis_up = reply != NULL && reply->type == REDIS_REPLY_STATUS;

    if (ctx->health_pg && redis_up) {
        ngx_str_set(&ctx->out,
                    "{\"status\":\"ok\",\"postgresql\":\"up\","
                    "\"redis\":\"up\"}");
        p = ngx_pnalloc(ctx->req.r->pool, ctx->out.len + 1);
        if (p == NULL) {
            ngx_http_helpdesk_api_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(p, ctx->out.data, ctx->out.len);
        ctx->out.data = p;
        ctx->status = NGX_HTTP_OK;
        ngx_http_helpdesk_api_respond(ctx);
        return;
    }

    rc = ngx_http_helpdesk_api_unavailable(ctx,
             ctx->health_pg ? "redis" : "postgresql",
             ctx->health_pg ? ngx_helpdesk_redis_retry_after()
                            : ngx_helpdesk_pg_retry_after());
    ngx_http_helpdesk_api_finalize(ctx, rc);
}
