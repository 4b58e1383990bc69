-- nginx-helpdesk: when an outbound WhatsApp message reached its current
-- state (queued, sent, delivered, read or failed), so the API can tell a
-- client not only where a reply is but since when.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.whatsapp_messages ADD COLUMN IF NOT EXISTS status_at timestamptz;

-- what was sent before: the best we know
UPDATE helpdesk.whatsapp_messages m SET status_at = coalesce(
    (SELECT coalesce(s.at, s.received_at) FROM helpdesk.whatsapp_statuses s
     WHERE s.tenant_id = m.tenant_id AND s.connection_id = m.connection_id
       AND s.wamid = m.wamid AND s.status = m.status),
    m.sent_at, m.created_at)
WHERE m.direction = 'out' AND m.status_at IS NULL;

ALTER TABLE helpdesk.whatsapp_messages ALTER COLUMN status_at SET DEFAULT now();

-- an event's delivery, looked up for every event a ticket's history lists
CREATE INDEX IF NOT EXISTS whatsapp_messages_event
    ON helpdesk.whatsapp_messages (tenant_id, event_id)
    WHERE direction = 'out' AND event_id IS NOT NULL;

RESET ROLE;
