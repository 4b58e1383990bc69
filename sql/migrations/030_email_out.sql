-- nginx-helpdesk: mail out.
--
-- The mails the helpdesk queues (password resets, invitations, address
-- verifications, chat transcripts: outbox rows of kind 'email') are built
-- from a tenant's templates and sent by SMTP, from the tenant's sender
-- settings or the provider's relay.
--
--   email_settings   one row per tenant that set anything: the sender's
--                    name and address, a Reply-To, a signature appended to
--                    every mail, a relay of the tenant's own (URL, user and
--                    a password sealed by the module), and the DKIM key the
--                    module generates for the sender's domain (sealed) with
--                    its public half, which the DNS record publishes
--   email_templates  a tenant's own wording of one kind of mail in one
--                    language (subject, plain text, HTML); without one the
--                    shipped default of email.default_template() is used
--   email_attempts   each SMTP attempt of a mail: the server's reply code
--                    and the reason it failed, as webhook_attempts are for
--                    webhooks

DO $$
BEGIN
    EXECUTE 'CREATE SCHEMA IF NOT EXISTS email AUTHORIZATION helpdesk_owner';
    EXECUTE 'REVOKE ALL ON SCHEMA email FROM PUBLIC';
    EXECUTE 'GRANT USAGE ON SCHEMA email TO helpdesk_service';
END
$$;

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.email_settings (
    tenant_id        uuid PRIMARY KEY REFERENCES helpdesk.tenants,
    from_name        text CHECK (length(from_name) <= 100
                                 AND from_name !~ '[\x01-\x1f\x7f]'),
    from_address     text CHECK (length(from_address) <= 254
                                 AND from_address ~ '^[^@\s<>",;:()\[\]\\]+@[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'),
    reply_to         text CHECK (length(reply_to) <= 254
                                 AND reply_to ~ '^[^@\s<>",;:()\[\]\\]+@[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'),
    signature        text NOT NULL DEFAULT ''
                     CHECK (length(signature) <= 2000),
    smtp_url         text CHECK (smtp_url ~ '^smtps?://'),
    smtp_user        text CHECK (length(smtp_user) <= 254
                                 AND smtp_user !~ '[\x01-\x1f\x7f]'),
    smtp_password    text CHECK (smtp_password ~ '^(v1|plain):'),
    -- what the password is sealed to: a fresh id with every new password
    smtp_secret_id   uuid,
    dkim_selector    text CHECK (dkim_selector ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    dkim_domain      text,
    dkim_key         text CHECK (dkim_key ~ '^v1:'),
    dkim_public      text CHECK (dkim_public ~ '^[A-Za-z0-9+/=]+$'),
    dkim_created_at  timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((dkim_key IS NULL) = (dkim_public IS NULL)),
    CHECK (smtp_url IS NOT NULL OR (smtp_user IS NULL AND smtp_password IS NULL))
);

CREATE TABLE IF NOT EXISTS helpdesk.email_templates (
    tenant_id   uuid NOT NULL REFERENCES helpdesk.tenants,
    kind        text NOT NULL CHECK (kind IN ('password_reset', 'invitation',
                                              'verification', 'chat_transcript')),
    language    text NOT NULL CHECK (language IN ('pt-BR', 'es', 'en')),
    subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 500
                                     AND subject !~ '[\x01-\x1f\x7f]'),
    body_text   text NOT NULL CHECK (length(body_text) BETWEEN 1 AND 20000),
    body_html   text NOT NULL CHECK (length(body_html) BETWEEN 1 AND 50000),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, language)
);

CREATE TABLE IF NOT EXISTS helpdesk.email_attempts (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    attempt_id    bigint GENERATED ALWAYS AS IDENTITY,
    outbox_id     bigint NOT NULL,
    attempt       int NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    relay         text NOT NULL CHECK (relay IN ('provider', 'tenant')),
    smtp_status   int,
    error         text,
    duration_ms   int,
    message_id    text,
    PRIMARY KEY (tenant_id, attempt_id)
);

CREATE INDEX IF NOT EXISTS email_attempts_outbox
    ON helpdesk.email_attempts (tenant_id, outbox_id, attempt_id);

-- the email runner looks only at mail that is due
CREATE INDEX IF NOT EXISTS outbox_email_due ON helpdesk.outbox (next_attempt_at)
    WHERE kind = 'email' AND status IN ('pending', 'sending');

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.email_settings', 'helpdesk.email_templates',
                  'helpdesk.email_attempts']) t;

RESET ROLE;

GRANT SELECT, INSERT, UPDATE ON helpdesk.email_settings TO helpdesk_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON helpdesk.email_templates TO helpdesk_service;
GRANT SELECT, INSERT ON helpdesk.email_attempts TO helpdesk_service;
