-- nginx-helpdesk: how many offline-form tickets an address has opened
-- lately, per tenant (the form outside the chat's hours is open to
-- anyone on an allowed page, so each address gets a few a window).
--
-- One row per tenant, address (an IPv4 address, or an IPv6 /64) and
-- window of ten minutes, counted up by the form's function
-- (chat.offline_count); rows of past windows are dropped as new ones come.

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.chat_offline_counts (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    address       inet NOT NULL,
    window_start  timestamptz NOT NULL,
    n             integer NOT NULL DEFAULT 1 CHECK (n >= 0),
    PRIMARY KEY (tenant_id, address, window_start)
);

CREATE INDEX IF NOT EXISTS chat_offline_counts_window
    ON helpdesk.chat_offline_counts (tenant_id, window_start);

SELECT helpdesk.tenant_rls('helpdesk.chat_offline_counts'::regclass);

RESET ROLE;

GRANT SELECT, INSERT, UPDATE, DELETE ON helpdesk.chat_offline_counts
    TO helpdesk_service;
