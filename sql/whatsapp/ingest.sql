-- nginx-helpdesk: WhatsApp webhook deliveries into tickets, a batch at a
-- time.
--
-- The module gathers the deliveries that arrive within a millisecond on a
-- worker and hands them over in one call, so that one disk flush acks them
-- all.  The work is set-based: one statement per table for the whole batch
-- (the messages, the contacts that are known, the open tickets, the
-- comments), and a loop only for what is rare (a new contact, a new
-- ticket, a reaction, a status, business hours).  A batch that fails as a
-- whole is retried one delivery at a time, each in its own subtransaction,
-- so that one bad delivery is reported (and retried by its provider)
-- without undoing the others.  Provider retries find the WhatsApp message
-- id already stored and change nothing.

SET ROLE helpdesk_owner;

-- The `value` objects of a delivery: every entry[].changes[] of the Cloud
-- API envelope (`other` when it is not about messages), or the v1 body.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_values(b jsonb)
RETURNS TABLE (value jsonb, v1 boolean, other boolean) LANGUAGE sql IMMUTABLE AS $$
    SELECT ch->'value', false,
           (coalesce(ch->>'field', 'messages') = 'messages'
            AND jsonb_typeof(ch->'value') = 'object') IS NOT TRUE
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(b->'entry') = 'array'
                                   THEN b->'entry' ELSE '[]' END) e,
         jsonb_array_elements(CASE jsonb_typeof(e->'changes') WHEN 'array'
                                   THEN e->'changes' ELSE '[]' END) ch
    UNION ALL
    SELECT b, true, false WHERE jsonb_typeof(b) = 'object' AND NOT b ? 'entry'
$$;

-- The deliveries of one tenant: those of items ([{"t": tenant, "c":
-- connection, "ip": address, "b": body}, ...]) with p_tenant; returns
-- each one's counts, by its index in items.
CREATE OR REPLACE FUNCTION whatsapp.whatsapp_ingest_tenant(p_tenant uuid, items jsonb)
RETURNS TABLE (item int, counts jsonb) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    ctx    jsonb := jsonb_build_object('tenant_id', p_tenant, 'channel', 'whatsapp',
                                       'actor_type', 'system');
    vals   helpdesk.whatsapp_value[];
    msgs   helpdesk.whatsapp_in[];
    m      helpdesk.whatsapp_in;
    k      helpdesk.whatsapp_contacts;
    e      helpdesk.ticket_events;
    s      record;
    r      jsonb;
    actor  jsonb;
    kind   text;
    ids    uuid[];
    bh     jsonb;
    sc     jsonb := '{}';    -- statuses per delivery: {"n": {"statuses": x, ...}}
    made   jsonb := '{}';    -- tickets made in this batch: {"user": [ticket, event, seq]}
