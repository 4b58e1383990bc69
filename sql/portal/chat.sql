-- nginx-helpdesk: the website chat in the customer portal -- a signed-in
-- customer's chats beside their tickets, each opened read-only.
--
-- Which chats are a customer's follows the tickets' rule (portal.sql,
-- portal_ticket_visible): those their own signed-in browser had (the
-- visitor linked to them by the portal's session at the chat's hello),
-- and, once their address is proven, also those that reached us for it
-- otherwise (the conversation linked to them, or an anonymous chat whose
-- pre-chat form gave that address).  An unproven account sees only its
-- own.  A transcript holds what both sides saw: the messages, never an
-- agent's internal note nor an event (a transfer carries a note).  Both
-- reads are audited like ticket reads.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION portal.portal_chat_visible(u helpdesk.users,
    c helpdesk.chat_conversations, v helpdesk.chat_visitors)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT v.customer_id = u.user_id
           OR (u.email_verified_at IS NOT NULL
               AND (c.customer_id = u.user_id
                    OR c.customer_id IN (SELECT m.user_id FROM helpdesk.users m
                                         WHERE m.tenant_id = u.tenant_id
                                           AND m.merged_into = u.user_id)
                    OR (c.customer_id IS NULL AND v.customer_id IS NULL
                        AND u.email IS NOT NULL
                        AND portal.norm_email(coalesce(nullif(c.prechat->>'email', ''),
                                                       v.email)) = u.email)))
$$;

CREATE OR REPLACE FUNCTION portal.portal_chat_json(c helpdesk.chat_conversations)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.conversation_id,
        'status', c.status,
        'agent', (SELECT a.name FROM helpdesk.users a
                  WHERE a.tenant_id = c.tenant_id AND a.user_id = c.agent_id),
        'ticket', (SELECT tickets.ticket_number(t.number) FROM helpdesk.tickets t
                   WHERE t.tenant_id = c.tenant_id AND t.ticket_id = c.ticket_id),
        'started_at', c.started_at,
        'ended_at', c.ended_at)
$$;

CREATE OR REPLACE FUNCTION portal.portal_chat_list(ctx jsonb, u helpdesk.users)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM tickets.read_only_audit();

    SELECT coalesce(jsonb_agg(portal.portal_chat_json(x) ORDER BY x.started_at DESC), '[]')
    INTO r
    FROM (SELECT c.* FROM helpdesk.chat_conversations c
          JOIN helpdesk.chat_visitors v
            ON v.tenant_id = c.tenant_id AND v.visitor_id = c.visitor_id
          WHERE c.tenant_id = u.tenant_id
            AND portal.portal_chat_visible(u, c, v)
          ORDER BY c.started_at DESC LIMIT 200) x;

    PERFORM tickets.audit(ctx, 'portal.chat.list', 'chat_conversation', NULL);

    RETURN jsonb_build_object('body', jsonb_build_object('data', r));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_chat_get(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.chat_conversations;
    v helpdesk.chat_visitors;
    r jsonb;
BEGIN
    PERFORM tickets.read_only_audit();

    IF tickets.is_uuid(args->>'id') THEN
        SELECT * INTO c FROM helpdesk.chat_conversations x
        WHERE x.tenant_id = u.tenant_id AND x.conversation_id = (args->>'id')::uuid;
        SELECT * INTO v FROM helpdesk.chat_visitors x
        WHERE x.tenant_id = u.tenant_id AND x.visitor_id = c.visitor_id;
    END IF;

    IF c.conversation_id IS NULL OR NOT coalesce(portal.portal_chat_visible(u, c, v), false) THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such chat');
    END IF;

    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', m.message_id,
               'author', CASE m.author_type WHEN 'visitor' THEN 'you'
                                            WHEN 'bot' THEN 'bot'
                                            ELSE 'agent' END,
               'name', CASE WHEN m.author_type IN ('agent', 'bot') THEN m.author_name END,
               'body', m.body,
               'files', coalesce((SELECT jsonb_agg(f->>'filename')
                                  FROM jsonb_array_elements(
                                      CASE jsonb_typeof(m.data) WHEN 'array' THEN m.data
                                      ELSE '[]' END) f), '[]'),
               'created_at', m.created_at)
             ORDER BY chat.message_order(m.message_id)), '[]')
    INTO r
    FROM helpdesk.chat_messages m
    WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id
      AND m.kind = 'message'
      AND m.author_type IN ('visitor', 'agent', 'bot');

    PERFORM tickets.audit(ctx, 'portal.chat.read', 'chat_conversation',
                          c.conversation_id::text);

    RETURN jsonb_build_object('body',
        portal.portal_chat_json(c) || jsonb_build_object('messages', r));
END
$$;

RESET ROLE;
