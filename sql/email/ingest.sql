-- nginx-helpdesk: a mail received, onto the one ticket service.
--
-- The module has parsed the message (GMime, in its thread pool) into
-- "meta" (headers, the trimmed text, the safe HTML, the attachments'
-- names, types and places) and "blob" (the raw message followed by every
-- attachment's decoded bytes, each at its offset).  email.inbound() does
-- the rest in the request's one transaction, as the mailbox's tenant:
--
--   1. the mailbox, by the SHA-256 of the URL's token (unknown: 404);
--   2. a Message-ID seen before in this mailbox: the same answer again;
--   3. noise (auto-replies, lists, bounces, our own mail coming back, an
--      ignored sender, a sender past the mailbox's hourly limit) is
--      recorded in email_messages and dropped, with its reason: no
--      ticket, nothing sent back;
--   4. a reply joins its ticket by, in order: In-Reply-To/References
--      against the Message-IDs recorded; the reply-address token
--      (support+<token>@...); the number in the subject ([TKT-000123]),
--      only when the sender is the ticket's requester or one of its CCs
--      (a From anybody can write: such a mail adds no CCs to the ticket).
--      A reply to a closed ticket reopens it or opens a follow-up (the
--      tenant's email.closed_reply);
--   5. anything else opens a ticket on the channel "email" for the sender
--      as a customer (never one of the staff: like the chat's form, an
--      address nobody proved is nobody's when it is an agent's), with the
--      mailbox's first matching rule applied;
--   6. the raw message and the attachments become attachments of the
--      event, the CCs are recorded on the ticket, and the mail in
--      email_messages.

SET ROLE helpdesk_owner;

-- "local@domain" of any case, or NULL
CREATE OR REPLACE FUNCTION email.addr(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN email.address_ok(lower(btrim(v->>'address')))
                THEN lower(btrim(v->>'address')) END
$$;

CREATE OR REPLACE FUNCTION email.addrs(v jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(DISTINCT email.addr(x)) FILTER (WHERE email.addr(x) IS NOT NULL), '{}')
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(v) = 'array' THEN v ELSE '[]' END) x
$$;

CREATE OR REPLACE FUNCTION email.texts(v jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(left(x, 998)), '{}')
    FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(v) = 'array' THEN v ELSE '[]' END) x
    WHERE x <> ''
$$;

-- Why a mail must not open a ticket nor be answered, or NULL.
CREATE OR REPLACE FUNCTION email.noise(p_tenant uuid, m helpdesk.email_mailboxes,
    meta jsonb, sender text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    local  text := split_part(coalesce(sender, ''), '@', 1);
    domain text := split_part(coalesce(sender, ''), '@', 2);
BEGIN
    -- X-Helpdesk-Loop carries the Message-ID of the mail it was sent in:
    -- ours only when this tenant sent that mail (another tenant's notice
    -- forwarded here, or any mail that merely has the header, is mail like
    -- any other); the mail's own Message-ID, or its In-Reply-To when the
    -- header is there, said the same of copies whose header was rewritten
    IF EXISTS (SELECT 1 FROM helpdesk.email_messages
               WHERE tenant_id = p_tenant AND direction = 'out'
                 AND message_id_header IN (
                     meta->>'message_id',
                     CASE WHEN coalesce(meta->>'loop', '') <> '' THEN
                          btrim(meta->>'loop', E' \t\r\n<>') END,
                     CASE WHEN coalesce(meta->>'loop', '') <> '' THEN
                          meta->>'in_reply_to' END)) THEN
        RETURN 'our own mail';
    END IF;
    IF sender IS NULL THEN
        RETURN 'no sender';
    END IF;
    IF EXISTS (SELECT 1 FROM helpdesk.email_mailboxes x
               WHERE x.tenant_id = p_tenant AND x.deleted_at IS NULL
                 AND (x.address = sender
                      OR split_part(x.address, '@', 1) || '+' = left(local, length(split_part(x.address, '@', 1)) + 1)
                         AND split_part(x.address, '@', 2) = domain)) THEN
        RETURN 'our own mail';
    END IF;
    IF coalesce(lower(meta->>'auto_submitted'), 'no') NOT IN ('no', '') THEN
        RETURN 'auto-submitted: ' || left(lower(meta->>'auto_submitted'), 50);
    END IF;
    IF lower(coalesce(meta->>'precedence', '')) IN ('bulk', 'list', 'junk', 'auto_reply') THEN
        RETURN 'precedence: ' || lower(meta->>'precedence');
    END IF;
    IF coalesce((meta->>'autoreply')::boolean, false) THEN
        RETURN 'auto-reply';
    END IF;
    IF coalesce((meta->>'report')::boolean, false) THEN
        RETURN 'delivery report';
    END IF;
    IF local IN ('mailer-daemon', 'postmaster') OR local LIKE 'mailer-daemon%' THEN
        RETURN 'bounce: ' || local;
    END IF;
    IF coalesce((meta->>'null_return_path')::boolean, false) THEN
        RETURN 'bounce: empty return path';
    END IF;
    IF sender = ANY (m.ignore) OR domain = ANY (m.ignore) THEN
        RETURN 'ignored sender';
    END IF;
    RETURN NULL;
END
$$;

-- Counts the sender's mail in this hour; true past the mailbox's limit.
CREATE OR REPLACE FUNCTION email.sender_over(m helpdesk.email_mailboxes, p_sender text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    win timestamptz := date_trunc('hour', now());
    n   int;
BEGIN
    DELETE FROM helpdesk.email_sender_counts c
    WHERE c.tenant_id = m.tenant_id AND c.mailbox_id = m.mailbox_id
      AND c.sender = p_sender AND c.window_start < win;

    INSERT INTO helpdesk.email_sender_counts AS c (tenant_id, mailbox_id, sender, window_start)
    VALUES (m.tenant_id, m.mailbox_id, p_sender, win)
    ON CONFLICT (tenant_id, mailbox_id, sender, window_start)
    DO UPDATE SET n = c.n + 1
    RETURNING c.n INTO n;

    RETURN n > m.sender_limit;
END
$$;

-- The ticket a reply belongs to, by the rules above, or NULL.
CREATE OR REPLACE FUNCTION email.thread(p_tenant uuid, meta jsonb, sender text,
    OUT ticket uuid, OUT how text)
LANGUAGE plpgsql AS $$
DECLARE
    ids     text[] := email.texts(meta->'references');
    r       text;
    num     bigint;
    t       helpdesk.tickets;
BEGIN
    IF coalesce(meta->>'in_reply_to', '') <> '' THEN
        ids := ids || (meta->>'in_reply_to');
    END IF;

    IF cardinality(ids) > 0 THEN
        SELECT x.ticket_id INTO ticket FROM helpdesk.email_messages x
        WHERE x.tenant_id = p_tenant AND x.message_id_header = ANY (ids)
          AND x.ticket_id IS NOT NULL
        ORDER BY x.created_at DESC LIMIT 1;
        IF ticket IS NOT NULL THEN
            how := 'references';
            RETURN;
        END IF;
    END IF;

    FOREACH r IN ARRAY email.texts(meta->'recipients') LOOP
        IF lower(r) ~ '^[^@+]+\+[a-z0-9]{20}@' THEN
            SELECT k.ticket_id INTO ticket FROM helpdesk.email_ticket_tokens k
            WHERE k.tenant_id = p_tenant
              AND k.token = substring(lower(r) from '^[^@+]+\+([a-z0-9]{20})@');
            IF ticket IS NOT NULL THEN
                how := 'reply address';
                RETURN;
            END IF;
        END IF;
    END LOOP;

    num := substring(coalesce(meta->>'subject', '') from '\[TKT-0*([0-9]{1,15})\]')::bigint;
    IF num IS NOT NULL AND sender IS NOT NULL THEN
        SELECT * INTO t FROM helpdesk.tickets x
        WHERE x.tenant_id = p_tenant AND x.number = num;
        IF t.ticket_id IS NOT NULL
           AND (EXISTS (SELECT 1 FROM helpdesk.users u
                        WHERE u.tenant_id = p_tenant AND u.user_id = t.requester_id
                          AND u.email = sender)
                OR EXISTS (SELECT 1 FROM helpdesk.email_ticket_ccs c
                           WHERE c.tenant_id = p_tenant AND c.ticket_id = t.ticket_id
                             AND c.address = sender)) THEN
            ticket := t.ticket_id;
            how := 'subject';
        END IF;
    END IF;
END
$$;

-- The mailbox's first rule that matches, or '{}'.
CREATE OR REPLACE FUNCTION email.rule_for(m helpdesk.email_mailboxes, meta jsonb,
    sender text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r  jsonb;
    w  jsonb;
BEGIN
    FOR r IN SELECT x FROM jsonb_array_elements(m.rules) x LOOP
        w := r->'when';
        IF (w ? 'from_domain' AND split_part(coalesce(sender, ''), '@', 2) = w->>'from_domain')
           OR (w ? 'subject' AND strpos(lower(coalesce(meta->>'subject', '')), w->>'subject') > 0)
           OR (w ? 'recipient' AND (w->>'recipient') = ANY (
                   ARRAY(SELECT lower(x) FROM unnest(email.texts(meta->'recipients')) x)))
        THEN
            RETURN r->'set';
        END IF;
    END LOOP;
    RETURN '{}';
END
$$;

-- What the event shows of the mail (the console's 📧 view).
CREATE OR REPLACE FUNCTION email.event_data(meta jsonb, how text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('email', jsonb_strip_nulls(jsonb_build_object(
        'from', meta->'from', 'to', meta->'to', 'cc', meta->'cc',
        'subject', meta->>'subject', 'message_id', meta->>'message_id',
        'html', meta->>'html', 'trimmed', coalesce((meta->>'trimmed')::boolean, false),
        'refused', meta->'refused', 'threaded_by', how,
        -- the parts the HTML names by Content-ID (<img src="cid:...">): the
        -- console finds them among the event's attachments (console_event_json)
        'cids', (SELECT jsonb_agg(jsonb_build_object(
                            'cid', a->>'content_id',
                            'filename', left(coalesce(nullif(a->>'filename', ''), 'attachment'), 255),
                            'size', (a->>'size')::bigint))
                 FROM jsonb_array_elements(coalesce(meta->'attachments', '[]')) a
                 WHERE coalesce(a->>'content_id', '') <> ''))))
$$;

-- The raw message and the attachments, onto the event.
CREATE OR REPLACE FUNCTION email.attach(p_tenant uuid, p_ticket uuid,
    p_event bigint, meta jsonb, blob bytea)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    a    jsonb;
    data bytea;
    raw  bytea;
BEGIN
    raw := substring(blob from (meta->'raw'->>'offset')::int + 1
                          for (meta->'raw'->>'size')::int);
    INSERT INTO helpdesk.attachments (tenant_id, ticket_id, event_id, filename,
        content_type, size, sha256, data, source)
    VALUES (p_tenant, p_ticket, p_event, 'original.eml', 'message/rfc822',
            length(raw), encode(sha256(raw), 'hex'), raw, 'email_original');

    FOR a IN SELECT x FROM jsonb_array_elements(coalesce(meta->'attachments', '[]')) x LOOP
        data := substring(blob from (a->>'offset')::int + 1 for (a->>'size')::int);
        INSERT INTO helpdesk.attachments (tenant_id, ticket_id, event_id, filename,
            content_type, size, sha256, data, source)
        VALUES (p_tenant, p_ticket, p_event, left(coalesce(nullif(a->>'filename', ''), 'attachment'), 255),
                left(coalesce(nullif(a->>'content_type', ''), 'application/octet-stream'), 255),
                length(data), encode(sha256(data), 'hex'), data,
                CASE WHEN coalesce((a->>'inline')::boolean, false) THEN 'email_inline' ELSE 'email' END);
    END LOOP;
END
$$;

-- A customer's mail on an existing ticket: a public comment by them.
CREATE OR REPLACE FUNCTION email.comment(ctx jsonb, t helpdesk.tickets,
    body text, data jsonb)
RETURNS helpdesk.ticket_events LANGUAGE plpgsql AS $$
DECLARE
    e helpdesk.ticket_events;
BEGIN
    e := tickets.event_add(ctx, t.ticket_id, 'comment', 'public', body, data);

    UPDATE helpdesk.tickets SET updated_at = now()
    WHERE tenant_id = t.tenant_id AND ticket_id = t.ticket_id;

    PERFORM tickets.audit(ctx, 'ticket.comment', 'ticket', t.ticket_id::text,
                          jsonb_build_object('event_id', e.event_id, 'visibility', 'public'));

    PERFORM outbox.emit(ctx, 'ticket.comment_added',
        jsonb_build_object('ticket', jsonb_build_object(
                               'id', t.ticket_id, 'number', tickets.ticket_number(t.number)),
                           'comment', tickets.event_json(e)));
    RETURN e;
END
$$;

-- A closed ticket back to open: a status change by the system.
CREATE OR REPLACE FUNCTION email.reopen(p_tenant uuid, t helpdesk.tickets, ctx jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    sys jsonb := jsonb_build_object('tenant_id', p_tenant, 'actor_type', 'system',
                                    'channel', 'email', 'ip', ctx->>'ip');
BEGIN
    UPDATE helpdesk.tickets SET status = 'open', closed_at = NULL, resolved_at = NULL,
        updated_at = now()
    WHERE tenant_id = p_tenant AND ticket_id = t.ticket_id;

    PERFORM tickets.event_add(sys, t.ticket_id, 'status_changed', 'public', NULL,
        jsonb_build_object('from', t.status, 'to', 'open', 'reason', 'email reply'));
    PERFORM tickets.audit(sys, 'ticket.update', 'ticket', t.ticket_id::text,
        jsonb_build_object('changed', jsonb_build_array('status'), 'reason', 'email reply'));
END
$$;

-- How many people a ticket copies at most: each receives every reply.
CREATE OR REPLACE FUNCTION email.ccs_max() RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT 50 $$;

-- The people a mail copies (To and Cc) that its ticket takes: in the
-- order the mail names them, each once, neither the sender, a mailbox of
-- the tenant, the requester nor someone copied already; up to
-- email.ccs_max() for the ticket in all.  Worked out before the mail's
-- event is written, so that the event says who was left out
-- ({"add": [{"address", "name"}], "not_added": [address, ...]}).
DROP FUNCTION IF EXISTS email.ccs_add(uuid, uuid, jsonb, text);
CREATE OR REPLACE FUNCTION email.ccs_plan(p_tenant uuid, p_ticket uuid, meta jsonb,
    sender text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    room   int;
    fresh  jsonb;
BEGIN
    room := greatest(email.ccs_max() - (SELECT count(*)::int FROM helpdesk.email_ticket_ccs c
                                        WHERE c.tenant_id = p_tenant AND c.ticket_id = p_ticket), 0);

    -- the addresses new to the ticket, each once, in the mail's order
    SELECT coalesce(jsonb_agg(jsonb_build_object('address', y.address, 'name', y.name) ORDER BY y.k), '[]')
    INTO fresh
    FROM (SELECT DISTINCT ON (email.addr(x)) email.addr(x) AS address,
                 nullif(left(x->>'name', 200), '') AS name, k
        FROM jsonb_array_elements(coalesce(meta->'to', '[]') || coalesce(meta->'cc', '[]'))
             WITH ORDINALITY AS a(x, k)
        WHERE email.addr(x) IS NOT NULL AND email.addr(x) <> coalesce(sender, '')
          -- not ours: no mailbox of the tenant, nor its +token forms
          AND NOT EXISTS (SELECT 1 FROM helpdesk.email_mailboxes mb
                          WHERE mb.tenant_id = p_tenant
                            AND (mb.address = email.addr(x)
                                 OR (split_part(email.addr(x), '@', 2) = split_part(mb.address, '@', 2)
                                     AND split_part(email.addr(x), '@', 1) LIKE split_part(mb.address, '@', 1) || '+%')))
          -- nor the ticket's requester
          AND NOT EXISTS (SELECT 1 FROM helpdesk.tickets t JOIN helpdesk.users u
                            ON u.tenant_id = t.tenant_id AND u.user_id = t.requester_id
                          WHERE t.tenant_id = p_tenant AND t.ticket_id = p_ticket
                            AND u.email = email.addr(x))
          -- nor someone copied already
          AND NOT EXISTS (SELECT 1 FROM helpdesk.email_ticket_ccs c
                          WHERE c.tenant_id = p_tenant AND c.ticket_id = p_ticket
                            AND c.address = email.addr(x))
        ORDER BY email.addr(x), k) y;

    RETURN jsonb_build_object(
        'add', (SELECT coalesce(jsonb_agg(f ORDER BY k), '[]')
                FROM jsonb_array_elements(fresh) WITH ORDINALITY AS a(f, k) WHERE k <= room),
        'not_added', (SELECT coalesce(jsonb_agg(f->'address' ORDER BY k), '[]')
                      FROM jsonb_array_elements(fresh) WITH ORDINALITY AS a(f, k) WHERE k > room));
END
$$;

-- the mail's event data with who was left out, if anyone (in its "email",
-- which the console shows with the mail)
CREATE OR REPLACE FUNCTION email.ccs_event_data(data jsonb, plan jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_array_length(coalesce(plan->'not_added', '[]')) > 0
                THEN jsonb_set(data, '{email,ccs_not_added}', jsonb_build_object(
                         'max', email.ccs_max(), 'addresses', plan->'not_added'))
                ELSE data END
$$;

CREATE OR REPLACE FUNCTION email.ccs_add(p_tenant uuid, p_ticket uuid, plan jsonb)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO helpdesk.email_ticket_ccs (tenant_id, ticket_id, address, name)
    SELECT p_tenant, p_ticket, f->>'address', f->>'name'
    FROM jsonb_array_elements(coalesce(plan->'add', '[]')) f
    ON CONFLICT DO NOTHING
$$;

CREATE OR REPLACE FUNCTION email.record(p_tenant uuid, m helpdesk.email_mailboxes,
    meta jsonb, sender text, p_ticket uuid, p_event bigint, p_outcome text,
    p_reason text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO helpdesk.email_messages (tenant_id, mailbox_id, ticket_id, event_id,
        direction, message_id_header, in_reply_to, refs, from_address, from_name,
        to_addresses, cc_addresses, subject, auto_submitted, outcome, drop_reason)
    VALUES (p_tenant, m.mailbox_id, p_ticket, p_event, 'in', meta->>'message_id',
            left(nullif(meta->>'in_reply_to', ''), 998), email.texts(meta->'references'),
            sender, left(meta->'from'->>'name', 200),
            email.addrs(meta->'to'), email.addrs(meta->'cc'),
            left(meta->>'subject', 998), left(meta->>'auto_submitted', 100),
            p_outcome, p_reason);
END
$$;

CREATE OR REPLACE FUNCTION email.answer(t uuid, outcome text, reason text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
BEGIN
    SELECT number INTO n FROM helpdesk.tickets x
    WHERE x.tenant_id = helpdesk.current_tenant() AND x.ticket_id = t;
    RETURN jsonb_strip_nulls(jsonb_build_object('outcome', outcome, 'reason', reason,
        'ticket', CASE WHEN t IS NOT NULL THEN jsonb_build_object(
                      'id', t, 'number', tickets.ticket_number(n)) END));
END
$$;

-- The tenant of the mailbox an inbound token names (across tenants: the
-- owner's), or NULL: the token is the credential of the inbound URL.
CREATE OR REPLACE FUNCTION email.inbound_route(p_token text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT m.tenant_id FROM helpdesk.email_mailboxes m
    JOIN helpdesk.tenants t ON t.tenant_id = m.tenant_id AND t.status = 'active'
    WHERE m.inbound_token = p_token AND m.deleted_at IS NULL AND m.enabled
$$;

-- A piece of a large mail's blob (the raw message, then its attachments),
-- staged until email.ingest() takes it (see migration 031's
-- email_inbound_chunks), for the mailbox m: a pushed mail's pieces come by
-- its token (email.inbound_chunk()), a fetched one's from the fetch job
-- holding the mailbox (email.fetch_chunk()).  As m's tenant.
CREATE OR REPLACE FUNCTION email.stage_chunk(p_tenant uuid, p_mailbox uuid,
    p_upload uuid, p_seq integer, p_data bytea)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- what uploads left behind, once per upload
    IF p_seq = 0 THEN
        DELETE FROM helpdesk.email_inbound_chunks c
        WHERE c.tenant_id = p_tenant AND c.mailbox_id = p_mailbox
          AND c.created_at < now() - interval '1 hour';
    END IF;

    INSERT INTO helpdesk.email_inbound_chunks (tenant_id, mailbox_id, upload_id, seq, data)
    VALUES (p_tenant, p_mailbox, p_upload, p_seq, p_data);
END
$$;

CREATE OR REPLACE FUNCTION email.inbound_chunk(p_token text, p_upload uuid,
    p_seq integer, p_data bytea)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    tenant  uuid;
    mailbox uuid;
BEGIN
    tenant := email.inbound_route(p_token);
    IF tenant IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'unknown mailbox');
    END IF;

    PERFORM set_config('helpdesk.tenant_id', tenant::text, true);

    SELECT x.mailbox_id INTO mailbox FROM helpdesk.email_mailboxes x
    WHERE x.tenant_id = tenant AND x.inbound_token = p_token AND x.deleted_at IS NULL;

    PERFORM email.stage_chunk(tenant, mailbox, p_upload, p_seq, p_data);
END
$$;

-- A pushed mail: the token routes it to its mailbox, whose tenant the
-- ingest runs as.
CREATE OR REPLACE FUNCTION email.inbound(p_token text, p_ip text, meta jsonb,
    p_tail bytea, p_upload uuid DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    m        helpdesk.email_mailboxes;
    tenant   uuid;
BEGIN
    tenant := email.inbound_route(p_token);
    IF tenant IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'unknown mailbox');
    END IF;

    PERFORM set_config('helpdesk.tenant_id', tenant::text, true);

    SELECT * INTO m FROM helpdesk.email_mailboxes x
    WHERE x.tenant_id = tenant AND x.inbound_token = p_token
      AND x.deleted_at IS NULL FOR SHARE;

    RETURN email.ingest(m, p_ip, meta, p_tail, p_upload);
END
$$;

-- A mail for the mailbox m (pushed or fetched), as m's tenant (set by the
-- caller): one transaction, one answer.  Its blob is the pieces staged
-- under p_upload for m, in order, then p_tail.
CREATE OR REPLACE FUNCTION email.ingest(m helpdesk.email_mailboxes, p_ip text,
    meta jsonb, p_tail bytea, p_upload uuid DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    blob     bytea;
    tenant   uuid := m.tenant_id;
    sender   text := email.addr(meta->'from');
    name     text := nullif(btrim(left(meta->'from'->>'name', 200)), '');
    seen     helpdesk.email_messages;
    reason   text;
    th       record;
    t        helpdesk.tickets;
    e        helpdesk.ticket_events;
    customer uuid;
    ctx      jsonb;
    rule     jsonb;
    r        jsonb;
    outcome  text;
    subject  text;
    body     text := coalesce(meta->>'text', '');
    follow   text;
    ccs      jsonb := '{}';
BEGIN
    -- the blob: this mailbox's pieces of the upload, in order, then the tail
    WITH gone AS (
        DELETE FROM helpdesk.email_inbound_chunks c
        WHERE c.tenant_id = tenant AND c.mailbox_id = m.mailbox_id
          AND c.upload_id = p_upload
        RETURNING c.seq, c.data)
    SELECT string_agg(g.data, ''::bytea ORDER BY g.seq) INTO blob FROM gone g;
    blob := coalesce(blob, ''::bytea) || coalesce(p_tail, ''::bytea);

    IF length(blob) < coalesce((meta->'raw'->>'size')::bigint, 0) THEN
        PERFORM tickets.fail('HDINV', 'not-a-message', 'the message is incomplete');
    END IF;

    IF coalesce(meta->>'message_id', '') = '' OR length(meta->>'message_id') > 998 THEN
        PERFORM tickets.fail('HDINV', 'not-a-message', 'the message has no usable Message-ID');
    END IF;

    -- one at a time per Message-ID, and per sender (one ticket for a
    -- storm of concurrent mails, a count that holds)
    PERFORM pg_advisory_xact_lock(hashtextextended('email:' || tenant || ':' || (meta->>'message_id'), 0));
    PERFORM pg_advisory_xact_lock(hashtextextended('email-from:' || tenant || ':' || coalesce(sender, ''), 0));

    SELECT * INTO seen FROM helpdesk.email_messages x
    WHERE x.tenant_id = tenant AND x.mailbox_id = m.mailbox_id
      AND x.message_id_header = meta->>'message_id';
    IF seen.email_id IS NOT NULL THEN
        RETURN email.answer(seen.ticket_id, 'duplicate', seen.drop_reason);
    END IF;

    reason := email.noise(tenant, m, meta, sender);
    IF reason IS NULL AND email.sender_over(m, sender) THEN
        reason := 'rate limited';
    END IF;

    ctx := jsonb_build_object('tenant_id', tenant, 'channel', 'email',
                              'ip', CASE WHEN p_ip ~ '^[0-9a-fA-F:.]+$' THEN p_ip END,
                              'actor_role', 'customer', 'via', 'email');

    IF reason IS NOT NULL THEN
        PERFORM email.record(tenant, m, meta, sender, NULL, NULL, 'dropped', reason);
        PERFORM tickets.audit(ctx || jsonb_build_object('actor_type', 'system'),
            'email.dropped', 'email_mailbox', m.mailbox_id::text,
            jsonb_build_object('from', sender, 'message_id', meta->>'message_id',
                               'reason', reason));
        RETURN email.answer(NULL, 'dropped', reason);
    END IF;

    -- the sender, as one of the tenant's customers (tickets.customer_for);
    -- an address of the staff is nobody's here
    customer := tickets.customer_for(tenant, sender, name, NULL);
    IF customer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM helpdesk.users u
                                            WHERE u.tenant_id = tenant AND u.user_id = customer
                                              AND u.role = 'customer') THEN
        customer := NULL;
    END IF;

    ctx := ctx || jsonb_build_object(
        'actor_type', CASE WHEN customer IS NULL THEN 'system' ELSE 'user' END,
        'actor_id', customer, 'actor_name', coalesce(name, sender));

    SELECT * INTO th FROM email.thread(tenant, meta, sender);

    IF th.ticket IS NOT NULL THEN
        SELECT * INTO t FROM helpdesk.tickets x
        WHERE x.tenant_id = tenant AND x.ticket_id = th.ticket FOR UPDATE;

        IF t.status = 'closed' AND email.closed_reply(tenant) = 'follow_up' THEN
            follow := tickets.ticket_number(t.number);
        ELSE
            outcome := 'replied';
            IF t.status = 'closed' THEN
                PERFORM email.reopen(tenant, t, ctx);
                outcome := 'reopened';
            ELSIF t.status IN ('resolved', 'pending') THEN
                PERFORM tickets.ticket_update(ctx || '{"actor_type": "system"}',
                    jsonb_build_object('id', t.ticket_id::text, 'status', 'open'));
            END IF;

            -- the people it copies receive every later reply: only a mail
            -- that proved it belongs (by References or the reply address)
            -- may add them; the number in the subject is joined on the
            -- From alone, which anybody can write
            IF th.how <> 'subject' THEN
                ccs := email.ccs_plan(tenant, t.ticket_id, meta, sender);
            END IF;
            e := email.comment(ctx, t, body, email.ccs_event_data(email.event_data(meta, th.how), ccs));
            PERFORM email.attach(tenant, t.ticket_id, e.event_id, meta, blob);
            PERFORM email.ccs_add(tenant, t.ticket_id, ccs);
            PERFORM email.record(tenant, m, meta, sender, t.ticket_id, e.event_id, outcome, NULL);
            RETURN email.answer(t.ticket_id, outcome, NULL);
        END IF;
    END IF;

    -- a new ticket
    rule := email.rule_for(m, meta, sender);
    -- an assignee of a rule who is no longer an active agent is left out
    IF rule ? 'assignee' AND NOT EXISTS (SELECT 1 FROM helpdesk.users u
            WHERE u.tenant_id = tenant AND u.user_id::text = rule->>'assignee'
              AND u.role IN ('agent', 'admin') AND u.status = 'active') THEN
        rule := rule - 'assignee';
    END IF;

    subject := btrim(regexp_replace(coalesce(meta->>'subject', ''), '[\x01-\x1f\x7f]+', ' ', 'g'));
    IF subject = '' THEN
        subject := '(no subject)';
    END IF;
    IF length(subject) > 250 THEN
        subject := left(subject, 249) || '…';
    END IF;

    -- a new ticket: no one copied yet, its requester the sender
    ccs := email.ccs_plan(tenant, NULL, meta, sender);

    r := tickets.ticket_create(ctx, jsonb_build_object(
            'subject', subject, 'description', body,
            'requester_id', customer,
            'priority', rule->>'priority', 'category', rule->>'category',
            'assignee', rule->'assignee',
            'event_data', email.ccs_event_data(email.event_data(meta, NULL), ccs)
                          || jsonb_strip_nulls(jsonb_build_object(
                                 'follow_up_of', follow,
                                 'rule', CASE WHEN rule <> '{}' THEN rule END,
                                 'email_address', CASE WHEN customer IS NULL THEN sender END))));

    SELECT * INTO t FROM helpdesk.tickets x
    WHERE x.tenant_id = tenant AND x.ticket_id = (r->'body'->>'id')::uuid;
    SELECT * INTO e FROM helpdesk.ticket_events x
    WHERE x.tenant_id = tenant AND x.ticket_id = t.ticket_id ORDER BY event_id LIMIT 1;

    INSERT INTO helpdesk.email_ticket_tokens (tenant_id, ticket_id, token, portal_base)
    VALUES (tenant, t.ticket_id, left(md5(gen_random_uuid()::text || clock_timestamp()::text), 20),
            email.portal_base(tenant, meta->'link'));

    PERFORM email.attach(tenant, t.ticket_id, e.event_id, meta, blob);
    PERFORM email.ccs_add(tenant, t.ticket_id, ccs);
    outcome := CASE WHEN follow IS NOT NULL THEN 'follow_up' ELSE 'created' END;
    PERFORM email.record(tenant, m, meta, sender, t.ticket_id, e.event_id, outcome, NULL);
    -- after the record: the notice answers this mail, by its Message-ID
    PERFORM email.ticket_received(t, e.event_id);

    RETURN email.answer(t.ticket_id, outcome, NULL);
END
$$;

RESET ROLE;
