-- nginx-helpdesk: mail in.
--
--   email_mailboxes      a tenant's addresses mail arrives at.  Today a
--                        mailbox is fed by push ("inbound": an MTA's pipe
--                        or a provider's inbound-parse service posting the
--                        raw message to the URL that carries its token);
--                        the columns for fetching (IMAP, Microsoft 365,
--                        Gmail: where, who, sealed secrets, OAuth, the UID
--                        state, health) are here so that fetching adds
--                        code, not a table.  The inbound token is kept as
--                        its SHA-256 only.  Processing rules and the
--                        ignore list are per mailbox.
--   email_messages       every mail received (and, later, sent): its
--                        headers for threading and de-duplication, what
--                        became of it (a ticket, a reply, dropped and why)
--   email_ticket_tokens  a ticket's reply-address token (support+<token>@)
--   email_ticket_ccs     the people copied on a ticket's mails
--   email_sender_counts  mails per sender, mailbox and hour (a storm of
--                        mail from one sender is dropped past the limit)

CREATE SCHEMA IF NOT EXISTS email AUTHORIZATION helpdesk_owner;
REVOKE ALL ON SCHEMA email FROM PUBLIC;
GRANT USAGE ON SCHEMA email TO helpdesk_service;

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.email_mailboxes (
    tenant_id        uuid NOT NULL REFERENCES helpdesk.tenants,
    mailbox_id       uuid NOT NULL DEFAULT gen_random_uuid(),
    address          text NOT NULL
                     CHECK (length(address) <= 254 AND address = lower(address)
                            AND address ~ '^[^@\s<>"]+@[a-z0-9.-]+$'),
    name             text NOT NULL DEFAULT ''
                     CHECK (length(name) <= 100 AND name !~ '[\x01-\x1f\x7f]'),
    kind             text NOT NULL DEFAULT 'inbound'
                     CHECK (kind IN ('inbound', 'imap', 'microsoft365', 'gmail')),
    enabled          boolean NOT NULL DEFAULT true,

    -- push: the token of the inbound URL, as "sha256:<hex>"
    inbound_token    text UNIQUE CHECK (inbound_token ~ '^sha256:[0-9a-f]{64}$'),

    -- fetching: where (imaps://host:993/INBOX), who, and the secrets,
    -- sealed by the module like every channel secret
    url              text CHECK (length(url) <= 500),
    username         text CHECK (length(username) <= 254),
    password         text CHECK (password ~ '^(v1|plain):'),
    oauth_client_id  text CHECK (length(oauth_client_id) <= 500),
    oauth_client_secret text CHECK (oauth_client_secret ~ '^(v1|plain):'),
    oauth_refresh_token text CHECK (oauth_refresh_token ~ '^(v1|plain):'),
    oauth_access_token  text CHECK (oauth_access_token ~ '^(v1|plain):'),
    oauth_expires_at timestamptz,
    uid_validity     bigint CHECK (uid_validity >= 0),
    last_uid         bigint CHECK (last_uid >= 0),

    health           text NOT NULL DEFAULT 'unknown'
                     CHECK (health IN ('unknown', 'ok', 'auth_failed',
                                       'unreachable', 'error')),
    health_reason    text CHECK (length(health_reason) <= 500),
    health_checked_at timestamptz,

    -- [{"when": {"from_domain"|"subject"|"recipient": text},
    --   "set": {"category", "priority", "assignee"}}], first match wins
    rules            jsonb NOT NULL DEFAULT '[]'
                     CHECK (jsonb_typeof(rules) = 'array'),
    -- senders never heard: "someone@example.com" or "example.com"
    ignore           text[] NOT NULL DEFAULT '{}',
    -- mails per sender and hour past which the sender's mail is dropped
    sender_limit     integer NOT NULL DEFAULT 30
                     CHECK (sender_limit BETWEEN 1 AND 10000),

    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    PRIMARY KEY (tenant_id, mailbox_id)
);

CREATE UNIQUE INDEX IF NOT EXISTS email_mailboxes_address
    ON helpdesk.email_mailboxes (tenant_id, address) WHERE deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS helpdesk.email_messages (
    tenant_id          uuid NOT NULL REFERENCES helpdesk.tenants,
    email_id           uuid NOT NULL DEFAULT gen_random_uuid(),
    mailbox_id         uuid,
    ticket_id          uuid,
    event_id           bigint,
    direction          text NOT NULL CHECK (direction IN ('in', 'out')),
    message_id_header  text NOT NULL CHECK (length(message_id_header) <= 998),
    in_reply_to        text,
    refs               text[] NOT NULL DEFAULT '{}',
    from_address       text,
    from_name          text,
    to_addresses       text[] NOT NULL DEFAULT '{}',
    cc_addresses       text[] NOT NULL DEFAULT '{}',
    subject            text,
    auto_submitted     text,
    -- what became of a mail received
    outcome            text CHECK (outcome IN ('created', 'replied', 'reopened',
                                               'follow_up', 'dropped')),
    drop_reason        text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, email_id),
    FOREIGN KEY (tenant_id, mailbox_id) REFERENCES helpdesk.email_mailboxes,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.tickets
);

