-- nginx-helpdesk: agents' replies to email tickets, and the customer's
-- notifications, by email.
--
--   email_templates      four more kinds: ticket_received (to the
--                        customer of a ticket opened by mail, with its
--                        number and a link to the portal), agent_reply
--                        (an agent's public reply), status_changed and
--                        resolved
--   email_settings       which of the notifications the tenant sends
--                        (notify: {"ticket_received", "status_changed",
--                        "resolved": boolean}); an agent's reply always
--                        goes back: it is the answer, not a notice
--   email_ticket_tokens  where the portal of the ticket's tenant starts, as the
--                        helpdesk named it when the mail came in (the runner,
--                        outside any request, cannot know the tenant's
--                        portal address)

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.email_templates DROP CONSTRAINT IF EXISTS email_templates_kind_check;
ALTER TABLE helpdesk.email_templates ADD CONSTRAINT email_templates_kind_check
    CHECK (kind IN ('password_reset', 'invitation', 'verification', 'chat_transcript',
                    'ticket_received', 'agent_reply', 'status_changed', 'resolved'));

ALTER TABLE helpdesk.email_settings
    ADD COLUMN IF NOT EXISTS notify jsonb NOT NULL
        DEFAULT '{"ticket_received": true, "status_changed": false, "resolved": true}'
        CHECK (jsonb_typeof(notify) = 'object');

ALTER TABLE helpdesk.email_ticket_tokens
    ADD COLUMN IF NOT EXISTS portal_base text CHECK (portal_base ~ '^https?://[^\s<>"]+$'
                                                    AND length(portal_base) <= 500);

RESET ROLE;

GRANT UPDATE ON helpdesk.email_ticket_tokens TO helpdesk_service;
