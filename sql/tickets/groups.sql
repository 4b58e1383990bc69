-- nginx-helpdesk: agent groups (/v1/groups, the console's groups page).
--
-- A group is a tenant's named set of agents and admins.  The chat offers
-- a conversation transferred to a group to its members only
-- (docs/chat-protocol.md); the module tells the chat's presence records of
-- every change once it is committed (api.chat_group_sync()).  Every change
-- is audited and moves the tenant's version of its groups on
-- (helpdesk.agent_group_versions, migration 029).  A group of another
-- tenant, a deleted one, or an id that is not one: 404, as for any object.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION tickets.group_members_json(p_tenant uuid, p_group uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.user_id,
                                  'name', u.name, 'email', u.email,
                                  'role', u.role, 'status', u.status,
                                  'added_at', m.added_at)
                              ORDER BY lower(coalesce(u.name, u.email)), u.email), '[]')
    FROM helpdesk.agent_group_members m
    JOIN helpdesk.users u ON u.tenant_id = m.tenant_id AND u.user_id = m.user_id
    WHERE m.tenant_id = p_tenant AND m.group_id = p_group
$$;

CREATE OR REPLACE FUNCTION tickets.group_json(g helpdesk.agent_groups)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', g.group_id, 'name', g.name,
                              'description', g.description,
                              'members', tickets.group_members_json(g.tenant_id, g.group_id),
                              'created_at', g.created_at,
                              'updated_at', g.updated_at)
$$;

-- the tenant's groups changed: their version moves on (the row locked
-- until the change commits, so versions follow the order of commits)
CREATE OR REPLACE FUNCTION tickets.group_version_bump(p_tenant uuid)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    INSERT INTO helpdesk.agent_group_versions AS x (tenant_id, version)
    VALUES (p_tenant, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET version = x.version + 1
    RETURNING x.version INTO v;
    RETURN v;
END
$$;

CREATE OR REPLACE FUNCTION tickets.group_find(ref text, for_update boolean)
RETURNS helpdesk.agent_groups LANGUAGE plpgsql AS $$
DECLARE
    g helpdesk.agent_groups;
BEGIN
    IF tickets.is_uuid(ref) THEN
        IF for_update THEN
            SELECT * INTO g FROM helpdesk.agent_groups
            WHERE tenant_id = helpdesk.current_tenant() AND group_id = ref::uuid
              AND deleted_at IS NULL FOR UPDATE;
        ELSE
            SELECT * INTO g FROM helpdesk.agent_groups
            WHERE tenant_id = helpdesk.current_tenant() AND group_id = ref::uuid
              AND deleted_at IS NULL;
        END IF;
    END IF;

    IF g.group_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
                              format('there is no group %s', ref));
    END IF;

    RETURN g;
END
$$;

