-- nginx-helpdesk: ACME Renewal Information (RFC 9773) for the certificates
-- the module's ACME client ordered.
--
--   ari_cert_id       the certificate's ARI certID (base64url(AKI key id)
--                     "." base64url(serial)), set when it was stored from a
--                     CA whose directory has "renewalInfo"; a renewal of it
--                     names it in newOrder's "replaces"
--   ari_next_at       when its renewal information is asked again (the
--                     CA's Retry-After, else six hours: at least twice a day)
--   ari_window_start  the CA's last suggestedWindow; renew_after is a
--   ari_window_end    random point in it

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.tls_certificates
    ADD COLUMN IF NOT EXISTS ari_cert_id text
        CHECK (ari_cert_id ~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' AND length(ari_cert_id) <= 512),
    ADD COLUMN IF NOT EXISTS ari_next_at timestamptz,
    ADD COLUMN IF NOT EXISTS ari_window_start timestamptz,
    ADD COLUMN IF NOT EXISTS ari_window_end timestamptz;

CREATE INDEX IF NOT EXISTS tls_certificates_ari ON helpdesk.tls_certificates (ari_next_at)
    WHERE ari_cert_id IS NOT NULL AND revoked_at IS NULL AND replaced_at IS NULL;

RESET ROLE;
