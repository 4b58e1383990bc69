-- nginx-helpdesk: the agent console's data and service functions.
--
-- The console is the portal's sibling: the same Host-to-tenant mapping,
-- sessions and flows, for users with the agent or admin role.  Its calls
-- go through console_call(), which checks the role and calls the same
-- ticket service as the API and the portal.

SET ROLE helpdesk_owner;

-- Views ----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION console.console_user_json(u helpdesk.users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', u.user_id, 'email', u.email, 'name', u.name,
                              'role', u.role, 'status', u.status)
$$;

CREATE OR REPLACE FUNCTION console.console_ticket_json(t helpdesk.tickets) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.ticket_id, 'number', tickets.ticket_number(t.number),
        'subject', t.subject, 'status', t.status, 'priority', t.priority,
        'category', t.category, 'channel', t.channel, 'fields', t.custom_fields,
        'requester', (SELECT jsonb_build_object('id', u.user_id, 'name', u.name,
                                                'email', u.email, 'phone', u.phone)
                      FROM helpdesk.users u
                      WHERE u.tenant_id = t.tenant_id AND u.user_id = t.requester_id),
        'assignee', (SELECT jsonb_build_object('id', u.user_id, 'name', coalesce(u.name, u.email))
                     FROM helpdesk.users u
                     WHERE u.tenant_id = t.tenant_id AND u.user_id = t.assignee_id),
        'created_at', t.created_at, 'updated_at', t.updated_at,
        'first_response_at', t.first_response_at, 'resolved_at', t.resolved_at)
$$;

-- An event as agents see it: everything, internal notes marked, with the
-- delivery state of what was sent out (WhatsApp today).
CREATE OR REPLACE FUNCTION console.console_event_json(e helpdesk.ticket_events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    files    jsonb;
    delivery jsonb;
    role     text;
    mail     jsonb;
    images   jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object('id', a.attachment_id, 'filename', a.filename,
                                        'content_type', a.content_type, 'size', a.size,
                                        'source', CASE WHEN a.source LIKE 'email%' THEN a.source END)
                     ORDER BY a.created_at)
    INTO files
    FROM helpdesk.attachments a
    WHERE a.tenant_id = e.tenant_id AND a.event_id = e.event_id;

    -- a mail: its headers and safe HTML; the parts its HTML names by
    -- Content-ID become {cid: attachment id} among this event's own files
    IF e.data ? 'email' THEN
        mail := (e.data->'email') - 'cids';
        SELECT jsonb_object_agg(c->>'cid', a.attachment_id)
        INTO images
        FROM jsonb_array_elements(coalesce(e.data->'email'->'cids', '[]')) c
        CROSS JOIN LATERAL (
            SELECT x.attachment_id FROM helpdesk.attachments x
            WHERE x.tenant_id = e.tenant_id AND x.event_id = e.event_id
              AND x.ticket_id = e.ticket_id AND x.source IN ('email', 'email_inline')
              AND x.filename = c->>'filename' AND x.size = (c->>'size')::bigint
            ORDER BY x.attachment_id LIMIT 1) a;
        IF images IS NOT NULL THEN
            mail := mail || jsonb_build_object('images', images);
        END IF;
    END IF;

    SELECT jsonb_strip_nulls(jsonb_build_object('channel', 'whatsapp',
               'status', coalesce(m.status, 'queued'), 'error_code', m.error_code,
               'error', m.error_title))
    INTO delivery
    FROM helpdesk.whatsapp_messages m
    WHERE m.tenant_id = e.tenant_id AND m.event_id = e.event_id AND m.direction = 'out'
    ORDER BY m.message_id DESC LIMIT 1;

    IF e.actor_type = 'user' THEN
        SELECT u.role INTO role FROM helpdesk.users u
        WHERE u.tenant_id = e.tenant_id AND u.user_id = e.actor_id;
    END IF;

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'id', e.event_id, 'type', e.type, 'visibility', e.visibility,
        'channel', e.channel, 'created_at', e.created_at,
        'actor', jsonb_build_object('type', e.actor_type, 'id', e.actor_id,
                                    'name', e.actor_name,
                                    'role', CASE WHEN e.actor_type = 'user' THEN role
                                                 WHEN e.actor_type = 'api_key' THEN 'api'
                                                 ELSE e.actor_type END),
        'body', e.body,
        'change', CASE WHEN e.type LIKE '%\_changed' THEN
                       jsonb_build_object('from', e.data->>'from', 'to', e.data->>'to') END,
        'whatsapp', e.data->'whatsapp',
        'email', mail,
        'auto_reply', e.data->'auto_reply',
        'attachments', files, 'delivery', delivery));
END
$$;

-- How a reply to this ticket goes out, as the console shows it before the
-- agent types: the channel, and for WhatsApp whether the 24-hour window is
-- open and which templates can be used instead.
CREATE OR REPLACE FUNCTION console.console_reply_options(t helpdesk.tickets) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p record;
BEGIN
    -- an email ticket: to whom the reply goes (none to the staff)
    IF t.channel = 'email' THEN
        RETURN jsonb_build_object('channel', 'email', 'available', true,
            'email', jsonb_build_object('to', email.ticket_rcpt(t),
                                        'cc', to_jsonb(email.ticket_ccs(t, email.ticket_rcpt(t)))));
    END IF;

    IF t.channel <> 'whatsapp' THEN
        RETURN jsonb_build_object('channel', t.channel, 'available', true);
    END IF;

    p := whatsapp.whatsapp_party(t);

    RETURN jsonb_build_object(
        'channel', 'whatsapp',
        'available', (p.conn).connection_id IS NOT NULL
                     AND whatsapp.whatsapp_window_open(p.contact),
        'whatsapp', jsonb_build_object(
            'connected', (p.conn).connection_id IS NOT NULL,
            'window_open', coalesce(whatsapp.whatsapp_window_open(p.contact), false),
            'last_inbound_at', (p.contact).last_inbound_at,
            'window_closes_at', (p.contact).last_inbound_at + interval '24 hours',
            'templates', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                              'use', key, 'name', value->>'name',
                              'language', value->>'language',
                              'parameters', coalesce(jsonb_array_length(value->'parameters'), 0))
                              ORDER BY key), '[]')
                          FROM jsonb_each(whatsapp.whatsapp_templates(t.tenant_id)))),
        -- the tenant's fallback: the portal, for a customer who can log in
        'fallback', CASE WHEN (SELECT x.settings->'console'->>'fallback' FROM helpdesk.tenants x
                               WHERE x.tenant_id = t.tenant_id) = 'portal'
                          AND EXISTS (SELECT 1 FROM helpdesk.users u
                                      WHERE u.tenant_id = t.tenant_id AND u.user_id = t.requester_id
                                        AND u.email IS NOT NULL AND u.password_hash IS NOT NULL)
                         THEN 'portal' END);
