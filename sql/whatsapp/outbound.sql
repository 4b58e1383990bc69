-- nginx-helpdesk: replies on WhatsApp.
--
-- An agent's public reply to a WhatsApp ticket is sent back to the
-- customer through the outbox, in the transaction that stores the reply.
-- Free text is only allowed inside the 24-hour customer service window
-- (from the customer's last message on that number); outside it the reply
-- is refused up front with the templates that could be used instead.
-- Templates are mapped per tenant to four uses: ticket_opened,
-- status_update, reply_reminder and resolved.

SET ROLE helpdesk_owner;

-- The customer's side of a WhatsApp ticket: its contact and number.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_party(t helpdesk.tickets,
    OUT contact helpdesk.whatsapp_contacts, OUT conn helpdesk.whatsapp_connections)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT k.* INTO contact
    FROM helpdesk.whatsapp_messages m
    JOIN helpdesk.whatsapp_contacts k
      ON k.tenant_id = m.tenant_id AND k.contact_id = m.contact_id
    WHERE m.tenant_id = t.tenant_id AND m.ticket_id = t.ticket_id
      AND m.direction = 'in'
    ORDER BY m.message_id DESC LIMIT 1;

    IF contact.contact_id IS NOT NULL THEN
        SELECT c.* INTO conn FROM helpdesk.whatsapp_connections c
        WHERE c.tenant_id = t.tenant_id AND c.connection_id = contact.connection_id
          AND c.deleted_at IS NULL AND c.enabled;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_window_open(k helpdesk.whatsapp_contacts)
RETURNS boolean LANGUAGE sql STABLE AS $$
    -- a minute's margin for webhooks that arrive late
    SELECT k.last_inbound_at IS NOT NULL
           AND k.last_inbound_at > now() - interval '24 hours' + interval '1 minute'
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_templates(p_tenant uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r jsonb;
BEGIN
    SELECT settings->'whatsapp_templates' INTO r
    FROM helpdesk.tenants WHERE tenant_id = p_tenant;
    RETURN coalesce(r, '{}');
END
$$;

-- Refuses free text outside the window, naming the way out.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_reply_check(t helpdesk.tickets)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    p := whatsapp.whatsapp_party(t);

    IF (p.contact).contact_id IS NULL OR (p.conn).connection_id IS NULL THEN
        PERFORM tickets.fail('HDCNF', 'whatsapp-unavailable',
            'this ticket has no WhatsApp number to answer on');
    END IF;

    IF NOT whatsapp.whatsapp_window_open(p.contact) THEN
        PERFORM tickets.fail('HDCNF', 'whatsapp-window-closed',
            format('the customer last wrote %s; outside WhatsApp''s 24-hour window only an approved template can be sent',
                   coalesce(to_char((p.contact).last_inbound_at, 'YYYY-MM-DD HH24:MI TZ'), 'never')),
            jsonb_build_object(
                'last_inbound_at', (p.contact).last_inbound_at,
                'templates', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'use', key, 'name', value->>'name',
                                  'language', value->>'language') ORDER BY key), '[]')
                              FROM jsonb_each(whatsapp.whatsapp_templates(t.tenant_id)))));
    END IF;
END
$$;

-- Queues one message to the ticket's customer: the outbound row (status
-- "queued") and the outbox row that sends it, together.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_enqueue(ctx jsonb, t helpdesk.tickets,
    p_event bigint, p_type text, p_content jsonb, p_text text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    p       record;
    mid     bigint;
    message jsonb;
BEGIN
    p := whatsapp.whatsapp_party(t);

    message := jsonb_build_object('messaging_product', 'whatsapp',
                                  'recipient_type', 'individual', 'type', p_type)
               || CASE WHEN (p.contact).wa_id IS NOT NULL
                       THEN jsonb_build_object('to', (p.contact).wa_id)
                       ELSE jsonb_build_object('recipient', (p.contact).user_id_bsuid) END
               || jsonb_build_object(p_type, p_content);

    INSERT INTO helpdesk.whatsapp_messages (tenant_id, connection_id, direction,
        contact_id, ticket_id, event_id, type, body, content, status)
    VALUES (t.tenant_id, (p.conn).connection_id, 'out', (p.contact).contact_id,
            t.ticket_id, p_event, p_type, p_text, message, 'queued')
    RETURNING message_id INTO mid;

    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id,
                                 event_type, payload)
    VALUES (t.tenant_id, 'whatsapp', (p.conn).connection_id, gen_random_uuid(),
            'whatsapp.send',
            jsonb_build_object('message_id', mid, 'ticket_id', t.ticket_id,
                               'message', message));

    RETURN mid;
