-- nginx-helpdesk: mailboxes fetched by IMAP.
--
-- Migration 031 has a mailbox's place (url), login (username, password
-- sealed by the module) and UID state (uid_validity, last_uid).  Fetching
-- adds:
--   poll_interval    seconds between two looks at the folder (when the
--                    last one went well)
--   move_to          a folder a stored message is moved to; NULL: it is
--                    flagged \Seen and stays
--   next_fetch_at    when the mailbox is next due
--   fetch_failures   failed runs in a row (the backoff: 1, 5, 15, 60 min)
--   lease_until,     the run that holds the mailbox (one node at a time):
--   lease_token      every store checks it is still the holder
--   last_fetch_at,   the last run that went well, and how many messages
--   fetched_count    fetching has stored in all
--
--   email_fetch_refusals  messages of a mailbox that were not taken (over
--                    the size limit, not a message), with the reason;
--                    they are flagged on the server and skipped

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.email_mailboxes
    ADD COLUMN IF NOT EXISTS poll_interval integer NOT NULL DEFAULT 60
        CHECK (poll_interval BETWEEN 1 AND 86400),
    ADD COLUMN IF NOT EXISTS move_to text
        CHECK (length(move_to) BETWEEN 1 AND 200),
    ADD COLUMN IF NOT EXISTS next_fetch_at timestamptz,
    ADD COLUMN IF NOT EXISTS fetch_failures integer NOT NULL DEFAULT 0
        CHECK (fetch_failures >= 0),
    ADD COLUMN IF NOT EXISTS lease_until timestamptz,
    ADD COLUMN IF NOT EXISTS lease_token uuid,
    ADD COLUMN IF NOT EXISTS last_fetch_at timestamptz,
    ADD COLUMN IF NOT EXISTS fetched_count bigint NOT NULL DEFAULT 0;

-- what the fetch job looks for, across tenants
CREATE INDEX IF NOT EXISTS email_mailboxes_due
    ON helpdesk.email_mailboxes (next_fetch_at)
    WHERE kind = 'imap' AND enabled AND deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS helpdesk.email_fetch_refusals (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    mailbox_id    uuid NOT NULL,
    uid_validity  bigint NOT NULL CHECK (uid_validity >= 0),
    uid           bigint NOT NULL CHECK (uid > 0),
    size          bigint CHECK (size >= 0),
    reason        text NOT NULL CHECK (length(reason) <= 500),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, mailbox_id, uid_validity, uid),
    FOREIGN KEY (tenant_id, mailbox_id) REFERENCES helpdesk.email_mailboxes
);

SELECT helpdesk.tenant_rls('helpdesk.email_fetch_refusals'::regclass);

RESET ROLE;

GRANT SELECT, INSERT ON helpdesk.email_fetch_refusals TO helpdesk_service;
