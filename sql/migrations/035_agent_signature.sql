-- nginx-helpdesk: an agent's own signature on the email replies.
--
--   users.signature   plain text an agent or admin writes for themselves
--                     (the console's account page, PATCH
--                     /agent/_/api/profile), put under their name and above
--                     the tenant's signature on their replies by email; at
--                     most 1000 characters and 10 lines, no control
--                     characters but the line breaks

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.users
    ADD COLUMN IF NOT EXISTS signature text
        CHECK (length(signature) <= 1000
               AND signature !~ '[\x01-\x09\x0b-\x1f\x7f]'
               AND array_length(string_to_array(signature, E'\n'), 1) <= 10);

RESET ROLE;
