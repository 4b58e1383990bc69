-- nginx-helpdesk: attachments, stored in PostgreSQL so that every node
-- can serve them, each tied to the ticket event that brought it.

SET ROLE helpdesk_owner;

CREATE TABLE IF NOT EXISTS helpdesk.attachments (
    tenant_id       uuid NOT NULL REFERENCES helpdesk.tenants,
    attachment_id   uuid NOT NULL DEFAULT gen_random_uuid(),
    ticket_id       uuid NOT NULL,
    event_id        bigint,
    filename        text NOT NULL,
    content_type    text NOT NULL,
    size            bigint NOT NULL,
    sha256          text NOT NULL,
    data            bytea NOT NULL,
    source          text NOT NULL DEFAULT 'upload',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, attachment_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES helpdesk.tickets
);

CREATE INDEX IF NOT EXISTS attachments_event ON helpdesk.attachments (tenant_id, ticket_id, event_id);

SELECT helpdesk.tenant_rls('helpdesk.attachments');

RESET ROLE;

GRANT SELECT, INSERT ON helpdesk.attachments TO helpdesk_service;
