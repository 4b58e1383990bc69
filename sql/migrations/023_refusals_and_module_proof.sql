-- nginx-helpdesk: refused requests are recorded, and the database knows
-- the hosting provider's key (as a hash) so that the cross-tenant entry
-- points can require the module to prove itself.
--
-- auth_refusals: a 401 or a 403 of the API, the portal or the console.
-- The request's own transaction rolled back, so the module records the
-- refusal with a second statement (api.audit_refusal).  One row per
-- tenant, minute, address and key prefix, counting the rest, so a flood of
-- refusals costs a counter, not the table; past a bound of rows in one
-- minute for one tenant they all go to one catch-all row.  A refusal whose
-- tenant is unknown (an unknown key, an unknown Host) is kept under the
-- nil uuid, which no tenant is.

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.auth_refusals (
    tenant_id    uuid NOT NULL,
    minute       timestamptz NOT NULL,
    address      text NOT NULL,         -- '' for a unix socket, '*' past the bound
    key_prefix   text NOT NULL,         -- the credential's visible part, or ''
    surface      text NOT NULL,         -- of the first refusal of the row
    method       text NOT NULL,
    route        text NOT NULL,
    status       int NOT NULL,
    reason       text NOT NULL,
    count        int NOT NULL DEFAULT 1,
    last_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, minute, address, key_prefix)
);

SELECT helpdesk.tenant_rls('helpdesk.auth_refusals');

RESET ROLE;

-- An admin may read their tenant's refusals; nobody changes them but the
-- recording function (the owner's).
GRANT SELECT ON helpdesk.auth_refusals TO helpdesk_service;

-- The hosting provider's key, as its SHA-256, set by the operator when the
-- key is installed (stack.sh provider-key, or the INSERT in
-- docs/operations.md).  Not a tenant's data: outside schema helpdesk and
-- its row-level security, readable by the owner role only, so that the
-- owner's SECURITY DEFINER functions can compare what the module passes.
CREATE TABLE IF NOT EXISTS helpdesk_meta.module_keys (
    name       text PRIMARY KEY CHECK (name IN ('provider')),
    key_hash   bytea NOT NULL CHECK (length(key_hash) = 32),
    set_at     timestamptz NOT NULL DEFAULT now()
);

REVOKE ALL ON helpdesk_meta.module_keys FROM PUBLIC;
GRANT USAGE ON SCHEMA helpdesk_meta TO helpdesk_owner;
GRANT SELECT ON helpdesk_meta.module_keys TO helpdesk_owner;
