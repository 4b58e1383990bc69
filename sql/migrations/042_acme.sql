-- nginx-helpdesk: certificates ordered by the module's ACME client
-- (src/tls/ngx_helpdesk_acme*.c, src/jobs/ngx_helpdesk_acme_job.c).
--
--   helpdesk_meta.acme_accounts  one account per CA directory, for the whole
--                                provider: its ES256 key sealed by the
--                                module ("acme_accounts.key:<account id>"),
--                                its URL at the CA (kid), the key's RFC 7638
--                                thumbprint (the HTTP-01 answers), the CA's
--                                CAA identities, and a lease while a node
--                                creates it
--   helpdesk_meta.acme_limits    token buckets under the CA's limits (new
--                                orders per account) and a pause after the
--                                CA said rateLimited
--   helpdesk.acme_orders         one order per tenant and name: what it is
--                                for (issue, renew, revoke), the step it
--                                reached and every URL the CA gave, so that
--                                any node resumes it after a crash; a lease
--                                (token, end) held by the node working it
--   helpdesk.acme_attempts       what became of each try (failures per name
--                                per hour are limited; the history is shown)
--
-- The provider-wide tables are readable by the owner only (like
-- module_keys); the tenant tables have row-level security like all.

-- the functions' schema (also made by migration 040)
CREATE SCHEMA IF NOT EXISTS tls AUTHORIZATION helpdesk_owner;
REVOKE ALL ON SCHEMA tls FROM PUBLIC;
GRANT USAGE ON SCHEMA tls TO helpdesk_service;

CREATE TABLE IF NOT EXISTS helpdesk_meta.acme_accounts (
    account_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    directory_url   text NOT NULL UNIQUE CHECK (directory_url ~ '^https?://' AND length(directory_url) <= 1024),
    key_sealed      text,
    thumbprint      text CHECK (thumbprint ~ '^[A-Za-z0-9_-]{43}$'),
    kid_url         text CHECK (length(kid_url) <= 1024),
    caa_identities  text[] NOT NULL DEFAULT '{}',
    lease_token     uuid,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (kid_url IS NULL OR key_sealed IS NOT NULL)
);

CREATE TABLE IF NOT EXISTS helpdesk_meta.acme_limits (
    account_id      uuid NOT NULL REFERENCES helpdesk_meta.acme_accounts ON DELETE CASCADE,
    bucket          text NOT NULL CHECK (bucket IN ('new_orders')),
    tokens          numeric NOT NULL CHECK (tokens >= 0),
    capacity        numeric NOT NULL CHECK (capacity >= 1),
    per_sec         numeric NOT NULL CHECK (per_sec > 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    paused_until    timestamptz,
    PRIMARY KEY (account_id, bucket)
);

REVOKE ALL ON helpdesk_meta.acme_accounts, helpdesk_meta.acme_limits FROM PUBLIC;
ALTER TABLE helpdesk_meta.acme_accounts OWNER TO helpdesk_owner;
ALTER TABLE helpdesk_meta.acme_limits OWNER TO helpdesk_owner;

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.acme_orders (
    tenant_id       uuid NOT NULL REFERENCES helpdesk.tenants,
    hostname        text NOT NULL CHECK (length(hostname) <= 253),
    kind            text NOT NULL CHECK (kind IN ('issue', 'renew', 'revoke')),
    step            text NOT NULL DEFAULT 'new'
                    CHECK (step IN ('new', 'ordered', 'authorizing', 'validating',
                                    'finalizing', 'downloading', 'done', 'failed')),
    due_at          timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_token     uuid,
    lease_until     timestamptz,
    account_id      uuid,
    order_url       text CHECK (length(order_url) <= 1024),
    authz_urls      text[],
    challenge_url   text CHECK (length(challenge_url) <= 1024),
    token           text CHECK (token ~ '^[A-Za-z0-9_-]{16,128}$'),
    finalize_url    text CHECK (length(finalize_url) <= 1024),
    cert_url        text CHECK (length(cert_url) <= 1024),
    key_sealed      text,
    replaces        text CHECK (length(replaces) <= 512),
    generation      int,             -- a revoke: the certificate revoked
    last_problem    jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, hostname)
);

-- the HTTP-01 answer: a token of an order waiting on it
CREATE INDEX IF NOT EXISTS acme_orders_token
    ON helpdesk.acme_orders (token) WHERE step IN ('authorizing', 'validating');

CREATE INDEX IF NOT EXISTS acme_orders_due
    ON helpdesk.acme_orders (due_at) WHERE step NOT IN ('done', 'failed');

CREATE TABLE IF NOT EXISTS helpdesk.acme_attempts (
    tenant_id       uuid NOT NULL REFERENCES helpdesk.tenants,
    hostname        text NOT NULL CHECK (length(hostname) <= 253),
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind IN ('issue', 'renew', 'revoke')),
    outcome         text NOT NULL CHECK (outcome IN ('issued', 'revoked', 'authz_failed',
                                                     'rejected', 'rate_limited', 'error')),
    problem_type    text CHECK (length(problem_type) <= 200),
    detail          text CHECK (length(detail) <= 2000)
);

CREATE INDEX IF NOT EXISTS acme_attempts_name
    ON helpdesk.acme_attempts (tenant_id, hostname, at);

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.acme_orders', 'helpdesk.acme_attempts']) t;

RESET ROLE;

GRANT SELECT ON helpdesk.acme_orders, helpdesk.acme_attempts TO helpdesk_service;
