-- nginx-helpdesk: a chat becomes a ticket (schema "chat").
--
--   chat.convert(ctx jsonb, p_conversation uuid) RETURNS jsonb
--
--     ctx:   who converts, as the ticket service takes it: {"tenant_id",
--            "actor_type" ("user" for an agent, "system" for the automatic
--            conversions), "actor_id", "actor_name", "ip"}; the channel is
--            always "chat".  The caller has set the tenant
--            (helpdesk.tenant_id) for row-level security.
--     answers {"ticket_id": uuid, "number": "TKT-000042", "created": bool}
--     errors  HDNFD (no such conversation of this tenant)
--
-- One transaction writes the ticket (channel "chat") with the transcript
-- as its events in time order: the visitor's, the agents' and the bot's
-- messages as public comments at the time they were said, notes as
-- internal ones, the conversation's events (joined, transferred, ...) as
-- internal comments; files sent in the chat move to the comment that
-- carried them (helpdesk.chat_files, migration 026; the stored message
-- names each by its "upload_id").  The requester is the customer linked
-- to the visitor, or a customer made from the pre-chat name and email.
-- The conversation is then "converted" with its ticket.  Converting again
-- answers the same ticket (created: false).
--
-- What is still only in Redis is written first by the conversations layer
-- (api.chat_convert passes the whole stream through chat.persist), so the
-- transcript is complete when the conversion comes from the chat; the
-- record API's conversion converts what the record holds.

SET ROLE helpdesk_owner;

