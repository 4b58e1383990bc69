-- nginx-helpdesk: the WhatsApp channel's service functions.
--
-- Connections are managed through the tenant API (scope "admin"); their
-- secrets are write-only.  The helpers here serve the inbound side
-- (ingest.sql turns webhook deliveries into ticket events)
-- and the outbox runner (requests and results for WhatsApp jobs).

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_connection_json(c helpdesk.whatsapp_connections)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.connection_id,
        'provider', c.provider,
        'display_phone_number', c.display_phone_number,
        'phone_number_id', c.phone_number_id,
        'base_url', c.base_url,
        'webhook_url', c.webhook_url,
        'enabled', c.enabled,
        'health', jsonb_build_object('state', c.health, 'last_error', c.health_error,
                                     'checked_at', c.health_checked_at),
        'click_to_chat_url', 'https://wa.me/' || regexp_replace(c.display_phone_number, '[^0-9]', '', 'g'),
        'created_at', c.created_at,
        'updated_at', c.updated_at)
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_connection_find(ref text, for_update boolean)
RETURNS helpdesk.whatsapp_connections LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.whatsapp_connections;
BEGIN
    IF tickets.is_uuid(ref) THEN
        IF for_update THEN
            SELECT * INTO c FROM helpdesk.whatsapp_connections
            WHERE tenant_id = helpdesk.current_tenant() AND connection_id = ref::uuid
              AND deleted_at IS NULL FOR UPDATE;
        ELSE
            SELECT * INTO c FROM helpdesk.whatsapp_connections
            WHERE tenant_id = helpdesk.current_tenant() AND connection_id = ref::uuid
              AND deleted_at IS NULL;
        END IF;
    END IF;

    IF c.connection_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
                              format('there is no WhatsApp connection %s', ref));
    END IF;

    RETURN c;
END
$$;

