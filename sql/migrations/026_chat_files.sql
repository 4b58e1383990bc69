-- nginx-helpdesk: files sent in the website chat.
--
-- A file is uploaded first (the widget's or the console's attach button),
-- then named by its id in a chat message.  Until then it is its
-- uploader's only: the visitor who sent it (by the browser's token) or
-- the agent.  The message that carries it binds it to that conversation
-- for good: the same id cannot be sent in another one.  What was never
-- sent is dropped after a day.  A conversation turned into a ticket gives
-- its files to the ticket (helpdesk.attachments).
--
-- The content type is what the file's bytes say (src/lib/ngx_helpdesk_magic.c),
-- never the uploader's word; the name is kept for the download only.

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.chat_files (
    tenant_id        uuid NOT NULL REFERENCES helpdesk.tenants,
    file_id          uuid NOT NULL DEFAULT gen_random_uuid(),
    -- who uploaded it: a visitor or an agent, never both
    visitor_id       uuid,
    agent_id         uuid,
    -- the conversation of the message that carried it (its record may
    -- reach PostgreSQL a moment after the message, so no foreign key)
    conversation_id  uuid,
    filename         text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type     text NOT NULL CHECK (length(content_type) <= 100),
    size             bigint NOT NULL CHECK (size > 0),
    sha256           text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    data             bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    PRIMARY KEY (tenant_id, file_id),
    CHECK ((visitor_id IS NULL) <> (agent_id IS NULL)),
    FOREIGN KEY (tenant_id, visitor_id) REFERENCES helpdesk.chat_visitors,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES helpdesk.users
);

CREATE INDEX IF NOT EXISTS chat_files_visitor
    ON helpdesk.chat_files (tenant_id, visitor_id, created_at)
    WHERE visitor_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS chat_files_agent
    ON helpdesk.chat_files (tenant_id, agent_id, created_at)
    WHERE agent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS chat_files_unsent
    ON helpdesk.chat_files (tenant_id, created_at)
    WHERE conversation_id IS NULL;

SELECT helpdesk.tenant_rls('helpdesk.chat_files'::regclass);

RESET ROLE;

GRANT SELECT, INSERT, UPDATE, DELETE ON helpdesk.chat_files TO helpdesk_service;
