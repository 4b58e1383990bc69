-- nginx-helpdesk: the outbox and event webhooks.
--
-- Anything the helpdesk must send to the world (webhook deliveries now;
-- WhatsApp and email replies as those channels land) is written to the
-- outbox in the same transaction as the change that causes it, so it is
-- never lost.  Workers claim due rows with FOR UPDATE SKIP LOCKED and a
-- lease, deliver them, and record the result: delivered, retry later
-- (exponential backoff with jitter), or dead after too many attempts.
-- A row whose worker died is claimed again when its lease runs out.

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.webhook_endpoints (
    tenant_id             uuid NOT NULL REFERENCES helpdesk.tenants,
    endpoint_id           uuid NOT NULL DEFAULT gen_random_uuid(),
    url                   text NOT NULL CHECK (url ~ '^https?://'),
    description           text,
    secret                text NOT NULL,
    events                text[] NOT NULL,
    enabled               boolean NOT NULL DEFAULT true,
    disabled_reason       text,
    consecutive_failures  int NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    deleted_at            timestamptz,
    PRIMARY KEY (tenant_id, endpoint_id)
);

CREATE TABLE IF NOT EXISTS helpdesk.outbox (
    tenant_id        uuid NOT NULL REFERENCES helpdesk.tenants,
    outbox_id        bigint GENERATED ALWAYS AS IDENTITY,
    kind             text NOT NULL CHECK (kind IN ('webhook')),
    target_id        uuid NOT NULL,
    delivery_id      uuid NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'delivered', 'dead')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    PRIMARY KEY (tenant_id, outbox_id)
);

CREATE INDEX IF NOT EXISTS outbox_due ON helpdesk.outbox (next_attempt_at)
    WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS outbox_target ON helpdesk.outbox (tenant_id, target_id, outbox_id);

CREATE TABLE IF NOT EXISTS helpdesk.webhook_attempts (
    tenant_id     uuid NOT NULL,
    attempt_id    bigint GENERATED ALWAYS AS IDENTITY,
    outbox_id     bigint NOT NULL,
    endpoint_id   uuid NOT NULL,
    delivery_id   uuid NOT NULL,
    event_type    text NOT NULL,
    attempt       int NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    http_status   int,
    error         text,
    duration_ms   int,
    response      text,
    PRIMARY KEY (tenant_id, attempt_id)
);

CREATE INDEX IF NOT EXISTS webhook_attempts_endpoint
    ON helpdesk.webhook_attempts (tenant_id, endpoint_id, attempt_id);

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.webhook_endpoints', 'helpdesk.outbox', 'helpdesk.webhook_attempts']) t;

RESET ROLE;

GRANT SELECT, INSERT, UPDATE ON helpdesk.webhook_endpoints, helpdesk.outbox
    TO helpdesk_service;
GRANT SELECT ON helpdesk.webhook_attempts TO helpdesk_service;