BEGIN
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    -- every value of every delivery, in order
    SELECT coalesce(array_agg(ROW((d.n - 1)::int, v.vi::int, (d.it->>'c')::uuid,
                                  (d.it->>'ip')::inet, v.v1, v.other, v.value
                                 )::helpdesk.whatsapp_value ORDER BY d.n, v.vi), '{}')
    INTO vals
    FROM jsonb_array_elements(items) WITH ORDINALITY d(it, n)
    CROSS JOIN LATERAL whatsapp.whatsapp_values(d.it->'b') WITH ORDINALITY v(value, v1, other, vi)
    WHERE d.it->>'t' = p_tenant::text;

    -- every message, in order, with its sender's profile (the contacts[]
    -- entry with the same id, or the only one)
    SELECT coalesce(array_agg(q.x ORDER BY (q.x).seq), '{}') INTO msgs FROM (
        SELECT ROW(row_number() OVER (ORDER BY v.item, v.vi, mm.ord),
               v.item, v.connection_id, v.ip, v.v1,
               row_number() OVER (PARTITION BY v.connection_id, mm.m->>'id'
                                  ORDER BY v.item, v.vi, mm.ord) = 1,
               (jsonb_typeof(mm.m) IS DISTINCT FROM 'object' OR mm.m->>'id' IS NULL
                OR jsonb_typeof(mm.m->'type') IS DISTINCT FROM 'string'
                OR (s.wa_id IS NULL AND s.bsuid IS NULL)),
               mm.m->>'id', s.wa_id, s.bsuid,
               pc.c->'profile'->>'name', pc.c->'profile'->>'username',
               mm.m->>'type', whatsapp.whatsapp_text(mm.m), mm.m, md.media,
               jsonb_strip_nulls(jsonb_build_object('whatsapp', jsonb_build_object(
                   'wamid', mm.m->>'id', 'type', mm.m->>'type',
                   'media', md.media,
                   'context', mm.m->'context',
                   'location', mm.m->'location',
                   'content', CASE WHEN mm.m->>'type' IN ('contacts', 'interactive',
                                                          'button', 'order')
                                   THEN mm.m->(mm.m->>'type') END))),
               CASE WHEN mm.m->>'timestamp' ~ '^[0-9]{1,12}$'
                    THEN to_timestamp((mm.m->>'timestamp')::double precision)
                    ELSE now() END,
               NULL, NULL, NULL, NULL, NULL, NULL, false)::helpdesk.whatsapp_in AS x
        FROM unnest(vals) v
        CROSS JOIN LATERAL jsonb_array_elements(
            CASE jsonb_typeof(v.value->'messages') WHEN 'array'
                 THEN v.value->'messages' ELSE '[]' END) WITH ORDINALITY mm(m, ord)
        LEFT JOIN LATERAL (
            SELECT c.c FROM jsonb_array_elements(
                CASE jsonb_typeof(v.value->'contacts') WHEN 'array'
                     THEN v.value->'contacts' ELSE '[]' END) WITH ORDINALITY c(c, n)
            WHERE (mm.m->>'from' IS NOT NULL AND c.c->>'wa_id' = mm.m->>'from')
               OR (mm.m->>'from_user_id' IS NOT NULL
                   AND c.c->>'user_id' = mm.m->>'from_user_id')
               OR jsonb_array_length(v.value->'contacts') = 1
            ORDER BY c.n LIMIT 1) pc ON true
        CROSS JOIN LATERAL (
            SELECT coalesce(mm.m->>'from', pc.c->>'wa_id') AS wa_id,
                   coalesce(mm.m->>'from_user_id', pc.c->>'user_id') AS bsuid) s
        CROSS JOIN LATERAL (SELECT whatsapp.whatsapp_media(mm.m) AS media) md
        WHERE NOT v.other) q;

    -- Each sender is locked until the batch commits, so that two first
    -- messages arriving together make one contact and one ticket.  All
    -- at once and in one order (tenants too are taken in order): batches
    -- with a sender in common queue instead of deadlocking, the others run
    -- side by side.  (The key is the one whatsapp_contact() takes.)
    PERFORM pg_advisory_xact_lock(k.k)
    FROM (SELECT DISTINCT hashtextextended(m.connection_id::text || '/'
                                           || coalesce(m.wa_id, m.bsuid), 0) AS k
          FROM unnest(msgs) m WHERE NOT m.ignored) k
    ORDER BY k.k;

    -- the messages; provider retries stop here
    WITH ins AS (
        INSERT INTO helpdesk.whatsapp_messages AS w (tenant_id, connection_id, wamid,
            direction, type, body, content, sent_at)
        SELECT p_tenant, m.connection_id, m.wamid, 'in', m.type, m.body, m.content, m.at
        FROM unnest(msgs) m WHERE NOT m.ignored AND m.first ORDER BY m.seq
        ON CONFLICT (tenant_id, connection_id, wamid) WHERE wamid IS NOT NULL DO NOTHING
        RETURNING w.message_id, w.connection_id, w.wamid)
    SELECT coalesce(array_agg(jsonb_populate_record(m, jsonb_build_object(
               'message_id', ins.message_id)) ORDER BY m.seq), '{}')
    INTO msgs
    FROM unnest(msgs) m
    LEFT JOIN ins ON m.first AND ins.connection_id = m.connection_id
                  AND ins.wamid = m.wamid;

    -- known senders, refreshed in one statement (the latest profile wins,
    -- the window runs from the customer's last message by its own time)
    UPDATE helpdesk.whatsapp_contacts k SET
        user_id_bsuid = coalesce(k.user_id_bsuid, s.bsuid),
        name = coalesce(s.name, k.name),
        username = coalesce(s.username, k.username),
        last_inbound_at = greatest(k.last_inbound_at, s.at)
    FROM (SELECT m.connection_id, m.wa_id, max(m.bsuid) AS bsuid,
                 (array_agg(m.name ORDER BY m.seq DESC) FILTER (WHERE m.name IS NOT NULL))[1] AS name,
                 (array_agg(m.username ORDER BY m.seq DESC)
                      FILTER (WHERE m.username IS NOT NULL))[1] AS username,
                 max(m.at) AS at
          FROM unnest(msgs) m
          WHERE m.message_id IS NOT NULL AND m.wa_id IS NOT NULL
          GROUP BY 1, 2) s
    WHERE k.tenant_id = p_tenant
      -- (arrays first: an index condition whatever the statistics say)
      AND k.connection_id = ANY (ARRAY(SELECT DISTINCT m.connection_id FROM unnest(msgs) m))
      AND k.wa_id = ANY (ARRAY(SELECT m.wa_id FROM unnest(msgs) m
                               WHERE m.message_id IS NOT NULL AND m.wa_id IS NOT NULL))
      AND k.connection_id = s.connection_id AND k.wa_id = s.wa_id;

    -- new senders, and those known only by their user id, one by one
    FOR s IN
        SELECT m.connection_id, max(m.wa_id) AS wa_id, max(m.bsuid) AS bsuid,
               (array_agg(m.name ORDER BY m.seq DESC) FILTER (WHERE m.name IS NOT NULL))[1] AS name,
               (array_agg(m.username ORDER BY m.seq DESC)
                    FILTER (WHERE m.username IS NOT NULL))[1] AS username,
               max(m.at) AS at, min(m.seq) AS seq
        FROM unnest(msgs) m
        WHERE m.message_id IS NOT NULL
        GROUP BY m.connection_id, coalesce(m.wa_id, m.bsuid)
        HAVING max(m.wa_id) IS NULL
            OR NOT EXISTS (SELECT 1 FROM helpdesk.whatsapp_contacts k
                           WHERE k.tenant_id = p_tenant
                             AND k.connection_id = m.connection_id
                             AND k.wa_id = max(m.wa_id))
        ORDER BY seq
    LOOP
        PERFORM whatsapp.whatsapp_contact(ctx, s.connection_id, s.wa_id, s.bsuid,
            jsonb_strip_nulls(jsonb_build_object('name', s.name, 'username', s.username)),
            s.at);
    END LOOP;

    SELECT coalesce(array_agg(jsonb_populate_record(m, jsonb_build_object(
               'contact_id', k.contact_id, 'user_id', k.user_id,
               'actor_name', coalesce(k.name, '+' || k.wa_id, k.user_id_bsuid)))
               ORDER BY m.seq), '{}')
    INTO msgs
    FROM unnest(msgs) m
    LEFT JOIN LATERAL (
        SELECT * FROM helpdesk.whatsapp_contacts kw
        WHERE m.message_id IS NOT NULL AND m.wa_id IS NOT NULL
          AND kw.tenant_id = p_tenant AND kw.connection_id = m.connection_id
          AND kw.wa_id = m.wa_id
        UNION ALL
        SELECT * FROM helpdesk.whatsapp_contacts kb
        WHERE m.message_id IS NOT NULL AND m.wa_id IS NULL
          AND kb.tenant_id = p_tenant AND kb.connection_id = m.connection_id
          AND kb.user_id_bsuid = m.bsuid) k ON true;

    -- a reaction annotates the message it reacts to
    FOR m IN SELECT * FROM unnest(msgs) m
             WHERE m.message_id IS NOT NULL AND m.type = 'reaction' ORDER BY m.seq
    LOOP
        UPDATE helpdesk.whatsapp_messages
        SET reactions = CASE WHEN coalesce(m.content->'reaction'->>'emoji', '') = ''
                             THEN reactions - m.contact_id::text
                             ELSE reactions || jsonb_build_object(m.contact_id::text,
                                                   m.content->'reaction'->>'emoji') END
        WHERE tenant_id = p_tenant AND connection_id = m.connection_id
          AND wamid = m.content->'reaction'->>'message_id';
    END LOOP;

    -- the open ticket of each sender takes their messages
    ids := ARRAY(
        SELECT (SELECT tk.ticket_id FROM helpdesk.tickets tk
                WHERE tk.tenant_id = p_tenant AND tk.requester_id = u.user_id
                  AND tk.channel = 'whatsapp' AND tk.status NOT IN ('resolved', 'closed')
                ORDER BY tk.number DESC LIMIT 1)
        FROM (SELECT DISTINCT m.user_id FROM unnest(msgs) m
              WHERE m.message_id IS NOT NULL AND m.type <> 'reaction') u);

    SELECT coalesce(array_agg(jsonb_populate_record(m, jsonb_build_object(
               'ticket_id', o.ticket_id, 'pending', o.status = 'pending'))
               ORDER BY m.seq), '{}')
    INTO msgs
    FROM unnest(msgs) m
    LEFT JOIN (
        SELECT tk.ticket_id, tk.requester_id, tk.status
        FROM helpdesk.tickets tk
        WHERE tk.tenant_id = p_tenant AND tk.ticket_id = ANY (ids)
          AND tk.status NOT IN ('resolved', 'closed')
        ORDER BY tk.ticket_id
        FOR UPDATE) o
      ON m.message_id IS NOT NULL AND m.type <> 'reaction' AND o.requester_id = m.user_id;

    -- senders without one: a new ticket from their first message
    FOR m IN SELECT * FROM (
                 SELECT DISTINCT ON (m.user_id) * FROM unnest(msgs) m
                 WHERE m.message_id IS NOT NULL AND m.type <> 'reaction'
                   AND m.ticket_id IS NULL
                 ORDER BY m.user_id, m.seq) f
             ORDER BY f.seq
    LOOP
        actor := ctx || jsonb_build_object('actor_type', 'user', 'actor_id', m.user_id,
                                           'actor_name', m.actor_name,
                                           'actor_role', 'customer', 'ip', m.ip);
        r := tickets.ticket_create(actor, jsonb_build_object(
                 'subject', coalesce(nullif(left(regexp_replace(m.body, '\s+', ' ', 'g'), 120), ''),
                                     'WhatsApp message from ' || m.actor_name),
                 'description', m.body,
                 'requester_id', m.user_id,
                 'event_data', m.data));

        SELECT * INTO e FROM helpdesk.ticket_events
        WHERE tenant_id = p_tenant AND ticket_id = (r->'body'->>'id')::uuid
          AND type = 'created';

        made := made || jsonb_build_object(m.user_id::text,
                                           jsonb_build_array(e.ticket_id, e.event_id, m.seq));
    END LOOP;

    IF made <> '{}' THEN
        SELECT array_agg(jsonb_populate_record(m, CASE
                   WHEN m.ticket_id IS NULL AND made ? m.user_id::text
                   THEN jsonb_build_object('ticket_id', made->m.user_id::text->0,
                            'event_id', CASE WHEN (made->m.user_id::text->>2)::int = m.seq
                                             THEN made->m.user_id::text->1 END)
                   ELSE '{}' END) ORDER BY m.seq)
        INTO msgs
        FROM unnest(msgs) m;
    END IF;

    -- every other message: a public comment on its ticket
    WITH ev AS (
        INSERT INTO helpdesk.ticket_events AS e (tenant_id, ticket_id, type, visibility,
            channel, actor_type, actor_id, actor_name, body, data)
        SELECT p_tenant, m.ticket_id, 'comment', 'public', 'whatsapp', 'user',
               m.user_id, m.actor_name, m.body, m.data
        FROM unnest(msgs) m
        WHERE m.ticket_id IS NOT NULL AND m.event_id IS NULL
        ORDER BY m.seq
        RETURNING e.event_id, e.ticket_id, e.data->'whatsapp'->>'wamid' AS wamid)
    SELECT coalesce(array_agg(jsonb_populate_record(m, CASE WHEN ev.event_id IS NULL
               THEN '{}' ELSE jsonb_build_object('event_id', ev.event_id) END)
               ORDER BY m.seq), '{}')
    INTO msgs
    FROM unnest(msgs) m
    LEFT JOIN ev ON m.ticket_id IS NOT NULL AND m.event_id IS NULL
                AND ev.ticket_id = m.ticket_id AND ev.wamid = m.wamid;

    -- the customer answered: a ticket waiting on them is open again
    INSERT INTO helpdesk.ticket_events (tenant_id, ticket_id, type, visibility, channel,
        actor_type, actor_id, actor_name, data)
    SELECT DISTINCT ON (m.ticket_id) p_tenant, m.ticket_id, 'status_changed', 'public',
           'whatsapp', 'user', m.user_id, m.actor_name, '{"from": "pending", "to": "open"}'
    FROM unnest(msgs) m WHERE m.pending
    ORDER BY m.ticket_id, m.seq;

    UPDATE helpdesk.tickets tk SET updated_at = now(),
        status = CASE WHEN tk.status = 'pending' THEN 'open' ELSE tk.status END
    WHERE tk.tenant_id = p_tenant
      AND tk.ticket_id = ANY (ARRAY(SELECT m.ticket_id FROM unnest(msgs) m
                                    WHERE m.event_id IS NOT NULL AND NOT (made ? m.user_id::text
                                          AND (made->m.user_id::text->>2)::int = m.seq)));

    IF outbox.wants(p_tenant, 'ticket.comment_added') THEN
        FOR m IN SELECT * FROM unnest(msgs) m
                 WHERE m.event_id IS NOT NULL AND m.ticket_id IS NOT NULL
                   AND NOT (made ? m.user_id::text AND (made->m.user_id::text->>2)::int = m.seq)
                 ORDER BY m.seq
        LOOP
            SELECT * INTO e FROM helpdesk.ticket_events
            WHERE tenant_id = p_tenant AND event_id = m.event_id;

            PERFORM outbox.emit(ctx || jsonb_build_object('actor_type', 'user',
                    'actor_id', m.user_id, 'actor_name', m.actor_name, 'ip', m.ip),
                'ticket.comment_added',
                jsonb_build_object('ticket', jsonb_build_object('id', m.ticket_id,
                        'number', (SELECT tickets.ticket_number(tk.number)
                                   FROM helpdesk.tickets tk
                                   WHERE tk.tenant_id = p_tenant
                                     AND tk.ticket_id = m.ticket_id)),
                    'comment', tickets.event_json(e)));
        END LOOP;
    END IF;

    UPDATE helpdesk.whatsapp_messages w SET contact_id = m.contact_id,
           ticket_id = m.ticket_id, event_id = m.event_id
    FROM unnest(msgs) m
    WHERE w.tenant_id = p_tenant
      AND w.message_id = ANY (ARRAY(SELECT m.message_id FROM unnest(msgs) m
                                    WHERE m.message_id IS NOT NULL))
      AND w.message_id = m.message_id;

    -- outside business hours: the automatic reply, once per window
    bh := tickets.business_hours(p_tenant, 'whatsapp');

    IF bh IS NOT NULL AND coalesce((bh->'auto_reply'->>'enabled')::boolean, true) THEN
        FOR m IN SELECT * FROM unnest(msgs) m WHERE m.event_id IS NOT NULL ORDER BY m.seq
        LOOP
            SELECT * INTO k FROM helpdesk.whatsapp_contacts
            WHERE tenant_id = p_tenant AND contact_id = m.contact_id;

            PERFORM tickets.whatsapp_auto_reply(ctx || jsonb_build_object('ip', m.ip),
                                                 k, m.ticket_id, m.at);
        END LOOP;
    END IF;

    -- the files themselves are fetched afterwards, by the outbox runner
    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id,
                                 event_type, payload)
    SELECT p_tenant, 'whatsapp', m.connection_id, gen_random_uuid(), 'whatsapp.media',
           m.media || jsonb_build_object('message_id', m.message_id,
               'ticket_id', m.ticket_id, 'event_id', m.event_id, 'type', m.type,
               'v1', m.v1)
    FROM unnest(msgs) m
    WHERE m.event_id IS NOT NULL AND m.media ? 'media_id'
    ORDER BY m.seq;

    -- statuses, in order
    FOR s IN
        SELECT v.item AS i, v.connection_id AS c, st.st
        FROM unnest(vals) v
        CROSS JOIN LATERAL jsonb_array_elements(v.value->'statuses')
                           WITH ORDINALITY st(st, ord)
        WHERE NOT v.other AND jsonb_typeof(v.value->'statuses') = 'array'
        ORDER BY v.item, v.vi, st.ord
    LOOP
        kind := whatsapp.whatsapp_status(ctx, s.c, s.st);
        kind := CASE kind WHEN 'status' THEN 'statuses'
                          WHEN 'duplicate' THEN 'duplicate_statuses' ELSE kind END;
        sc := jsonb_set(sc, ARRAY[s.i::text], coalesce(sc->(s.i::text), '{}')
                 || jsonb_build_object(kind,
                        coalesce((sc->(s.i::text)->>kind)::int, 0) + 1), true);
    END LOOP;

    -- what each delivery came to
    RETURN QUERY
    SELECT d.item, jsonb_strip_nulls(coalesce(mc.counts, '{}')
               || coalesce(sc->(d.item::text), '{}')
               || jsonb_build_object('ignored', nullif(d.other + coalesce(mc.ignored, 0), 0),
                                     'errors', d.errors))
    FROM (SELECT v.item, count(*) FILTER (WHERE v.other)::int AS other,
                 (array_agg(v.value->'errors' ORDER BY v.vi DESC)
                      FILTER (WHERE NOT v.other
                              AND jsonb_typeof(v.value->'errors') = 'array'))[1] AS errors
          FROM unnest(vals) v GROUP BY v.item
          UNION ALL
          -- a delivery with nothing in it
          SELECT (d.n - 1)::int, 0, NULL
          FROM jsonb_array_elements(items) WITH ORDINALITY d(it, n)
          WHERE d.it->>'t' = p_tenant::text
            AND NOT EXISTS (SELECT 1 FROM unnest(vals) v WHERE v.item = d.n - 1)) d
    LEFT JOIN (
        SELECT c.item, jsonb_object_agg(c.kind, c.n) FILTER (WHERE c.kind <> 'ignored') AS counts,
               sum(c.n) FILTER (WHERE c.kind = 'ignored')::int AS ignored
        FROM (SELECT m.item, CASE WHEN m.ignored THEN 'ignored'
                                  WHEN m.message_id IS NULL THEN 'duplicate'
                                  WHEN m.type = 'reaction' THEN 'reaction'
                                  ELSE 'message' END AS kind, count(*) AS n
              FROM unnest(msgs) m GROUP BY 1, 2) c
        GROUP BY c.item) mc ON mc.item = d.item;
