-- nginx-helpdesk: the email channel's entry points.

SET ROLE helpdesk_service;

-- /v1/email/mailboxes and /v1/email/threading, like the API's other calls
-- (rest.api_auth checks the key or the console's session and the scope)
CREATE OR REPLACE FUNCTION api.email_call(p_key_hash bytea, p_scope text,
    p_ip inet, p_op text, p_args jsonb, OUT body text, OUT location text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.body::text, r.location INTO body, location
    FROM email.api_call(p_key_hash, p_scope, p_ip, p_op, p_args) r;
END
$$;

-- GET /v1/email/oauth/callback: the provider's redirect, as the module
-- read it (the state as its SHA-256, the code sealed to it), checked as
-- the console's session or the key it came with
DROP FUNCTION IF EXISTS api.email_oauth_callback(bytea, text, inet, jsonb);
CREATE OR REPLACE FUNCTION api.email_oauth_callback(p_key_hash bytea, p_scope text,
    p_ip inet, p_args jsonb)
RETURNS TABLE (mailbox text, outcome text, detail text, code text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    ctx jsonb := rest.api_auth(p_key_hash, p_scope, p_ip);
    r   record;
BEGIN
    SELECT * INTO r FROM email.oauth_callback(ctx, p_args);
    mailbox := r.mailbox::text;
    outcome := r.outcome;
    detail := r.detail;
    code := email.reason_code(r.detail);
    RETURN NEXT;
END
$$;

-- A raw message pushed to a mailbox's inbound URL, parsed by the module:
-- the mailbox (and so the tenant) is the one of the token's SHA-256
-- ("sha256:<hex>"), never the caller's word.  The message's "blob" (the
-- raw message, then its attachments) is the pieces staged under p_upload
-- by api.email_inbound_chunk(), in order, then p_tail.
CREATE OR REPLACE FUNCTION api.email_inbound(p_token text, p_ip text,
    p_meta jsonb, p_tail bytea, p_upload uuid)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    RETURN email.inbound(p_token, p_ip, p_meta, p_tail, p_upload);
END
$$;

CREATE OR REPLACE FUNCTION api.email_inbound_chunk(p_token text, p_upload uuid,
    p_seq integer, p_data bytea)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM email.inbound_chunk(p_token, p_upload, p_seq, p_data);
END
$$;

RESET ROLE;
