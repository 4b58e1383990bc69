-- nginx-helpdesk: the entry points of the chat's files (see
-- sql/chat/files.sql).  Their tenant was resolved by the chat's transport
-- (the widget's tenant and the page's Origin, or the agent's console
-- session), so each wants the module's proof first (rest.module_proof),
-- like the conversations layer's: the app role alone cannot read or write
-- another tenant's files.

SET ROLE helpdesk_service;

-- An upload: the visitor's (p_token_hash, the SHA-256 of its browser
-- token) or the agent's (p_agent).
CREATE OR REPLACE FUNCTION api.chat_file_store(p_proof bytea, p_tenant uuid,
    p_token_hash bytea, p_agent uuid, p_filename text, p_type text,
    p_data bytea, OUT body jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);
    body := chat.file_store(p_tenant, p_token_hash, p_agent, p_filename,
                            p_type, p_data);
END
$$;

-- The files a message names (the conversations layer, before it stores
-- the message): the sender's own, bound to the conversation.
CREATE OR REPLACE FUNCTION api.chat_files_claim(p_proof bytea, p_tenant uuid,
    p_conversation uuid, p_visitor uuid, p_agent uuid, p_ids jsonb)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);
    RETURN chat.files_claim(p_tenant, p_conversation, p_visitor, p_agent, p_ids);
END
$$;

-- A download: by a signed link (p_agent NULL) or an agent's session.
CREATE OR REPLACE FUNCTION api.chat_file(p_proof bytea, p_tenant uuid,
    p_file uuid, p_agent uuid, OUT filename text, OUT content_type text,
    OUT data bytea)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);
    RETURN QUERY SELECT * FROM chat.file_get(p_tenant, p_file, p_agent);
END
$$;

RESET ROLE;