-- Registers the webhook (360dialog) or checks the credentials (Cloud API),
-- through the outbox: the result lands in the connection's health.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_connection_verify(ctx jsonb,
    c helpdesk.whatsapp_connections)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id,
                                 event_type, payload)
    VALUES (c.tenant_id, 'whatsapp', c.connection_id, gen_random_uuid(),
            CASE c.provider WHEN '360dialog' THEN 'whatsapp.register'
                            ELSE 'whatsapp.check' END,
            jsonb_build_object('connection_id', c.connection_id));
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_connection_create(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.whatsapp_connections;
BEGIN
    BEGIN
        -- the module chose the row's id and sealed the secrets to it
        INSERT INTO helpdesk.whatsapp_connections (
            tenant_id, connection_id, provider, display_phone_number, phone_number_id,
            base_url, access_token, app_secret, verify_token, api_key,
            webhook_token, webhook_url)
        VALUES ((ctx->>'tenant_id')::uuid, (args->>'connection_id')::uuid, args->>'provider',
                args->>'display_phone_number', args->>'phone_number_id',
                rtrim(coalesce(args->>'base_url',
                               CASE args->>'provider'
                                   WHEN 'cloud' THEN 'https://graph.facebook.com/v21.0'
                                   ELSE 'https://waba-v2.360dialog.io' END), '/'),
                args->>'access_token', args->>'app_secret',
                args->>'verify_token', args->>'api_key',
                -- the token's SHA-256, and the URL that carries it sealed
                args->>'webhook_token', args->>'webhook_url')
        RETURNING * INTO c;
    EXCEPTION WHEN unique_violation THEN
        PERFORM tickets.fail('HDCNF', 'conflict',
            format('the number %s is already connected', args->>'phone_number_id'),
            jsonb_build_array(jsonb_build_object('field', 'phone_number_id',
                                                 'message', 'is already connected')));
    END;

    PERFORM whatsapp.whatsapp_connection_verify(ctx, c);
    PERFORM tickets.audit(ctx, 'whatsapp.connection.create', 'whatsapp_connection',
                           c.connection_id::text,
                           jsonb_build_object('provider', c.provider,
                                              'number', c.display_phone_number));

    RETURN jsonb_build_object('body', whatsapp.whatsapp_connection_json(c),
        'location', '/v1/whatsapp/connections/' || c.connection_id);
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_connection_list(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    items jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(whatsapp.whatsapp_connection_json(c) ORDER BY c.created_at), '[]')
    INTO items FROM helpdesk.whatsapp_connections c
    WHERE c.tenant_id = (ctx->>'tenant_id')::uuid AND c.deleted_at IS NULL;

    PERFORM tickets.audit_read(ctx, 'whatsapp.connection.list', 'whatsapp_connection', NULL,
                                jsonb_build_object('count', jsonb_array_length(items)));

    RETURN jsonb_build_object('body', jsonb_build_object('data', items));
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_connection_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.whatsapp_connections := whatsapp.whatsapp_connection_find(args->>'id', false);
BEGIN
    PERFORM tickets.audit_read(ctx, 'whatsapp.connection.read', 'whatsapp_connection',
                                c.connection_id::text);
    RETURN jsonb_build_object('body', whatsapp.whatsapp_connection_json(c));
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_connection_update(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.whatsapp_connections;
BEGIN
    c := whatsapp.whatsapp_connection_find(args->>'id', true);

    UPDATE helpdesk.whatsapp_connections SET
        display_phone_number = coalesce(args->>'display_phone_number', display_phone_number),
        base_url = rtrim(coalesce(args->>'base_url', base_url), '/'),
        access_token = coalesce(args->>'access_token', access_token),
        app_secret = coalesce(args->>'app_secret', app_secret),
        verify_token = coalesce(args->>'verify_token', verify_token),
        api_key = coalesce(args->>'api_key', api_key),
        enabled = coalesce((args->>'enabled')::boolean, enabled),
        health = CASE WHEN args ?| ARRAY['access_token', 'api_key', 'base_url']
                      THEN 'pending' ELSE health END,
        updated_at = now()
    WHERE tenant_id = c.tenant_id AND connection_id = c.connection_id
    RETURNING * INTO c;

    -- new credentials are checked again
    IF args ?| ARRAY['access_token', 'api_key', 'base_url'] THEN
        PERFORM whatsapp.whatsapp_connection_verify(ctx, c);
    END IF;

    PERFORM tickets.audit(ctx, 'whatsapp.connection.update', 'whatsapp_connection',
                           c.connection_id::text,
                           jsonb_build_object('changed', (SELECT jsonb_agg(k)
                               FROM jsonb_object_keys(args - 'id') k)));

    RETURN jsonb_build_object('body', whatsapp.whatsapp_connection_json(c));
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_connection_delete(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.whatsapp_connections;
BEGIN
    c := whatsapp.whatsapp_connection_find(args->>'id', true);

    -- the token stays reserved, so an old webhook URL never routes again
    UPDATE helpdesk.whatsapp_connections SET deleted_at = now(), enabled = false,
           phone_number_id = NULL, access_token = NULL, app_secret = NULL,
           api_key = NULL, verify_token = NULL, updated_at = now()
    WHERE tenant_id = c.tenant_id AND connection_id = c.connection_id;

    PERFORM tickets.audit(ctx, 'whatsapp.connection.delete', 'whatsapp_connection',
                           c.connection_id::text);

    RETURN jsonb_build_object('body', NULL);
END
$$;

-- The webhook's first step, before the tenant is known (hence SECURITY
-- DEFINER): what the token routes to, and the secrets to check it with
-- (sealed: the module opens them).  p_token is "sha256:<hex>" of the
-- token in the URL, as the connection keeps it.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_route(p_token text,
    OUT tenant_id uuid, OUT connection_id uuid, OUT provider text,
    OUT app_secret text, OUT verify_token text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
BEGIN
    SELECT c.tenant_id, c.connection_id, c.provider, c.app_secret, c.verify_token
    INTO tenant_id, connection_id, provider, app_secret, verify_token
    FROM helpdesk.whatsapp_connections c
    JOIN helpdesk.tenants t ON t.tenant_id = c.tenant_id
    WHERE c.webhook_token = p_token AND c.enabled AND c.deleted_at IS NULL
      AND t.status = 'active';
END
$$;

-- A batch of verified deliveries as the module sends it, each item naming
-- its connection by the webhook token it arrived on ("k"): the tenant
-- ("t") and the connection ("c") are put in here, from the token, whatever
-- the caller wrote there.  An item whose token routes nowhere (the
-- connection was removed since) keeps no tenant and is refused on its own.
-- SECURITY DEFINER: tokens are looked up across tenants, as by
-- whatsapp_route().
CREATE OR REPLACE FUNCTION whatsapp.ingest_route(items jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'a batch is an array');
    END IF;

    RETURN coalesce((
        SELECT jsonb_agg((x.it - 'k' - 't' - 'c')
                         || jsonb_build_object('t', r.tenant_id, 'c', r.connection_id)
                         ORDER BY x.n)
        FROM jsonb_array_elements(items) WITH ORDINALITY x(it, n)
        LEFT JOIN LATERAL (
            SELECT c.tenant_id, c.connection_id
            FROM helpdesk.whatsapp_connections c
            JOIN helpdesk.tenants t ON t.tenant_id = c.tenant_id
            WHERE jsonb_typeof(x.it) = 'object'
              AND c.webhook_token = x.it->>'k' AND c.enabled   -- "sha256:<hex>"
              AND c.deleted_at IS NULL AND t.status = 'active') r ON true),
        '[]');
END
$$;

-- What an inbound message says, as one line of text for the history.
-- (PL/pgSQL: these run for every message, and a SQL function with a
-- subquery pays for a new executor on every call.)
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_text(m jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    t text := m->>'type';
    r text;
BEGIN
    CASE t
    WHEN 'text' THEN RETURN m->'text'->>'body';
    WHEN 'image', 'video' THEN RETURN coalesce(m->t->>'caption', '');
    WHEN 'document' THEN RETURN coalesce(m->t->>'caption', m->t->>'filename', '');
    WHEN 'audio', 'voice', 'sticker' THEN RETURN '';
    WHEN 'location' THEN
        RETURN concat_ws(' ', m->'location'->>'name', m->'location'->>'address',
                         '(' || (m->'location'->>'latitude') || ', '
                             || (m->'location'->>'longitude') || ')');
    WHEN 'contacts' THEN
        SELECT string_agg(concat_ws(' ', c->'name'->>'formatted_name',
                              (SELECT string_agg(p->>'phone', ', ')
                               FROM jsonb_array_elements(
                                   CASE jsonb_typeof(c->'phones') WHEN 'array'
                                        THEN c->'phones' ELSE '[]' END) p)), '; ')
        INTO r
        FROM jsonb_array_elements(CASE jsonb_typeof(m->'contacts') WHEN 'array'
                                       THEN m->'contacts' ELSE '[]' END) c;
        RETURN coalesce(r, '');
    WHEN 'interactive' THEN
        RETURN coalesce(m->'interactive'->'button_reply'->>'title',
                        m->'interactive'->'list_reply'->>'title',
                        m->'interactive'->'nfm_reply'->>'body', '');
    WHEN 'button' THEN RETURN coalesce(m->'button'->>'text', m->'button'->>'payload', '');
    WHEN 'system' THEN RETURN coalesce(m->'system'->>'body', '');
    WHEN 'order' THEN RETURN coalesce(m->'order'->>'text', '');
    WHEN 'unsupported' THEN RETURN '[unsupported message]';
    ELSE RETURN '[' || coalesce(t, 'unknown') || ' message]';
    END CASE;
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_media(m jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    t text := m->>'type';
BEGIN
    IF t NOT IN ('image', 'video', 'document', 'audio', 'voice', 'sticker')
       OR jsonb_typeof(m->t) <> 'object'
    THEN
        RETURN NULL;
    END IF;

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'media_id', m->t->>'id', 'mime_type', m->t->>'mime_type',
        'sha256', m->t->>'sha256', 'filename', m->t->>'filename',
        'voice', m->t->'voice'));
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_contact(ctx jsonb, p_connection uuid,
    p_wa_id text, p_bsuid text, p_profile jsonb, p_at timestamptz)
RETURNS helpdesk.whatsapp_contacts LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (ctx->>'tenant_id')::uuid;
    k      helpdesk.whatsapp_contacts;
    uid    uuid;
BEGIN
    -- one contact at a time: two first messages arriving together must not
    -- make two contacts, nor two tickets (the lock lasts the transaction)
    PERFORM pg_advisory_xact_lock(hashtextextended(
        p_connection::text || '/' || coalesce(p_wa_id, p_bsuid), 0));

    -- a known contact: refreshed in one statement
    IF p_wa_id IS NOT NULL THEN
        UPDATE helpdesk.whatsapp_contacts SET
            user_id_bsuid = coalesce(user_id_bsuid, p_bsuid),
            name = coalesce(p_profile->>'name', name),
            username = coalesce(p_profile->>'username', username),
            last_inbound_at = greatest(last_inbound_at, p_at)
        WHERE tenant_id = tenant AND connection_id = p_connection AND wa_id = p_wa_id
        RETURNING * INTO k;

        IF k.contact_id IS NOT NULL THEN
            RETURN k;
        END IF;
    END IF;

    IF k.contact_id IS NULL AND p_bsuid IS NOT NULL THEN
        SELECT * INTO k FROM helpdesk.whatsapp_contacts
        WHERE tenant_id = tenant AND connection_id = p_connection
          AND user_id_bsuid = p_bsuid
        FOR UPDATE;
    END IF;

    IF k.contact_id IS NULL THEN
        INSERT INTO helpdesk.users (tenant_id, name, phone, role, phone_verified_at)
        VALUES (tenant, coalesce(p_profile->>'name', p_profile->>'username',
                                 '+' || p_wa_id, p_bsuid),
                '+' || p_wa_id, 'customer', CASE WHEN p_wa_id IS NOT NULL THEN now() END)
        RETURNING user_id INTO uid;

        INSERT INTO helpdesk.whatsapp_contacts (tenant_id, connection_id, wa_id,
            user_id_bsuid, name, username, user_id, last_inbound_at)
        VALUES (tenant, p_connection, p_wa_id, p_bsuid, p_profile->>'name',
                p_profile->>'username', uid, p_at)
        RETURNING * INTO k;

        RETURN k;
    END IF;

    UPDATE helpdesk.whatsapp_contacts SET
        wa_id = coalesce(wa_id, p_wa_id),
        user_id_bsuid = coalesce(user_id_bsuid, p_bsuid),
        name = coalesce(p_profile->>'name', name),
        username = coalesce(p_profile->>'username', username),
        -- the window runs from the customer's last message, by its own time
        last_inbound_at = greatest(last_inbound_at, p_at)
    WHERE tenant_id = k.tenant_id AND contact_id = k.contact_id
    RETURNING * INTO k;

    RETURN k;
END
$$;

-- sent < delivered < read; a failure is recorded beside the state
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_status_rank(s text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE s WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
                  WHEN 'read' THEN 3 ELSE -1 END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_status(ctx jsonb, p_connection uuid, s jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (ctx->>'tenant_id')::uuid;
    done   text;
    m      helpdesk.whatsapp_messages;
BEGIN
    IF jsonb_typeof(s) <> 'object' OR s->>'id' IS NULL OR s->>'status' IS NULL THEN
        RETURN 'ignored';
    END IF;

    INSERT INTO helpdesk.whatsapp_statuses (tenant_id, connection_id, wamid, status, at, errors)
    VALUES (tenant, p_connection, s->>'id', s->>'status',
            CASE WHEN s->>'timestamp' ~ '^[0-9]{1,12}$'
                 THEN to_timestamp((s->>'timestamp')::double precision) END,
            s->'errors')
    ON CONFLICT DO NOTHING
    RETURNING status INTO done;

    IF done IS NULL THEN
        RETURN 'duplicate';
    END IF;

    IF s->>'status' = 'failed' THEN
        SELECT * INTO m FROM helpdesk.whatsapp_messages
        WHERE tenant_id = tenant AND connection_id = p_connection
          AND wamid = s->>'id' AND direction = 'out';

        IF m.message_id IS NOT NULL AND whatsapp.whatsapp_status_rank(m.status) < 2
           AND m.status <> 'failed'
        THEN
            -- e.g. 131047 arriving after the send was accepted
            PERFORM whatsapp.whatsapp_failed(tenant, m.message_id,
                (s->'errors'->0->>'code')::int,
                coalesce(s->'errors'->0->>'title', s->'errors'->0->>'message'));
        ELSE
            UPDATE helpdesk.whatsapp_messages SET
                error_code = (s->'errors'->0->>'code')::int,
                error_title = coalesce(s->'errors'->0->>'title', s->'errors'->0->>'message')
            WHERE tenant_id = tenant AND message_id = m.message_id;
        END IF;
    ELSIF whatsapp.whatsapp_status_rank(s->>'status') > 0 THEN
        UPDATE helpdesk.whatsapp_messages SET status = s->>'status',
               status_at = coalesce(CASE WHEN s->>'timestamp' ~ '^[0-9]{1,12}$'
                                         THEN to_timestamp((s->>'timestamp')::double precision) END,
                                    now())
        WHERE tenant_id = tenant AND connection_id = p_connection
          AND wamid = s->>'id' AND direction = 'out'
          AND (status IS NULL OR status = 'failed'
               OR whatsapp.whatsapp_status_rank(status)
                  < whatsapp.whatsapp_status_rank(s->>'status'));
    END IF;

    RETURN 'status';
END
$$;
-- What to send for an outbox row.  Headers are a list of [name, value]
-- pairs, never text to split: a value cannot become a second header
-- whatever it holds (the module refuses control characters in either part
-- as well).  Secrets leave as they are stored (sealed by the module);
-- "secret_aad" says where each was stored, which the module's decryption
-- checks ("<table>.<column>:<row id>", as ngx_helpdesk_secret_aad()
-- writes it).  A webhook's secret signs the body; a WhatsApp credential
-- is the value of the header "auth_header" begins ("<name>: <prefix>"); a
-- body that is a sealed value (the webhook URL 360dialog is given) comes
-- with its "body_aad".
DROP FUNCTION IF EXISTS whatsapp.outbox_request(helpdesk.outbox);
CREATE OR REPLACE FUNCTION whatsapp.outbox_request(o helpdesk.outbox,
    OUT method text, OUT url text, OUT headers jsonb, OUT body text,
    OUT secret text, OUT binary_response boolean, OUT provider_url boolean,
    OUT secret_aad text, OUT auth_header text, OUT body_aad text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    e helpdesk.webhook_endpoints;
    c helpdesk.whatsapp_connections;
BEGIN
    IF o.kind = 'webhook' THEN
        SELECT * INTO e FROM helpdesk.webhook_endpoints x
        WHERE x.tenant_id = o.tenant_id AND x.endpoint_id = o.target_id;

        IF e.enabled AND e.deleted_at IS NULL THEN
            method := 'POST';
            url := e.url;
            headers := jsonb_build_array(
                           jsonb_build_array('Content-Type', 'application/json'),
                           jsonb_build_array('X-Helpdesk-Event', o.event_type),
                           jsonb_build_array('X-Helpdesk-Delivery', o.delivery_id::text));
            body := o.payload::text;
            secret := e.secret;
            secret_aad := 'webhook_endpoints.secret:' || e.endpoint_id;
        END IF;
        RETURN;
    END IF;

    -- WhatsApp: the provider's API, with the connection's current credentials
    SELECT * INTO c FROM helpdesk.whatsapp_connections x
    WHERE x.tenant_id = o.tenant_id AND x.connection_id = o.target_id
      AND x.deleted_at IS NULL;

    IF c.connection_id IS NULL THEN
        RETURN;
    END IF;

    headers := jsonb_build_array(jsonb_build_array('Content-Type', 'application/json'));

    IF c.provider = '360dialog' THEN
        auth_header := 'D360-API-KEY: ';
        secret := c.api_key;
        secret_aad := 'whatsapp_connections.api_key:' || c.connection_id;
    ELSE
        auth_header := 'Authorization: Bearer ';
        secret := c.access_token;
        secret_aad := 'whatsapp_connections.access_token:' || c.connection_id;
    END IF;

    IF o.event_type = 'whatsapp.register' THEN
        method := 'POST';
        url := c.base_url || '/v1/configs/webhook';
        -- {"url": ...}, written by the module once it opened the URL
        body := c.webhook_url;
        body_aad := 'whatsapp_connections.webhook_url:' || c.connection_id;

    ELSIF o.event_type = 'whatsapp.check'
          OR (o.event_type = 'whatsapp.ping' AND c.provider = 'cloud') THEN
        method := 'GET';
        url := c.base_url || '/' || c.phone_number_id
               || '?fields=display_phone_number,verified_name';

    ELSIF o.event_type = 'whatsapp.ping' THEN
        -- reading the webhook configuration proves the key, changing nothing
        method := 'GET';
        url := c.base_url || '/v1/configs/webhook';

    ELSIF o.event_type = 'whatsapp.media' THEN
        -- two steps (Cloud and 360dialog v2: the id gives a URL, the URL the
        -- bytes; 360dialog serves that URL from its own host), one for v1.
        -- The Cloud API's URL is fetched as given, and the module takes it
        -- only on Meta's media hosts (provider_url); 360dialog's is fetched
        -- through the connection's own base: its path only is kept.
        method := 'GET';
        IF o.payload ? 'url' THEN
            IF c.provider = '360dialog' THEN
                url := c.base_url || substring(o.payload->>'url'
                                               from '^[hH][tT][tT][pP][sS]?://[^/?#]+(/[^#]*)$');
            ELSE
                url := o.payload->>'url';
                provider_url := true;
            END IF;
            binary_response := true;
        ELSIF (o.payload->>'v1')::boolean THEN
            url := c.base_url || '/v1/media/' || (o.payload->>'media_id');
            binary_response := true;
        ELSE
            url := c.base_url || '/' || (o.payload->>'media_id');
        END IF;

    ELSIF o.event_type = 'whatsapp.send' AND c.enabled THEN
        method := 'POST';
        url := c.base_url || CASE c.provider WHEN 'cloud'
                                 THEN '/' || c.phone_number_id || '/messages'
                                 ELSE '/messages' END;
        body := (o.payload->'message')::text;
    END IF;
END
$$;

-- The outcome of a call to the provider: the connection's health, and
-- whether to try again (never after the credentials were refused).
CREATE OR REPLACE FUNCTION whatsapp.outbox_retry(o helpdesk.outbox, p_error text,
    p_max_attempts int, p_backoff_ms int, p_max_backoff_ms int)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    delay double precision;
BEGIN
    IF o.attempts >= p_max_attempts THEN
        UPDATE helpdesk.outbox SET status = 'dead', locked_until = NULL, last_error = p_error
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
        RETURN 'dead';
    END IF;

    delay := least(p_backoff_ms * power(2, o.attempts - 1), p_max_backoff_ms)
             * (0.8 + random() * 0.4);

    UPDATE helpdesk.outbox SET status = 'pending', locked_until = NULL,
           next_attempt_at = now() + make_interval(secs => delay / 1000.0),
           last_error = p_error
    WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;

    RETURN 'retry';
END
$$;
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_result(o helpdesk.outbox, p_ok boolean,
    p_http_status int, p_error text, p_response text, p_max_attempts int,
    p_backoff_ms int, p_max_backoff_ms int, p_data bytea)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    state text;
    err   text;
BEGIN
    state := CASE WHEN p_ok THEN 'ok'
                  WHEN p_http_status IN (401, 403) THEN 'auth_failed'
                  WHEN p_http_status = 429 THEN 'rate_limited'
                  WHEN coalesce(p_http_status, 0) = 0 THEN 'unreachable'
                  ELSE 'error' END;
    err := CASE WHEN p_ok THEN NULL
                ELSE coalesce(p_error, 'HTTP ' || p_http_status
                              || coalesce(': ' || outbox.excerpt(p_response), '')) END;

    -- a refused message or file says nothing about the connection; the rest does
    IF o.event_type NOT IN ('whatsapp.send', 'whatsapp.media') OR state <> 'error' THEN
        UPDATE helpdesk.whatsapp_connections SET health = state, health_error = err,
               health_checked_at = now()
        WHERE tenant_id = o.tenant_id AND connection_id = o.target_id;
    END IF;

    IF o.event_type = 'whatsapp.send' THEN
        RETURN whatsapp.whatsapp_send_result(o, p_ok, p_http_status, p_error,
                                             p_response, p_max_attempts,
                                             p_backoff_ms, p_max_backoff_ms);
    END IF;

    IF o.event_type = 'whatsapp.media' THEN
        RETURN whatsapp.whatsapp_media_result(o, p_ok, p_http_status, err,
                                              p_response, p_data, p_max_attempts,
                                              p_backoff_ms, p_max_backoff_ms);
    END IF;

    IF p_ok THEN
        UPDATE helpdesk.outbox SET status = 'delivered', delivered_at = now(),
               locked_until = NULL, last_error = NULL
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
        RETURN 'delivered';
    END IF;

    IF state = 'auth_failed' OR p_error LIKE 'nothing to send%' THEN
        UPDATE helpdesk.outbox SET status = 'dead', locked_until = NULL, last_error = err
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
        RETURN 'dead';
    END IF;

    RETURN whatsapp.outbox_retry(o, err, p_max_attempts, p_backoff_ms, p_max_backoff_ms);
END
$$;

-- A media download step: the URL (then the next step is queued), or the
-- bytes (then they become an attachment of the message's ticket event).
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_media_result(o helpdesk.outbox,
    p_ok boolean, p_http_status int, p_error text, p_response text, p_data bytea,
    p_max_attempts int, p_backoff_ms int, p_max_backoff_ms int)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    r    jsonb;
    ext  text;
    name text;
BEGIN
    IF NOT p_ok THEN
        -- 360dialog blocks a media endpoint after repeated errors:
        -- only throttling and server trouble are worth another try
        IF coalesce(p_http_status, 0) = 0 OR p_http_status = 429 OR p_http_status >= 500 THEN
            RETURN whatsapp.outbox_retry(o, p_error, p_max_attempts, p_backoff_ms,
                                         p_max_backoff_ms);
        END IF;

        UPDATE helpdesk.outbox SET status = 'dead', locked_until = NULL, last_error = p_error
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
        RETURN 'dead';
    END IF;

    IF p_data IS NULL THEN
        BEGIN
            r := p_response::jsonb;
        EXCEPTION WHEN OTHERS THEN
            r := NULL;
        END;

        IF r->>'url' IS NULL THEN
            UPDATE helpdesk.outbox SET status = 'dead', locked_until = NULL,
                   last_error = 'the media lookup returned no URL'
            WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
            RETURN 'dead';
        END IF;

        INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id,
                                     event_type, payload)
        VALUES (o.tenant_id, 'whatsapp', o.target_id, gen_random_uuid(), 'whatsapp.media',
                o.payload || jsonb_build_object('url', r->>'url',
                    'mime_type', coalesce(o.payload->>'mime_type', r->>'mime_type')));
    ELSE
        ext := CASE split_part(o.payload->>'mime_type', ';', 1)
                   WHEN 'image/jpeg' THEN '.jpg' WHEN 'image/png' THEN '.png'
                   WHEN 'image/webp' THEN '.webp' WHEN 'application/pdf' THEN '.pdf'
                   WHEN 'audio/ogg' THEN '.ogg' WHEN 'audio/mpeg' THEN '.mp3'
                   WHEN 'audio/mp4' THEN '.m4a' WHEN 'audio/aac' THEN '.aac'
                   WHEN 'video/mp4' THEN '.mp4' WHEN 'video/3gpp' THEN '.3gp'
                   ELSE '' END;
        name := coalesce(o.payload->>'filename',
                         (o.payload->>'type') || '-' || (o.payload->>'message_id') || ext);

        INSERT INTO helpdesk.attachments (tenant_id, ticket_id, event_id, filename,
            content_type, size, sha256, data, source)
        VALUES (o.tenant_id, (o.payload->>'ticket_id')::uuid,
                (o.payload->>'event_id')::bigint, name,
                coalesce(split_part(o.payload->>'mime_type', ';', 1), 'application/octet-stream'),
                length(p_data), encode(sha256(p_data), 'hex'), p_data, 'whatsapp');
    END IF;

    UPDATE helpdesk.outbox SET status = 'delivered', delivered_at = now(),
           locked_until = NULL, last_error = NULL
    WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;

    RETURN 'delivered';
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.api_whatsapp_number(p_key_hash bytea, p_scope text,
    p_ip inet, p_args jsonb, OUT number text)
LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.whatsapp_connections;
BEGIN
    PERFORM rest.api_auth(p_key_hash, p_scope, p_ip);
    c := whatsapp.whatsapp_connection_find(p_args->>'id', false);
    number := regexp_replace(c.display_phone_number, '[^0-9]', '', 'g');
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.outbox_schedule(p_interval_ms int)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    n int;
BEGIN
    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id,
                                 event_type, payload)
    SELECT c.tenant_id, 'whatsapp', c.connection_id, gen_random_uuid(),
           'whatsapp.ping', '{}'
    FROM helpdesk.whatsapp_connections c
    JOIN helpdesk.tenants t ON t.tenant_id = c.tenant_id
    WHERE c.enabled AND c.deleted_at IS NULL AND t.status = 'active'
      AND (c.health_checked_at IS NULL
           OR c.health_checked_at < now() - make_interval(secs => p_interval_ms / 1000.0))
      AND NOT EXISTS (SELECT 1 FROM helpdesk.outbox o
                      WHERE o.tenant_id = c.tenant_id AND o.target_id = c.connection_id
                        AND o.status IN ('pending', 'sending')
                        AND o.event_type IN ('whatsapp.ping', 'whatsapp.check',
                                             'whatsapp.register'));

    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

RESET ROLE;
