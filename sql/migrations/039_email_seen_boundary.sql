-- nginx-helpdesk: what a fetched mailbox held before it was connected.
--
--   seen_skip_below  the folder's UIDNEXT at the mailbox's first run (its
--                    STATUS): a message below it that is flagged \Seen was
--                    there, and read, before the helpdesk was connected,
--                    and is left on every run; every message at or above
--                    it is taken, read or not (a person who reads it in
--                    another client does not make it less new).  NULL:
--                    nothing is left for being read (a mailbox whose
--                    folder's UIDVALIDITY changed, or first fetched before
--                    this column).

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.email_mailboxes
    ADD COLUMN IF NOT EXISTS seen_skip_below bigint
        CHECK (seen_skip_below >= 1);

RESET ROLE;