-- The chat's messages that its ticket does not have yet, as the ticket's
-- events in the order they were said (each chat message once: its id is
-- in the event's data).
CREATE OR REPLACE FUNCTION chat.transcribe(tenant uuid, p_conversation uuid,
                                           tid uuid, requester uuid)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m    helpdesk.chat_messages;
    e    helpdesk.ticket_events;
    txt  text;
BEGIN
    -- the transcript, in the order it was said
    FOR m IN SELECT * FROM helpdesk.chat_messages x
             WHERE x.tenant_id = tenant AND x.conversation_id = p_conversation
               AND NOT EXISTS (SELECT 1 FROM helpdesk.ticket_events te
                               WHERE te.tenant_id = tenant AND te.ticket_id = tid
                                 AND te.data->>'chat_message' = x.message_id)
             ORDER BY split_part(x.message_id, '-', 1)::bigint,
                      split_part(x.message_id, '-', 2)::bigint
    LOOP
        txt := CASE m.kind
            WHEN 'event' THEN
                CASE m.data->>'type'
                    WHEN 'joined' THEN coalesce(m.data->'agent'->>'name', 'An agent') || ' joined the chat'
                    WHEN 'transferred' THEN 'Transferred to '
                        || coalesce(m.data->'to'->>'name', m.data->'to'->>'group', 'another agent')
                    WHEN 'left' THEN 'The agent left the chat'
                    WHEN 'ended' THEN 'The chat was ended by the ' || coalesce(m.data->>'by', 'system')
                    ELSE NULL END
            -- the bot's suggestions stay in the ticket, as the visitor saw them
            WHEN 'message' THEN
                CASE WHEN m.author_type = 'bot'
                          AND jsonb_typeof(m.data->'articles') = 'array'
                          AND jsonb_array_length(m.data->'articles') > 0 THEN
                    m.body || (SELECT string_agg(E'\n- ' || coalesce(a->>'title', '')
                                                 || ' (' || coalesce(a->>'url', '') || ')',
                                                 '' ORDER BY o)
                               FROM jsonb_array_elements(m.data->'articles')
                                    WITH ORDINALITY x(a, o))
                ELSE m.body END
            ELSE m.body END;

        CONTINUE WHEN txt IS NULL OR (txt = '' AND m.data->'attachments' IS NULL);

        INSERT INTO helpdesk.ticket_events (tenant_id, ticket_id, type, visibility,
                                            channel, actor_type, actor_id,
                                            actor_name, body, data, created_at)
        VALUES (tenant, tid, 'comment',
                CASE WHEN m.kind = 'message' THEN 'public' ELSE 'internal' END,
                'chat',
                CASE m.author_type WHEN 'visitor' THEN
                         CASE WHEN requester IS NOT NULL THEN 'user' ELSE 'system' END
                     WHEN 'agent' THEN 'user' ELSE 'system' END,
                CASE m.author_type WHEN 'visitor' THEN requester
                     WHEN 'agent' THEN m.author_id END,
                coalesce(nullif(m.author_name, ''),
                         CASE m.author_type WHEN 'bot' THEN 'Bot' END),
                txt,
                jsonb_build_object('chat', p_conversation, 'chat_message', m.message_id,
                                   'author', m.author_type),
                m.created_at)
        RETURNING * INTO e;

        -- files sent in the chat go with the comment that carried them
        IF jsonb_typeof(m.data->'attachments') = 'array' THEN
            INSERT INTO helpdesk.attachments (tenant_id, ticket_id, event_id,
                                              filename, content_type, size,
                                              sha256, data, source)
            SELECT f.tenant_id, tid, e.event_id, f.filename, f.content_type,
                   f.size, f.sha256, f.data, 'chat'
            FROM helpdesk.chat_files f
            WHERE f.tenant_id = tenant AND f.conversation_id = p_conversation
              AND f.file_id::text IN (
                  SELECT coalesce(a->>'upload_id', a #>> '{}')
                  FROM jsonb_array_elements(m.data->'attachments') a)
            ORDER BY f.created_at;
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION chat.convert(ctx jsonb, p_conversation uuid)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant    uuid := (ctx->>'tenant_id')::uuid;
    c         helpdesk.chat_conversations;
    v         helpdesk.chat_visitors;
    requester uuid;
    first     text;
    subject   text;
    created   jsonb;
    tid       uuid;
    tctx      jsonb;
BEGIN
    SELECT * INTO c FROM helpdesk.chat_conversations x
    WHERE x.tenant_id = tenant AND x.conversation_id = p_conversation
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'no such conversation');
    END IF;

    IF c.ticket_id IS NOT NULL THEN
        -- what was said after the record was converted (a conversion
        -- through the REST API converts what PostgreSQL held; the chat's
        -- own path then writes what was still in Redis and comes here):
        -- added to the same ticket, each message once
        PERFORM chat.transcribe(tenant, p_conversation, c.ticket_id,
                                (SELECT t.requester_id FROM helpdesk.tickets t
                                 WHERE t.tenant_id = tenant
                                   AND t.ticket_id = c.ticket_id));
        RETURN jsonb_build_object('ticket_id', c.ticket_id, 'created', false,
                                  'number', (SELECT tickets.ticket_number(t.number)
                                             FROM helpdesk.tickets t
                                             WHERE t.tenant_id = tenant
                                               AND t.ticket_id = c.ticket_id));
    END IF;

    SELECT * INTO v FROM helpdesk.chat_visitors x
    WHERE x.tenant_id = tenant AND x.visitor_id = c.visitor_id;

    requester := coalesce(c.customer_id, v.customer_id,
                          chat.customer_for(tenant,
                              nullif(coalesce(c.prechat->>'email', v.email), ''),
                              nullif(coalesce(c.prechat->>'name', v.name), '')));

    SELECT x.body INTO first FROM helpdesk.chat_messages x
    WHERE x.tenant_id = tenant AND x.conversation_id = p_conversation
      AND x.kind = 'message' AND x.author_type = 'visitor' AND x.body <> ''
    ORDER BY split_part(x.message_id, '-', 1)::bigint,
             split_part(x.message_id, '-', 2)::bigint
    LIMIT 1;

    subject := left(coalesce(nullif(btrim(regexp_replace(first, '\s+', ' ', 'g')), ''),
                             'Chat' || coalesce(' — ' || nullif(coalesce(c.prechat->>'name', v.name), ''), '')),
                    120);

    tctx := ctx || jsonb_build_object('channel', 'chat');

    created := tickets.ticket_create(tctx, jsonb_build_object(
        'subject', subject,
        'description', coalesce(first, ''),
        'requester_id', requester,
        'event_data', jsonb_build_object('chat', p_conversation)));
    tid := (created->'body'->>'id')::uuid;

    PERFORM chat.transcribe(tenant, p_conversation, tid, requester);

    UPDATE helpdesk.chat_conversations x SET
        status = 'converted', ticket_id = tid,
        customer_id = coalesce(x.customer_id, requester),
        ended_at = coalesce(x.ended_at, now()),
        ended_by = coalesce(x.ended_by,
                            CASE WHEN ctx->>'actor_type' = 'user' THEN 'agent'
                                 ELSE 'system' END)
    WHERE x.tenant_id = tenant AND x.conversation_id = p_conversation;

    PERFORM tickets.audit(tctx, 'chat.convert', 'chat_conversation',
                          p_conversation::text,
                          jsonb_build_object('ticket', created->'body'->>'number'));

    RETURN jsonb_build_object('ticket_id', tid, 'created', true,
                              'number', created->'body'->>'number');
END
$$;

RESET ROLE;
