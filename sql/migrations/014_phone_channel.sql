-- nginx-helpdesk: tickets that agents open for their customers.
--
-- A customer who calls (or walks in) gets a ticket too: the agent opens it
-- from the console, and its channel says so ("phone").  Replies to it are
-- recorded on the ticket, which the customer reads on the portal.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.tickets DROP CONSTRAINT IF EXISTS tickets_channel_check;
ALTER TABLE helpdesk.tickets ADD CONSTRAINT tickets_channel_check
    CHECK (channel IN ('api', 'portal', 'email', 'whatsapp', 'chat', 'phone'));

RESET ROLE;