CREATE UNIQUE INDEX IF NOT EXISTS email_messages_dedup
    ON helpdesk.email_messages (tenant_id, mailbox_id, message_id_header);
CREATE INDEX IF NOT EXISTS email_messages_thread
    ON helpdesk.email_messages (tenant_id, message_id_header);
CREATE INDEX IF NOT EXISTS email_messages_ticket
    ON helpdesk.email_messages (tenant_id, ticket_id);

CREATE TABLE IF NOT EXISTS helpdesk.email_ticket_tokens (
    tenant_id   uuid NOT NULL REFERENCES helpdesk.tenants,
    ticket_id   uuid NOT NULL,
    token       text NOT NULL CHECK (token ~ '^[a-z0-9]{20}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ticket_id),
    UNIQUE (tenant_id, token),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.tickets
);

CREATE TABLE IF NOT EXISTS helpdesk.email_ticket_ccs (
    tenant_id   uuid NOT NULL REFERENCES helpdesk.tenants,
    ticket_id   uuid NOT NULL,
    address     text NOT NULL CHECK (address = lower(address) AND length(address) <= 254),
    name        text,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ticket_id, address),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.tickets
);

CREATE TABLE IF NOT EXISTS helpdesk.email_sender_counts (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    mailbox_id    uuid NOT NULL,
    sender        text NOT NULL,
    window_start  timestamptz NOT NULL,
    n             integer NOT NULL DEFAULT 1 CHECK (n >= 0),
    PRIMARY KEY (tenant_id, mailbox_id, sender, window_start),
    FOREIGN KEY (tenant_id, mailbox_id) REFERENCES helpdesk.email_mailboxes
);

-- A large mail on its way in: the module sends the raw message and its
-- attachments in pieces (so that no worker holds them whole), staged here
-- under a random upload id until the last piece comes with the message;
-- email.inbound() takes them and deletes them in its transaction.  Pieces
-- of an upload that never finished are deleted an hour later.  Unlogged:
-- a crash loses nothing that was stored, and the MTA sends again.
CREATE UNLOGGED TABLE IF NOT EXISTS helpdesk.email_inbound_chunks (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    mailbox_id    uuid NOT NULL,
    upload_id     uuid NOT NULL,
    seq           integer NOT NULL CHECK (seq BETWEEN 0 AND 1000),
    data          bytea NOT NULL CHECK (length(data) <= 1048576),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, upload_id, seq),
    FOREIGN KEY (tenant_id, mailbox_id) REFERENCES helpdesk.email_mailboxes
);

CREATE INDEX IF NOT EXISTS email_inbound_chunks_age
    ON helpdesk.email_inbound_chunks (tenant_id, mailbox_id, created_at);

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.email_mailboxes', 'helpdesk.email_messages',
                  'helpdesk.email_ticket_tokens', 'helpdesk.email_ticket_ccs',
                  'helpdesk.email_sender_counts',
                  'helpdesk.email_inbound_chunks']) t;

RESET ROLE;

GRANT SELECT, INSERT, UPDATE ON helpdesk.email_mailboxes TO helpdesk_service;
GRANT SELECT, INSERT ON helpdesk.email_messages, helpdesk.email_ticket_tokens
    TO helpdesk_service;
GRANT SELECT, INSERT, UPDATE ON helpdesk.email_ticket_ccs TO helpdesk_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON helpdesk.email_sender_counts
    TO helpdesk_service;
GRANT SELECT, INSERT, DELETE ON helpdesk.email_inbound_chunks
    TO helpdesk_service;
