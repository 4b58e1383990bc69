-- nginx-helpdesk: the WhatsApp Business channel (360dialog and Cloud API).
--
-- A connection is one business number of a tenant.  Its webhook URL
-- carries an unguessable token: for 360dialog it is the secret that
-- authenticates deliveries, for the Cloud API it routes them (the body is
-- authenticated by X-Hub-Signature-256 with the app secret).
-- Contacts are keyed by wa_id, or by the business-scoped user id when the
-- number is hidden; both are stored.  Every message, in or out, is a row
-- of whatsapp_messages, unique per business number and WhatsApp id, which
-- is what makes provider retries harmless.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.users ALTER COLUMN email DROP NOT NULL;

CREATE TABLE IF NOT EXISTS helpdesk.whatsapp_connections (
    tenant_id             uuid NOT NULL REFERENCES helpdesk.tenants,
    connection_id         uuid NOT NULL DEFAULT gen_random_uuid(),
    provider              text NOT NULL CHECK (provider IN ('cloud', '360dialog')),
    display_phone_number  text NOT NULL,
    phone_number_id       text,
    base_url              text NOT NULL,
    access_token          text,
    app_secret            text,
    verify_token          text,
    api_key               text,
    webhook_token         text NOT NULL UNIQUE,
    webhook_url           text,
    enabled               boolean NOT NULL DEFAULT true,
    health                text NOT NULL DEFAULT 'pending'
                          CHECK (health IN ('pending', 'ok', 'auth_failed',
                                            'unreachable', 'rate_limited', 'error')),
    health_error          text,
    health_checked_at     timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    deleted_at            timestamptz,
    PRIMARY KEY (tenant_id, connection_id)
);

CREATE UNIQUE INDEX IF NOT EXISTS whatsapp_connections_number
    ON helpdesk.whatsapp_connections (tenant_id, phone_number_id)
    WHERE deleted_at IS NULL AND phone_number_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS helpdesk.whatsapp_contacts (
    tenant_id         uuid NOT NULL,
    contact_id        uuid NOT NULL DEFAULT gen_random_uuid(),
    connection_id     uuid NOT NULL,
    wa_id             text,
    user_id_bsuid     text,
    name              text,
    username          text,
    user_id           uuid NOT NULL,
    last_inbound_at   timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, contact_id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES helpdesk.whatsapp_connections,
    FOREIGN KEY (tenant_id, user_id) REFERENCES helpdesk.users,
    CHECK (wa_id IS NOT NULL OR user_id_bsuid IS NOT NULL)
);

CREATE UNIQUE INDEX IF NOT EXISTS whatsapp_contacts_wa
    ON helpdesk.whatsapp_contacts (tenant_id, connection_id, wa_id)
    WHERE wa_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS whatsapp_contacts_bsuid
    ON helpdesk.whatsapp_contacts (tenant_id, connection_id, user_id_bsuid)
    WHERE user_id_bsuid IS NOT NULL;

CREATE TABLE IF NOT EXISTS helpdesk.whatsapp_messages (
    tenant_id       uuid NOT NULL,
    message_id      bigint GENERATED ALWAYS AS IDENTITY,
    connection_id   uuid NOT NULL,
    wamid           text,
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    contact_id      uuid,
    ticket_id       uuid,
    event_id        bigint,
    type            text NOT NULL,
    body            text,
    content         jsonb NOT NULL DEFAULT '{}',
    reactions       jsonb NOT NULL DEFAULT '{}',
    status          text CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    error_code      int,
    error_title     text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_id)
);

CREATE UNIQUE INDEX IF NOT EXISTS whatsapp_messages_wamid
    ON helpdesk.whatsapp_messages (tenant_id, connection_id, wamid)
    WHERE wamid IS NOT NULL;

-- statuses seen, deduplicated on (wamid, status)
CREATE TABLE IF NOT EXISTS helpdesk.whatsapp_statuses (
    tenant_id      uuid NOT NULL,
    connection_id  uuid NOT NULL,
    wamid          text NOT NULL,
    status         text NOT NULL,
    at             timestamptz,
    errors         jsonb,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connection_id, wamid, status)
);

ALTER TABLE helpdesk.outbox DROP CONSTRAINT IF EXISTS outbox_kind_check;
ALTER TABLE helpdesk.outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('webhook', 'whatsapp'));

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.whatsapp_connections', 'helpdesk.whatsapp_contacts', 'helpdesk.whatsapp_messages', 'helpdesk.whatsapp_statuses']) t;

RESET ROLE;

GRANT SELECT, INSERT, UPDATE ON helpdesk.whatsapp_connections,
    helpdesk.whatsapp_contacts, helpdesk.whatsapp_messages,
    helpdesk.whatsapp_statuses TO helpdesk_service;
