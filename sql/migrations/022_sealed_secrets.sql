-- nginx-helpdesk: secrets at rest are sealed by the module.
--
-- From now on the module encrypts every secret (AES-256-GCM, under the key
-- file of helpdesk_secret_key_file) before it reaches PostgreSQL, and
-- stores it as "v1:<key id>:<base64>".  A migration has no key: what was
-- stored before stays readable, marked "plain:<value>" so that no value is
-- ever taken for the other kind, until the module's rotation (see
-- docs/operations.md) encrypts it.  A WhatsApp webhook's token is kept as
-- its SHA-256 ("sha256:<hex>"), which routes a delivery and cannot make
-- one.  The checks refuse anything else, so a
-- plaintext secret can no longer be written by mistake.

SET ROLE helpdesk_owner;

UPDATE helpdesk.webhook_endpoints SET secret = 'plain:' || secret;

-- A webhook's token is looked up by its SHA-256 from now on (a hash
-- needs no key), and the URL that carries it is a secret like the others.
UPDATE helpdesk.whatsapp_connections SET
    access_token = 'plain:' || access_token,
    app_secret = 'plain:' || app_secret,
    verify_token = 'plain:' || verify_token,
    api_key = 'plain:' || api_key,
    webhook_token = 'sha256:' || encode(sha256(convert_to(webhook_token, 'UTF8')), 'hex'),
    webhook_url = 'plain:' || webhook_url;

UPDATE helpdesk.users SET
    totp_secret = 'plain:' || totp_secret,
    totp_pending = 'plain:' || totp_pending
WHERE totp_secret IS NOT NULL OR totp_pending IS NOT NULL;

ALTER TABLE helpdesk.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_secret_sealed
    CHECK (secret ~ '^(v1|plain):');

ALTER TABLE helpdesk.whatsapp_connections
    ADD CONSTRAINT whatsapp_connections_secrets_sealed
    CHECK (access_token ~ '^(v1|plain):' AND app_secret ~ '^(v1|plain):'
           AND verify_token ~ '^(v1|plain):' AND api_key ~ '^(v1|plain):'
           AND webhook_url ~ '^(v1|plain):'
           AND webhook_token ~ '^sha256:[0-9a-f]{64}$');

ALTER TABLE helpdesk.users
    ADD CONSTRAINT users_totp_sealed
    CHECK (totp_secret ~ '^(v1|plain):' AND totp_pending ~ '^(v1|plain):');

RESET ROLE;
