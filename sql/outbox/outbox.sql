-- nginx-helpdesk: the outbox and event webhooks.
--
-- Anything the helpdesk must send to the world (webhook deliveries now;
-- WhatsApp and email replies as those channels land) is written to the
-- outbox in the same transaction as the change that causes it, so it is
-- never lost.  Workers claim due rows with FOR UPDATE SKIP LOCKED and a
-- lease, deliver them, and record the result: delivered, retry later
-- (exponential backoff with jitter), or dead after too many attempts.
-- A row whose worker died is claimed again when its lease runs out.

SET ROLE helpdesk_owner;

-- What a tenant is shown of a remote reply (a delivery's log, a
-- connection's health): at most 200 bytes, control characters as spaces.
-- The module passes the reply as printable UTF-8 already.
CREATE OR REPLACE FUNCTION outbox.excerpt(p text)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := left(regexp_replace(p, '[[:cntrl:]\u0080-\u009f\u2028\u2029]+', ' ', 'g'), 200);
BEGIN
    WHILE octet_length(s) > 200 LOOP
        s := left(s, -1);
    END LOOP;
    RETURN nullif(btrim(s), '');
END
$$;

-- Whether anyone listens: lets a hot path skip building a payload nobody
-- will receive.
CREATE OR REPLACE FUNCTION outbox.wants(p_tenant uuid, p_type text)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM helpdesk.webhook_endpoints e
                   WHERE e.tenant_id = p_tenant AND e.enabled
                     AND e.deleted_at IS NULL AND p_type = ANY (e.events));
END
$$;

-- Queues an event for every enabled endpoint that subscribed to it (or
-- for one endpoint only), in the caller's transaction.
CREATE OR REPLACE FUNCTION outbox.emit(ctx jsonb, p_type text, p_data jsonb,
                                         p_endpoint uuid DEFAULT NULL)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id,
                                 event_type, payload)
    SELECT e.tenant_id, 'webhook', e.endpoint_id, d.id, p_type,
           jsonb_build_object('id', d.id, 'type', p_type,
                              'created_at', now(), 'tenant_id', e.tenant_id,
                              'data', p_data)
    FROM helpdesk.webhook_endpoints e
    CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id, e.endpoint_id AS ep) d
    WHERE e.tenant_id = (ctx->>'tenant_id')::uuid
      AND e.enabled AND e.deleted_at IS NULL
      AND (CASE WHEN p_endpoint IS NULL THEN p_type = ANY (e.events)
                ELSE e.endpoint_id = p_endpoint END);

    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
DROP FUNCTION IF EXISTS outbox.outbox_claim(int, int);
CREATE OR REPLACE FUNCTION outbox.outbox_claim(p_limit int, p_lease_ms int)
RETURNS TABLE (tenant_id uuid, outbox_id bigint, kind text, delivery_id uuid,
               event_type text, method text, url text, headers jsonb,
               body text, secret text, binary_response boolean,
               provider_url boolean, secret_aad text, auth_header text,
               body_aad text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT o.tenant_id, o.outbox_id
        FROM helpdesk.outbox o
        WHERE o.status IN ('pending', 'sending')
          -- email jobs wait for the email channel's own sender
          AND o.kind IN ('webhook', 'whatsapp')
          AND ((o.status = 'pending' AND o.next_attempt_at <= now())
               OR (o.status = 'sending' AND o.locked_until < now()))
        ORDER BY o.next_attempt_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE helpdesk.outbox o
        SET status = 'sending', attempts = o.attempts + 1,
            locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        FROM due
        WHERE o.tenant_id = due.tenant_id AND o.outbox_id = due.outbox_id
        RETURNING o.*
    )
    SELECT c.tenant_id, c.outbox_id, c.kind, c.delivery_id, c.event_type,
           r.method, r.url, r.headers, r.body, r.secret, r.binary_response,
           r.provider_url, r.secret_aad, r.auth_header, r.body_aad
    FROM claimed c
    CROSS JOIN LATERAL whatsapp.outbox_request(c) r;
END
$$;
CREATE OR REPLACE FUNCTION outbox.outbox_result(
    p_tenant uuid, p_outbox bigint, p_ok boolean, p_http_status int,
    p_error text, p_duration_ms int, p_response text,
    p_max_attempts int, p_backoff_ms int, p_max_backoff_ms int,
    p_disable_after int, p_data bytea)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
DECLARE
    o      helpdesk.outbox;
    e      helpdesk.webhook_endpoints;
    delay  double precision;
