-- nginx-helpdesk: agent groups.
--
-- A tenant's agents (and admins) in named groups ("Billing", "Level 2"):
-- a chat transferred to a group is offered to that group's members only.
--
--   agent_groups          a group: its name (unique in the tenant, without
--                         regard to case, among the groups not deleted) and
--                         what it is for; a deleted group keeps its row (the
--                         audit log and the chat's record name it), without
--                         members
--   agent_group_members   who is in which group: agents and admins of the
--                         group's own tenant (the foreign key keeps the
--                         tenant; the functions check the role)
--   agent_group_versions  one counter per tenant, moved on by every change
--                         of its groups in the change's transaction: the
--                         chat's presence records in Redis keep the
--                         memberships of the highest one they were given,
--                         so that an older read never overwrites a newer
--                         one (docs/architecture.md, "Agent groups")

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.agent_groups (
    tenant_id    uuid NOT NULL REFERENCES helpdesk.tenants,
    group_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    name         text NOT NULL
                 CHECK (length(name) BETWEEN 1 AND 100 AND name = btrim(name)
                        AND name !~ '[\x01-\x1f\x7f]'),
    description  text NOT NULL DEFAULT ''
                 CHECK (length(description) <= 500),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    PRIMARY KEY (tenant_id, group_id)
);

CREATE UNIQUE INDEX IF NOT EXISTS agent_groups_name
    ON helpdesk.agent_groups (tenant_id, lower(name))
    WHERE deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS helpdesk.agent_group_members (
    tenant_id    uuid NOT NULL,
    group_id     uuid NOT NULL,
    user_id      uuid NOT NULL,
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id)
        REFERENCES helpdesk.agent_groups ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id)
        REFERENCES helpdesk.users ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS agent_group_members_user
    ON helpdesk.agent_group_members (tenant_id, user_id);

CREATE TABLE IF NOT EXISTS helpdesk.agent_group_versions (
    tenant_id    uuid PRIMARY KEY REFERENCES helpdesk.tenants,
    version      bigint NOT NULL DEFAULT 0 CHECK (version >= 0)
);

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.agent_groups', 'helpdesk.agent_group_members',
                  'helpdesk.agent_group_versions']) t;

RESET ROLE;

GRANT SELECT, INSERT, UPDATE ON helpdesk.agent_groups,
    helpdesk.agent_group_versions TO helpdesk_service;
GRANT SELECT, INSERT, DELETE ON helpdesk.agent_group_members
    TO helpdesk_service;
