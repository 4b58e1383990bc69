-- nginx-helpdesk: roles, tables and row-level security.
--
-- THE MIGRATIONS.  Every file in sql/migrations/ changes tables, types,
-- indexes, policies or privileges on tables, and is applied once, in the
-- order of its number, recorded in helpdesk_meta.schema_migrations with
-- its checksum.  A migration is never edited once released: `migrate`
-- refuses a database whose applied migration no longer matches its file.
-- A change to the schema is a new file with the next number.  (Numbers
-- follow the history of the schema; some are absent because their
-- releases changed functions only.)  Functions live in sql/<concern>/ and
-- are re-applied on every migrate; only what a table, a policy or a
-- trigger needs at creation time is defined here.
--
-- Every table carries tenant_id and leads its primary key with it, so the
-- schema can later be distributed by tenant.  Row-level security scopes
-- every row to the tenant set for the current transaction with
--     set_config('helpdesk.tenant_id', <uuid>, true)
--
-- Three roles:
--   helpdesk_owner    (no login) owns the schema, the tables and the
--                     internal functions.  Owners bypass row-level
--                     security, so only the few SECURITY DEFINER functions
--                     that must look across tenants (key lookup, the
--                     provider API, the outbox runner, host and webhook
--                     routing) run as it.
--   helpdesk_service  (no login) holds the privileges on the tables and
--                     EXECUTE on the internal functions, and owns the
--                     entry points in schema "api".  It owns no table and
--                     is neither superuser nor BYPASSRLS: the policies
--                     apply to everything that runs as it.
--   helpdesk_app      what nginx logs in as: USAGE on schema "api" and
--                     EXECUTE on its functions, nothing else.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'helpdesk_owner') THEN
        CREATE ROLE helpdesk_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'helpdesk_service') THEN
        CREATE ROLE helpdesk_service NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'helpdesk_app') THEN
        CREATE ROLE helpdesk_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

-- Short statements only: JIT compilation would cost more than it saves,
-- and the planner's row guesses for JSON functions would trigger it.
ALTER ROLE helpdesk_app SET jit = off;

-- Nothing may be created in "public" by anyone but its owner.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA IF NOT EXISTS helpdesk AUTHORIZATION helpdesk_owner;
GRANT USAGE ON SCHEMA helpdesk TO helpdesk_service;

-- The entry points: the only functions the app role may execute.
CREATE SCHEMA IF NOT EXISTS api AUTHORIZATION helpdesk_service;
GRANT USAGE ON SCHEMA api TO helpdesk_app;

-- Functions are created executable by no one; sql/privileges.sql grants
-- what each role needs after every migrate.
ALTER DEFAULT PRIVILEGES FOR ROLE helpdesk_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE helpdesk_service REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION helpdesk.current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT nullif(current_setting('helpdesk.tenant_id', true), '')::uuid
$$;

CREATE TABLE IF NOT EXISTS helpdesk.tenants (
    tenant_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug         text NOT NULL UNIQUE
                 CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status       text NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'disabled')),
    settings     jsonb NOT NULL DEFAULT '{}',
    ticket_seq   bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS helpdesk.users (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    user_id       uuid NOT NULL DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (email = lower(email)),
    name          text,
    phone         text,
    role          text NOT NULL CHECK (role IN ('customer', 'agent', 'admin')),
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'disabled')),
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE IF NOT EXISTS helpdesk.api_keys (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    key_id        uuid NOT NULL DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    prefix        text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    scopes        text[] NOT NULL
                  CHECK (scopes <@ ARRAY['tickets:read', 'tickets:write', 'admin']),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, key_id)
);

