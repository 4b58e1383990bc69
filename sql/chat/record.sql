-- nginx-helpdesk: the chat's record (schema "chat").
--
-- A conversation lives in Redis while it is open; every change of it is
-- written here in batches by the persistence job (src/jobs/
-- ngx_helpdesk_chat_persist.c), through one entry point,
-- api.chat_persist(p_batch), idempotent by (tenant, conversation,
-- message id): a batch written twice changes nothing the second time.
--
-- A batch is a JSON array of the persistence stream's entries:
--   {"t": tenant, "c": conversation, "i": stream id ("" for a change of
--    state only), "j": the event as its clients saw it (JSON text),
--    "u": who may see it ("*", "a": agents only), "h": the
--    conversation's state (JSON text of its Redis hash)}
--
-- The functions run as helpdesk_service under row-level security: each
-- tenant's rows are written with that tenant set.

SET ROLE helpdesk_owner;

-- Stream ids order as numbers: "<ms>-<seq>".
CREATE OR REPLACE FUNCTION chat.id_ms(p_id text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_timestamp(split_part(p_id, '-', 1)::bigint / 1000.0)
$$;

CREATE OR REPLACE FUNCTION chat.ms(p text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p ~ '^[0-9]{1,15}$' THEN to_timestamp(p::bigint / 1000.0) END
$$;

CREATE OR REPLACE FUNCTION chat.uuid_or_null(p text) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN tickets.is_uuid(p) THEN p::uuid END
$$;

-- A batch of the persistence stream; answers how many events it wrote
-- (or found written).  Set-based: the batch is read once, then for each
-- tenant in it, under that tenant for row-level security, one statement
-- writes its conversations' rows (each from its latest state in the
-- batch, so that a row exists before its messages) and one its events;
-- only what is audited (a conversation started, an agent joined, ...) is
-- done one by one.
DROP FUNCTION IF EXISTS chat.conversation_put(uuid, uuid, jsonb);
DROP FUNCTION IF EXISTS chat.message_put(uuid, uuid, text, jsonb, jsonb);
CREATE OR REPLACE FUNCTION chat.persist(p_batch jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    -- the entries whose tenant and conversation are ids, with their
    -- place in the batch
    bo      bigint[];
    bt      uuid[];
    bc      uuid[];
    bi      text[];
    bj      text[];
    bh      text[];
    tid     uuid;
    n       int := 0;
    k       int;
    started uuid[];
    ac      uuid[];
    ai      text[];
    r       record;
BEGIN
    IF jsonb_typeof(p_batch) <> 'array' THEN
        PERFORM tickets.fail('HDINV', 'invalid', 'a batch is an array');
    END IF;

    SELECT array_agg(x.o), array_agg((x.e->>'t')::uuid),
           array_agg((x.e->>'c')::uuid), array_agg(x.e->>'i'),
           array_agg(x.e->>'j'), array_agg(x.e->>'h')
    INTO bo, bt, bc, bi, bj, bh
    FROM jsonb_array_elements(p_batch) WITH ORDINALITY x(e, o)
    WHERE tickets.is_uuid(x.e->>'t') AND tickets.is_uuid(x.e->>'c');

    FOR tid IN SELECT DISTINCT u FROM unnest(bt) u ORDER BY 1 LOOP
        PERFORM set_config('helpdesk.tenant_id', tid::text, true);

        -- the conversations' rows, in the order of their ids
        WITH latest AS (
            SELECT DISTINCT ON (b.c) b.c, b.h::jsonb AS h
            FROM unnest(bo, bt, bc, bh) b(o, t, c, h)
            WHERE b.t = tid AND coalesce(b.h, '') <> ''
            ORDER BY b.c, b.o DESC
        ), s AS (
            SELECT l.c, l.h, chat.uuid_or_null(l.h->>'v') AS v,
                   coalesce(l.h->>'st', 'queued') AS st,
                   CASE WHEN coalesce(l.h->>'page', '') <> ''
                        THEN (l.h->>'page')::jsonb ELSE '{}' END AS page,
                   CASE WHEN coalesce(l.h->>'pre', '') <> ''
                        THEN (l.h->>'pre')::jsonb ELSE '{}' END AS pre
            FROM latest l
        ), put AS (
            INSERT INTO helpdesk.chat_conversations AS cc (tenant_id,
                conversation_id, visitor_id, customer_id, status, agent_id,
                page_url, page_title, referrer, language, user_agent, prechat,
                started_at, accepted_at, first_response_at, ended_at, ended_by,
                last_message_at)
            SELECT tid, s.c, s.v, cv.customer_id, s.st,
                   chat.uuid_or_null(s.h->>'ag'),
                   left(s.page->>'url', 2048), left(s.page->>'title', 300),
                   left(s.page->>'referrer', 2048),
                   left(nullif(s.h->>'lang', ''), 35),
                   left(nullif(s.h->>'ua', ''), 512), s.pre,
                   coalesce(chat.ms(s.h->>'start'), now()), chat.ms(s.h->>'acc'),
                   chat.ms(s.h->>'fr'), chat.ms(s.h->>'end'),
                   CASE WHEN s.st IN ('ended', 'converted')
                        THEN coalesce(nullif(s.h->>'eb', ''), 'system') END,
                   chat.ms(s.h->>'lm')
            FROM s JOIN helpdesk.chat_visitors cv
                   ON cv.tenant_id = tid AND cv.visitor_id = s.v
            ORDER BY s.c
            ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET
                -- a converted conversation stays converted (chat.convert wrote it)
                status = CASE WHEN cc.status = 'converted' THEN cc.status
                              ELSE excluded.status END,
                agent_id = coalesce(excluded.agent_id, cc.agent_id),
                accepted_at = coalesce(cc.accepted_at, excluded.accepted_at),
                first_response_at = coalesce(cc.first_response_at,
                                             excluded.first_response_at),
                ended_at = coalesce(cc.ended_at, excluded.ended_at),
                ended_by = coalesce(cc.ended_by, excluded.ended_by),
                last_message_at = greatest(cc.last_message_at,
                                           excluded.last_message_at)
            RETURNING cc.conversation_id, cc.visitor_id, cc.prechat,
                      (xmax = 0) AS inserted
        )
        SELECT array_agg(put.conversation_id ORDER BY put.conversation_id)
        INTO started
        FROM put WHERE put.inserted;

        -- a conversation new to the record: the visitor's name and email
        -- as last given, and its start audited
        FOR r IN SELECT c.conversation_id, c.visitor_id, c.prechat
                 FROM helpdesk.chat_conversations c
                 WHERE c.tenant_id = tid AND c.conversation_id = ANY (started)
                 ORDER BY c.conversation_id
        LOOP
            UPDATE helpdesk.chat_visitors SET
                name = coalesce(left(nullif(r.prechat->>'name', ''), 200), name),
                email = coalesce(left(nullif(r.prechat->>'email', ''), 254), email),
                last_seen_at = now()
            WHERE tenant_id = tid AND visitor_id = r.visitor_id;

            PERFORM tickets.audit(jsonb_build_object('tenant_id', tid,
                                      'actor_type', 'system'),
                                  'chat.start', 'chat_conversation',
                                  r.conversation_id::text,
                                  jsonb_build_object('visitor', r.visitor_id));
        END LOOP;

        -- the events: a message, a note, or what happened (joined, ended,
        -- ...); those of a conversation whose visitor the record does not
        -- know (its state never reached us) are skipped rather than
        -- failing the batch.  An agent's message is by the agent of the
        -- conversation's state when it was said (its entry's), else of the
        -- batch's latest state.
        WITH latest AS MATERIALIZED (
            SELECT DISTINCT ON (b.c) b.c, b.h::jsonb->>'ag' AS ag
            FROM unnest(bo, bt, bc, bh) b(o, t, c, h)
            WHERE b.t = tid AND coalesce(b.h, '') <> ''
            ORDER BY b.c, b.o DESC
        ), e AS (
            SELECT b.o, b.c, b.i, b.j::jsonb AS j, b.h
            FROM unnest(bo, bt, bc, bi, bj, bh) b(o, t, c, i, j, h)
            WHERE b.t = tid
              AND coalesce(b.i, '') ~ '^[0-9]{1,20}-[0-9]{1,20}$'
              AND coalesce(b.j, '') <> ''
              AND EXISTS (SELECT 1 FROM helpdesk.chat_conversations x
                          WHERE x.tenant_id = tid AND x.conversation_id = b.c)
        ), m AS (
            SELECT e.o, e.c, e.i, e.j, e.h, w.kind,
                   CASE WHEN w.kind = 'event' THEN 'system'
                        WHEN w.who IN ('visitor', 'agent', 'bot', 'system')
                        THEN w.who ELSE 'system' END AS who
            FROM e CROSS JOIN LATERAL (
                SELECT CASE e.j->>'type' WHEN 'message' THEN 'message'
                           WHEN 'note' THEN 'note' ELSE 'event' END AS kind,
                       coalesce(e.j->'from'->>'kind', 'system') AS who) w
        ), ins AS (
            INSERT INTO helpdesk.chat_messages (tenant_id, conversation_id,
                message_id, kind, author_type, author_id, author_name, body,
                data, client_id, created_at)
            SELECT tid, m.c, m.i, m.kind, m.who,
                   CASE WHEN m.who = 'agent' THEN chat.uuid_or_null(
                       coalesce(nullif(CASE WHEN coalesce(m.h, '') <> ''
                                            THEN m.h::jsonb->>'ag' END, ''),
                                l.ag)) END,
                   left(m.j->'from'->>'name', 200),
                   left(coalesce(m.j->>'text', ''), 65536),
                   m.j - 'text' - 'cid' - 'from',
                   left(m.j->>'cid', 64), chat.id_ms(m.i)
            FROM m LEFT JOIN latest l ON l.c = m.c
            ORDER BY m.o
            ON CONFLICT (tenant_id, conversation_id, message_id) DO NOTHING
            RETURNING conversation_id, message_id,
                      data->>'type' IN ('joined', 'transferred', 'ended', 'left')
                      AS audit
        )
        SELECT (SELECT count(*) FROM e),
               array_agg(ins.conversation_id) FILTER (WHERE ins.audit),
               array_agg(ins.message_id) FILTER (WHERE ins.audit)
        INTO k, ac, ai
        FROM ins;

        n := n + k;

        -- what changes who handles a conversation is audited, like
        -- tickets, its actor the one who did it ("act": an agent's or an
        -- admin's transfer or end) or the agent of the state it left
        -- (its entry's, else the batch's latest)
        FOR r IN SELECT b.c, b.j::jsonb AS j,
                        coalesce(nullif(b.h, '')::jsonb,
                                 (SELECT l.h::jsonb
                                  FROM unnest(bo, bt, bc, bh) l(o, t, c, h)
                                  WHERE l.t = tid AND l.c = b.c AND coalesce(l.h, '') <> ''
                                  ORDER BY l.o DESC LIMIT 1), '{}') AS h
                 FROM unnest(bo, bt, bc, bi, bj, bh) b(o, t, c, i, j, h)
                 JOIN unnest(ac, ai) a(c, i) ON a.c = b.c AND a.i = b.i
                 WHERE b.t = tid
                 ORDER BY b.o
        LOOP
            PERFORM tickets.audit(jsonb_build_object('tenant_id', tid,
                                      'actor_type', CASE WHEN r.j->>'type' = 'ended'
                                          AND r.j->>'by' = 'visitor' THEN 'visitor'
                                          WHEN coalesce(nullif(r.h->>'act', ''), r.h->>'ag') <> ''
                                          THEN 'user' ELSE 'system' END,
                                      'actor_id', chat.uuid_or_null(
                                          coalesce(nullif(r.h->>'act', ''), r.h->>'ag'))),
                                  'chat.' || (r.j->>'type'), 'chat_conversation',
                                  r.c::text, r.j - 'type');
        END LOOP;
    END LOOP;

    RETURN n;
END
$$;

-- The tenant's queue and bot settings (the table's defaults for a
-- tenant that never saved its widget: chat.widget_or_default), as the
-- conversations layer reads them when a peer says hello.
CREATE OR REPLACE FUNCTION chat.settings(p_tenant uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    w helpdesk.chat_widgets := chat.widget_or_default(p_tenant);
BEGIN

    RETURN jsonb_build_object(
        'max_chats_per_agent', w.max_chats_per_agent,
        'accept_timeout_seconds', w.accept_timeout_seconds,
        'reply_timeout_seconds', w.reply_timeout_seconds,
        'on_reply_timeout', w.on_reply_timeout,
        'waiting_message', w.waiting_message,
        'transfer_allowed', w.transfer_allowed,
        'auto_ticket_minutes', w.auto_ticket_minutes,
        'bot_enabled', w.bot_enabled,
        'bot_kb_suggestions', w.bot_kb_suggestions,
        'greeting', w.greeting,
        'prechat_fields', w.prechat_fields,
        'open_now', coalesce(tickets.within_business_hours(p_tenant, 'chat', now()), true));
END
$$;

-- A browser by its token's SHA-256: its visitor id (made on first
-- sight), and its last conversation; NULL for a token of another tenant.
-- p_customer: the portal's signed-in customer the handshake found (its
-- session cookie came with it); one that is not an active customer of
-- this tenant is ignored.  The visitor is linked to that customer, with
-- its name and email (what its conversations start with); a browser
-- token linked to a customer is not reused without that customer's
-- session (NULL: a new token).
-- "customer" is what the widget needs not ask: id, name, email, verified.
DROP FUNCTION IF EXISTS chat.visitor(uuid, bytea);
CREATE OR REPLACE FUNCTION chat.visitor(p_tenant uuid, p_token_hash bytea,
    p_customer uuid, OUT visitor_id uuid, OUT last_conversation uuid,
    OUT customer jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    vid  uuid;
    prev uuid;
    u    helpdesk.users;
BEGIN
    IF p_token_hash IS NULL OR length(p_token_hash) <> 32 THEN
        PERFORM tickets.fail('HDINV', 'invalid', 'a token hash is 32 bytes');
    END IF;

    IF p_customer IS NOT NULL THEN
        SELECT * INTO u FROM helpdesk.users x
        WHERE x.tenant_id = p_tenant AND x.user_id = p_customer
          AND x.role = 'customer' AND x.status = 'active'
          AND x.merged_into IS NULL;
    END IF;

    SELECT v.visitor_id, v.customer_id INTO vid, prev
    FROM helpdesk.chat_visitors v
    WHERE v.tenant_id = p_tenant AND v.token_hash = p_token_hash
    FOR UPDATE;

    -- a token linked to a customer is that customer's only: without
    -- their session (signed out, another person at the same browser) or
    -- with another customer's, it is not reused
    IF vid IS NOT NULL AND prev IS NOT NULL
       AND prev IS DISTINCT FROM u.user_id
    THEN
        RETURN;     -- another customer's browser token
    END IF;

    IF u.user_id IS NOT NULL THEN
        customer := jsonb_build_object('id', u.user_id, 'name', u.name,
                                       'email', u.email,
                                       'verified', u.email_verified_at IS NOT NULL);
    END IF;

    IF vid IS NOT NULL THEN
        UPDATE helpdesk.chat_visitors v SET last_seen_at = now(),
            customer_id = coalesce(u.user_id, v.customer_id),
            name = coalesce(left(u.name, 200), v.name),
            email = coalesce(left(u.email, 254), v.email)
        WHERE v.tenant_id = p_tenant AND v.visitor_id = vid;
    END IF;

    visitor_id := vid;

    IF vid IS NULL THEN
        IF EXISTS (SELECT 1 FROM helpdesk.chat_visitors v
                   WHERE v.token_hash = p_token_hash) THEN
            customer := NULL;
            RETURN;     -- another tenant's
        END IF;

        INSERT INTO helpdesk.chat_visitors (tenant_id, token_hash, customer_id,
                                            name, email)
        VALUES (p_tenant, p_token_hash, u.user_id, left(u.name, 200),
                left(u.email, 254))
        ON CONFLICT (token_hash) DO NOTHING
        RETURNING chat_visitors.visitor_id INTO visitor_id;

        IF visitor_id IS NULL THEN
            customer := NULL;
        END IF;

        RETURN;
    END IF;

    SELECT c.conversation_id INTO last_conversation
    FROM helpdesk.chat_conversations c
    WHERE c.tenant_id = p_tenant AND c.visitor_id = vid
    ORDER BY c.started_at DESC LIMIT 1;
END
$$;

-- Knowledge-base suggestions for a visitor's first message: the portal's
-- search ("any word", as its suggestions while typing), at most three,
-- with their links on the tenant's portal: its verified domain, else its
-- name under the base domain as p_link says (scheme, base, port), so that
-- the widget never resolves them against the page or the provider's host.
DROP FUNCTION IF EXISTS chat.kb_suggest(uuid, text);
CREATE OR REPLACE FUNCTION chat.kb_suggest(p_tenant uuid, p_q text,
                                           p_link jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    t  helpdesk.tenants;
    r  jsonb;
    origin text;
BEGIN
    IF coalesce(btrim(p_q), '') = '' THEN
        RETURN '[]';
    END IF;

    SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        RETURN '[]';
    END IF;

    r := portal.portal_kb_search('{}'::jsonb, t, NULL::helpdesk.users,
             jsonb_build_object('q', left(p_q, 200), 'limit', '3'))->'body'->'data';
    origin := portal.tenant_origin(t, p_link);

    -- no origin (no verified domain, no base domain): no link to guess
    RETURN coalesce((SELECT jsonb_agg(CASE WHEN origin IS NULL
                                 THEN jsonb_build_object('title', a->>'title')
                                 ELSE jsonb_build_object('title', a->>'title',
                                          'url', origin || '/kb/' || (a->>'slug')) END)
                     FROM jsonb_array_elements(r) a), '[]');
EXCEPTION WHEN others THEN
    -- suggestions are a courtesy: no article rather than no answer
    RETURN '[]';
END
$$;

-- "Email me the transcript": an email job in the outbox, as the portal's
-- mails; the conversation must be the visitor's.
CREATE OR REPLACE FUNCTION chat.transcript(p_tenant uuid, p_conv uuid,
    p_visitor uuid, p_email text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c     helpdesk.chat_conversations;
    tname text;
    lines text;
BEGIN
    SELECT * INTO c FROM helpdesk.chat_conversations x
    WHERE x.tenant_id = p_tenant AND x.conversation_id = p_conv
      AND x.visitor_id = p_visitor;
    IF NOT FOUND THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'no such conversation');
    END IF;

    -- a few a conversation: the address is anyone's the visitor types, so
    -- the tenant's mail must not carry what a visitor writes to any number
    -- of them (each one sent is audited, below)
    IF (SELECT count(*) FROM helpdesk.audit_log a
        WHERE a.tenant_id = p_tenant AND a.object_type = 'chat_conversation'
          AND a.object_id = p_conv::text AND a.action = 'chat.transcript') >= 3
    THEN
        PERFORM tickets.fail('HDLIM', 'rate-limited',
            'this conversation''s transcript was emailed enough times');
    END IF;

    SELECT name INTO tname FROM helpdesk.tenants WHERE tenant_id = p_tenant;

    SELECT string_agg(to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
                      || ' ' || coalesce(nullif(m.author_name, ''),
                                         CASE m.author_type WHEN 'visitor' THEN 'You'
                                              WHEN 'bot' THEN 'Bot' ELSE 'Support' END)
                      || ': ' || m.body, E'\n'
                      ORDER BY split_part(m.message_id, '-', 1)::bigint,
                               split_part(m.message_id, '-', 2)::bigint)
    INTO lines
    FROM helpdesk.chat_messages m
    WHERE m.tenant_id = p_tenant AND m.conversation_id = p_conv
      AND m.kind = 'message';

    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id,
                                 event_type, payload)
    VALUES (p_tenant, 'email', p_conv, gen_random_uuid(), 'email.chat_transcript',
            jsonb_build_object('to', lower(p_email),
                               'subject', 'Chat — ' || coalesce(tname, ''),
                               'text', coalesce(lines, '')));

    PERFORM tickets.audit(jsonb_build_object('tenant_id', p_tenant,
                              'actor_type', 'visitor'),
                          'chat.transcript', 'chat_conversation', p_conv::text, '{}');
END
$$;

RESET ROLE;