END
$$;

-- Operations ---------------------------------------------------------------------

-- A tenant may require a second factor of its agents.
CREATE OR REPLACE FUNCTION console.console_totp_required(t helpdesk.tenants) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce((t.settings->'console'->>'require_totp')::boolean, false)
$$;

-- An agent the tenant's rule keeps out until they set up a second factor:
-- every way in asks this (the console's calls, its files, the REST API
-- with the console's session).
CREATE OR REPLACE FUNCTION console.console_totp_missing(t helpdesk.tenants, u helpdesk.users)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT u.user_id IS NOT NULL AND u.role IN ('agent', 'admin') AND u.totp_secret IS NULL
           AND console.console_totp_required(t)
$$;

CREATE OR REPLACE FUNCTION console.console_boot(ctx jsonb, t helpdesk.tenants, u helpdesk.users)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object('body', jsonb_build_object(
        'tenant', jsonb_build_object('name', t.name, 'slug', t.slug),
        'portal', portal.portal_settings(t) || jsonb_build_object(
            'logo', EXISTS (SELECT 1 FROM helpdesk.portal_assets a
                            WHERE a.tenant_id = t.tenant_id AND a.name = 'logo')),
        'user', CASE WHEN u.user_id IS NULL THEN NULL ELSE console.console_user_json(u)
                     || jsonb_build_object('signature', coalesce(u.signature, ''),
                                           'totp', u.totp_secret IS NOT NULL,
                                           'totp_required', console.console_totp_required(t)) END,
        'form', CASE WHEN u.user_id IS NOT NULL THEN portal.portal_form(t) END,
        'agents', CASE WHEN u.user_id IS NOT NULL THEN
                      (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.user_id,
                                  'name', coalesce(x.name, x.email)) ORDER BY x.name), '[]')
                       FROM helpdesk.users x
                       WHERE x.tenant_id = t.tenant_id AND x.role IN ('agent', 'admin')
                         AND x.status = 'active') END));
END
$$;

