-- nginx-helpdesk: what tenants are shown of remote replies is now an
-- excerpt (outbox.excerpt(): at most 200 bytes, control characters as
-- spaces).  Replies kept before were up to 1 KB (a delivery's log) or
-- 300 characters (a connection's health) and may hold what an internal
-- address answered: cut them to what would be kept now.  They were
-- stored as printable ASCII, so characters are bytes here.

SET ROLE helpdesk_owner;

UPDATE helpdesk.webhook_attempts
SET response = nullif(btrim(left(regexp_replace(response, '[[:cntrl:]]+', ' ', 'g'), 200)), '')
WHERE response IS NOT NULL
  AND (octet_length(response) > 200 OR response ~ '[[:cntrl:]]');

UPDATE helpdesk.whatsapp_connections
SET health_error = left(regexp_replace(health_error, '[[:cntrl:]]+', ' ', 'g'), 210)
WHERE health_error IS NOT NULL
  AND (octet_length(health_error) > 210 OR health_error ~ '[[:cntrl:]]');

UPDATE helpdesk.whatsapp_messages
SET error_title = left(regexp_replace(error_title, '[[:cntrl:]]+', ' ', 'g'), 200)
WHERE error_title IS NOT NULL
  AND (char_length(error_title) > 200 OR error_title ~ '[[:cntrl:]]');

RESET ROLE;
