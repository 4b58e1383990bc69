-- nginx-helpdesk: the ticket service.
--
-- Each operation is one function that does all of its work in the
-- caller's transaction: the change, its ticket event and its audit row
-- commit together or not at all, and a request costs one round trip.
-- The functions run as the caller (helpdesk_service, through the entry
-- points in schema "api"), so row-level security applies to every
-- statement in them.
--
-- "ctx" describes who acts: {tenant_id, actor_type, actor_id, actor_name,
-- channel, ip}.  Every channel builds one and calls the same functions.
--
-- Errors are raised with SQLSTATEs the module maps to HTTP:
--   HDUNA unauthenticated, HDDEN forbidden, HDNFD not found,
--   HDCNF conflict, HDINV invalid (DETAIL: a JSON array of field errors).
-- HINT carries the problem type's slug.

SET ROLE helpdesk_owner;

-- Whether a path parameter can be an id at all (anything else is "not
-- found", never a cast error).
CREATE OR REPLACE FUNCTION tickets.is_uuid(s text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
$$;

CREATE OR REPLACE FUNCTION tickets.fail(code text, slug text, message text,
                                         errors jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, HINT = slug,
                          DETAIL = coalesce(errors::text, '');
END
$$;

-- Helpers are PL/pgSQL rather than SQL functions: a SQL function that
-- reads or writes a table is not inlined and pays for a new executor on
-- every call, while PL/pgSQL keeps its plans for the connection's life.
-- Measured on the GET path: 3.2k -> 7.8k statements/s.

CREATE OR REPLACE FUNCTION tickets.audit(ctx jsonb, action text,
                                          object_type text, object_id text,
                                          detail jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO helpdesk.audit_log (tenant_id, actor_type, actor_id, action,
                                    object_type, object_id, ip, detail)
    VALUES ((ctx->>'tenant_id')::uuid, ctx->>'actor_type',
            (ctx->>'actor_id')::uuid, action, object_type, object_id,
            (ctx->>'ip')::inet, detail);
END
$$;

-- Reads are audited too, but must not wait for a disk flush: a crash may
-- lose the last read-audit rows of a fraction of a second, never a write.
-- A read that answers a change (the ticket shown after an update) is part
-- of a transaction that already wrote: that one keeps its flush.
CREATE OR REPLACE FUNCTION tickets.read_only_audit() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_current_xact_id_if_assigned() IS NULL THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
END
$$;

-- A read of tenant data, audited: the row is written without waiting for
-- a flush when nothing else in the transaction was (read_only_audit).
-- Called before the read's own writes, if any.
CREATE OR REPLACE FUNCTION tickets.audit_read(ctx jsonb, action text,
                                               object_type text, object_id text,
                                               detail jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickets.read_only_audit();
    PERFORM tickets.audit(ctx, action, object_type, object_id, detail);
END
$$;

CREATE OR REPLACE FUNCTION tickets.ticket_number(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'TKT-' || lpad(n::text, 6, '0')
$$;

CREATE OR REPLACE FUNCTION tickets.user_ref(p_tenant uuid, p_user uuid)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    r jsonb;
BEGIN
    IF p_user IS NULL THEN
        RETURN NULL;
    END IF;

    SELECT jsonb_build_object('id', u.user_id, 'email', u.email,
                              'name', u.name, 'role', u.role)
    INTO r
    FROM helpdesk.users u
    WHERE u.tenant_id = p_tenant AND u.user_id = p_user;

    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION tickets.user_json(u helpdesk.users)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', u.user_id, 'email', u.email,
                              'name', u.name, 'phone', u.phone,
                              'role', u.role, 'status', u.status,
                              'created_at', u.created_at,
                              'updated_at', u.updated_at)
$$;

CREATE OR REPLACE FUNCTION tickets.ticket_json(t helpdesk.tickets)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.ticket_id,
        'number', tickets.ticket_number(t.number),
        'channel', t.channel,
        'subject', t.subject,
        'description', t.description,
        'status', t.status,
        'priority', t.priority,
        'category', t.category,
        'requester', tickets.user_ref(t.tenant_id, t.requester_id),
        'assignee', tickets.user_ref(t.tenant_id, t.assignee_id),
        'custom_fields', t.custom_fields,
        'created_at', t.created_at,
        'updated_at', t.updated_at,
        'first_response_at', t.first_response_at,
        'resolved_at', t.resolved_at,
        'closed_at', t.closed_at)
$$;

-- an event's files, as the history shows them (the bytes are fetched
-- through the attachment's own URL)
CREATE OR REPLACE FUNCTION tickets.event_attachments(p_tenant uuid, p_event bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    r jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object('id', a.attachment_id,
                                        'filename', a.filename,
                                        'content_type', a.content_type,
                                        'size', a.size,
                                        'url', '/v1/tickets/' || a.ticket_id
                                               || '/attachments/' || a.attachment_id)
                     ORDER BY a.created_at, a.ordinal, a.attachment_id)
    INTO r
    FROM helpdesk.attachments a
    WHERE a.tenant_id = p_tenant AND a.event_id = p_event;

    RETURN coalesce(r, '[]');
END
$$;

CREATE OR REPLACE FUNCTION tickets.event_json(e helpdesk.ticket_events)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', e.event_id,
        'type', e.type,
        'visibility', e.visibility,
        'channel', e.channel,
        'actor', jsonb_build_object('type', e.actor_type, 'id', e.actor_id,
                                    'name', e.actor_name),
        'body', e.body,
        'data', e.data,
        'attachments', tickets.event_attachments(e.tenant_id, e.event_id),
        'delivery', whatsapp.event_delivery(e.tenant_id, e.event_id),
        'created_at', e.created_at)
$$;

CREATE OR REPLACE FUNCTION tickets.ticket_find(ref text, for_update boolean)
RETURNS helpdesk.tickets LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tickets;
BEGIN
    IF ref ~* '^TKT-[0-9]{1,15}$' THEN
        IF for_update THEN
            SELECT * INTO t FROM helpdesk.tickets
            WHERE tenant_id = helpdesk.current_tenant()
              AND number = substr(ref, 5)::bigint FOR UPDATE;
        ELSE
            SELECT * INTO t FROM helpdesk.tickets
            WHERE tenant_id = helpdesk.current_tenant()
              AND number = substr(ref, 5)::bigint;
        END IF;
    ELSIF tickets.is_uuid(ref) THEN
        IF for_update THEN
            SELECT * INTO t FROM helpdesk.tickets
            WHERE tenant_id = helpdesk.current_tenant()
              AND ticket_id = ref::uuid FOR UPDATE;
        ELSE
            SELECT * INTO t FROM helpdesk.tickets
            WHERE tenant_id = helpdesk.current_tenant()
              AND ticket_id = ref::uuid;
        END IF;
    END IF;

    IF t.ticket_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
                              format('there is no ticket %s', ref));
    END IF;

    RETURN t;
END
$$;

-- A requester is a customer of the tenant, found or created by email.
CREATE OR REPLACE FUNCTION tickets.customer_for(p_tenant uuid, p_email text,
                                                 p_name text, p_phone text)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
    digits text := nullif(regexp_replace(coalesce(p_phone, ''), '[^0-9]', '', 'g'), '');
BEGIN
    -- known by phone only (a customer who called): the customer with that
    -- number (written with or without the country code), or a new one
    IF p_email IS NULL AND length(digits) >= 8 THEN
        SELECT user_id INTO id FROM helpdesk.users
        WHERE tenant_id = p_tenant AND role = 'customer' AND phone IS NOT NULL
          AND status = 'active'
          -- a number typed into a portal profile finds no one's calls
          AND phone_verified_at IS NOT NULL
          AND regexp_replace(phone, '[^0-9]', '', 'g') LIKE '%' || digits
        ORDER BY created_at
        LIMIT 1;

        IF id IS NULL THEN
            INSERT INTO helpdesk.users (tenant_id, name, phone, role, phone_verified_at)
            VALUES (p_tenant, p_name, p_phone, 'customer', now())
            RETURNING user_id INTO id;
        END IF;

        RETURN id;
    END IF;

    IF p_email IS NULL THEN
        RETURN NULL;
    END IF;

    -- (a customer merged into another stands for that one)
    SELECT coalesce(merged_into, user_id) INTO id FROM helpdesk.users
    WHERE tenant_id = p_tenant AND email = lower(p_email);

    IF id IS NULL THEN
        INSERT INTO helpdesk.users (tenant_id, email, name, phone, role, phone_verified_at)
        VALUES (p_tenant, lower(p_email), p_name, p_phone, 'customer',
                CASE WHEN p_phone IS NOT NULL THEN now() END)
        ON CONFLICT (tenant_id, email) DO NOTHING
        RETURNING user_id INTO id;

        IF id IS NULL THEN
            SELECT coalesce(merged_into, user_id) INTO id FROM helpdesk.users
            WHERE tenant_id = p_tenant AND email = lower(p_email);
        END IF;
    END IF;

    RETURN id;
END
$$;

-- An assignee is an active agent or admin, named by id or email.
CREATE OR REPLACE FUNCTION tickets.agent_for(p_tenant uuid, ref text)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    IF tickets.is_uuid(ref) THEN
        SELECT user_id INTO id FROM helpdesk.users
        WHERE tenant_id = p_tenant AND user_id = ref::uuid
          AND role IN ('agent', 'admin') AND status = 'active';
    ELSE
        SELECT user_id INTO id FROM helpdesk.users
        WHERE tenant_id = p_tenant AND email = lower(ref)
          AND role IN ('agent', 'admin') AND status = 'active';
    END IF;

    IF id IS NULL THEN
        PERFORM tickets.fail('HDINV', 'validation-error',
            'the request has invalid fields',
            jsonb_build_array(jsonb_build_object('field', 'assignee',
                'message', 'is not an active agent of this helpdesk')));
    END IF;

    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION tickets.event_add(ctx jsonb, p_ticket uuid,
                                              p_type text, p_visibility text,
                                              p_body text, p_data jsonb)
RETURNS helpdesk.ticket_events LANGUAGE plpgsql AS $$
DECLARE
    e helpdesk.ticket_events;
BEGIN
    INSERT INTO helpdesk.ticket_events (tenant_id, ticket_id, type, visibility,
                                        channel, actor_type, actor_id,
                                        actor_name, body, data)
    VALUES ((ctx->>'tenant_id')::uuid, p_ticket, p_type, p_visibility,
            ctx->>'channel', ctx->>'actor_type', (ctx->>'actor_id')::uuid,
            ctx->>'actor_name', p_body, coalesce(p_data, '{}'))
    RETURNING * INTO e;

    RETURN e;
END
$$;

-- Ticket numbers come from a sequence per tenant: no lock is held until
-- commit, so concurrent tickets of one tenant do not queue behind each
-- other (a rolled-back ticket leaves a gap).  The sequence is created with
-- the tenant's first ticket, as the owner, continuing any older counter.
CREATE OR REPLACE FUNCTION tickets.next_ticket_number(p_tenant uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    seq text := 'helpdesk.ticket_number_' || replace(p_tenant::text, '-', '');
BEGIN
    IF to_regclass(seq) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(seq, 0));
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %s START %s', seq,
                       (SELECT ticket_seq + 1 FROM helpdesk.tenants
                        WHERE tenant_id = p_tenant));
    END IF;

    RETURN nextval(seq);
END
$$;

-- The ticket's channel is where its customer reached us: the caller's own
-- (ctx.channel), unless the caller says otherwise (ctx.ticket_channel: an
-- agent opening a ticket for a customer who called).
CREATE OR REPLACE FUNCTION tickets.ticket_create(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant    uuid := (ctx->>'tenant_id')::uuid;
    num       bigint;
    requester uuid;
    assignee  uuid;
    t         helpdesk.tickets;
    e         helpdesk.ticket_events;
BEGIN
    num := tickets.next_ticket_number(tenant);

    requester := tickets.customer_for(tenant, args->>'requester_email',
                                       args->>'requester_name',
                                       args->>'requester_phone');

    -- channels that know their customer by other means pass the user
    IF requester IS NULL AND args ? 'requester_id' THEN
        requester := (args->>'requester_id')::uuid;
    END IF;

    IF args ? 'assignee' AND jsonb_typeof(args->'assignee') = 'string' THEN
        assignee := tickets.agent_for(tenant, args->>'assignee');
    END IF;

    INSERT INTO helpdesk.tickets (tenant_id, number, channel, subject,
                                  description, priority, category,
                                  requester_id, assignee_id, custom_fields)
    VALUES (tenant, num, coalesce(ctx->>'ticket_channel', ctx->>'channel'), args->>'subject',
            coalesce(args->>'description', ''),
            coalesce(args->>'priority', 'normal'), args->>'category',
            requester, assignee, coalesce(args->'custom_fields', '{}'))
    RETURNING * INTO t;

    e := tickets.event_add(ctx, t.ticket_id, 'created', 'public',
        t.description,
        jsonb_build_object('subject', t.subject, 'priority', t.priority,
                           'category', t.category, 'status', t.status)
        || coalesce(args->'event_data', '{}'));

    -- the API's "attachments": the caller's uploads, onto the first event
    PERFORM tickets.uploads_attach(ctx, t.ticket_id, e.event_id, args->'attachments');

    PERFORM tickets.audit(ctx, 'ticket.create', 'ticket', t.ticket_id::text,
                           jsonb_build_object('number', tickets.ticket_number(t.number)));

    IF outbox.wants(tenant, 'ticket.created') THEN
        PERFORM outbox.emit(ctx, 'ticket.created',
                              jsonb_build_object('ticket', tickets.ticket_json(t)));
    END IF;

    RETURN jsonb_build_object('body', tickets.ticket_json(t),
                              'location', '/v1/tickets/' || t.ticket_id);
END
$$;

CREATE OR REPLACE FUNCTION tickets.ticket_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tickets;
BEGIN
    PERFORM tickets.read_only_audit();
    t := tickets.ticket_find(args->>'id', false);
    PERFORM tickets.audit(ctx, 'ticket.read', 'ticket', t.ticket_id::text);
    RETURN jsonb_build_object('body', tickets.ticket_json(t));
END
$$;

CREATE OR REPLACE FUNCTION tickets.status_transition_ok(old text, new text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE old
        WHEN 'open'     THEN new IN ('pending', 'on_hold', 'resolved', 'closed')
        WHEN 'pending'  THEN new IN ('open', 'on_hold', 'resolved', 'closed')
        WHEN 'on_hold'  THEN new IN ('open', 'pending', 'resolved', 'closed')
        WHEN 'resolved' THEN new IN ('open', 'closed')
        ELSE false
    END
$$;

CREATE OR REPLACE FUNCTION tickets.ticket_update(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant   uuid := (ctx->>'tenant_id')::uuid;
    t        helpdesk.tickets;
    old      helpdesk.tickets;
    assignee uuid;
    changed  jsonb := '[]';
BEGIN
    t := tickets.ticket_find(args->>'id', true);
    old := t;

    IF args ? 'status' AND args->>'status' <> t.status THEN
        IF NOT tickets.status_transition_ok(t.status, args->>'status') THEN
            PERFORM tickets.fail('HDINV', 'invalid-transition',
                format('a %s ticket cannot become %s', t.status, args->>'status'),
                jsonb_build_array(jsonb_build_object('field', 'status',
                    'message', format('cannot change from %s to %s',
                                      t.status, args->>'status'))));
        END IF;

        t.status := args->>'status';

        IF t.status = 'resolved' THEN
            t.resolved_at := now();
        ELSIF t.status = 'closed' THEN
            t.closed_at := now();
            t.resolved_at := coalesce(t.resolved_at, now());
        ELSE
            t.resolved_at := NULL;
        END IF;

        PERFORM tickets.event_add(ctx, t.ticket_id, 'status_changed', 'public',
            NULL, jsonb_build_object('from', old.status, 'to', t.status));
        changed := changed || '"status"';
    END IF;

    IF args ? 'priority' AND args->>'priority' <> t.priority THEN
        t.priority := args->>'priority';
        PERFORM tickets.event_add(ctx, t.ticket_id, 'priority_changed', 'public',
            NULL, jsonb_build_object('from', old.priority, 'to', t.priority));
        changed := changed || '"priority"';
    END IF;

    IF args ? 'category' AND (args->>'category') IS DISTINCT FROM t.category THEN
        t.category := args->>'category';
        PERFORM tickets.event_add(ctx, t.ticket_id, 'category_changed', 'public',
            NULL, jsonb_build_object('from', old.category, 'to', t.category));
        changed := changed || '"category"';
    END IF;

    IF args ? 'assignee' THEN
        IF jsonb_typeof(args->'assignee') = 'null' THEN
            assignee := NULL;
        ELSE
            assignee := tickets.agent_for(tenant, args->>'assignee');
        END IF;

        IF assignee IS DISTINCT FROM t.assignee_id THEN
            t.assignee_id := assignee;
            PERFORM tickets.event_add(ctx, t.ticket_id, 'assignee_changed',
                'internal', NULL,
                jsonb_build_object('from', tickets.user_ref(tenant, old.assignee_id),
                                   'to', tickets.user_ref(tenant, assignee)));
            changed := changed || '"assignee"';
        END IF;
    END IF;

    IF jsonb_array_length(changed) > 0 THEN
        UPDATE helpdesk.tickets SET
            status = t.status, priority = t.priority, category = t.category,
            assignee_id = t.assignee_id, resolved_at = t.resolved_at,
            closed_at = t.closed_at, updated_at = now()
        WHERE tenant_id = t.tenant_id AND ticket_id = t.ticket_id
        RETURNING * INTO t;

        -- the customer of an email ticket is told (where the tenant wants)
        PERFORM email.status_changed(ctx, t, old.status);

        PERFORM outbox.emit(ctx, 'ticket.updated',
            jsonb_build_object('ticket', tickets.ticket_json(t),
                               'changed', changed,
                               'previous', jsonb_build_object(
                                   'status', old.status, 'priority', old.priority,
                                   'category', old.category,
                                   'assignee', tickets.user_ref(tenant, old.assignee_id))));
    END IF;

    PERFORM tickets.audit(ctx, 'ticket.update', 'ticket', t.ticket_id::text,
                           jsonb_build_object('changed', changed));

    RETURN jsonb_build_object('body', tickets.ticket_json(t));
END
$$;

CREATE OR REPLACE FUNCTION tickets.ticket_comment(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t          helpdesk.tickets;
    e          helpdesk.ticket_events;
    visibility text := coalesce(args->>'visibility', 'public');
BEGIN
    t := tickets.ticket_find(args->>'id', true);

    IF t.status = 'closed' THEN
        PERFORM tickets.fail('HDCNF', 'ticket-closed',
            format('%s is closed; open a new ticket instead',
                   tickets.ticket_number(t.number)));
    END IF;

    -- a public reply goes back on the channel the customer used (unless
    -- the agent chose the tenant's fallback: then it is only on the ticket,
    -- which the customer reads on the portal)
    IF visibility = 'public' AND coalesce(ctx->>'actor_role', 'agent') <> 'customer'
       AND t.channel = 'whatsapp' AND ctx->>'via' IS NULL
    THEN
        PERFORM whatsapp.whatsapp_reply_check(t);
    END IF;

    e := tickets.event_add(ctx, t.ticket_id, 'comment', visibility,
                            args->>'body', '{}');

    -- the caller's uploads (the API's "attachments"), before the reply is
    -- queued and announced, so that both carry them
    PERFORM tickets.uploads_attach(ctx, t.ticket_id, e.event_id, args->'attachments');

    IF visibility = 'public' AND coalesce(ctx->>'actor_role', 'agent') <> 'customer'
       AND ctx->>'via' IS NULL THEN
        PERFORM whatsapp.deliver_reply(ctx, t, e);
        PERFORM email.deliver_reply(ctx, t, e);
    END IF;

    -- a public answer from the helpdesk's side is the first response
    UPDATE helpdesk.tickets SET
        updated_at = now(),
        first_response_at = CASE
            WHEN visibility = 'public' AND first_response_at IS NULL
                 AND ctx->>'actor_type' IN ('api_key', 'user')
                 AND coalesce(ctx->>'actor_role', 'agent') <> 'customer'
            THEN now() ELSE first_response_at END
    WHERE tenant_id = t.tenant_id AND ticket_id = t.ticket_id;

    PERFORM tickets.audit(ctx, 'ticket.comment', 'ticket', t.ticket_id::text,
                           jsonb_build_object('event_id', e.event_id,
                                              'visibility', visibility));

    PERFORM outbox.emit(ctx, 'ticket.comment_added',
        jsonb_build_object('ticket', jsonb_build_object(
                               'id', t.ticket_id,
                               'number', tickets.ticket_number(t.number)),
                           'comment', tickets.event_json(e)));

    RETURN jsonb_build_object('body', tickets.event_json(e),
                              'location', '/v1/tickets/' || t.ticket_id || '/events');
END
$$;

CREATE OR REPLACE FUNCTION tickets.ticket_events(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t      helpdesk.tickets;
    lim    int := coalesce((args->>'limit')::int, 100);
    after  bigint := 0;
    items  jsonb;
    n      int;
    last   bigint;
BEGIN
    PERFORM tickets.read_only_audit();
    t := tickets.ticket_find(args->>'id', false);

    IF args ? 'cursor' THEN
        after := tickets.cursor_decode(args->>'cursor');
    END IF;

    SELECT coalesce(jsonb_agg(tickets.event_json(e) ORDER BY e.event_id), '[]'),
           count(*), max(e.event_id)
    INTO items, n, last
    FROM (SELECT * FROM helpdesk.ticket_events
          WHERE tenant_id = t.tenant_id AND ticket_id = t.ticket_id
            AND event_id > after
          ORDER BY event_id LIMIT lim) e;

    PERFORM tickets.audit(ctx, 'ticket.events.read', 'ticket',
                           t.ticket_id::text, jsonb_build_object('count', n));

    RETURN jsonb_build_object('body', jsonb_build_object(
        'data', items,
        'next_cursor', CASE WHEN n = lim THEN tickets.cursor_encode(last) END));
END
$$;

CREATE OR REPLACE FUNCTION tickets.cursor_encode(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(encode(convert_to('c1:' || n, 'UTF8'), 'base64'), '+/=', '-_')
$$;

CREATE OR REPLACE FUNCTION tickets.cursor_decode(c text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text;
    padded text := translate(c, '-_', '+/');
BEGIN
    padded := padded || repeat('=', (4 - length(padded) % 4) % 4);
    s := convert_from(decode(padded, 'base64'), 'UTF8');
    IF s !~ '^c1:[0-9]{1,18}$' THEN
        RAISE EXCEPTION 'bad cursor';
    END IF;
    RETURN substr(s, 4)::bigint;
EXCEPTION WHEN OTHERS THEN
    PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
        jsonb_build_array(jsonb_build_object('field', 'cursor',
            'message', 'is not a cursor this API returned')));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tickets.ticket_list(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant     uuid := (ctx->>'tenant_id')::uuid;
    lim        int := coalesce((args->>'limit')::int, 25);
    before     bigint := NULL;
    statuses   text[] := string_to_array(args->>'status', ',');
    priorities text[] := string_to_array(args->>'priority', ',');
    channels   text[] := string_to_array(args->>'channel', ',');
    assignee   uuid := NULL;
    unassigned boolean := coalesce(args->>'assignee' = 'none', false);
    requester  uuid := NULL;
    q          tsquery := NULL;
    items      jsonb;
    ids        jsonb;
    n          int;
    last       bigint;
BEGIN
    PERFORM tickets.read_only_audit();

    IF args ? 'cursor' THEN
        before := tickets.cursor_decode(args->>'cursor');
    END IF;

    IF args ? 'assignee' AND NOT unassigned THEN
        assignee := tickets.agent_for(tenant, args->>'assignee');
    END IF;

    IF args ? 'requester_email' THEN
        SELECT user_id INTO requester FROM helpdesk.users
        WHERE tenant_id = tenant AND email = lower(args->>'requester_email');
        IF requester IS NULL THEN
            requester := '00000000-0000-0000-0000-000000000000';
        END IF;
    END IF;

    IF args ? 'q' THEN
        q := websearch_to_tsquery('simple', args->>'q');
    END IF;

    SELECT coalesce(jsonb_agg(tickets.ticket_json(t) ORDER BY t.number DESC), '[]'),
           coalesce(jsonb_agg(t.ticket_id ORDER BY t.number DESC), '[]'),
           count(*), min(t.number)
    INTO items, ids, n, last
    FROM (SELECT * FROM helpdesk.tickets t
          WHERE t.tenant_id = tenant
            AND (before IS NULL OR t.number < before)
            AND (statuses IS NULL OR t.status = ANY (statuses))
            AND (priorities IS NULL OR t.priority = ANY (priorities))
            AND (channels IS NULL OR t.channel = ANY (channels))
            AND (NOT (args ? 'category') OR t.category = args->>'category')
            AND (assignee IS NULL OR t.assignee_id = assignee)
            AND (NOT unassigned OR t.assignee_id IS NULL)
            AND (requester IS NULL OR t.requester_id = requester)
            AND (NOT (args ? 'created_after')
                 OR t.created_at >= (args->>'created_after')::timestamptz)
            AND (NOT (args ? 'created_before')
                 OR t.created_at < (args->>'created_before')::timestamptz)
            AND (q IS NULL OR t.search @@ q)
          ORDER BY t.number DESC
          LIMIT lim) t;

    PERFORM tickets.audit(ctx, 'ticket.list', 'ticket', NULL,
                           jsonb_build_object('count', n, 'ids', ids,
                                              'filters', args - 'cursor'));

    RETURN jsonb_build_object('body', jsonb_build_object(
        'data', items,
        'next_cursor', CASE WHEN n = lim THEN tickets.cursor_encode(last) END));
END
$$;

CREATE OR REPLACE FUNCTION tickets.user_create(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    u helpdesk.users;
BEGIN
    INSERT INTO helpdesk.users (tenant_id, email, name, phone, role)
    VALUES ((ctx->>'tenant_id')::uuid, lower(args->>'email'), args->>'name',
            args->>'phone', coalesce(args->>'role', 'agent'))
    ON CONFLICT (tenant_id, email) DO NOTHING
    RETURNING * INTO u;

    IF u.user_id IS NULL THEN
        PERFORM tickets.fail('HDCNF', 'conflict',
            format('a user with email %s already exists', lower(args->>'email')));
    END IF;

    PERFORM tickets.audit(ctx, 'user.create', 'user', u.user_id::text,
                           jsonb_build_object('role', u.role));

    RETURN jsonb_build_object('body', tickets.user_json(u),
                              'location', '/v1/users/' || u.user_id);
END
$$;

CREATE OR REPLACE FUNCTION tickets.user_list(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    items jsonb;
    n     int;
BEGIN
    PERFORM tickets.read_only_audit();

    SELECT coalesce(jsonb_agg(tickets.user_json(u) ORDER BY u.email), '[]'), count(*)
    INTO items, n
    FROM helpdesk.users u
    WHERE u.tenant_id = (ctx->>'tenant_id')::uuid
      AND (NOT (args ? 'role') OR u.role = args->>'role');

    PERFORM tickets.audit(ctx, 'user.list', 'user', NULL,
                           jsonb_build_object('count', n));

    RETURN jsonb_build_object('body',
                              jsonb_build_object('data', items));
END
$$;

RESET ROLE;