-- A name as a group keeps it: trimmed, 1 to 100 characters, no control
-- characters; the reasons listed like every field error.
CREATE OR REPLACE FUNCTION tickets.group_name_check(p_name text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n text := btrim(coalesce(p_name, ''), E' \t\r\n');
BEGIN
    IF n = '' OR length(n) > 100 OR n ~ '[\x01-\x1f\x7f]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error',
            'the request has invalid fields',
            jsonb_build_array(jsonb_build_object('field', 'name',
                'message', 'must be 1 to 100 characters, without control characters')));
    END IF;

    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION tickets.group_name_taken(p_name text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickets.fail('HDCNF', 'conflict',
        format('there is already a group named "%s"', p_name),
        jsonb_build_array(jsonb_build_object('field', 'name',
            'message', 'is already the name of another group')));
END
$$;

CREATE OR REPLACE FUNCTION tickets.group_list(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    items jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(tickets.group_json(g) ORDER BY lower(g.name)), '[]')
    INTO items FROM helpdesk.agent_groups g
    WHERE g.tenant_id = (ctx->>'tenant_id')::uuid AND g.deleted_at IS NULL;

    PERFORM tickets.audit_read(ctx, 'group.list', 'group', NULL,
                                jsonb_build_object('count', jsonb_array_length(items)));

    RETURN jsonb_build_object('body', jsonb_build_object('data', items));
END
$$;

CREATE OR REPLACE FUNCTION tickets.group_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    g helpdesk.agent_groups := tickets.group_find(args->>'id', false);
BEGIN
    PERFORM tickets.audit_read(ctx, 'group.read', 'group', g.group_id::text);
    RETURN jsonb_build_object('body', tickets.group_json(g));
END
$$;

CREATE OR REPLACE FUNCTION tickets.group_create(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t uuid := (ctx->>'tenant_id')::uuid;
    n text := tickets.group_name_check(args->>'name');
    g helpdesk.agent_groups;
BEGIN
    PERFORM tickets.group_version_bump(t);

    INSERT INTO helpdesk.agent_groups (tenant_id, name, description)
    VALUES (t, n, btrim(coalesce(args->>'description', '')))
    ON CONFLICT (tenant_id, lower(name)) WHERE deleted_at IS NULL DO NOTHING
    RETURNING * INTO g;

    IF g.group_id IS NULL THEN
        PERFORM tickets.group_name_taken(n);
    END IF;

    PERFORM tickets.audit(ctx, 'group.create', 'group', g.group_id::text,
                           jsonb_build_object('name', g.name));

    RETURN jsonb_build_object('body', tickets.group_json(g),
                              'location', '/v1/groups/' || g.group_id);
END
$$;

CREATE OR REPLACE FUNCTION tickets.group_update(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    g helpdesk.agent_groups := tickets.group_find(args->>'id', true);
    n text;
    before jsonb := jsonb_build_object('name', g.name, 'description', g.description);
BEGIN
    IF args ? 'name' THEN
        n := tickets.group_name_check(args->>'name');

        IF EXISTS (SELECT 1 FROM helpdesk.agent_groups x
                   WHERE x.tenant_id = g.tenant_id AND x.deleted_at IS NULL
                     AND lower(x.name) = lower(n) AND x.group_id <> g.group_id)
        THEN
            PERFORM tickets.group_name_taken(n);
        END IF;
    END IF;

    PERFORM tickets.group_version_bump(g.tenant_id);

    BEGIN
        UPDATE helpdesk.agent_groups x SET
            name = coalesce(n, x.name),
            description = CASE WHEN args ? 'description'
                               THEN btrim(coalesce(args->>'description', ''))
                               ELSE x.description END,
            updated_at = now()
        WHERE x.tenant_id = g.tenant_id AND x.group_id = g.group_id
        RETURNING x.* INTO g;
    EXCEPTION WHEN unique_violation THEN
        -- another request took the name meanwhile
        PERFORM tickets.group_name_taken(n);
    END;

    PERFORM tickets.audit(ctx, 'group.update', 'group', g.group_id::text,
                           jsonb_build_object('before', before,
                               'after', jsonb_build_object('name', g.name,
                                                           'description', g.description)));

    RETURN jsonb_build_object('body', tickets.group_json(g));
END
$$;

CREATE OR REPLACE FUNCTION tickets.group_delete(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    g helpdesk.agent_groups := tickets.group_find(args->>'id', true);
    members jsonb := (SELECT coalesce(jsonb_agg(m.user_id), '[]')
                      FROM helpdesk.agent_group_members m
                      WHERE m.tenant_id = g.tenant_id AND m.group_id = g.group_id);
BEGIN
    PERFORM tickets.group_version_bump(g.tenant_id);

    DELETE FROM helpdesk.agent_group_members m
    WHERE m.tenant_id = g.tenant_id AND m.group_id = g.group_id;

    UPDATE helpdesk.agent_groups x SET deleted_at = now(), updated_at = now()
    WHERE x.tenant_id = g.tenant_id AND x.group_id = g.group_id;

    PERFORM tickets.audit(ctx, 'group.delete', 'group', g.group_id::text,
                           jsonb_build_object('name', g.name, 'members', members));

    RETURN jsonb_build_object('body', NULL);
END
$$;

CREATE OR REPLACE FUNCTION tickets.group_members(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    g helpdesk.agent_groups := tickets.group_find(args->>'id', false);
    items jsonb := tickets.group_members_json(g.tenant_id, g.group_id);
BEGIN
    PERFORM tickets.audit_read(ctx, 'group.members.list', 'group', g.group_id::text,
                                jsonb_build_object('count', jsonb_array_length(items)));
    RETURN jsonb_build_object('body', jsonb_build_object('data', items));
END
$$;

-- An agent or admin of the tenant, by id: another tenant's, a customer, or
-- no one is "not found" (404), never a hint that the id exists elsewhere.
CREATE OR REPLACE FUNCTION tickets.group_user(p_tenant uuid, ref text)
RETURNS helpdesk.users LANGUAGE plpgsql AS $$
DECLARE
    u helpdesk.users;
BEGIN
    IF tickets.is_uuid(ref) THEN
        SELECT * INTO u FROM helpdesk.users x
        WHERE x.tenant_id = p_tenant AND x.user_id = ref::uuid
          AND x.role IN ('agent', 'admin');
    END IF;

    IF u.user_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
                              format('there is no agent %s', ref));
    END IF;

    RETURN u;
END
$$;

-- PUT /v1/groups/{id}/members/{user_id}: in the group (again: no change)
CREATE OR REPLACE FUNCTION tickets.group_member_add(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    g helpdesk.agent_groups := tickets.group_find(args->>'id', true);
    u helpdesk.users := tickets.group_user(g.tenant_id, args->>'user_id');
BEGIN
    INSERT INTO helpdesk.agent_group_members (tenant_id, group_id, user_id)
    VALUES (g.tenant_id, g.group_id, u.user_id)
    ON CONFLICT DO NOTHING;

    IF FOUND THEN
        PERFORM tickets.group_version_bump(g.tenant_id);
        PERFORM tickets.audit(ctx, 'group.member.add', 'group', g.group_id::text,
                               jsonb_build_object('user_id', u.user_id));
    END IF;

    RETURN jsonb_build_object('body', tickets.group_json(g));
END
$$;

-- DELETE /v1/groups/{id}/members/{user_id}: a member no more
CREATE OR REPLACE FUNCTION tickets.group_member_remove(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    g helpdesk.agent_groups := tickets.group_find(args->>'id', true);
    u helpdesk.users := tickets.group_user(g.tenant_id, args->>'user_id');
BEGIN
    DELETE FROM helpdesk.agent_group_members m
    WHERE m.tenant_id = g.tenant_id AND m.group_id = g.group_id
      AND m.user_id = u.user_id;

    IF NOT FOUND THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
            format('%s is not a member of the group', u.user_id));
    END IF;

    PERFORM tickets.group_version_bump(g.tenant_id);
    PERFORM tickets.audit(ctx, 'group.member.remove', 'group', g.group_id::text,
                           jsonb_build_object('user_id', u.user_id));

    RETURN jsonb_build_object('body', NULL);
END
$$;

RESET ROLE;
