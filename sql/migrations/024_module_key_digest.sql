-- nginx-helpdesk: the provider key's proof is stored as a digest of what
-- the module sends.  The module passes SHA-256(key); the database keeps
-- SHA-256(SHA-256(key)) and compares the digest of what it is given, so
-- the stored value, read from a backup or a replica, is no proof itself.

UPDATE helpdesk_meta.module_keys SET key_hash = sha256(key_hash), set_at = now();