BEGIN
    SELECT * INTO o FROM helpdesk.outbox
    WHERE tenant_id = p_tenant AND outbox_id = p_outbox FOR UPDATE;

    IF o.outbox_id IS NULL OR o.status <> 'sending' THEN
        RETURN 'stale';
    END IF;

    IF o.kind = 'whatsapp' THEN
        RETURN whatsapp.whatsapp_result(o, p_ok, p_http_status, p_error,
                                        p_response, p_max_attempts,
                                        p_backoff_ms, p_max_backoff_ms, p_data);
    END IF;

    INSERT INTO helpdesk.webhook_attempts (tenant_id, outbox_id, endpoint_id,
        delivery_id, event_type, attempt, http_status, error, duration_ms,
        response)
    VALUES (o.tenant_id, o.outbox_id, o.target_id, o.delivery_id, o.event_type,
            o.attempts, nullif(p_http_status, 0), p_error, p_duration_ms,
            outbox.excerpt(p_response));

    IF p_ok THEN
        UPDATE helpdesk.outbox SET status = 'delivered', delivered_at = now(),
               locked_until = NULL, last_error = NULL
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;

        UPDATE helpdesk.webhook_endpoints SET consecutive_failures = 0
        WHERE tenant_id = o.tenant_id AND endpoint_id = o.target_id
          AND consecutive_failures <> 0;

        RETURN 'delivered';
    END IF;

    UPDATE helpdesk.webhook_endpoints
    SET consecutive_failures = consecutive_failures + 1
    WHERE tenant_id = o.tenant_id AND endpoint_id = o.target_id
    RETURNING * INTO e;

    IF e.enabled AND e.deleted_at IS NULL
       AND e.consecutive_failures >= p_disable_after
    THEN
        UPDATE helpdesk.webhook_endpoints
        SET enabled = false, updated_at = now(),
            disabled_reason = format('disabled after %s consecutive failed deliveries',
                                     e.consecutive_failures)
        WHERE tenant_id = e.tenant_id AND endpoint_id = e.endpoint_id;

        UPDATE helpdesk.outbox SET status = 'dead', locked_until = NULL,
               last_error = 'endpoint disabled after repeated failures'
        WHERE tenant_id = e.tenant_id AND target_id = e.endpoint_id
          AND status IN ('pending', 'sending');
        RETURN 'disabled';
    END IF;

    IF e.endpoint_id IS NULL OR NOT e.enabled OR e.deleted_at IS NOT NULL
       OR o.attempts >= p_max_attempts
    THEN
        UPDATE helpdesk.outbox SET status = 'dead', locked_until = NULL,
               last_error = coalesce(p_error, 'HTTP ' || p_http_status)
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
        RETURN 'dead';
    END IF;

    -- exponential backoff with +-20% jitter, so retries do not arrive in step
    delay := least(p_backoff_ms * power(2, o.attempts - 1), p_max_backoff_ms)
             * (0.8 + random() * 0.4);

    UPDATE helpdesk.outbox SET status = 'pending', locked_until = NULL,
           next_attempt_at = now() + make_interval(secs => delay / 1000.0),
           last_error = coalesce(p_error, 'HTTP ' || p_http_status)
    WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;

    RETURN 'retry';
END
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_json(e helpdesk.webhook_endpoints)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', e.endpoint_id, 'url', e.url,
                              'description', e.description,
                              'events', to_jsonb(e.events),
                              'enabled', e.enabled,
                              'disabled_reason', e.disabled_reason,
                              'consecutive_failures', e.consecutive_failures,
                              'created_at', e.created_at,
                              'updated_at', e.updated_at)
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_find(ref text, for_update boolean)
RETURNS helpdesk.webhook_endpoints LANGUAGE plpgsql AS $$
DECLARE
    e helpdesk.webhook_endpoints;
BEGIN
    IF tickets.is_uuid(ref) THEN
        IF for_update THEN
            SELECT * INTO e FROM helpdesk.webhook_endpoints
            WHERE tenant_id = helpdesk.current_tenant() AND endpoint_id = ref::uuid
              AND deleted_at IS NULL FOR UPDATE;
        ELSE
            SELECT * INTO e FROM helpdesk.webhook_endpoints
            WHERE tenant_id = helpdesk.current_tenant() AND endpoint_id = ref::uuid
              AND deleted_at IS NULL;
        END IF;
    END IF;

    IF e.endpoint_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
                              format('there is no webhook %s', ref));
    END IF;

    RETURN e;
