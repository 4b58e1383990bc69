-- nginx-helpdesk: replies on WhatsApp.
--
-- An agent's public reply to a WhatsApp ticket is sent back to the
-- customer through the outbox, in the transaction that stores the reply.
-- Free text is only allowed inside the 24-hour customer service window
-- (from the customer's last message on that number); outside it the reply
-- is refused up front with the templates that could be used instead.
-- Templates are mapped per tenant to four uses: ticket_opened,
-- status_update, reply_reminder and resolved.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.ticket_events DROP CONSTRAINT IF EXISTS ticket_events_type_check;
ALTER TABLE helpdesk.ticket_events ADD CONSTRAINT ticket_events_type_check
    CHECK (type IN ('created', 'comment', 'status_changed', 'priority_changed',
                    'category_changed', 'assignee_changed', 'delivery_failed'));

RESET ROLE;
