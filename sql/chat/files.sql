-- nginx-helpdesk: files sent in the website chat (schema "chat"; the
-- table is migration 026's).
--
--   file_store(tenant, token_hash, agent, filename, type, data)
--       an upload: the visitor's (by its browser token's SHA-256) or the
--       agent's; answers {"upload_id", "filename", "content_type", "size"}
--       errors HDUNA (no such visitor), HDLIM (too many uploads lately)
--   files_claim(tenant, conversation, visitor, agent, ids)
--       the files a message names, checked to be the sender's own and not
--       sent in another conversation, bound to this one; answers their
--       details in the message's order
--       errors HDNFD (an id that is not the sender's, or sent elsewhere)
--   file_get(tenant, file, agent)
--       a file's name, type and bytes: any of the tenant's for a signed
--       link (agent NULL), one sent in a chat or the agent's own for an
--       agent; nothing otherwise.  Each read is audited (chat.file.read)
--
-- The caller has checked who asks (a visitor's token, the page's Origin,
-- an agent's console session, a link's signature) and set the tenant.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION chat.file_store(p_tenant uuid, p_token_hash bytea,
    p_agent uuid, p_filename text, p_type text, p_data bytea)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    vid  uuid;
    n    int;
    f    helpdesk.chat_files;
BEGIN
    IF p_agent IS NULL THEN
        SELECT v.visitor_id INTO vid FROM helpdesk.chat_visitors v
        WHERE v.tenant_id = p_tenant AND v.token_hash = p_token_hash;

        IF vid IS NULL THEN
            PERFORM tickets.fail('HDUNA', 'unknown-visitor',
                'say "hello" in the chat first: this visitor is not known');
        END IF;
    END IF;

    IF p_data IS NULL OR length(p_data) = 0 THEN
        PERFORM tickets.fail('HDINV', 'empty-file', 'the file is empty');
    END IF;

    -- what was never sent is forgotten after a day
    DELETE FROM helpdesk.chat_files x
    WHERE x.tenant_id = p_tenant AND x.conversation_id IS NULL
      AND x.created_at < now() - interval '1 day';

    -- a visitor 20 files in ten minutes, an agent 200
    SELECT count(*) INTO n FROM helpdesk.chat_files x
    WHERE x.tenant_id = p_tenant AND x.created_at > now() - interval '10 minutes'
      AND CASE WHEN p_agent IS NULL THEN x.visitor_id = vid
               ELSE x.agent_id = p_agent END;

    IF n >= (CASE WHEN p_agent IS NULL THEN 20 ELSE 200 END) THEN
        PERFORM tickets.fail('HDLIM', 'too-many-uploads',
                             'too many files in a short time; try again in a few minutes');
    END IF;

    INSERT INTO helpdesk.chat_files (tenant_id, visitor_id, agent_id, filename,
                                     content_type, size, sha256, data)
    VALUES (p_tenant, vid, p_agent,
            coalesce(nullif(left(p_filename, 255), ''), 'file'),
            coalesce(nullif(left(p_type, 100), ''), 'application/octet-stream'),
            length(p_data), encode(sha256(p_data), 'hex'), p_data)
    RETURNING * INTO f;

    RETURN jsonb_build_object('upload_id', f.file_id, 'filename', f.filename,
                              'content_type', f.content_type, 'size', f.size);
END
$$;

CREATE OR REPLACE FUNCTION chat.files_claim(p_tenant uuid, p_conversation uuid,
    p_visitor uuid, p_agent uuid, p_ids jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    ids  uuid[];
    n    int;
    r    jsonb;
BEGIN
    IF jsonb_typeof(p_ids) IS DISTINCT FROM 'array' OR p_ids = '[]' THEN
        RETURN '[]';
    END IF;

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_ids) x
               WHERE jsonb_typeof(x) <> 'string' OR NOT tickets.is_uuid(x #>> '{}')) THEN
        PERFORM tickets.fail('HDNFD', 'unknown-upload', 'an attachment is no upload id');
    END IF;

    ids := ARRAY(SELECT DISTINCT (x #>> '{}')::uuid FROM jsonb_array_elements(p_ids) x);

    UPDATE helpdesk.chat_files f SET
        conversation_id = p_conversation,
        sent_at = coalesce(f.sent_at, now())
    WHERE f.tenant_id = p_tenant AND f.file_id = ANY (ids)
      AND (f.conversation_id IS NULL OR f.conversation_id = p_conversation)
      AND CASE WHEN p_agent IS NULL THEN f.visitor_id = p_visitor
               ELSE f.agent_id = p_agent END;

    GET DIAGNOSTICS n = ROW_COUNT;

    IF n <> coalesce(array_length(ids, 1), 0) THEN
        PERFORM tickets.fail('HDNFD', 'unknown-upload',
            'an attachment is not one of your uploads, or was sent in another conversation');
    END IF;

    SELECT jsonb_agg(jsonb_build_object('upload_id', f.file_id,
                                        'filename', f.filename,
                                        'content_type', f.content_type,
                                        'size', f.size) ORDER BY x.o)
    INTO r
    FROM (SELECT (e #>> '{}')::uuid AS id, min(o) AS o
          FROM jsonb_array_elements(p_ids) WITH ORDINALITY a(e, o)
          GROUP BY 1) x
    JOIN helpdesk.chat_files f ON f.tenant_id = p_tenant AND f.file_id = x.id;

    RETURN coalesce(r, '[]');
END
$$;

CREATE OR REPLACE FUNCTION chat.file_get(p_tenant uuid, p_file uuid,
    p_agent uuid, OUT filename text, OUT content_type text, OUT data bytea)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
    f  helpdesk.chat_files;
BEGIN
    SELECT * INTO f FROM helpdesk.chat_files x
    WHERE x.tenant_id = p_tenant AND x.file_id = p_file
      AND (p_agent IS NULL OR x.conversation_id IS NOT NULL
           OR x.agent_id = p_agent);

    IF f.file_id IS NULL THEN
        RETURN;
    END IF;

    -- a customer's file read is audited, as an attachment's (no flush)
    PERFORM tickets.audit_read(jsonb_build_object('tenant_id', p_tenant,
                'actor_type', CASE WHEN p_agent IS NULL THEN 'visitor'
                                   ELSE 'user' END,
                'actor_id', p_agent),
            'chat.file.read', 'chat_file', f.file_id::text,
            jsonb_build_object('conversation', f.conversation_id));

    filename := f.filename;
    content_type := f.content_type;
    data := f.data;
    RETURN NEXT;
END
$$;

RESET ROLE;
