-- nginx-helpdesk: business hours per tenant and channel, and the automatic
-- reply sent outside them (once per conversation window, not once per
-- message).
--
-- settings->'business_hours'->'<channel>' =
--   {"timezone": "America/Sao_Paulo",
--    "days": {"mon": [["08:00", "18:00"]], ..., "sat": [], "sun": []},
--    "holidays": ["2026-12-25"],
--    "auto_reply": {"enabled": true, "text": "..."}}
-- A channel without business hours is always open.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION tickets.default_auto_reply() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'Olá! Nosso horário de atendimento é de segunda a sexta, das 08h às 18h. '
           'Seu chamado foi registrado e será atendido no próximo dia útil.'
$$;

CREATE OR REPLACE FUNCTION tickets.business_hours(p_tenant uuid, p_channel text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    r jsonb;
BEGIN
    SELECT settings->'business_hours'->p_channel INTO r
    FROM helpdesk.tenants WHERE tenant_id = p_tenant;
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION tickets.within_business_hours(p_tenant uuid,
    p_channel text, p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    bh    jsonb := tickets.business_hours(p_tenant, p_channel);
    local timestamp;
    day   text;
    span  jsonb;
BEGIN
    IF bh IS NULL THEN
        RETURN true;
    END IF;

    local := p_at AT TIME ZONE coalesce(bh->>'timezone', 'UTC');

    IF coalesce(bh->'holidays', '[]') ? to_char(local, 'YYYY-MM-DD') THEN
        RETURN false;
    END IF;

    day := (ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])[extract(dow FROM local)::int + 1];

    FOR span IN SELECT * FROM jsonb_array_elements(coalesce(bh->'days'->day, '[]')) LOOP
        IF local::time >= (span->>0)::time AND local::time < (span->>1)::time THEN
            RETURN true;
        END IF;
    END LOOP;

    RETURN false;
END
$$;

CREATE OR REPLACE FUNCTION tickets.business_hours_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    bh jsonb := tickets.business_hours((ctx->>'tenant_id')::uuid, args->>'channel');
BEGIN
    PERFORM tickets.audit_read(ctx, 'business_hours.read', 'business_hours',
                                args->>'channel');
    RETURN jsonb_build_object('body',
        coalesce(bh, jsonb_build_object('always_open', true))
        || jsonb_build_object('open_now', tickets.within_business_hours(
               (ctx->>'tenant_id')::uuid, args->>'channel', now())));
END
$$;

CREATE OR REPLACE FUNCTION tickets.business_hours_put(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    errors jsonb := '[]';
    k      text;
    v      jsonb;
    span   jsonb;
    bh     jsonb := args - 'channel';
BEGIN
    FOR k IN SELECT jsonb_object_keys(bh) LOOP
        IF k NOT IN ('timezone', 'days', 'holidays', 'auto_reply') THEN
            errors := errors || jsonb_build_object('field', k, 'message', 'unknown field');
        END IF;
    END LOOP;

    IF jsonb_typeof(bh->'timezone') <> 'string'
       OR NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = bh->>'timezone')
    THEN
        errors := errors || jsonb_build_object('field', 'timezone',
            'message', 'must be a time zone name such as America/Sao_Paulo');
    END IF;

    IF jsonb_typeof(bh->'days') <> 'object' THEN
        errors := errors || jsonb_build_object('field', 'days',
            'message', 'must map mon..sun to lists of ["HH:MM", "HH:MM"]');
    ELSE
        FOR k, v IN SELECT * FROM jsonb_each(bh->'days') LOOP
            IF k NOT IN ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
               OR jsonb_typeof(v) <> 'array'
            THEN
                errors := errors || jsonb_build_object('field', 'days.' || k,
                    'message', 'must be a day (mon..sun) with a list of spans');
                CONTINUE;
            END IF;

            FOR span IN SELECT * FROM jsonb_array_elements(v) LOOP
                IF jsonb_typeof(span) <> 'array' OR jsonb_array_length(span) <> 2
                   OR NOT (span->>0 ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$')
                   OR NOT (span->>1 ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$')
                   OR span->>0 >= span->>1
                THEN
                    errors := errors || jsonb_build_object('field', 'days.' || k,
                        'message', 'spans are ["HH:MM", "HH:MM"], start before end');
                    EXIT;
                END IF;
            END LOOP;
        END LOOP;
    END IF;

    IF bh ? 'holidays' AND (jsonb_typeof(bh->'holidays') <> 'array'
        OR EXISTS (SELECT 1 FROM jsonb_array_elements(bh->'holidays') d
                   WHERE jsonb_typeof(d) <> 'string'
                      OR d #>> '{}' !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'))
    THEN
        errors := errors || jsonb_build_object('field', 'holidays',
            'message', 'must be a list of dates (YYYY-MM-DD)');
    END IF;

    IF bh ? 'auto_reply' AND (jsonb_typeof(bh->'auto_reply') <> 'object'
        OR (bh->'auto_reply' ? 'enabled' AND jsonb_typeof(bh->'auto_reply'->'enabled') <> 'boolean')
        OR (bh->'auto_reply' ? 'text' AND (jsonb_typeof(bh->'auto_reply'->'text') <> 'string'
                                          OR length(bh->'auto_reply'->>'text') NOT BETWEEN 1 AND 1000)))
    THEN
        errors := errors || jsonb_build_object('field', 'auto_reply',
            'message', 'must be {"enabled": true|false, "text": "1 to 1000 characters"}');
    END IF;

    IF jsonb_array_length(errors) > 0 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields', errors);
    END IF;

    bh := bh || jsonb_build_object('auto_reply', jsonb_build_object(
              'enabled', coalesce((bh->'auto_reply'->>'enabled')::boolean, true),
              'text', coalesce(bh->'auto_reply'->>'text', tickets.default_auto_reply())));

    UPDATE helpdesk.tenants
    SET settings = jsonb_set(settings, '{business_hours}',
                             coalesce(settings->'business_hours', '{}')
                             || jsonb_build_object(args->>'channel', bh)),
        updated_at = now()
    WHERE tenant_id = (ctx->>'tenant_id')::uuid;

    PERFORM tickets.audit(ctx, 'business_hours.update', 'tenant', ctx->>'tenant_id',
                           jsonb_build_object('channel', args->>'channel'));

    RETURN tickets.business_hours_get(ctx, args);
END
$$;

-- After a customer's message: outside business hours, one automatic reply
-- per conversation window.
CREATE OR REPLACE FUNCTION tickets.whatsapp_auto_reply(ctx jsonb,
    k helpdesk.whatsapp_contacts, p_ticket uuid, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bh   jsonb := tickets.business_hours(k.tenant_id, 'whatsapp');
    t    helpdesk.tickets;
    e    helpdesk.ticket_events;
    text text;
BEGIN
    IF bh IS NULL OR NOT coalesce((bh->'auto_reply'->>'enabled')::boolean, true)
       OR tickets.within_business_hours(k.tenant_id, 'whatsapp', p_at)
       OR (k.auto_reply_at IS NOT NULL AND k.auto_reply_at > p_at - interval '24 hours')
    THEN
        RETURN;
    END IF;

    text := coalesce(bh->'auto_reply'->>'text', tickets.default_auto_reply());

    UPDATE helpdesk.whatsapp_contacts SET auto_reply_at = p_at
    WHERE tenant_id = k.tenant_id AND contact_id = k.contact_id;

    SELECT * INTO t FROM helpdesk.tickets
    WHERE tenant_id = k.tenant_id AND ticket_id = p_ticket;

    e := tickets.event_add(ctx || jsonb_build_object('actor_type', 'system',
                                                      'actor_id', NULL,
                                                      'actor_name', 'Automatic reply',
                                                      'channel', 'whatsapp'),
                            p_ticket, 'comment', 'public', text,
                            '{"auto_reply": true}');

    PERFORM whatsapp.whatsapp_enqueue(ctx, t, e.event_id, 'text',
        jsonb_build_object('preview_url', false, 'body', text), text);
END
$$;

RESET ROLE;
