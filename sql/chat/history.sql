-- nginx-helpdesk: the record of the chats, as the REST API and the
-- console read it (GET /v1/chat/conversations, .../{id}) and the
-- conversion of one into a ticket (POST .../{id}/ticket, which calls the
-- conversations layer's chat.convert()).
--
-- A conversation is the customer's data like a ticket is: every list and
-- every transcript opened is an audited read (written without waiting for
-- a flush, tickets.audit_read), and another tenant's ids are "not found".

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION chat.conversation_json(c helpdesk.chat_conversations)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v   helpdesk.chat_visitors;
    tk  jsonb;
    n   int;
BEGIN
    SELECT * INTO v FROM helpdesk.chat_visitors x
    WHERE x.tenant_id = c.tenant_id AND x.visitor_id = c.visitor_id;

    IF c.ticket_id IS NOT NULL THEN
        SELECT jsonb_build_object('id', t.ticket_id, 'number', tickets.ticket_number(t.number))
        INTO tk FROM helpdesk.tickets t
        WHERE t.tenant_id = c.tenant_id AND t.ticket_id = c.ticket_id;
    END IF;

    SELECT count(*) INTO n FROM helpdesk.chat_messages m
    WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id
      AND m.kind = 'message';

    RETURN jsonb_build_object(
        'id', c.conversation_id,
        'status', c.status,
        'visitor', jsonb_build_object('id', c.visitor_id,
                                      'name', coalesce(c.prechat->>'name', v.name),
                                      'email', coalesce(c.prechat->>'email', v.email)),
        'customer', tickets.user_ref(c.tenant_id, coalesce(c.customer_id, v.customer_id)),
        'agent', tickets.user_ref(c.tenant_id, c.agent_id),
        'ticket', tk,
        'page', jsonb_build_object('url', c.page_url, 'title', c.page_title,
                                   'referrer', c.referrer),
        'language', c.language,
        'user_agent', c.user_agent,
        'prechat', c.prechat,
        'message_count', n,
        'started_at', c.started_at,
        'accepted_at', c.accepted_at,
        'first_response_at', c.first_response_at,
        'ended_at', c.ended_at,
        'ended_by', c.ended_by,
        'last_message_at', c.last_message_at);
END
$$;

CREATE OR REPLACE FUNCTION chat.message_json(m helpdesk.chat_messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', m.message_id,
        'kind', m.kind,
        'author', jsonb_build_object('type', m.author_type, 'id', m.author_id,
                                     'name', m.author_name),
        'body', m.body,
        'data', m.data,
        'created_at', m.created_at)
$$;

-- a stream id ("<ms>-<seq>") as something that sorts
CREATE OR REPLACE FUNCTION chat.message_order(id text) RETURNS numeric[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[split_part(id, '-', 1)::numeric, split_part(id, '-', 2)::numeric]
$$;

-- One conversation of the caller's tenant, or "not found".
CREATE OR REPLACE FUNCTION chat.conversation_find(ref text, for_update boolean)
RETURNS helpdesk.chat_conversations LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.chat_conversations;
BEGIN
    IF tickets.is_uuid(ref) THEN
        IF for_update THEN
            SELECT * INTO c FROM helpdesk.chat_conversations x
            WHERE x.tenant_id = helpdesk.current_tenant()
              AND x.conversation_id = ref::uuid FOR UPDATE;
        ELSE
            SELECT * INTO c FROM helpdesk.chat_conversations x
            WHERE x.tenant_id = helpdesk.current_tenant()
              AND x.conversation_id = ref::uuid;
        END IF;
    END IF;

    IF c.conversation_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', format('there is no conversation %s', ref));
    END IF;

    RETURN c;
END
$$;

-- The cursor of a list: where the last page ended (its oldest start and
-- id), in 25 bytes: a version, the start in microseconds, the id.
CREATE OR REPLACE FUNCTION chat.cursor_encode(at timestamptz, id uuid) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(encode(decode('c2' || lpad(to_hex((extract(epoch FROM at) * 1000000)::bigint), 16, '0')
                                   || replace(id::text, '-', ''), 'hex'), 'base64'), '+/=', '-_')
$$;

CREATE OR REPLACE FUNCTION chat.cursor_decode(c text, OUT at timestamptz, OUT id uuid)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    b      bytea;
    us     bigint;
    padded text := translate(c, '-_', '+/');
BEGIN
    padded := padded || repeat('=', (4 - length(padded) % 4) % 4);
    b := decode(padded, 'base64');
    IF length(b) <> 25 OR get_byte(b, 0) <> 194 THEN
        RAISE EXCEPTION 'bad cursor';
    END IF;
    us := ('x' || encode(substring(b FROM 2 FOR 8), 'hex'))::bit(64)::bigint;
    at := timestamptz 'epoch' + ((us / 1000000) || ' seconds')::interval
          + ((us % 1000000) || ' microseconds')::interval;
    id := encode(substring(b FROM 10 FOR 16), 'hex')::uuid;
EXCEPTION WHEN OTHERS THEN
    PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                         chat.err('cursor', 'is not a cursor this API returned'));
END
$$;

-- GET /v1/chat/conversations: newest first; filters status (a list),
-- visitor, customer (an id or an email: every chat of that person, also
-- of the duplicates merged into them), since (started at or after).
CREATE OR REPLACE FUNCTION chat.conversation_list(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant    uuid := (ctx->>'tenant_id')::uuid;
    errors    jsonb := '[]';
    lim       int := 25;
    statuses  text[];
    visitor   uuid;
    customers uuid[];
    since     timestamptz;
    cur_at    timestamptz;
    cur_id    uuid;
    items     jsonb;
    ids       jsonb;
    n         int;
    last_at   timestamptz;
    last_id   uuid;
BEGIN
    PERFORM tickets.read_only_audit();

    IF args ? 'limit' THEN
        IF args->>'limit' ~ '^[0-9]{1,3}$' AND (args->>'limit')::int BETWEEN 1 AND 100 THEN
            lim := (args->>'limit')::int;
        ELSE
            errors := errors || chat.err('limit', 'must be a whole number from 1 to 100');
        END IF;
    END IF;

    IF args ? 'status' THEN
        statuses := string_to_array(args->>'status', ',');
        IF cardinality(statuses) IS NULL OR NOT statuses <@ ARRAY['bot', 'queued', 'active', 'ended', 'converted'] THEN
            errors := errors || chat.err('status', 'must be one or more of: bot queued active ended converted');
        END IF;
    END IF;

    IF args ? 'visitor' THEN
        IF tickets.is_uuid(args->>'visitor') THEN
            visitor := (args->>'visitor')::uuid;
        ELSE
            errors := errors || chat.err('visitor', 'must be a visitor id');
        END IF;
    END IF;

    IF args ? 'customer' THEN
        IF tickets.is_uuid(args->>'customer') THEN
            SELECT array_agg(u.user_id) INTO customers FROM helpdesk.users u
            WHERE u.tenant_id = tenant
              AND (u.user_id = (args->>'customer')::uuid OR u.merged_into = (args->>'customer')::uuid);
        ELSIF args->>'customer' ~ '^[^@\s]+@[^@\s]+$' AND length(args->>'customer') <= 254 THEN
            SELECT array_agg(u.user_id) INTO customers FROM helpdesk.users u
            WHERE u.tenant_id = tenant
              AND (u.email = lower(args->>'customer')
                   OR u.merged_into IN (SELECT x.user_id FROM helpdesk.users x
                                        WHERE x.tenant_id = tenant AND x.email = lower(args->>'customer')));
        ELSE
            errors := errors || chat.err('customer', 'must be a customer''s id or email');
        END IF;
        customers := coalesce(customers, '{}');
    END IF;

    IF args ? 'since' THEN
        BEGIN
            IF args->>'since' !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN
                RAISE EXCEPTION 'bad date';
            END IF;
            since := (args->>'since')::timestamptz;
        EXCEPTION WHEN OTHERS THEN
            errors := errors || chat.err('since', 'must be a date or a time (RFC 3339), e.g. 2026-11-30T08:00:00Z');
        END;
    END IF;

    IF errors <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields', errors);
    END IF;

    IF args ? 'cursor' THEN
        SELECT d.at, d.id INTO cur_at, cur_id FROM chat.cursor_decode(args->>'cursor') d;
    END IF;

    SELECT coalesce(jsonb_agg(chat.conversation_json(c) ORDER BY c.started_at DESC, c.conversation_id DESC), '[]'),
           coalesce(jsonb_agg(c.conversation_id ORDER BY c.started_at DESC, c.conversation_id DESC), '[]'),
           count(*)
    INTO items, ids, n
    FROM (SELECT * FROM helpdesk.chat_conversations c
          WHERE c.tenant_id = tenant
            AND (cur_at IS NULL OR (c.started_at, c.conversation_id) < (cur_at, cur_id))
            AND (statuses IS NULL OR c.status = ANY (statuses))
            AND (visitor IS NULL OR c.visitor_id = visitor)
            AND (customers IS NULL OR c.customer_id = ANY (customers)
                 OR EXISTS (SELECT 1 FROM helpdesk.chat_visitors v
                            WHERE v.tenant_id = c.tenant_id AND v.visitor_id = c.visitor_id
                              AND c.customer_id IS NULL AND v.customer_id = ANY (customers)))
            AND (since IS NULL OR c.started_at >= since)
          ORDER BY c.started_at DESC, c.conversation_id DESC
          LIMIT lim) c;

    IF n = lim THEN
        SELECT c.started_at, c.conversation_id INTO last_at, last_id
        FROM helpdesk.chat_conversations c
        WHERE c.tenant_id = tenant AND c.conversation_id = (ids->>(n - 1))::uuid;
    END IF;

    PERFORM tickets.audit(ctx, 'chat.list', 'chat_conversation', NULL,
                          jsonb_build_object('count', n, 'ids', ids,
                                             'filters', args - 'cursor'));

    RETURN jsonb_build_object('body', jsonb_build_object(
        'data', items,
        'next_cursor', CASE WHEN n = lim THEN chat.cursor_encode(last_at, last_id) END));
END
$$;

-- GET /v1/chat/conversations/{id}: the conversation and its transcript,
-- in the order every client saw it (internal notes included: this is the
-- support team's view).
CREATE OR REPLACE FUNCTION chat.conversation_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.chat_conversations;
BEGIN
    PERFORM tickets.read_only_audit();
    c := chat.conversation_find(args->>'id', false);
    PERFORM tickets.audit(ctx, 'chat.read', 'chat_conversation', c.conversation_id::text);

    RETURN jsonb_build_object('body', chat.conversation_json(c) || jsonb_build_object(
        'messages', (SELECT coalesce(jsonb_agg(chat.message_json(m)
                                               ORDER BY chat.message_order(m.message_id)), '[]')
                     FROM helpdesk.chat_messages m
                     WHERE m.tenant_id = c.tenant_id
                       AND m.conversation_id = c.conversation_id)));
END
$$;

-- POST /v1/chat/conversations/{id}/ticket: the conversations layer turns
-- it into a ticket (chat.convert: the ticket on the channel "chat", the
-- transcript as its events, the visitor told); here only the caller's
-- conversation is found and what was made is answered.
CREATE OR REPLACE FUNCTION chat.conversation_ticket(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c  helpdesk.chat_conversations;
    tk helpdesk.tickets;
    r  jsonb;
BEGIN
    c := chat.conversation_find(args->>'id', true);

    IF c.ticket_id IS NOT NULL THEN
        PERFORM tickets.fail('HDCNF', 'already-converted',
            'this conversation is already a ticket',
            (SELECT jsonb_build_object('ticket', jsonb_build_object(
                        'id', t.ticket_id, 'number', tickets.ticket_number(t.number)))
             FROM helpdesk.tickets t
             WHERE t.tenant_id = c.tenant_id AND t.ticket_id = c.ticket_id));
    END IF;

    -- {"ticket_id", "number", "created"}
    r := chat.convert(ctx, c.conversation_id);

    SELECT t.* INTO tk FROM helpdesk.tickets t
    WHERE t.tenant_id = c.tenant_id AND t.ticket_id = (r->>'ticket_id')::uuid;

    RETURN jsonb_build_object('body', tickets.ticket_json(tk),
                              'location', '/v1/tickets/' || tk.ticket_id);
END
$$;

RESET ROLE;
