-- nginx-helpdesk: the chat's offline form (POST /chat/v1/offline, served
-- by the chat's transport, which calls api.chat_offline()).
--
-- Outside the chat's hours, or when no agent is there, the widget offers
-- a form instead: name, email, message and the tenant's own pre-chat
-- fields.  What it sends becomes a ticket on the channel "chat", from the
-- customer with that email (a new customer, unproven, when nobody has
-- it: as the portal and the API do for requesters they do not know).
-- Only a tenant whose widget is on, for a page among its allowed origins,
-- with the form on; each address opens a few in ten minutes.

SET ROLE helpdesk_owner;

-- The tenant a widget names (data-tenant): looked up across tenants, so
-- run as the owner; an active tenant or nothing.
CREATE OR REPLACE FUNCTION chat.tenant_by_slug(p_slug text) RETURNS helpdesk.tenants
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    t helpdesk.tenants;
BEGIN
    IF p_slug ~ '^[a-z0-9][a-z0-9-]{0,62}$' THEN
        SELECT * INTO t FROM helpdesk.tenants x
        WHERE x.slug = p_slug AND x.status = 'active';
    END IF;

    RETURN t;
END
$$;

-- the client's address as the transport passed it (nothing from a unix
-- socket)
CREATE OR REPLACE FUNCTION chat.inet_or_null(p_ip text) RETURNS inet
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN host(p_ip::inet)::inet;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

-- the limit: forms per address (an IPv4 address, an IPv6 /64) and tenant
-- in a window of ten minutes
CREATE OR REPLACE FUNCTION chat.offline_limit() RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT 5 $$;

-- Counts one more form from an address; answers the seconds to wait when
-- it is one too many (the count is then rolled back with the refusal).
CREATE OR REPLACE FUNCTION chat.offline_count(p_tenant uuid, p_ip text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    ip     inet;
    addr   inet;
    win    timestamptz := to_timestamp(floor(extract(epoch FROM now()) / 600) * 600);
    n      int;
BEGIN
    ip := chat.inet_or_null(p_ip);
    addr := CASE WHEN ip IS NULL THEN '::'::inet
                 WHEN family(ip) = 6 THEN network(set_masklen(ip, 64))
                 ELSE host(ip)::inet END;

    -- the windows that are over go as new ones start
    DELETE FROM helpdesk.chat_offline_counts c
    WHERE c.tenant_id = p_tenant AND c.window_start < win;

    INSERT INTO helpdesk.chat_offline_counts AS c (tenant_id, address, window_start)
    VALUES (p_tenant, addr, win)
    ON CONFLICT (tenant_id, address, window_start) DO UPDATE SET n = c.n + 1
    RETURNING c.n INTO n;

    IF n > chat.offline_limit() THEN
        RETURN greatest(1, ceil(extract(epoch FROM win + interval '10 minutes' - now())))::int;
    END IF;

    RETURN 0;
END
$$;

-- The customer an address given in the chat stands for (tickets.
-- customer_for: the one with it, or a new one), never one of the staff:
-- nothing proves the address, so an agent's or an admin's is nobody's
-- here (NULL), and what the visitor writes is never theirs.
CREATE OR REPLACE FUNCTION chat.customer_for(p_tenant uuid, p_email text, p_name text)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    id uuid := tickets.customer_for(p_tenant, p_email, p_name, NULL);
BEGIN
    IF id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM helpdesk.users u
                                      WHERE u.tenant_id = p_tenant AND u.user_id = id
                                        AND u.role = 'customer') THEN
        RETURN NULL;
    END IF;

    RETURN id;
END
$$;