CREATE TABLE IF NOT EXISTS helpdesk.tickets (
    tenant_id          uuid NOT NULL REFERENCES helpdesk.tenants,
    ticket_id          uuid NOT NULL DEFAULT gen_random_uuid(),
    number             bigint NOT NULL,
    channel            text NOT NULL
                       CHECK (channel IN ('api', 'portal', 'email', 'whatsapp', 'chat')),
    subject            text NOT NULL,
    description        text NOT NULL DEFAULT '',
    status             text NOT NULL DEFAULT 'open'
                       CHECK (status IN ('open', 'pending', 'on_hold', 'resolved', 'closed')),
    priority           text NOT NULL DEFAULT 'normal'
                       CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    category           text,
    requester_id       uuid,
    assignee_id        uuid,
    custom_fields      jsonb NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    first_response_at  timestamptz,
    resolved_at        timestamptz,
    closed_at          timestamptz,
    search             tsvector GENERATED ALWAYS AS (
                           to_tsvector('simple', subject || ' ' || description)
                       ) STORED,
    PRIMARY KEY (tenant_id, ticket_id),
    UNIQUE (tenant_id, number),
    FOREIGN KEY (tenant_id, requester_id) REFERENCES helpdesk.users,
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES helpdesk.users
);

CREATE INDEX IF NOT EXISTS tickets_search ON helpdesk.tickets USING gin (search);
CREATE INDEX IF NOT EXISTS tickets_status ON helpdesk.tickets (tenant_id, status, number);
CREATE INDEX IF NOT EXISTS tickets_requester ON helpdesk.tickets (tenant_id, requester_id);
CREATE INDEX IF NOT EXISTS tickets_assignee ON helpdesk.tickets (tenant_id, assignee_id);

CREATE TABLE IF NOT EXISTS helpdesk.ticket_events (
    tenant_id    uuid NOT NULL,
    event_id     bigint GENERATED ALWAYS AS IDENTITY,
    ticket_id    uuid NOT NULL,
    type         text NOT NULL CHECK (type IN (
                     'created', 'comment', 'status_changed', 'priority_changed',
                     'category_changed', 'assignee_changed')),
    visibility   text NOT NULL DEFAULT 'public'
                 CHECK (visibility IN ('public', 'internal')),
    channel      text NOT NULL,
    actor_type   text NOT NULL
                 CHECK (actor_type IN ('api_key', 'user', 'system', 'provider')),
    actor_id     uuid,
    actor_name   text,
    body         text,
    data         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.tickets
);

CREATE INDEX IF NOT EXISTS ticket_events_ticket
    ON helpdesk.ticket_events (tenant_id, ticket_id, event_id);

CREATE TABLE IF NOT EXISTS helpdesk.audit_log (
    tenant_id    uuid NOT NULL,
    audit_id     bigint GENERATED ALWAYS AS IDENTITY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor_type   text NOT NULL,
    actor_id     uuid,
    action       text NOT NULL,
    object_type  text NOT NULL,
    object_id    text,
    ip           inet,
    detail       jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, audit_id)
);

CREATE INDEX IF NOT EXISTS audit_log_object
    ON helpdesk.audit_log (tenant_id, object_type, object_id, at);

-- append-only, even for a role that was granted more than it should
CREATE OR REPLACE FUNCTION helpdesk.audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'HDCNF';
END
$$;

DROP TRIGGER IF EXISTS audit_log_immutable ON helpdesk.audit_log;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON helpdesk.audit_log
    FOR EACH ROW EXECUTE FUNCTION helpdesk.audit_log_immutable();

-- row-level security: one policy per table, all on the same setting;
-- every later migration calls this for the tables it adds
CREATE OR REPLACE FUNCTION helpdesk.tenant_rls(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s '
                   'USING (tenant_id = helpdesk.current_tenant()) '
                   'WITH CHECK (tenant_id = helpdesk.current_tenant())', t);
END
$$;

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.tenants', 'helpdesk.users', 'helpdesk.api_keys',
                  'helpdesk.tickets', 'helpdesk.ticket_events',
                  'helpdesk.audit_log']) t;

RESET ROLE;

GRANT SELECT ON helpdesk.tenants TO helpdesk_service;
GRANT UPDATE (ticket_seq, settings, updated_at) ON helpdesk.tenants TO helpdesk_service;
GRANT SELECT, INSERT, UPDATE ON helpdesk.users, helpdesk.api_keys,
    helpdesk.tickets TO helpdesk_service;
GRANT SELECT, INSERT ON helpdesk.ticket_events, helpdesk.audit_log TO helpdesk_service;
