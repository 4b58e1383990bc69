-- nginx-helpdesk: the console's customer directory.
--
-- Agents find a customer (by name, email, phone or WhatsApp number), see
-- everything they asked on every channel, and correct their details (a
-- caller's email learnt later, a name typed wrong).  Every listing and
-- every profile opened is an audited read, like a ticket.

SET ROLE helpdesk_owner;

-- requesters of one tenant, by user; the directory counts tickets with it
CREATE INDEX IF NOT EXISTS tickets_requester_status
    ON helpdesk.tickets (tenant_id, requester_id, status);

RESET ROLE;
