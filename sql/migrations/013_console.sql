-- nginx-helpdesk: the agent console's data and service functions.
--
-- The console is the portal's sibling: the same Host-to-tenant mapping,
-- sessions and flows, for users with the agent or admin role.  Its calls
-- go through console_call(), which checks the role and calls the same
-- ticket service as the API and the portal.

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.canned_replies (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    canned_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body          text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, canned_id)
);

-- an agent's saved queue filters
CREATE TABLE IF NOT EXISTS helpdesk.saved_views (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    view_id       uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    filters       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, view_id),
    UNIQUE (tenant_id, user_id, name),
    FOREIGN KEY (tenant_id, user_id) REFERENCES helpdesk.users
);

-- who has a ticket open right now (heartbeats from the console)
CREATE TABLE IF NOT EXISTS helpdesk.agent_presence (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    ticket_id     uuid NOT NULL,
    user_id       uuid NOT NULL,
    seen_at       timestamptz NOT NULL DEFAULT now(),
    typing        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, ticket_id, user_id)
);

-- agents' second factor (TOTP): the secret in use, and one being set up
ALTER TABLE helpdesk.users ADD COLUMN IF NOT EXISTS totp_secret text;
ALTER TABLE helpdesk.users ADD COLUMN IF NOT EXISTS totp_pending text;
GRANT UPDATE (totp_secret, totp_pending) ON helpdesk.users TO helpdesk_service;

-- the console's live updates read new events in order
CREATE INDEX IF NOT EXISTS ticket_events_seq ON helpdesk.ticket_events (event_id);

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.canned_replies', 'helpdesk.saved_views',
                  'helpdesk.agent_presence']) t;

RESET ROLE;

GRANT SELECT, INSERT, UPDATE, DELETE ON helpdesk.canned_replies, helpdesk.saved_views,
    helpdesk.agent_presence TO helpdesk_service;
