-- nginx-helpdesk: Microsoft 365 and Gmail mailboxes (OAuth 2.0).
--
-- Migration 031 has a mailbox's OAuth client (oauth_client_id, the sealed
-- oauth_client_secret) and tokens (sealed oauth_refresh_token and
-- oauth_access_token, oauth_expires_at).  This adds:
--
--   email_mailboxes.smtp_url     where a mailbox of a provider submits mail
--                                (the provider's SMTP, set by the module
--                                from helpdesk_email_oauth when the mailbox
--                                is made), for a tenant that sends its mail
--                                through it
--   email_oauth_states           one authorisation the console walks an
--                                admin through: the state sent to the
--                                provider (its SHA-256 only), bound to the
--                                tenant, the mailbox and the admin, short
--                                lived and taken once; the PKCE verifier
--                                (sealed to the state); and, once the
--                                provider sent the admin back, the code
--                                (sealed to the state) the fetch job
--                                exchanges for tokens

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.email_mailboxes
    ADD COLUMN IF NOT EXISTS smtp_url text
        CHECK (smtp_url ~ '^smtps?://' AND length(smtp_url) <= 500);

CREATE TABLE IF NOT EXISTS helpdesk.email_oauth_states (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    -- "sha256:<hex>" of the state the provider carries back
    state_hash    text NOT NULL CHECK (state_hash ~ '^sha256:[0-9a-f]{64}$'),
    mailbox_id    uuid NOT NULL,
    user_id       uuid,                 -- the admin who started it
    redirect_uri  text NOT NULL CHECK (length(redirect_uri) <= 500),
    verifier      text NOT NULL CHECK (verifier ~ '^(v1|plain):'),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    -- the provider's answer: a code to exchange, or the error it gave
    code          text CHECK (code ~ '^(v1|plain):'),
    error         text CHECK (length(error) <= 500),
    exchanged_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, state_hash),
    FOREIGN KEY (tenant_id, mailbox_id) REFERENCES helpdesk.email_mailboxes
);

CREATE UNIQUE INDEX IF NOT EXISTS email_oauth_states_hash
    ON helpdesk.email_oauth_states (state_hash);
CREATE INDEX IF NOT EXISTS email_oauth_states_pending
    ON helpdesk.email_oauth_states (tenant_id, mailbox_id)
    WHERE code IS NOT NULL AND exchanged_at IS NULL;

-- what the fetch job looks for, across tenants: the providers' mailboxes too
CREATE INDEX IF NOT EXISTS email_mailboxes_due_all
    ON helpdesk.email_mailboxes (next_fetch_at)
    WHERE kind IN ('imap', 'microsoft365', 'gmail') AND enabled AND deleted_at IS NULL;
DROP INDEX IF EXISTS helpdesk.email_mailboxes_due;

SELECT helpdesk.tenant_rls('helpdesk.email_oauth_states'::regclass);

RESET ROLE;

GRANT SELECT, INSERT, UPDATE, DELETE ON helpdesk.email_oauth_states TO helpdesk_service;