-- The unified queue: every channel, filtered, searched and sorted.
CREATE OR REPLACE FUNCTION console.console_queue(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    statuses text[] := CASE WHEN coalesce(args->>'status', '') = '' THEN NULL
                            WHEN args->>'status' = 'active'
                            THEN ARRAY['open', 'pending', 'on_hold']
                            ELSE string_to_array(args->>'status', ',') END;
    lim      int := CASE WHEN args->>'limit' ~ '^[0-9]{1,3}$'
                         THEN least((args->>'limit')::int, 200) ELSE 100 END;
    off      int := CASE WHEN args->>'offset' ~ '^[0-9]{1,6}$' THEN (args->>'offset')::int ELSE 0 END;
    sort     text := coalesce(args->>'sort', 'updated');
    who      text := args->>'assignee';
    r        jsonb;
    total    bigint;
BEGIN
    PERFORM tickets.read_only_audit();

    WITH q AS (
        SELECT x.* FROM helpdesk.tickets x
        WHERE x.tenant_id = u.tenant_id
          AND (statuses IS NULL OR x.status = ANY (statuses))
          AND (coalesce(args->>'channel', '') = ''
               OR x.channel = ANY (string_to_array(args->>'channel', ',')))
          AND (coalesce(args->>'priority', '') = ''
               OR x.priority = ANY (string_to_array(args->>'priority', ',')))
          AND (coalesce(args->>'category', '') = '' OR x.category = args->>'category')
          AND (coalesce(who, '') = ''
               OR (who = 'mine' AND x.assignee_id = u.user_id)
               OR (who = 'unassigned' AND x.assignee_id IS NULL)
               OR (tickets.is_uuid(who) AND x.assignee_id = who::uuid))
          AND (coalesce(args->>'q', '') = ''
               OR x.search @@ websearch_to_tsquery('simple', args->>'q')
               OR tickets.ticket_number(x.number) ILIKE '%' || (args->>'q') || '%'))
    SELECT (SELECT count(*) FROM q),
           coalesce(jsonb_agg(console.console_ticket_json(s.t) ORDER BY s.o1 DESC, s.o2 DESC), '[]')
    INTO total, r
    FROM (SELECT q::helpdesk.tickets AS t,
                 CASE sort WHEN 'priority' THEN CASE q.priority WHEN 'urgent' THEN 4 WHEN 'high' THEN 3
                                                    WHEN 'normal' THEN 2 ELSE 1 END
                           WHEN 'age' THEN -extract(epoch FROM q.created_at)
                           ELSE extract(epoch FROM q.updated_at) END AS o1,
                 CASE sort WHEN 'priority' THEN -extract(epoch FROM q.created_at)
                           ELSE q.number END AS o2
          FROM q
          ORDER BY o1 DESC, o2 DESC
          LIMIT lim OFFSET off) s;

    PERFORM tickets.audit(ctx, 'console.queue', 'ticket', NULL,
                           jsonb_build_object('filters', args));

    RETURN jsonb_build_object('body',
                              jsonb_build_object('data', r, 'total', total));
END
$$;

CREATE OR REPLACE FUNCTION console.console_ticket_get(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t      helpdesk.tickets := tickets.ticket_find(args->>'number', false);
    events jsonb;
    others jsonb;
    last   bigint;
BEGIN
    PERFORM tickets.read_only_audit();

    SELECT coalesce(jsonb_agg(console.console_event_json(e) ORDER BY e.event_id), '[]'),
           max(e.event_id)
    INTO events, last
    FROM helpdesk.ticket_events e
    WHERE e.tenant_id = t.tenant_id AND e.ticket_id = t.ticket_id;

    SELECT coalesce(jsonb_agg(jsonb_build_object('number', tickets.ticket_number(x.number),
               'subject', x.subject, 'status', x.status, 'channel', x.channel,
               'created_at', x.created_at) ORDER BY x.number DESC), '[]')
    INTO others
    FROM (SELECT * FROM helpdesk.tickets x
          WHERE x.tenant_id = t.tenant_id AND x.requester_id = t.requester_id
            AND x.ticket_id <> t.ticket_id
          ORDER BY x.number DESC LIMIT 10) x;

    PERFORM tickets.audit(ctx, 'console.ticket.read', 'ticket', t.ticket_id::text,
                           jsonb_build_object('number', tickets.ticket_number(t.number)));

    RETURN jsonb_build_object('body', console.console_ticket_json(t)
        || jsonb_build_object('events', events, 'last_event_id', last,
                              'requester_tickets', others,
                              'reply', console.console_reply_options(t)));
END
$$;

-- The changes an agent may make to a ticket's properties, checked: the
-- keys status, priority, category and assignee of args (others ignored).
CREATE OR REPLACE FUNCTION console.console_ticket_changes(args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    errs jsonb := '[]';
BEGIN
    IF args ? 'status' AND coalesce(args->>'status', '')
           NOT IN ('open', 'pending', 'on_hold', 'resolved', 'closed') THEN
        errs := errs || portal.err('status', 'invalid', 'one of open, pending, on_hold, resolved, closed');
    END IF;

    IF args ? 'priority' AND coalesce(args->>'priority', '') NOT IN ('low', 'normal', 'high', 'urgent') THEN
        errs := errs || portal.err('priority', 'invalid', 'one of low, normal, high, urgent');
    END IF;

    IF args ? 'category' AND length(coalesce(args->>'category', '')) > 200 THEN
        errs := errs || portal.err('category', 'too_long', '200 characters at most');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    RETURN args - ARRAY(SELECT k FROM jsonb_object_keys(args) k
                        WHERE k NOT IN ('status', 'priority', 'category', 'assignee'));
END
$$;

CREATE OR REPLACE FUNCTION console.console_ticket_update(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t    helpdesk.tickets := tickets.ticket_find(args->>'number', false);
BEGIN
    PERFORM tickets.ticket_update(ctx, console.console_ticket_changes(args)
                                        || jsonb_build_object('id', t.ticket_id));

    RETURN console.console_ticket_get(ctx, u, jsonb_build_object('number', args->>'number'));
END
$$;

-- Several tickets at once from the queue: the same changes to each, each
-- through ticket_update (events, webhooks, audit as for one).  A ticket
-- that cannot take them (gone, or a transition it does not allow) is
-- listed with the reason and the others are changed.
CREATE OR REPLACE FUNCTION console.console_bulk(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    refs    jsonb := args->'tickets';
    changes jsonb;
    ref     text;
    t       helpdesk.tickets;
    updated jsonb := '[]';
    failed  jsonb := '[]';
    msg     text;
BEGIN
    IF jsonb_typeof(refs) IS DISTINCT FROM 'array' OR jsonb_array_length(refs) = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(refs) x WHERE jsonb_typeof(x) <> 'string') THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid',
            portal.err('tickets', 'required', 'a list of ticket numbers or ids'));
    END IF;

    IF jsonb_array_length(refs) > 100 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid',
            portal.err('tickets', 'too_many', '100 tickets at most'));
    END IF;

    changes := console.console_ticket_changes(args);

    IF changes = '{}' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid',
            portal.err('changes', 'required', 'one of status, priority, category, assignee'));
    END IF;

    -- an unknown assignee fails the whole request, before any change
    IF changes ? 'assignee' AND jsonb_typeof(changes->'assignee') <> 'null' THEN
        PERFORM tickets.agent_for(u.tenant_id, changes->>'assignee');
    END IF;

    -- in one order, so that two agents changing the same tickets queue
    -- rather than deadlock
    FOR ref IN SELECT DISTINCT x FROM jsonb_array_elements_text(refs) x ORDER BY x LOOP
        BEGIN
            t := tickets.ticket_find(ref, false);
            PERFORM tickets.ticket_update(ctx, changes || jsonb_build_object('id', t.ticket_id));
            updated := updated || to_jsonb(tickets.ticket_number(t.number));
        EXCEPTION WHEN SQLSTATE 'HDNFD' OR SQLSTATE 'HDINV' OR SQLSTATE 'HDCNF' THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            failed := failed || jsonb_build_object('ticket', ref, 'reason', msg);
        END;
    END LOOP;

    RETURN jsonb_build_object('body',
                              jsonb_build_object('updated', updated, 'failed', failed));
END
$$;

-- A reply or an internal note.  Written against the history the agent saw
-- (seen_event_id): if something happened since, the agent is told first.
CREATE OR REPLACE FUNCTION console.console_reply(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t     helpdesk.tickets := tickets.ticket_find(args->>'number', true);
    body  text := btrim(coalesce(args->>'body', ''));
    vis   text := coalesce(args->>'visibility', 'public');
    newer jsonb;
    r     jsonb;
    e     helpdesk.ticket_events;
    n     int;
BEGIN
    IF vis NOT IN ('public', 'internal') THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'public or internal',
            portal.err('visibility', 'invalid', 'public or internal'));
    END IF;

    IF body = '' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'write the reply first',
            portal.err('body', 'required', 'write the reply first'));
    END IF;

    IF args->>'seen_event_id' ~ '^[0-9]{1,18}$' AND NOT coalesce((args->>'force')::boolean, false) THEN
        SELECT jsonb_agg(console.console_event_json(x) ORDER BY x.event_id) INTO newer
        FROM helpdesk.ticket_events x
        WHERE x.tenant_id = t.tenant_id AND x.ticket_id = t.ticket_id
          AND x.event_id > (args->>'seen_event_id')::bigint;

        IF newer IS NOT NULL THEN
            PERFORM tickets.fail('HDCNF', 'stale-view',
                'the ticket changed while you were writing; read what is new, then send again',
                jsonb_build_object('events', newer));
        END IF;
    END IF;

    -- the fallback, when the channel cannot be used and the tenant has one
    IF args->>'via' IS NOT NULL THEN
        IF vis <> 'public' OR args->>'via' IS DISTINCT FROM
                              (console.console_reply_options(t)->>'fallback') THEN
            PERFORM tickets.fail('HDINV', 'validation-error', 'no such fallback for this ticket',
                portal.err('via', 'invalid', 'the fallback of this ticket, if it has one'));
        END IF;
    END IF;

    -- a reply goes out on the ticket's channel (or the fallback); a note
    -- stays in the console
    r := tickets.ticket_comment(ctx || jsonb_strip_nulls(jsonb_build_object(
                                     'channel', CASE WHEN vis = 'internal' THEN 'console'
                                                     ELSE coalesce(args->>'via', t.channel) END,
                                     'via', args->>'via')),
                                 jsonb_build_object('id', t.ticket_id, 'body', body,
                                                    'visibility', vis));

    SELECT * INTO e FROM helpdesk.ticket_events x
    WHERE x.tenant_id = t.tenant_id AND x.event_id = (r->'body'->>'id')::bigint;

    n := portal.portal_attach(u, t.ticket_id, e.event_id, args->'attachments');

    IF args ? 'status' AND args->>'status' IS DISTINCT FROM t.status THEN
        PERFORM tickets.ticket_update(ctx, jsonb_build_object('id', t.ticket_id,
                                                               'status', args->>'status'));
    END IF;

    RETURN jsonb_build_object('body', console.console_event_json(e));
