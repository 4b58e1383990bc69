-- nginx-helpdesk: the certificates of tenants' own portal names.
--
--   tls_certificates  one row per certificate a name was given (by the
--                     module's ACME client, or imported by the provider),
--                     numbered per (tenant, name) by "generation"; the
--                     newest one not revoked serves.  The chain is DER,
--                     leaf first; the private key is sealed by the module
--                     with its secret ring (bound to "tls_key:<name>")
--                     before the database sees it.  "seq" comes from one
--                     sequence and is bumped whenever what a node must
--                     serve for the name changes (a new generation, a
--                     revocation, the domain's status): each node's sync
--                     asks for the rows after the last seq it saw.
--   renew_after       when a renewal is due: two thirds of the lifetime
--                     (half under ten days), set by tls.cert_store.
--
-- Schema "tls" holds the functions (sql/tls/); created here too, so that
-- this migration stands on its own.

DO $$
BEGIN
    CREATE SCHEMA IF NOT EXISTS tls AUTHORIZATION helpdesk_owner;
    REVOKE ALL ON SCHEMA tls FROM PUBLIC;
    GRANT USAGE ON SCHEMA tls TO helpdesk_service;
END
$$;

SET ROLE helpdesk_owner;

CREATE SEQUENCE IF NOT EXISTS helpdesk.tls_seq;

CREATE TABLE IF NOT EXISTS helpdesk.tls_certificates (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    hostname      text NOT NULL CHECK (length(hostname) BETWEEN 1 AND 253),
    generation    int NOT NULL CHECK (generation > 0),
    chain_der     bytea[] NOT NULL
                  CHECK (cardinality(chain_der) BETWEEN 1 AND 10),
    key_sealed    text NOT NULL,
    not_before    timestamptz NOT NULL,
    not_after     timestamptz NOT NULL CHECK (not_after > not_before),
    renew_after   timestamptz NOT NULL,
    source        text NOT NULL CHECK (source IN ('acme', 'provider')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    replaced_at   timestamptz,
    seq           bigint NOT NULL DEFAULT nextval('helpdesk.tls_seq'),
    PRIMARY KEY (tenant_id, hostname, generation)
);

CREATE INDEX IF NOT EXISTS tls_certificates_seq ON helpdesk.tls_certificates (seq);
CREATE INDEX IF NOT EXISTS tls_certificates_renew ON helpdesk.tls_certificates (renew_after)
    WHERE revoked_at IS NULL AND replaced_at IS NULL;

SELECT helpdesk.tenant_rls('helpdesk.tls_certificates'::regclass);

RESET ROLE;

GRANT SELECT, INSERT, UPDATE ON helpdesk.tls_certificates TO helpdesk_service;
GRANT USAGE ON SEQUENCE helpdesk.tls_seq TO helpdesk_service;