-- text of 1 to max characters; line breaks and tabs only where lines
CREATE OR REPLACE FUNCTION chat.offline_text(v jsonb, max int, lines boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN chat.text_ok(v, max, lines) AND btrim(v #>> '{}', E' \t\r\n') <> ''
                THEN btrim(v #>> '{}', E' \t\r\n') END
$$;

CREATE OR REPLACE FUNCTION chat.offline(p_slug text, p_origin text, p_ip text, p_body jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t        helpdesk.tenants := chat.tenant_by_slug(p_slug);
    w        helpdesk.chat_widgets;
    o        record;
    errors   jsonb := '[]';
    k        text;
    f        jsonb;
    v_name   text;
    v_email  text;
    v_msg    text;
    v_fields jsonb := '{}';
    subject  text;
    cut      int;
    wait     int;
    customer uuid;
    ctx      jsonb;
    r        jsonb;
BEGIN
    IF t.tenant_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no chat here');
    END IF;

    PERFORM set_config('helpdesk.tenant_id', t.tenant_id::text, true);

    SELECT * INTO w FROM helpdesk.chat_widgets x WHERE x.tenant_id = t.tenant_id;

    IF w.tenant_id IS NULL OR NOT w.enabled THEN
        PERFORM tickets.fail('HDDEN', 'chat-disabled', 'this helpdesk''s chat is off');
    END IF;

    o := chat.origin_check(p_origin);
    IF o.origin IS NULL OR NOT o.origin = ANY (w.allowed_origins) THEN
        PERFORM tickets.fail('HDDEN', 'origin-not-allowed',
                             'this page may not open the chat (its origin is not allowed)');
    END IF;

    IF NOT w.offline_form THEN
        PERFORM tickets.fail('HDDEN', 'offline-form-off', 'this helpdesk takes no offline messages');
    END IF;

    -- the form, every error at once
    IF jsonb_typeof(p_body) IS DISTINCT FROM 'object' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             chat.err('', 'send a JSON object {"name", "email", "message", "fields"}'));
    END IF;

    FOR k IN SELECT jsonb_object_keys(p_body) LOOP
        IF k NOT IN ('name', 'email', 'message', 'fields') THEN
            errors := errors || chat.err(k, 'unknown field');
        END IF;
    END LOOP;

    IF p_body ? 'name' AND p_body->'name' <> 'null' THEN
        v_name := chat.offline_text(p_body->'name', 200, false);
        IF v_name IS NULL AND p_body->>'name' IS DISTINCT FROM '' THEN
            errors := errors || chat.err('name', 'must be text of 200 characters at most, on one line');
        END IF;
    END IF;

    IF v_name IS NULL AND NOT errors @> jsonb_build_array(jsonb_build_object('field', 'name'))
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(w.prechat_fields) x
                   WHERE x->>'name' = 'name' AND coalesce((x->>'required')::boolean, false))
    THEN
        errors := errors || chat.err('name', 'is required');
    END IF;

    v_email := lower(chat.offline_text(p_body->'email', 254, false));
    IF v_email IS NULL THEN
        errors := errors || chat.err('email', 'is required: the answer goes there');
    ELSIF v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
        errors := errors || chat.err('email', 'must be an email address');
        v_email := NULL;
    END IF;

    IF jsonb_typeof(p_body->'message') = 'string' AND length(p_body->>'message') > 10000 THEN
        errors := errors || chat.err('message', 'must be 10000 characters at most');
    ELSE
        v_msg := chat.offline_text(p_body->'message', 10000, true);
        IF v_msg IS NULL THEN
            errors := errors || chat.err('message', 'is required: text, without control characters');
        END IF;
    END IF;

    -- the tenant's own questions, by their names
    IF p_body ? 'fields' AND p_body->'fields' <> 'null' THEN
        IF jsonb_typeof(p_body->'fields') <> 'object' THEN
            errors := errors || chat.err('fields', 'must be an object of the form''s own fields');
        ELSE
            FOR k IN SELECT jsonb_object_keys(p_body->'fields') LOOP
                IF k IN ('name', 'email') OR NOT EXISTS (
                       SELECT 1 FROM jsonb_array_elements(w.prechat_fields) x WHERE x->>'name' = k)
                THEN
                    errors := errors || chat.err('fields.' || left(k, 40), 'unknown field');
                ELSIF p_body->'fields'->k <> 'null' AND p_body->'fields'->>k <> '' THEN
                    IF chat.offline_text(p_body->'fields'->k, 1000, false) IS NULL THEN
                        errors := errors || chat.err('fields.' || k, 'must be text of 1000 characters at most, on one line');
                    ELSE
                        v_fields := v_fields || jsonb_build_object(k, chat.offline_text(p_body->'fields'->k, 1000, false));
                    END IF;
                END IF;
            END LOOP;
        END IF;
    END IF;

    FOR f IN SELECT x FROM jsonb_array_elements(w.prechat_fields) x
             WHERE x->>'name' NOT IN ('name', 'email') AND coalesce((x->>'required')::boolean, false)
    LOOP
        IF NOT v_fields ? (f->>'name')
           AND NOT errors @> jsonb_build_array(jsonb_build_object('field', 'fields.' || (f->>'name')))
        THEN
            errors := errors || chat.err('fields.' || (f->>'name'), 'is required');
        END IF;
    END LOOP;

    IF errors <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields', errors);
    END IF;

    -- counted only when it would make a ticket
    wait := chat.offline_count(t.tenant_id, p_ip);
    IF wait > 0 THEN
        PERFORM tickets.fail('HDLIM', 'rate-limited',
            'too many messages from this address; try again later',
            jsonb_build_object('retry_after', wait));
    END IF;

    customer := chat.customer_for(t.tenant_id, v_email, v_name);

    ctx := jsonb_build_object('tenant_id', t.tenant_id,
                              'actor_type', CASE WHEN customer IS NULL THEN 'system' ELSE 'user' END,
                              'actor_id', customer, 'actor_name', coalesce(v_name, v_email),
                              'channel', 'chat', 'ip', chat.inet_or_null(p_ip));

    -- the subject: the message's first line, cut at a word near 120
    -- characters when it is longer
    subject := btrim(split_part(v_msg, E'\n', 1), E' \t\r');
    IF length(subject) > 120 THEN
        subject := left(subject, 119);
        cut := position(' ' IN reverse(subject));
        IF cut > 0 AND length(subject) - cut >= 60 THEN
            subject := left(subject, length(subject) - cut);
        END IF;
        subject := rtrim(subject) || '…';
    END IF;

    r := tickets.ticket_create(ctx, jsonb_build_object(
            'subject', subject,
            'description', v_msg,
            'requester_id', customer,
            'custom_fields', v_fields,
            'event_data', jsonb_build_object('chat', jsonb_strip_nulls(jsonb_build_object(
                'offline', true, 'origin', o.origin,
                -- the address given, when it is no customer's
                'email', CASE WHEN customer IS NULL THEN v_email END)))));

    RETURN jsonb_build_object('ticket', jsonb_build_object('number', r->'body'->>'number'));
END
$$;

RESET ROLE;