END
$$;

CREATE OR REPLACE FUNCTION console.console_template(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tickets := tickets.ticket_find(args->>'number', false);
BEGIN
    RETURN whatsapp.whatsapp_send_template(ctx, (args - 'number')
                                               || jsonb_build_object('id', t.ticket_id));
END
$$;

-- "I have this ticket open": returns who else has.
CREATE OR REPLACE FUNCTION console.console_presence(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tickets := tickets.ticket_find(args->>'number', false);
    r jsonb;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);

    IF coalesce((args->>'leaving')::boolean, false) THEN
        DELETE FROM helpdesk.agent_presence
        WHERE tenant_id = t.tenant_id AND ticket_id = t.ticket_id AND user_id = u.user_id;
    ELSE
        INSERT INTO helpdesk.agent_presence (tenant_id, ticket_id, user_id, seen_at, typing)
        VALUES (t.tenant_id, t.ticket_id, u.user_id, now(),
                coalesce((args->>'typing')::boolean, false))
        ON CONFLICT (tenant_id, ticket_id, user_id)
        DO UPDATE SET seen_at = now(), typing = excluded.typing;
    END IF;

    DELETE FROM helpdesk.agent_presence
    WHERE tenant_id = t.tenant_id AND ticket_id = t.ticket_id
      AND seen_at < now() - interval '2 minutes';

    SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.user_id,
               'name', coalesce(x.name, x.email), 'typing', p.typing) ORDER BY x.name), '[]')
    INTO r
    FROM helpdesk.agent_presence p
    JOIN helpdesk.users x ON x.tenant_id = p.tenant_id AND x.user_id = p.user_id
    WHERE p.tenant_id = t.tenant_id AND p.ticket_id = t.ticket_id
      AND p.user_id <> u.user_id AND p.seen_at > now() - interval '45 seconds';

    RETURN jsonb_build_object('body', jsonb_build_object(
        'viewers', r,
        'last_event_id', (SELECT max(e.event_id) FROM helpdesk.ticket_events e
                          WHERE e.tenant_id = t.tenant_id AND e.ticket_id = t.ticket_id)));
END
$$;

-- Canned replies: every agent uses them, admins write them.
CREATE OR REPLACE FUNCTION console.canned_json(c helpdesk.canned_replies) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', c.canned_id, 'title', c.title, 'body', c.body,
                              'updated_at', c.updated_at)
$$;

CREATE OR REPLACE FUNCTION console.console_canned(ctx jsonb, u helpdesk.users, op text, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c    helpdesk.canned_replies;
    errs jsonb := '[]';
BEGIN
    IF op = 'list' THEN
        PERFORM tickets.audit_read(ctx, 'canned.list', 'canned_reply', NULL);
        RETURN jsonb_build_object('body', jsonb_build_object('data',
            (SELECT coalesce(jsonb_agg(console.canned_json(x) ORDER BY x.title), '[]')
             FROM helpdesk.canned_replies x WHERE x.tenant_id = u.tenant_id)));
    END IF;

    IF u.role <> 'admin' THEN
        PERFORM tickets.fail('HDDEN', 'admin-only', 'only admins change canned replies');
    END IF;

    IF op IN ('update', 'delete') THEN
        IF tickets.is_uuid(args->>'id') THEN
            SELECT * INTO c FROM helpdesk.canned_replies x
            WHERE x.tenant_id = u.tenant_id AND x.canned_id = (args->>'id')::uuid;
        END IF;

        IF c.canned_id IS NULL THEN
            PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such canned reply');
        END IF;
    END IF;

    IF op = 'delete' THEN
        DELETE FROM helpdesk.canned_replies WHERE tenant_id = c.tenant_id AND canned_id = c.canned_id;
        PERFORM tickets.audit(ctx, 'canned.delete', 'canned_reply', c.canned_id::text);
        RETURN jsonb_build_object('body', NULL);
    END IF;

    IF (op = 'create' OR args ? 'title') AND length(coalesce(args->>'title', '')) NOT BETWEEN 1 AND 200 THEN
        errs := errs || portal.err('title', 'required', '1 to 200 characters');
    END IF;

    IF (op = 'create' OR args ? 'body') AND length(coalesce(args->>'body', '')) NOT BETWEEN 1 AND 20000 THEN
        errs := errs || portal.err('body', 'required', '1 to 20,000 characters');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    IF op = 'create' THEN
        INSERT INTO helpdesk.canned_replies (tenant_id, title, body)
        VALUES (u.tenant_id, args->>'title', args->>'body')
        RETURNING * INTO c;
        PERFORM tickets.audit(ctx, 'canned.create', 'canned_reply', c.canned_id::text);
        RETURN jsonb_build_object('body', console.canned_json(c));
    END IF;

    UPDATE helpdesk.canned_replies x SET title = coalesce(args->>'title', x.title),
        body = coalesce(args->>'body', x.body), updated_at = now()
    WHERE x.tenant_id = c.tenant_id AND x.canned_id = c.canned_id
    RETURNING * INTO c;
    PERFORM tickets.audit(ctx, 'canned.update', 'canned_reply', c.canned_id::text);
    RETURN jsonb_build_object('body', console.canned_json(c));
END
$$;

-- Saved views: an agent's own named filters.
CREATE OR REPLACE FUNCTION console.console_views(ctx jsonb, u helpdesk.users, op text, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v helpdesk.saved_views;
BEGIN
    IF op = 'save' THEN
        IF length(coalesce(args->>'name', '')) NOT BETWEEN 1 AND 100
           OR jsonb_typeof(args->'filters') IS DISTINCT FROM 'object' THEN
            PERFORM tickets.fail('HDINV', 'validation-error', 'a name and the filters',
                portal.err('name', 'required', 'a name (100 characters at most) and the filters'));
        END IF;

        INSERT INTO helpdesk.saved_views (tenant_id, user_id, name, filters)
        VALUES (u.tenant_id, u.user_id, args->>'name', args->'filters')
        ON CONFLICT (tenant_id, user_id, name) DO UPDATE SET filters = excluded.filters
        RETURNING * INTO v;
        RETURN jsonb_build_object('body',
            jsonb_build_object('id', v.view_id, 'name', v.name, 'filters', v.filters));
    END IF;

    IF op = 'delete' THEN
        DELETE FROM helpdesk.saved_views x
        WHERE x.tenant_id = u.tenant_id AND x.user_id = u.user_id
          AND tickets.is_uuid(args->>'id') AND x.view_id = (args->>'id')::uuid;
        IF NOT FOUND THEN
            PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such view');
        END IF;
        RETURN jsonb_build_object('body', NULL);
    END IF;

    RETURN jsonb_build_object('body', jsonb_build_object('data',
        (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.view_id, 'name', x.name,
                                                      'filters', x.filters) ORDER BY x.name), '[]')
         FROM helpdesk.saved_views x WHERE x.tenant_id = u.tenant_id AND x.user_id = u.user_id)));
