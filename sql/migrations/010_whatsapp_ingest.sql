-- nginx-helpdesk: WhatsApp webhook deliveries into tickets, a batch at a
-- time.
--
-- The module gathers the deliveries that arrive within a millisecond on a
-- worker and hands them over in one call, so that one disk flush acks them
-- all.  The work is set-based: one statement per table for the whole batch
-- (the messages, the contacts that are known, the open tickets, the
-- comments), and a loop only for what is rare (a new contact, a new
-- ticket, a reaction, a status, business hours).  A batch that fails as a
-- whole is retried one delivery at a time, each in its own subtransaction,
-- so that one bad delivery is reported (and retried by its provider)
-- without undoing the others.  Provider retries find the WhatsApp message
-- id already stored and change nothing.

SET ROLE helpdesk_owner;

-- one `value` object of a delivery (the Cloud API's entry[].changes[], or
-- the v1 body itself)
CREATE TYPE helpdesk.whatsapp_value AS (
    item           int,          -- the delivery it came in
    vi             int,          -- its order in the delivery
    connection_id  uuid,
    ip             inet,
    v1             boolean,      -- the legacy 360dialog shape
    other          boolean,      -- a change that is not about messages
    value          jsonb
);

-- one inbound message of a batch, and what becomes of it
CREATE TYPE helpdesk.whatsapp_in AS (
    seq            int,          -- order in the batch
    item           int,          -- the delivery it came in
    connection_id  uuid,
    ip             inet,
    v1             boolean,      -- the legacy 360dialog shape
    first          boolean,      -- not a repeat of a wamid earlier in the batch
    ignored        boolean,      -- not a message we can store
    wamid          text,
    wa_id          text,
    bsuid          text,
    name           text,
    username       text,
    type           text,
    body           text,
    content        jsonb,
    media          jsonb,
    data           jsonb,        -- the event's data
    at             timestamptz,  -- the message's own time
    message_id     bigint,       -- set when stored (not a duplicate)
    contact_id     uuid,
    user_id        uuid,
    actor_name     text,
    ticket_id      uuid,
    event_id       bigint,
    pending        boolean       -- its ticket was waiting on the customer
);

RESET ROLE;
