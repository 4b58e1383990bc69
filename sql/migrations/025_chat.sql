-- nginx-helpdesk: website chat.
--
-- A conversation lives in Redis while it is open (a stream per
-- conversation, the waiting queue, agents' presence); PostgreSQL is its
-- record: every conversation and every message is written here within a
-- bounded time (batches from the persistence stream), under row-level
-- security, and stays beside the customer's tickets.
--
--   chat_widgets        the tenant's widget and queue settings
--   chat_visitors       a browser that chatted (a token kept in it; only
--                       the token's SHA-256 is stored), linked to a
--                       customer when one is known
--   chat_conversations  one chat, from the first message to its end or its
--                       conversion into a ticket
--   chat_messages       what was said (visitor, agent, bot) and what
--                       happened (joined, transferred, ended), by the
--                       Redis stream id that every client saw
--
-- The business hours of the chat are the tenant's schedule for the
-- channel "chat" (settings->'business_hours'->'chat', migration 009).

CREATE SCHEMA IF NOT EXISTS chat AUTHORIZATION helpdesk_owner;
REVOKE ALL ON SCHEMA chat FROM PUBLIC;
GRANT USAGE ON SCHEMA chat TO helpdesk_service;

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.chat_widgets (
    tenant_id         uuid PRIMARY KEY REFERENCES helpdesk.tenants,
    enabled           boolean NOT NULL DEFAULT true,
    colour            text NOT NULL DEFAULT '#1f6feb'
                      CHECK (colour ~ '^#[0-9a-f]{6}$'),
    position          text NOT NULL DEFAULT 'bottom-right'
                      CHECK (position IN ('bottom-right', 'bottom-left')),
    title             text NOT NULL DEFAULT ''
                      CHECK (length(title) <= 80),
    greeting          text NOT NULL DEFAULT ''
                      CHECK (length(greeting) <= 1000),
    icon              text NOT NULL DEFAULT 'bubble'
                      CHECK (icon IN ('bubble', 'question', 'headset', 'wave')),
    -- pages that may open a chat ("https://www.example.com"), exact
    -- origins; empty: none (the widget is off until one is set)
    allowed_origins   text[] NOT NULL DEFAULT '{}'
                      CHECK (cardinality(allowed_origins) <= 50),
    -- [{"name": "name"|"email"|"<custom>", "label": "...", "required": bool}]
    prechat_fields    jsonb NOT NULL DEFAULT
                      '[{"name": "name", "required": true},
                        {"name": "email", "required": false}]',
    max_message_bytes integer NOT NULL DEFAULT 16384
                      CHECK (max_message_bytes BETWEEN 256 AND 65536),
    -- the queue
    max_chats_per_agent   integer NOT NULL DEFAULT 3
                          CHECK (max_chats_per_agent BETWEEN 1 AND 20),
    accept_timeout_seconds integer NOT NULL DEFAULT 30
                          CHECK (accept_timeout_seconds BETWEEN 10 AND 600),
    reply_timeout_seconds integer NOT NULL DEFAULT 300
                          CHECK (reply_timeout_seconds BETWEEN 30 AND 86400),
    on_reply_timeout      text NOT NULL DEFAULT 'requeue'
                          CHECK (on_reply_timeout IN ('requeue', 'ticket')),
    waiting_message       text NOT NULL DEFAULT ''
                          CHECK (length(waiting_message) <= 500),
    transfer_allowed      boolean NOT NULL DEFAULT true,
    -- a chat still open after this many minutes becomes a ticket; NULL: never
    auto_ticket_minutes   integer CHECK (auto_ticket_minutes BETWEEN 1 AND 10080),
    -- the bot: greets, asks the pre-chat questions, suggests articles
    bot_enabled           boolean NOT NULL DEFAULT true,
    bot_kb_suggestions    boolean NOT NULL DEFAULT true,
    offline_form          boolean NOT NULL DEFAULT true,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS helpdesk.chat_visitors (
    tenant_id      uuid NOT NULL REFERENCES helpdesk.tenants,
    visitor_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    token_hash     bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    customer_id    uuid,
    name           text CHECK (length(name) <= 200),
    email          text CHECK (length(email) <= 254),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, visitor_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES helpdesk.users
);

CREATE TABLE IF NOT EXISTS helpdesk.chat_conversations (
    tenant_id        uuid NOT NULL REFERENCES helpdesk.tenants,
    conversation_id  uuid NOT NULL DEFAULT gen_random_uuid(),
    visitor_id       uuid NOT NULL,
    customer_id      uuid,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('bot', 'queued', 'active', 'ended',
                                       'converted')),
    agent_id         uuid,
    ticket_id        uuid,
    -- what the visitor's browser said at the start
    page_url         text CHECK (length(page_url) <= 2048),
    page_title       text CHECK (length(page_title) <= 300),
    referrer         text CHECK (length(referrer) <= 2048),
    language         text CHECK (length(language) <= 35),
    user_agent       text CHECK (length(user_agent) <= 512),
    prechat          jsonb NOT NULL DEFAULT '{}',
    started_at       timestamptz NOT NULL DEFAULT now(),
    accepted_at      timestamptz,
    first_response_at timestamptz,
    ended_at         timestamptz,
    ended_by         text CHECK (ended_by IN ('visitor', 'agent', 'system')),
    last_message_at  timestamptz,
    PRIMARY KEY (tenant_id, conversation_id),
    FOREIGN KEY (tenant_id, visitor_id) REFERENCES helpdesk.chat_visitors,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES helpdesk.users,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES helpdesk.users,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.tickets
);

CREATE INDEX IF NOT EXISTS chat_conversations_visitor
    ON helpdesk.chat_conversations (tenant_id, visitor_id, started_at);
CREATE INDEX IF NOT EXISTS chat_conversations_customer
    ON helpdesk.chat_conversations (tenant_id, customer_id, started_at)
    WHERE customer_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS chat_conversations_open
    ON helpdesk.chat_conversations (tenant_id, started_at)
    WHERE status IN ('bot', 'queued', 'active');

CREATE TABLE IF NOT EXISTS helpdesk.chat_messages (
    tenant_id        uuid NOT NULL,
    conversation_id  uuid NOT NULL,
    -- the Redis stream id ("<ms>-<seq>"): the order, and what clients
    -- resume from
    message_id       text NOT NULL CHECK (message_id ~ '^[0-9]{1,20}-[0-9]{1,20}$'),
    kind             text NOT NULL CHECK (kind IN ('message', 'note', 'event')),
    author_type      text NOT NULL
                     CHECK (author_type IN ('visitor', 'agent', 'bot', 'system')),
    author_id        uuid,
    author_name      text,
    body             text NOT NULL DEFAULT '' CHECK (length(body) <= 65536),
    -- [{"upload_id", "filename", "content_type", "size"}], or for an event
    -- what it says ({"event": "transferred", "to": ...})
    data             jsonb NOT NULL DEFAULT '{}',
    client_id        text CHECK (length(client_id) <= 64),
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, message_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES helpdesk.chat_conversations
);

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.chat_widgets', 'helpdesk.chat_visitors',
                  'helpdesk.chat_conversations', 'helpdesk.chat_messages']) t;

RESET ROLE;

GRANT SELECT, INSERT, UPDATE, DELETE ON helpdesk.chat_widgets,
    helpdesk.chat_visitors, helpdesk.chat_conversations,
    helpdesk.chat_messages TO helpdesk_service;
