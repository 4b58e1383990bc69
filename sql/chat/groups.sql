-- nginx-helpdesk: agent groups as the chat sees them (the groups
-- themselves: sql/tickets/groups.sql).
--
-- The chat keeps each agent's groups in the agent's presence record in
-- Redis, where the queue is assigned: read here at the agent's hello, and
-- again for all the tenant's agents after each change of the tenant's
-- groups (the module calls api.chat_group_sync() once the change is
-- committed).  Each read carries the tenant's version of its groups
-- (migration 029), read in the same statement, so that Redis keeps the
-- newest whatever order the reads arrive in.

SET ROLE helpdesk_owner;

-- the tenant's groups, for the transfer dialog: [{"id", "name"}]
CREATE OR REPLACE FUNCTION chat.groups_json(p_tenant uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', g.group_id, 'name', g.name)
                              ORDER BY lower(g.name)), '[]')
    FROM helpdesk.agent_groups g
    WHERE g.tenant_id = p_tenant AND g.deleted_at IS NULL
$$;

-- An agent's hello: {"v": version, "mine": [group ids], "groups": [...]}
-- (one statement: one snapshot for the version and what it describes).
CREATE OR REPLACE FUNCTION chat.agent_groups(p_tenant uuid, p_user uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'v', coalesce((SELECT v.version FROM helpdesk.agent_group_versions v
                       WHERE v.tenant_id = p_tenant), 0),
        'mine', coalesce((SELECT jsonb_agg(m.group_id ORDER BY m.group_id)
                          FROM helpdesk.agent_group_members m
                          JOIN helpdesk.agent_groups g USING (tenant_id, group_id)
                          WHERE m.tenant_id = p_tenant AND m.user_id = p_user
                            AND g.deleted_at IS NULL), '[]'),
        'groups', chat.groups_json(p_tenant))
$$;

-- After a change of the tenant's groups: every agent's groups (an agent
-- in none has []), the tenant's groups, and the group the change was
-- about when it is deleted ("gone": conversations waiting for it are
-- then open to every agent).
CREATE OR REPLACE FUNCTION chat.group_sync(p_tenant uuid, p_group uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        't', p_tenant,
        'v', coalesce((SELECT v.version FROM helpdesk.agent_group_versions v
                       WHERE v.tenant_id = p_tenant), 0),
        'a', coalesce((SELECT jsonb_object_agg(u.user_id, coalesce(
                                  (SELECT jsonb_agg(m.group_id ORDER BY m.group_id)
                                   FROM helpdesk.agent_group_members m
                                   WHERE m.tenant_id = p_tenant
                                     AND m.user_id = u.user_id), '[]'))
                       FROM helpdesk.users u
                       WHERE u.tenant_id = p_tenant
                         AND u.role IN ('agent', 'admin')), '{}'),
        'groups', chat.groups_json(p_tenant),
        'gone', coalesce((SELECT jsonb_agg(g.group_id)
                          FROM helpdesk.agent_groups g
                          WHERE g.tenant_id = p_tenant AND g.group_id = p_group
                            AND g.deleted_at IS NOT NULL), '[]'))
$$;

-- The tenant of a group (deleted ones too): looked up across tenants, so
-- run as the owner; the caller proved itself the module first.
CREATE OR REPLACE FUNCTION chat.group_tenant(p_group uuid) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT g.tenant_id FROM helpdesk.agent_groups g WHERE g.group_id = p_group
$$;

-- A transfer to a group, by its name as the agent gave it (without
-- regard to case): {"id", "name"}, or NULL for no such group.
CREATE OR REPLACE FUNCTION chat.group_by_name(p_tenant uuid, p_name text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', g.group_id, 'name', g.name)
    FROM helpdesk.agent_groups g
    WHERE g.tenant_id = p_tenant AND g.deleted_at IS NULL
      AND lower(g.name) = lower(btrim(p_name))
$$;

RESET ROLE;
