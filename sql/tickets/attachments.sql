-- nginx-helpdesk: attachments, stored in PostgreSQL so that every node
-- can serve them, each tied to the ticket event that brought it.

SET ROLE helpdesk_owner;

-- GET /v1/tickets/{id}/attachments/{attachment}: the file itself.
CREATE OR REPLACE FUNCTION tickets.api_attachment(p_key_hash bytea, p_scope text,
    p_ip inet, p_args jsonb,
    OUT filename text, OUT content_type text, OUT data bytea)
LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb;
    t   helpdesk.tickets;
    a   helpdesk.attachments;
BEGIN
    ctx := rest.api_auth(p_key_hash, p_scope, p_ip);
    PERFORM tickets.read_only_audit();

    t := tickets.ticket_find(p_args->>'id', false);

    IF tickets.is_uuid(p_args->>'attachment_id') THEN
        SELECT * INTO a FROM helpdesk.attachments x
        WHERE x.tenant_id = t.tenant_id AND x.ticket_id = t.ticket_id
          AND x.attachment_id = (p_args->>'attachment_id')::uuid;
    END IF;

    IF a.attachment_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such attachment');
    END IF;

    PERFORM tickets.audit(ctx, 'attachment.read', 'attachment', a.attachment_id::text,
                           jsonb_build_object('ticket_id', t.ticket_id));

    filename := a.filename;
    content_type := a.content_type;
    data := a.data;
END
$$;

RESET ROLE;
