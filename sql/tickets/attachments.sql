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

-- POST /v1/uploads: a file kept for the caller (an API key, or the agent
-- of a console session) until it attaches it to a comment or a new ticket
-- (tickets.uploads_attach); one never attached is forgotten after a day,
-- as the console's and the portal's are.  At most 100 wait per owner.
CREATE OR REPLACE FUNCTION tickets.api_upload(p_key_hash bytea, p_scope text,
    p_ip inet, p_args jsonb, p_data bytea, OUT body jsonb, OUT location text)
LANGUAGE plpgsql AS $$
DECLARE
    ctx    jsonb;
    v_key  uuid;
    v_user uuid;
    v_name text := p_args->>'filename';
    v_type text := p_args->>'content_type';
    up     helpdesk.uploads;
BEGIN
    ctx := rest.api_auth(p_key_hash, p_scope, p_ip);

    IF ctx->>'actor_type' = 'api_key' THEN
        v_key := (ctx->>'actor_id')::uuid;
    ELSE
        v_user := (ctx->>'actor_id')::uuid;
    END IF;

    -- the module checked these; a statement called otherwise meets them too
    IF v_name IS NULL OR v_name = '' OR length(v_name) > 255 OR v_name IN ('.', '..')
       OR v_name ~ '[\x01-\x1f\x7f/\\]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the file needs a name',
            portal.err('filename', 'invalid', 'a file name without a path or control characters'));
    END IF;

    IF v_type IS NULL OR v_type !~ '^[a-z0-9!#$&^_.+-]{1,50}/[a-z0-9!#$&^_.+-]{1,80}$' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the file needs a type',
            portal.err('content_type', 'invalid', 'a media type such as application/pdf'));
    END IF;

    IF p_data IS NULL OR length(p_data) = 0 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the file is empty',
            portal.err('body', 'empty', 'the file is empty'));
    END IF;

    -- what was never used is forgotten after a day
    DELETE FROM helpdesk.uploads x
    WHERE x.tenant_id = (ctx->>'tenant_id')::uuid
      AND x.api_key_id IS NOT DISTINCT FROM v_key AND x.user_id IS NOT DISTINCT FROM v_user
      AND x.created_at < now() - interval '1 day';

    IF (SELECT count(*) FROM helpdesk.uploads x
        WHERE x.tenant_id = (ctx->>'tenant_id')::uuid
          AND x.api_key_id IS NOT DISTINCT FROM v_key
          AND x.user_id IS NOT DISTINCT FROM v_user) >= 100 THEN
        PERFORM tickets.fail('HDLIM', 'too-many-uploads',
            '100 files wait to be attached already: attach them, or wait for them to expire');
    END IF;

    INSERT INTO helpdesk.uploads (tenant_id, user_id, api_key_id, filename, content_type,
                                  size, sha256, data)
    VALUES ((ctx->>'tenant_id')::uuid, v_user, v_key, v_name, v_type, length(p_data),
            encode(sha256(p_data), 'hex'), p_data)
    RETURNING * INTO up;

    PERFORM tickets.audit(ctx, 'upload.create', 'upload', up.upload_id::text,
                           jsonb_build_object('filename', up.filename, 'size', up.size,
                                              'content_type', up.content_type));

    body := tickets.upload_json(up);
END
$$;

CREATE OR REPLACE FUNCTION tickets.upload_json(up helpdesk.uploads)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', up.upload_id, 'filename', up.filename,
                              'size', up.size, 'content_type', up.content_type,
                              'expires_at', up.created_at + interval '1 day')
$$;

-- The caller's uploads (p_ids, a list of their ids) become the files of
-- event p_event: each must be one of the caller's own (the same API key,
-- or the same user), in this tenant, not expired and not attached yet
-- (attaching deletes the upload).  At most 10 per event.
CREATE OR REPLACE FUNCTION tickets.uploads_attach(ctx jsonb, p_ticket uuid,
    p_event bigint, p_ids jsonb)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (ctx->>'tenant_id')::uuid;
    v_key  uuid;
    v_user uuid;
    ids    uuid[];
    bad    text;
    n      int;
BEGIN
    IF p_ids IS NULL OR p_ids = 'null' OR p_ids = '[]' THEN
        RETURN 0;
    END IF;

    IF jsonb_typeof(p_ids) <> 'array' OR jsonb_array_length(p_ids) > 10
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_ids) x
                  WHERE jsonb_typeof(x) <> 'string' OR NOT tickets.is_uuid(x #>> '{}')) THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'attachments are upload ids',
            portal.err('attachments', 'invalid', 'a list of at most 10 upload ids'));
    END IF;

    ids := ARRAY(SELECT (x #>> '{}')::uuid FROM jsonb_array_elements(p_ids) x);

    IF (SELECT count(DISTINCT i) FROM unnest(ids) i) <> cardinality(ids) THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'an upload is named twice',
            portal.err('attachments', 'duplicate', 'each upload may be attached once'));
    END IF;

    IF ctx->>'actor_type' = 'api_key' THEN
        v_key := (ctx->>'actor_id')::uuid;
    ELSIF ctx->>'actor_type' = 'user' THEN
        v_user := (ctx->>'actor_id')::uuid;
    ELSE
        PERFORM tickets.fail('HDINV', 'validation-error', 'this caller has no uploads',
            portal.err('attachments', 'unknown', 'this caller has no uploads'));
    END IF;

    -- the first that is not the caller's to attach, named
    SELECT i::text INTO bad FROM unnest(ids) WITH ORDINALITY u(i, o)
    WHERE NOT EXISTS (
        SELECT 1 FROM helpdesk.uploads x
        WHERE x.tenant_id = tenant AND x.upload_id = i
          AND x.api_key_id IS NOT DISTINCT FROM v_key
          AND x.user_id IS NOT DISTINCT FROM v_user
          AND x.created_at >= now() - interval '1 day')
    ORDER BY o LIMIT 1;

    IF bad IS NOT NULL THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'an attachment is not an upload of yours',
            portal.err('attachments', 'unknown', format('%s is not an upload of this caller, '
                'or it was attached already or has expired: upload the file again', bad)));
    END IF;

    WITH gone AS (
        DELETE FROM helpdesk.uploads x
        WHERE x.tenant_id = tenant AND x.upload_id = ANY (ids)
          AND x.api_key_id IS NOT DISTINCT FROM v_key
          AND x.user_id IS NOT DISTINCT FROM v_user
          AND x.created_at >= now() - interval '1 day'
        RETURNING x.*)
    INSERT INTO helpdesk.attachments (tenant_id, ticket_id, event_id, filename,
                                      content_type, size, sha256, data, source, ordinal)
    SELECT g.tenant_id, p_ticket, p_event, g.filename, g.content_type, g.size,
           g.sha256, g.data, 'api', array_position(ids, g.upload_id)
    FROM gone g
    ORDER BY array_position(ids, g.upload_id);

    GET DIAGNOSTICS n = ROW_COUNT;

    -- attached meanwhile by a request of the same caller
    IF n <> cardinality(ids) THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'an attachment was attached already',
            portal.err('attachments', 'unknown',
                'an upload was attached by another request meanwhile: upload the file again'));
    END IF;

    RETURN n;
END
$$;

RESET ROLE;