END
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_create(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e helpdesk.webhook_endpoints;
BEGIN
    -- the module chose the row's id and sealed the secret to it
    INSERT INTO helpdesk.webhook_endpoints (tenant_id, endpoint_id, url, description,
                                            secret, events)
    VALUES ((ctx->>'tenant_id')::uuid, (args->>'endpoint_id')::uuid, args->>'url',
            args->>'description', args->>'secret',
            ARRAY(SELECT jsonb_array_elements_text(args->'events')))
    RETURNING * INTO e;

    PERFORM tickets.audit(ctx, 'webhook.create', 'webhook', e.endpoint_id::text,
                           jsonb_build_object('url', e.url, 'events', args->'events'));

    -- the signing secret is added by the module, which alone knows it
    RETURN jsonb_build_object('body', outbox.webhook_json(e),
        'location', '/v1/webhooks/' || e.endpoint_id);
END
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_list(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    items jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(outbox.webhook_json(e) ORDER BY e.created_at), '[]')
    INTO items FROM helpdesk.webhook_endpoints e
    WHERE e.tenant_id = (ctx->>'tenant_id')::uuid AND e.deleted_at IS NULL;

    PERFORM tickets.audit_read(ctx, 'webhook.list', 'webhook', NULL,
                                jsonb_build_object('count', jsonb_array_length(items)));

    RETURN jsonb_build_object('body', jsonb_build_object('data', items));
END
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e helpdesk.webhook_endpoints := outbox.webhook_find(args->>'id', false);
BEGIN
    PERFORM tickets.audit_read(ctx, 'webhook.read', 'webhook', e.endpoint_id::text);
    RETURN jsonb_build_object('body', outbox.webhook_json(e));
END
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_update(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e helpdesk.webhook_endpoints;
BEGIN
    e := outbox.webhook_find(args->>'id', true);

    UPDATE helpdesk.webhook_endpoints SET
        url = coalesce(args->>'url', url),
        description = CASE WHEN args ? 'description' THEN args->>'description'
                           ELSE description END,
        events = CASE WHEN args ? 'events'
                      THEN ARRAY(SELECT jsonb_array_elements_text(args->'events'))
                      ELSE events END,
        enabled = coalesce((args->>'enabled')::boolean, enabled),
        -- re-enabling starts afresh
        disabled_reason = CASE WHEN (args->>'enabled')::boolean THEN NULL
                               WHEN (args->>'enabled')::boolean = false
                               THEN 'disabled through the API'
                               ELSE disabled_reason END,
        consecutive_failures = CASE WHEN (args->>'enabled')::boolean THEN 0
                                    ELSE consecutive_failures END,
        updated_at = now()
    WHERE tenant_id = e.tenant_id AND endpoint_id = e.endpoint_id
    RETURNING * INTO e;

    PERFORM tickets.audit(ctx, 'webhook.update', 'webhook', e.endpoint_id::text,
                           args - 'id');

    RETURN jsonb_build_object('body', outbox.webhook_json(e));
END
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_delete(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e helpdesk.webhook_endpoints;
BEGIN
    e := outbox.webhook_find(args->>'id', true);

    UPDATE helpdesk.webhook_endpoints SET deleted_at = now(), enabled = false,
           disabled_reason = 'deleted', updated_at = now()
    WHERE tenant_id = e.tenant_id AND endpoint_id = e.endpoint_id;

    UPDATE helpdesk.outbox SET status = 'dead', last_error = 'endpoint deleted'
    WHERE tenant_id = e.tenant_id AND target_id = e.endpoint_id
      AND status = 'pending';

    PERFORM tickets.audit(ctx, 'webhook.delete', 'webhook', e.endpoint_id::text);

    RETURN jsonb_build_object('body', NULL);
END
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_ping(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e helpdesk.webhook_endpoints;
BEGIN
    e := outbox.webhook_find(args->>'id', false);

    IF NOT e.enabled THEN
        PERFORM tickets.fail('HDCNF', 'webhook-disabled',
            'the webhook is disabled; enable it first');
    END IF;

    PERFORM outbox.emit(ctx, 'webhook.ping',
                          jsonb_build_object('webhook_id', e.endpoint_id),
                          e.endpoint_id);

    RETURN jsonb_build_object('body',
        jsonb_build_object('status', 'queued'));
END
$$;

CREATE OR REPLACE FUNCTION outbox.webhook_deliveries(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e      helpdesk.webhook_endpoints;
    lim    int := coalesce((args->>'limit')::int, 50);
    before bigint := NULL;
    items  jsonb;
    n      int;
    last   bigint;
BEGIN
    e := outbox.webhook_find(args->>'id', false);

    IF args ? 'cursor' THEN
        before := tickets.cursor_decode(args->>'cursor');
    END IF;

    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', a.attempt_id, 'delivery_id', a.delivery_id,
               'event', a.event_type, 'attempt', a.attempt, 'at', a.at,
               'http_status', a.http_status, 'error', a.error,
               'duration_ms', a.duration_ms, 'response', a.response,
               'status', o.status) ORDER BY a.attempt_id DESC), '[]'),
           count(*), min(a.attempt_id)
    INTO items, n, last
    FROM (SELECT * FROM helpdesk.webhook_attempts
          WHERE tenant_id = e.tenant_id AND endpoint_id = e.endpoint_id
            AND (before IS NULL OR attempt_id < before)
          ORDER BY attempt_id DESC LIMIT lim) a
    LEFT JOIN helpdesk.outbox o
           ON o.tenant_id = a.tenant_id AND o.outbox_id = a.outbox_id;

    PERFORM tickets.audit_read(ctx, 'webhook.deliveries.read', 'webhook',
                                e.endpoint_id::text, jsonb_build_object('count', n));

    RETURN jsonb_build_object('body', jsonb_build_object(
        'data', items,
        'next_cursor', CASE WHEN n = lim THEN tickets.cursor_encode(last) END));
END
$$;

RESET ROLE;