END
$$;

CREATE OR REPLACE FUNCTION whatsapp.whatsapp_ingest_batch(items jsonb)
RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid;
    res    jsonb := '{}';
    one    jsonb;
    r      record;
    n      int := jsonb_array_length(items);
    j      int;
BEGIN
    BEGIN
        -- tenants in one order, as their senders' locks are taken
        FOR tenant IN SELECT DISTINCT (x->>'t')::uuid FROM jsonb_array_elements(items) x
                      WHERE x->>'t' IS NOT NULL ORDER BY 1
        LOOP
            FOR r IN SELECT * FROM whatsapp.whatsapp_ingest_tenant(tenant, items)
            LOOP
                res := res || jsonb_build_object(r.item::text, r.counts);
            END LOOP;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        -- one of them is bad: each on its own, so that the others stay
        RAISE WARNING 'whatsapp batch of % retried one by one: % (%)',
            n, SQLERRM, SQLSTATE;
        res := NULL;
    END;

    FOR j IN 0 .. n - 1 LOOP
        -- no connection (see whatsapp.ingest_route)
        IF items->j->>'t' IS NULL THEN
            RETURN NEXT jsonb_build_object('error', 'the connection is gone',
                                           'sqlstate', 'HDNFD');
            CONTINUE;
        END IF;

        IF res IS NOT NULL THEN
            RETURN NEXT res->(j::text);
            CONTINUE;
        END IF;

        BEGIN
            SELECT t.counts INTO one
            FROM whatsapp.whatsapp_ingest_tenant((items->j->>'t')::uuid,
                     jsonb_build_array(items->j)) t;
        EXCEPTION WHEN OTHERS THEN
            one := jsonb_build_object('error', SQLERRM, 'sqlstate', SQLSTATE);
        END;

        RETURN NEXT one;
    END LOOP;
END
$$;

RESET ROLE;
