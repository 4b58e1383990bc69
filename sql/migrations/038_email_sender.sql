-- nginx-helpdesk: a tenant's sender addresses, proven before the
-- provider's relay sends from them.
--
--   email_senders       the addresses a tenant proved it receives mail at:
--                       a link sent to the address came back to an admin
--                       of the tenant's console.  Through the provider's
--                       relay (helpdesk_smtp) mail goes From one of these
--                       only; any other From is the provider's own sender,
--                       the tenant's name shown and its address as the
--                       Reply-To.  A tenant's own relay or mailbox is not
--                       held to it (that server decides).
--   email_sender_links  the one-time links of those mails: their SHA-256,
--                       the address they went to, two days, once

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.email_senders (
    tenant_id    uuid NOT NULL REFERENCES helpdesk.tenants,
    address      text NOT NULL CHECK (length(address) <= 254),
    verified_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, address)
);

CREATE TABLE IF NOT EXISTS helpdesk.email_sender_links (
    tenant_id    uuid NOT NULL REFERENCES helpdesk.tenants,
    token_hash   bytea NOT NULL,
    address      text NOT NULL CHECK (length(address) <= 254),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, token_hash)
);

CREATE INDEX IF NOT EXISTS email_sender_links_address
    ON helpdesk.email_sender_links (tenant_id, address, created_at);

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.email_senders', 'helpdesk.email_sender_links']) t;

RESET ROLE;

GRANT SELECT, INSERT, DELETE ON helpdesk.email_senders TO helpdesk_service;
GRANT SELECT, INSERT, UPDATE ON helpdesk.email_sender_links TO helpdesk_service;
