-- nginx-helpdesk: a tenant's mail sent through one of its Microsoft 365
-- or Gmail mailboxes (SMTP with XOAUTH2).
--
--   email_settings.smtp_mailbox_id  the mailbox the tenant's mail leaves
--                                through (its smtp_url, its address as the
--                                sender, its access token); while it is
--                                deleted or disabled, mail leaves as before
--                                (the tenant's relay, else the provider's)
--   email_attempts.relay 'mailbox' an attempt through such a mailbox

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.email_settings
    ADD COLUMN IF NOT EXISTS smtp_mailbox_id uuid;

ALTER TABLE helpdesk.email_settings
    DROP CONSTRAINT IF EXISTS email_settings_smtp_mailbox_fkey;
ALTER TABLE helpdesk.email_settings
    ADD CONSTRAINT email_settings_smtp_mailbox_fkey
    FOREIGN KEY (tenant_id, smtp_mailbox_id) REFERENCES helpdesk.email_mailboxes;

CREATE INDEX IF NOT EXISTS email_settings_smtp_mailbox
    ON helpdesk.email_settings (smtp_mailbox_id) WHERE smtp_mailbox_id IS NOT NULL;

ALTER TABLE helpdesk.email_attempts
    DROP CONSTRAINT IF EXISTS email_attempts_relay_check;
ALTER TABLE helpdesk.email_attempts
    ADD CONSTRAINT email_attempts_relay_check
    CHECK (relay IN ('provider', 'tenant', 'mailbox'));

RESET ROLE;
