-- nginx-helpdesk: one customer, however many ways they reached us.
--
-- The same person often arrives twice: on WhatsApp (a number, no email)
-- and on the portal (an email), or as a caller typed in by an agent.  An
-- agent merges the duplicate into the customer who stays: every ticket,
-- WhatsApp contact and pending upload moves over, the history reads as one
-- person's (it is not rewritten), and what the one who stays lacked (email with the
-- portal login, phone, name) comes from the other.  The duplicate stays as
-- a disabled record that points to the one who stays, so that their email
-- still finds the right customer.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.users ADD COLUMN IF NOT EXISTS merged_into uuid;

RESET ROLE;
