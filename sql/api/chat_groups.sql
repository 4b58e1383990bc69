-- nginx-helpdesk: the chat's entry points for agent groups (see
-- sql/chat/groups.sql and src/chat/ngx_http_helpdesk_chat_groups.c).
-- Each wants the module's proof first, like the chat's other entry points
-- (sql/api/chat_record.sql).

SET ROLE helpdesk_service;

-- An agent's hello: the tenant's queue settings, and the agent's groups
-- with the tenant's version of them.
CREATE OR REPLACE FUNCTION api.chat_agent_hello(p_proof bytea, p_tenant uuid,
    p_user uuid, OUT settings jsonb, OUT groups jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);
    settings := chat.settings(p_tenant);
    groups := chat.agent_groups(p_tenant, p_user);
END
$$;

-- A transfer to a group: the group of that name, or NULL.
CREATE OR REPLACE FUNCTION api.chat_group(p_proof bytea, p_tenant uuid,
    p_name text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);
    RETURN chat.group_by_name(p_tenant, p_name);
END
$$;

-- After a committed change of a group (made through the REST API): what
-- the presence records need (chat.group_sync()), or NULL for no such
-- group.
CREATE OR REPLACE FUNCTION api.chat_group_sync(p_proof bytea, p_group uuid)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    t uuid;
BEGIN
    PERFORM rest.module_proof(p_proof);
    t := chat.group_tenant(p_group);
    IF t IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('helpdesk.tenant_id', t::text, true);
    RETURN chat.group_sync(t, p_group);
END
$$;

RESET ROLE;