END
$$;

-- Agents: everyone sees the team; admins invite (a set-your-password link
-- by email, as a reset), change roles and deactivate.
CREATE OR REPLACE FUNCTION console.console_agents(ctx jsonb, t helpdesk.tenants, u helpdesk.users,
    op text, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    a     helpdesk.users;
    v_email text := lower(btrim(coalesce(args->>'email', '')));
    errs  jsonb := '[]';
BEGIN
    IF op = 'list' THEN
        PERFORM tickets.audit_read(ctx, 'console.agents.list', 'user', NULL);
        RETURN jsonb_build_object('body', jsonb_build_object('data',
            (SELECT coalesce(jsonb_agg(console.console_user_json(x)
                                       || jsonb_build_object('has_password', x.password_hash IS NOT NULL)
                                       ORDER BY x.name, x.email), '[]')
             FROM helpdesk.users x
             WHERE x.tenant_id = u.tenant_id AND x.role IN ('agent', 'admin'))));
    END IF;

    IF u.role <> 'admin' THEN
        PERFORM tickets.fail('HDDEN', 'admin-only', 'only admins manage agents');
    END IF;

    IF args ? 'role' AND args->>'role' NOT IN ('agent', 'admin') THEN
        errs := errs || portal.err('role', 'invalid', 'agent or admin');
    END IF;

    IF args ? 'status' AND args->>'status' NOT IN ('active', 'disabled') THEN
        errs := errs || portal.err('status', 'invalid', 'active or disabled');
    END IF;

    IF op = 'invite' THEN
        IF v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
            errs := errs || portal.err('email', 'invalid', 'a valid email address');
        END IF;
        IF length(coalesce(btrim(args->>'name'), '')) NOT BETWEEN 1 AND 200 THEN
            errs := errs || portal.err('name', 'required', 'the agent''s name');
        END IF;
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    IF op = 'invite' THEN
        INSERT INTO helpdesk.users (tenant_id, email, name, role)
        VALUES (u.tenant_id, v_email, btrim(args->>'name'), coalesce(args->>'role', 'agent'))
        ON CONFLICT (tenant_id, email) DO NOTHING
        RETURNING * INTO a;

        IF a.user_id IS NULL THEN
            PERFORM tickets.fail('HDCNF', 'conflict', 'there is already a user with this email',
                portal.err('email', 'taken', 'there is already a user with this email'));
        END IF;

        PERFORM tickets.audit(ctx, 'agent.invite', 'user', a.user_id::text,
                               jsonb_build_object('role', a.role));
        -- the invitation is a link to choose a password
        PERFORM portal.portal_reset_request(ctx || '{"app": "console"}', t,
            jsonb_build_object('email', v_email, 'link', args->'link',
                               'language', args->>'language', 'invite', true));

        RETURN jsonb_build_object('body', console.console_user_json(a));
    END IF;

    IF tickets.is_uuid(args->>'id') THEN
        SELECT * INTO a FROM helpdesk.users x
        WHERE x.tenant_id = u.tenant_id AND x.user_id = (args->>'id')::uuid
          AND x.role IN ('agent', 'admin');
    END IF;

    IF a.user_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such agent');
    END IF;

    IF a.user_id = u.user_id AND (args->>'role' = 'agent' OR args->>'status' = 'disabled') THEN
        PERFORM tickets.fail('HDCNF', 'conflict', 'you cannot demote or deactivate yourself');
    END IF;

    UPDATE helpdesk.users x SET role = coalesce(args->>'role', x.role),
        status = coalesce(args->>'status', x.status),
        name = coalesce(nullif(btrim(args->>'name'), ''), x.name), updated_at = now()
    WHERE x.tenant_id = a.tenant_id AND x.user_id = a.user_id
    RETURNING * INTO a;

    -- a deactivated agent's tickets go back to the queue
    IF a.status = 'disabled' THEN
        UPDATE helpdesk.tickets SET assignee_id = NULL, updated_at = now()
        WHERE tenant_id = a.tenant_id AND assignee_id = a.user_id
          AND status NOT IN ('resolved', 'closed');
    END IF;

    PERFORM tickets.audit(ctx, 'agent.update', 'user', a.user_id::text, args - 'id');
    RETURN jsonb_build_object('body', console.console_user_json(a));
END
$$;

-- The second factor: set up (a new secret, pending until a code proves
-- the app has it), then on; off again with a code.  The module makes the
-- secrets and checks the codes; the database keeps them, sealed by the
-- module (to users.totp_secret of the row, pending or not).
CREATE OR REPLACE FUNCTION console.console_totp(ctx jsonb, t helpdesk.tenants, u helpdesk.users,
    op text, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    CASE op
    WHEN 'setup' THEN
        UPDATE helpdesk.users SET totp_pending = args->>'secret'
        WHERE tenant_id = u.tenant_id AND user_id = u.user_id;
        -- the secret came sealed: the module puts it between these parts
        RETURN jsonb_build_object('body', jsonb_build_object(
            'uri_head', 'otpauth://totp/' || replace(t.name, ' ', '%20') || ':' || u.email
                        || '?secret=',
            'uri_tail', '&issuer=' || replace(t.name, ' ', '%20') || '&digits=6&period=30'));
    WHEN 'pending' THEN
        RETURN jsonb_build_object('body', jsonb_build_object('secret', u.totp_pending));
    WHEN 'current' THEN
        RETURN jsonb_build_object('body', jsonb_build_object('secret', u.totp_secret));
    WHEN 'enable' THEN
        PERFORM console.console_totp_claim(t, u, args);
        UPDATE helpdesk.users SET totp_secret = totp_pending, totp_pending = NULL, updated_at = now()
        WHERE tenant_id = u.tenant_id AND user_id = u.user_id AND totp_pending IS NOT NULL;
        PERFORM tickets.audit(ctx, 'agent.totp_enabled', 'user', u.user_id::text);
        RETURN jsonb_build_object('body', NULL);
    ELSE
        IF console.console_totp_required(t) THEN
            PERFORM tickets.fail('HDCNF', 'totp-required-by-tenant',
                'this helpdesk requires a second factor of its agents');
        END IF;
        PERFORM console.console_totp_claim(t, u, args);
        UPDATE helpdesk.users SET totp_secret = NULL, totp_pending = NULL, updated_at = now()
        WHERE tenant_id = u.tenant_id AND user_id = u.user_id;
        PERFORM tickets.audit(ctx, 'agent.totp_disabled', 'user', u.user_id::text);
        RETURN jsonb_build_object('body', NULL);
    END CASE;
END
$$;

-- The code that allows the change, taken once (the module checked it and
-- passes its time step).
CREATE OR REPLACE FUNCTION console.console_totp_claim(t helpdesk.tenants, u helpdesk.users,
    args jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT portal.app_totp_claim(t, u.user_id, args->>'totp_step') THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the code is not right',
            '[{"field": "code", "code": "totp-invalid", "message": "the code is not right"}]');
    END IF;
END
$$;

-- GET/PATCH /v1/console: the console's rules (scope "admin").
CREATE OR REPLACE FUNCTION console.console_settings(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tenants;
BEGIN
    IF args ? 'fallback' THEN
        IF coalesce(args->>'fallback', 'none') NOT IN ('portal', 'none') THEN
            PERFORM tickets.fail('HDINV', 'validation-error', 'portal or none',
                portal.err('fallback', 'invalid', 'portal or none'));
        END IF;

        UPDATE helpdesk.tenants x SET settings = jsonb_set(x.settings, '{console}',
            coalesce(x.settings->'console', '{}')
            || jsonb_build_object('fallback', coalesce(args->>'fallback', 'none'))),
            updated_at = now()
        WHERE x.tenant_id = (ctx->>'tenant_id')::uuid;
    END IF;

    IF args ? 'require_totp' THEN
        IF jsonb_typeof(args->'require_totp') <> 'boolean' THEN
            PERFORM tickets.fail('HDINV', 'validation-error', 'expected true or false',
                portal.err('require_totp', 'type', 'expected true or false'));
        END IF;

        UPDATE helpdesk.tenants x SET settings = jsonb_set(x.settings, '{console}',
            coalesce(x.settings->'console', '{}') || jsonb_build_object('require_totp', args->'require_totp')),
            updated_at = now()
        WHERE x.tenant_id = (ctx->>'tenant_id')::uuid;
        PERFORM tickets.audit(ctx, 'console.update', 'tenant', ctx->>'tenant_id', args);
    END IF;

    SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = (ctx->>'tenant_id')::uuid;

    RETURN jsonb_build_object('body', jsonb_build_object(
        'require_totp', console.console_totp_required(t),
        'fallback', coalesce(t.settings->'console'->>'fallback', 'none')));
END
$$;

-- POST /v1/users/{id}/invitation: a link to the console to choose a
-- password (the API's way to give a tenant its first admin).
CREATE OR REPLACE FUNCTION console.user_invite(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a       helpdesk.users;
    t       helpdesk.tenants;
    expires timestamptz;
BEGIN
    IF tickets.is_uuid(args->>'id') THEN
        SELECT * INTO a FROM helpdesk.users x
        WHERE x.tenant_id = (ctx->>'tenant_id')::uuid AND x.user_id = (args->>'id')::uuid
          AND x.role IN ('agent', 'admin') AND x.status = 'active';
    END IF;

    IF a.user_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no active agent with this id');
    END IF;

    SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = a.tenant_id;

    PERFORM portal.portal_reset_request(ctx || '{"app": "console"}', t,
        jsonb_build_object('email', a.email,
                           -- the tenant's own name; of the URL given, only its path
                           'link', coalesce(args->'link', '{}') || jsonb_build_object('path',
                               rtrim(coalesce(substring(args->>'url'
                                   FROM '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(/[^?#]*)'), ''), '/')),
                           'language', coalesce(args->>'language', 'pt-BR'), 'invite', true));
    PERFORM tickets.audit(ctx, 'agent.invite', 'user', a.user_id::text);

    -- the link just made (this transaction's) is the one that lasts longest
    SELECT max(r.expires_at) INTO expires FROM helpdesk.password_resets r
    WHERE r.tenant_id = a.tenant_id AND r.user_id = a.user_id AND r.used_at IS NULL;

    RETURN jsonb_build_object('body', jsonb_build_object(
        'status', 'queued', 'user', a.user_id, 'email', a.email,
        'language', coalesce(args->>'language', 'pt-BR'), 'expires_at', expires));
END
$$;

-- The audit log, for admins: filtered by agent, ticket and time.
-- The audit log, read: itself an audited read ("audit.read"; the CSV
-- export is "audit.export", see below).
CREATE OR REPLACE FUNCTION console.console_audit(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := console.console_audit_rows(ctx, u, args);
BEGIN
    PERFORM tickets.audit_read(ctx, 'audit.read', 'audit_log', NULL,
        (args - 'limit') || jsonb_build_object('count', jsonb_array_length(r->'body'->'data')));
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION console.console_audit_rows(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tk   helpdesk.tickets;
    lim  int := CASE WHEN args->>'limit' ~ '^[0-9]{1,5}$'
                     THEN least((args->>'limit')::int, 10000) ELSE 200 END;
    r    jsonb;
BEGIN
    IF u.role <> 'admin' THEN
        PERFORM tickets.fail('HDDEN', 'admin-only', 'only admins read the audit log');
    END IF;

    IF coalesce(args->>'ticket', '') <> '' THEN
        tk := tickets.ticket_find(args->>'ticket', false);
    END IF;

    IF coalesce(args->>'from', '') <> '' AND args->>'from' !~ '^\d{4}-\d{2}-\d{2}' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'dates as YYYY-MM-DD',
            portal.err('from', 'invalid', 'a date as YYYY-MM-DD'));
    END IF;

    IF coalesce(args->>'to', '') <> '' AND args->>'to' !~ '^\d{4}-\d{2}-\d{2}' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'dates as YYYY-MM-DD',
            portal.err('to', 'invalid', 'a date as YYYY-MM-DD'));
    END IF;

    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', a.audit_id, 'at', a.at, 'action', a.action,
               'actor_type', a.actor_type, 'actor_id', a.actor_id,
               'actor', coalesce(x.name, x.email),
               'object_type', a.object_type, 'object_id', a.object_id,
               'ticket', CASE WHEN a.object_type = 'ticket' THEN
                             (SELECT tickets.ticket_number(k.number) FROM helpdesk.tickets k
                              WHERE k.tenant_id = a.tenant_id AND tickets.is_uuid(a.object_id)
                                AND k.ticket_id = a.object_id::uuid) END,
               'ip', host(a.ip), 'detail', a.detail) ORDER BY a.audit_id DESC), '[]')
    INTO r
    FROM (SELECT * FROM helpdesk.audit_log a
          WHERE a.tenant_id = u.tenant_id
            AND (coalesce(args->>'agent', '') = ''
                 OR (tickets.is_uuid(args->>'agent') AND a.actor_id = (args->>'agent')::uuid))
            AND (tk.ticket_id IS NULL OR a.object_id = tk.ticket_id::text
                 OR a.detail->>'ticket_id' = tk.ticket_id::text)
            AND (coalesce(args->>'from', '') = '' OR a.at >= (args->>'from')::timestamptz)
            AND (coalesce(args->>'to', '') = '' OR a.at < (args->>'to')::timestamptz)
          ORDER BY a.audit_id DESC LIMIT lim) a
    LEFT JOIN helpdesk.users x ON x.tenant_id = a.tenant_id AND x.user_id = a.actor_id;

    RETURN jsonb_build_object('body', jsonb_build_object('data', r));
END
$$;

-- The same, as CSV (RFC 4180), for a spreadsheet.
--
-- Every field is quoted, its quotes doubled.  A spreadsheet takes a cell
-- that starts with = + - @ (or a tab or a carriage return, which some
-- read as the start of one) for a formula, and most skip leading blanks
-- and control characters first: such a cell gets a leading ' so it is
-- read as text ("=HYPERLINK(...)" in a customer's name stays a name).
CREATE OR REPLACE FUNCTION console.csv_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT '"' || replace(CASE WHEN v ~ '^[[:space:][:cntrl:]]*[-=+@\t\r]'
                               THEN '''' || v ELSE coalesce(v, '') END,
                          '"', '""') || '"'
$$;

CREATE OR REPLACE FUNCTION console.console_audit_csv(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r   jsonb := console.console_audit_rows(ctx, u, args || jsonb_build_object(
                     'limit', coalesce(args->>'limit', '10000')));
    csv text;
BEGIN
    SELECT 'time,actor,actor_type,action,object_type,object_id,ticket,ip,detail' || E'\r\n'
           || coalesce(string_agg(concat_ws(',',
                  console.csv_field(x->>'at'), console.csv_field(x->>'actor'),
                  console.csv_field(x->>'actor_type'), console.csv_field(x->>'action'),
                  console.csv_field(x->>'object_type'), console.csv_field(x->>'object_id'),
                  console.csv_field(x->>'ticket'), console.csv_field(x->>'ip'),
                  console.csv_field((x->'detail')::text)), E'\r\n'), '') || E'\r\n'
    INTO csv
    FROM jsonb_array_elements(r->'body'->'data') x;

    PERFORM tickets.audit_read(ctx, 'audit.export', 'audit_log', NULL, args);

    RETURN jsonb_build_object('body', to_jsonb(csv));
END
$$;

-- One console request: the session's user must be an active agent or
-- admin of the Host's tenant.
-- the result lost its HTTP status (the module's to decide)
DROP FUNCTION IF EXISTS console.console_call(text, text, uuid, inet, text, jsonb);
-- The agent's own profile: their signature on the replies by email.  Only
-- the session's own user: nothing in the arguments names anyone else.
CREATE OR REPLACE FUNCTION console.console_profile(ctx jsonb, u helpdesk.users, p_op text,
    args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    sig  text;
    msg  text := 'plain text of at most 1000 characters and 10 lines, without control characters';
BEGIN
    IF p_op = 'update' THEN
        IF NOT args ? 'signature' OR jsonb_typeof(args->'signature') NOT IN ('string', 'null') THEN
            PERFORM tickets.fail('HDINV', 'validation-error', msg,
                portal.err('signature', 'invalid', msg));
        END IF;
        -- line ends as \n, the spaces at the ends of lines and of the whole dropped
        sig := regexp_replace(replace(coalesce(args->>'signature', ''), E'\r\n', E'\n'),
                              '[ \t]+(\n|$)', '\1', 'g');
        sig := nullif(btrim(sig, E' \n'), '');
        IF sig IS NOT NULL AND (length(sig) > 1000 OR sig ~ '[\x01-\x09\x0b-\x1f\x7f\u2028\u2029]'
                                OR array_length(string_to_array(sig, E'\n'), 1) > 10) THEN
            PERFORM tickets.fail('HDINV', 'validation-error', msg,
                portal.err('signature', 'invalid', msg));
        END IF;
        UPDATE helpdesk.users x SET signature = sig, updated_at = now()
        WHERE x.tenant_id = u.tenant_id AND x.user_id = u.user_id
        RETURNING * INTO u;
        PERFORM tickets.audit(ctx, 'profile.update', 'user', u.user_id::text,
                              jsonb_build_object('changed', '["signature"]'::jsonb));
    END IF;

    RETURN jsonb_build_object('body', jsonb_build_object(
        'id', u.user_id, 'name', u.name, 'email', u.email,
        'signature', coalesce(u.signature, '')));
END
$$;

CREATE OR REPLACE FUNCTION console.console_call(p_host text, p_base text, p_user uuid,
    p_ip inet, p_op text, p_args jsonb, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    s   record;
    t   helpdesk.tenants;
    u   helpdesk.users;
    ctx jsonb;
    r   jsonb;
BEGIN
    s := portal.app_session('console', ARRAY['agent', 'admin'], p_host, p_base, p_user, p_ip);
    t := s.t;
    u := s.u;
    ctx := s.ctx;

    IF p_op NOT IN ('boot', 'account.key', 'login.lookup', 'login.claim', 'login.result',
                    'reset.request', 'reset.check', 'reset.done') AND u.user_id IS NULL THEN
        PERFORM tickets.fail('HDUNA', 'login-required', 'log in to continue');
    END IF;

    -- a tenant that requires a second factor: nothing else until it is set up
    IF console.console_totp_missing(t, u)
       AND p_op NOT IN ('boot', 'login.result', 'logout', 'totp.setup', 'totp.pending',
                        'totp.enable',
                        'password.lookup', 'password.set') THEN
        PERFORM tickets.fail('HDDEN', 'totp-enrollment-required',
            'this helpdesk requires a second factor: set it up first');
    END IF;

    -- the shared account operations, or this app's own
    r := coalesce(portal.app_account_op(ctx, t, u, p_op, p_args), CASE p_op
        WHEN 'boot'            THEN console.console_boot(ctx, t, u)
        WHEN 'stream.open'     THEN jsonb_build_object('body', jsonb_build_object(
                                        'tenant', t.tenant_id,
                                        'since', (SELECT coalesce(max(e.event_id), 0)
                                                  FROM helpdesk.ticket_events e)))
        WHEN 'queue'           THEN console.console_queue(ctx, u, p_args)
        WHEN 'ticket.get'      THEN console.console_ticket_get(ctx, u, p_args)
        WHEN 'ticket.update'   THEN console.console_ticket_update(ctx, u, p_args)
        WHEN 'tickets.bulk'    THEN console.console_bulk(ctx, u, p_args)
        WHEN 'ticket.reply'    THEN console.console_reply(ctx, u, p_args)
        WHEN 'ticket.template' THEN console.console_template(ctx, u, p_args)
        WHEN 'ticket.presence' THEN console.console_presence(ctx, u, p_args)
        WHEN 'canned.list'     THEN console.console_canned(ctx, u, 'list', p_args)
        WHEN 'canned.create'   THEN console.console_canned(ctx, u, 'create', p_args)
        WHEN 'canned.update'   THEN console.console_canned(ctx, u, 'update', p_args)
        WHEN 'canned.delete'   THEN console.console_canned(ctx, u, 'delete', p_args)
        WHEN 'views.list'      THEN console.console_views(ctx, u, 'list', p_args)
        WHEN 'views.save'      THEN console.console_views(ctx, u, 'save', p_args)
        WHEN 'views.delete'    THEN console.console_views(ctx, u, 'delete', p_args)
        WHEN 'customers.list'  THEN console.console_customers(ctx, u, p_args)
        WHEN 'customer.get'    THEN console.console_customer_get(ctx, u, p_args)
        WHEN 'customer.update' THEN console.console_customer_update(ctx, u, p_args)
        WHEN 'customer.merge'  THEN console.console_customer_merge(ctx, u, p_args)
        WHEN 'agents.list'     THEN console.console_agents(ctx, t, u, 'list', p_args)
        WHEN 'agents.invite'   THEN console.console_agents(ctx, t, u, 'invite', p_args)
        WHEN 'agents.update'   THEN console.console_agents(ctx, t, u, 'update', p_args)
        WHEN 'audit.list'      THEN console.console_audit(ctx, u, p_args)
        WHEN 'audit.csv'       THEN console.console_audit_csv(ctx, u, p_args)
        WHEN 'profile.get'     THEN console.console_profile(ctx, u, 'get', p_args)
        WHEN 'profile.update'  THEN console.console_profile(ctx, u, 'update', p_args)
        WHEN 'totp.setup'      THEN console.console_totp(ctx, t, u, 'setup', p_args)
        WHEN 'totp.pending'    THEN console.console_totp(ctx, t, u, 'pending', p_args)
        WHEN 'totp.current'    THEN console.console_totp(ctx, t, u, 'current', p_args)
        WHEN 'totp.enable'     THEN console.console_totp(ctx, t, u, 'enable', p_args)
        WHEN 'totp.disable'    THEN console.console_totp(ctx, t, u, 'disable', p_args)
    END);

    IF r IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'unknown operation');
    END IF;

    body := nullif(r->'body', 'null'::jsonb);
END
$$;
-- the result lost its HTTP status (the module's to decide)
DROP FUNCTION IF EXISTS console.console_upload(text, text, uuid, inet, text, text, bytea);
CREATE OR REPLACE FUNCTION console.console_upload(p_host text, p_base text, p_user uuid,
    p_ip inet, p_filename text, p_type text, p_data bytea, OUT body jsonb)
LANGUAGE sql AS $$
    SELECT * FROM portal.app_upload('console', p_host, p_base, p_user, p_filename, p_type, p_data)
$$;
CREATE OR REPLACE FUNCTION console.console_attachment(p_host text, p_base text, p_user uuid,
    p_ip inet, p_number text, p_id text,
    OUT filename text, OUT content_type text, OUT data bytea)
LANGUAGE sql AS $$
    SELECT * FROM portal.app_attachment('console', p_host, p_base, p_user, p_ip, p_number, p_id)
$$;

-- The tickets with events after p_since (every tenant: the module sends
-- each change to its own tenant's consoles only), and the new high mark
-- in every row; with no p_since, only the mark (start from now).
CREATE OR REPLACE FUNCTION console.events_since(p_since bigint)
RETURNS TABLE (tenant_id uuid, ticket_id uuid, event_id bigint, high bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
DECLARE
    top bigint;
BEGIN
    IF p_since IS NULL THEN
        RETURN QUERY SELECT NULL::uuid, NULL::uuid, NULL::bigint,
                            coalesce((SELECT max(e.event_id) FROM helpdesk.ticket_events e), 0);
        RETURN;
    END IF;

    SELECT max(e.event_id) INTO top FROM (
        SELECT e.event_id FROM helpdesk.ticket_events e
        WHERE e.event_id > p_since ORDER BY e.event_id LIMIT 5000) e;

    IF top IS NULL THEN
        RETURN QUERY SELECT NULL::uuid, NULL::uuid, NULL::bigint, p_since;
        RETURN;
    END IF;

    RETURN QUERY
    SELECT e.tenant_id, e.ticket_id, max(e.event_id), top
    FROM helpdesk.ticket_events e
    WHERE e.event_id > p_since AND e.event_id <= top
    GROUP BY e.tenant_id, e.ticket_id;
END
$$;

RESET ROLE;
