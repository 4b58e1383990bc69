-- nginx-helpdesk: the conversations layer's entry points (schema "api").
--
-- The chat's tenant was resolved by the transport (the widget's tenant
-- and Origin, or the agent's console session), so these take a tenant
-- id; like the other entry points that the module alone may call with
-- one, each wants the module's proof first (rest.module_proof): the app
-- role alone cannot write another tenant's chat.  Then the tenant is set
-- for row-level security and the implementation in schema "chat" runs.

SET ROLE helpdesk_service;

-- A batch of the persistence stream (src/jobs/ngx_helpdesk_chat_persist.c).
CREATE OR REPLACE FUNCTION api.chat_persist(p_proof bytea, p_batch jsonb)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN chat.persist(p_batch);
END
$$;

-- A visitor's hello: the browser's token (its SHA-256) to a visitor, and
-- the tenant's queue settings; p_customer: the portal's signed-in
-- customer the handshake found, if any (chat.visitor()).
DROP FUNCTION IF EXISTS api.chat_visitor(bytea, uuid, bytea);
CREATE OR REPLACE FUNCTION api.chat_visitor(p_proof bytea, p_tenant uuid,
    p_token_hash bytea, p_customer uuid, OUT visitor_id uuid,
    OUT last_conversation uuid, OUT settings jsonb, OUT customer jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);
    SELECT r.visitor_id, r.last_conversation, r.customer
    INTO visitor_id, last_conversation, customer
    FROM chat.visitor(p_tenant, p_token_hash, p_customer) r;
    settings := chat.settings(p_tenant);
END
$$;

-- An agent's hello: api.chat_agent_hello() (sql/api/chat_groups.sql).
DROP FUNCTION IF EXISTS api.chat_settings(bytea, uuid);

-- The bot's suggestions for a first message; p_link: how the chat's
-- location links to the tenant's portal (portal.tenant_origin()).
DROP FUNCTION IF EXISTS api.chat_kb(bytea, uuid, text);
CREATE OR REPLACE FUNCTION api.chat_kb(p_proof bytea, p_tenant uuid, p_q text,
                                       p_link jsonb)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);
    RETURN chat.kb_suggest(p_tenant, p_q, p_link);
END
$$;

-- "Email me the transcript".
CREATE OR REPLACE FUNCTION api.chat_transcript(p_proof bytea, p_tenant uuid,
    p_conversation uuid, p_visitor uuid, p_email text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);
    PERFORM chat.transcript(p_tenant, p_conversation, p_visitor, p_email);
END
$$;

-- A conversion from the chat (an agent's "convert", or a deadline): what
-- Redis holds of the conversation is written first (p_state: its state,
-- p_events: [{"i", "j", "u"}] every event of its stream), then
-- chat.convert() makes the ticket; answers its number.
CREATE OR REPLACE FUNCTION api.chat_convert(p_proof bytea, p_tenant uuid,
    p_conversation uuid, p_by text, p_agent uuid, p_state jsonb,
    p_events jsonb, OUT number text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    batch jsonb;
    r     jsonb;
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    SELECT coalesce(jsonb_agg(jsonb_build_object('t', p_tenant, 'c', p_conversation,
                                                 'i', e->>'i', 'j', e->>'j',
                                                 'u', e->>'u', 'h', p_state::text)),
                    '[]')
    INTO batch FROM jsonb_array_elements(p_events) e;

    IF batch = '[]' THEN
        batch := jsonb_build_array(jsonb_build_object('t', p_tenant,
                     'c', p_conversation, 'i', '', 'j', '', 'u', '',
                     'h', p_state::text));
    END IF;

    PERFORM chat.persist(batch);

    r := chat.convert(jsonb_build_object('tenant_id', p_tenant,
             'actor_type', CASE WHEN p_by = 'agent' AND p_agent IS NOT NULL
                                THEN 'user' ELSE 'system' END,
             'actor_id', CASE WHEN p_by = 'agent' THEN p_agent END,
             'actor_name', (SELECT u.name FROM helpdesk.users u
                            WHERE u.tenant_id = p_tenant AND u.user_id = p_agent)),
             p_conversation);
    number := r->>'number';
END
$$;

RESET ROLE;