END
$$;

-- Called by ticket_comment for a public reply from the helpdesk's side.
CREATE OR REPLACE FUNCTION whatsapp.deliver_reply(ctx jsonb, t helpdesk.tickets,
    e helpdesk.ticket_events)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF t.channel = 'whatsapp' THEN
        PERFORM whatsapp.whatsapp_enqueue(ctx, t, e.event_id, 'text',
            jsonb_build_object('preview_url', false, 'body', left(e.body, 4096)),
            e.body);
    END IF;
END
$$;

-- What became of an event sent out to the customer (a WhatsApp reply or
-- template): queued, sent, delivered, read or failed, since when, and why
-- it failed.  NULL for an event that went out on no such channel.
CREATE OR REPLACE FUNCTION whatsapp.event_delivery(p_tenant uuid, p_event bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('channel', 'whatsapp',
               'status', coalesce(m.status, 'queued'),
               'at', coalesce(m.status_at, m.sent_at, m.created_at),
               'error', CASE WHEN m.status = 'failed' THEN
                            jsonb_build_object('code', m.error_code, 'message', m.error_title) END)
    FROM helpdesk.whatsapp_messages m
    WHERE m.tenant_id = p_tenant AND m.event_id = p_event AND m.direction = 'out'
    ORDER BY m.message_id DESC LIMIT 1
$$;

-- A template, for one of the four uses, with its body parameters.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_send_template(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t     helpdesk.tickets;
    p     record;
    tpl   jsonb;
    comps jsonb := '[]';
    e     helpdesk.ticket_events;
    text  text;
BEGIN
    t := tickets.ticket_find(args->>'id', true);

    IF t.channel <> 'whatsapp' THEN
        PERFORM tickets.fail('HDCNF', 'whatsapp-unavailable',
            'templates are sent on WhatsApp tickets only');
    END IF;

    p := whatsapp.whatsapp_party(t);
    IF (p.conn).connection_id IS NULL THEN
        PERFORM tickets.fail('HDCNF', 'whatsapp-unavailable',
            'this ticket has no WhatsApp number to answer on');
    END IF;

    tpl := whatsapp.whatsapp_templates(t.tenant_id)->(args->>'use');
    IF tpl IS NULL THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
            jsonb_build_array(jsonb_build_object('field', 'use',
                'message', format('no template is mapped to "%s"; set one with PUT /v1/whatsapp/templates',
                                  args->>'use'))));
    END IF;

    IF jsonb_array_length(coalesce(args->'parameters', '[]')) > 0 THEN
        comps := jsonb_build_array(jsonb_build_object('type', 'body',
            'parameters', (SELECT jsonb_agg(jsonb_build_object('type', 'text', 'text', x))
                           FROM jsonb_array_elements_text(args->'parameters') x)));
    END IF;

    text := format('[template %s] %s', tpl->>'name',
                   (SELECT string_agg(x, ' | ')
                    FROM jsonb_array_elements_text(coalesce(args->'parameters', '[]')) x));

    e := tickets.event_add(ctx, t.ticket_id, 'comment', 'public', text,
                            jsonb_build_object('whatsapp', jsonb_build_object(
                                'template', tpl->>'name', 'use', args->>'use')));

    PERFORM whatsapp.whatsapp_enqueue(ctx, t, e.event_id, 'template',
        jsonb_build_object('name', tpl->>'name',
                           'language', jsonb_build_object('code', coalesce(tpl->>'language', 'pt_BR')),
                           'components', comps),
        text);

    UPDATE helpdesk.tickets SET updated_at = now(),
        first_response_at = coalesce(first_response_at, now())
    WHERE tenant_id = t.tenant_id AND ticket_id = t.ticket_id;

    PERFORM tickets.audit(ctx, 'ticket.whatsapp_template', 'ticket', t.ticket_id::text,
                           jsonb_build_object('use', args->>'use', 'template', tpl->>'name'));

    RETURN jsonb_build_object('body', tickets.event_json(e),
                              'location', '/v1/tickets/' || t.ticket_id || '/events');
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_templates_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickets.audit_read(ctx, 'whatsapp.templates.read', 'whatsapp_templates', NULL);
    RETURN jsonb_build_object('body', whatsapp.whatsapp_templates((ctx->>'tenant_id')::uuid));
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_templates_put(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    UPDATE helpdesk.tenants
    SET settings = jsonb_set(settings, '{whatsapp_templates}', args), updated_at = now()
    WHERE tenant_id = (ctx->>'tenant_id')::uuid;

    PERFORM tickets.audit(ctx, 'whatsapp.templates.update', 'tenant',
                           ctx->>'tenant_id', args);

    RETURN jsonb_build_object('body', args);
END
$$;

-- What became of a message handed to the provider.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_failed(p_tenant uuid, p_message bigint,
    p_code int, p_title text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    m   helpdesk.whatsapp_messages;
    ctx jsonb;
    t   helpdesk.tickets;
BEGIN
    UPDATE helpdesk.whatsapp_messages SET status = 'failed', error_code = p_code,
           error_title = p_title, status_at = now()
    WHERE tenant_id = p_tenant AND message_id = p_message
    RETURNING * INTO m;

    IF m.ticket_id IS NULL THEN
        RETURN;
    END IF;

    SELECT * INTO t FROM helpdesk.tickets
    WHERE tenant_id = p_tenant AND ticket_id = m.ticket_id;

    ctx := jsonb_build_object('tenant_id', p_tenant, 'actor_type', 'system',
                              'channel', 'whatsapp', 'actor_name', 'WhatsApp');

    -- the agents see it in the history, with the way out
    PERFORM tickets.event_add(ctx, m.ticket_id, 'delivery_failed', 'internal',
        CASE WHEN p_code IN (131047, 470)
             THEN 'Not delivered: more than 24 hours since the customer last wrote. Send an approved template instead.'
             ELSE format('Not delivered on WhatsApp: %s%s', coalesce(p_code::text || ' ', ''), coalesce(p_title, '')) END,
        jsonb_build_object('whatsapp', jsonb_build_object('message_id', m.message_id,
                           'event_id', m.event_id, 'code', p_code, 'title', p_title)));

    PERFORM outbox.emit(ctx, 'whatsapp.message_failed',
        jsonb_build_object('ticket', jsonb_build_object('id', t.ticket_id,
                               'number', tickets.ticket_number(t.number)),
                           'event_id', m.event_id, 'code', p_code, 'title', p_title));
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_send_result(o helpdesk.outbox, p_ok boolean,
    p_http_status int, p_error text, p_response text, p_max_attempts int,
    p_backoff_ms int, p_max_backoff_ms int)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    r     jsonb;
    code  int;
    title text;
    mid   bigint := (o.payload->>'message_id')::bigint;
    res   text;
BEGIN
    BEGIN
        r := p_response::jsonb;
    EXCEPTION WHEN OTHERS THEN
        r := NULL;
    END;

    IF p_ok AND r->'messages'->0->>'id' IS NOT NULL THEN
        UPDATE helpdesk.whatsapp_messages SET wamid = r->'messages'->0->>'id',
               status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END,
               status_at = CASE WHEN status = 'queued' THEN now() ELSE status_at END,
               sent_at = now()
        WHERE tenant_id = o.tenant_id AND message_id = mid;

        UPDATE helpdesk.outbox SET status = 'delivered', delivered_at = now(),
               locked_until = NULL, last_error = NULL
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
        RETURN 'delivered';
    END IF;

    code := coalesce((r->'error'->>'code')::int, (r->'errors'->0->>'code')::int);
    -- the provider's words, as an excerpt: the tenant sees them
    title := coalesce(outbox.excerpt(r->'error'->>'message'),
                      outbox.excerpt(r->'errors'->0->>'title'), p_error,
                      'HTTP ' || p_http_status);

    -- throttling and server trouble pass; a refusal does not
    IF coalesce(p_http_status, 0) = 0 OR p_http_status = 429 OR p_http_status >= 500
       OR code IN (130429, 131056, 131000)
    THEN
        res := whatsapp.outbox_retry(o, title, p_max_attempts, p_backoff_ms, p_max_backoff_ms);
        IF res = 'dead' THEN
            PERFORM whatsapp.whatsapp_failed(o.tenant_id, mid, code,
                format('gave up after %s attempts: %s', o.attempts, title));
        END IF;
        RETURN res;
    END IF;

    UPDATE helpdesk.outbox SET status = 'dead', locked_until = NULL, last_error = title
    WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;

    PERFORM whatsapp.whatsapp_failed(o.tenant_id, mid, code, title);
    RETURN 'dead';
END
$$;

RESET ROLE;
