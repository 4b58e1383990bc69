-- nginx-helpdesk: the email runner's entry points.  The runner works
-- across tenants and receives their sealed secrets (a relay's password, a
-- DKIM key): it proves itself with the provider key's SHA-256, as the
-- outbox runner does.

SET ROLE helpdesk_service;

DROP FUNCTION IF EXISTS api.email_claim(bytea, int, int, boolean);
DROP FUNCTION IF EXISTS api.email_claim(bytea, int, int, boolean, bigint);
CREATE OR REPLACE FUNCTION api.email_claim(p_proof bytea, p_limit int, p_lease_ms int,
    p_relay boolean, p_files bigint DEFAULT NULL)
RETURNS TABLE (tenant_id uuid, outbox_id bigint, delivery_id uuid, event_type text,
               rcpt text, subject text, body_text text, body_html text,
               from_name text, from_address text, reply_to text,
               dkim_selector text, dkim_key text, dkim_key_aad text,
               smtp_url text, smtp_user text, smtp_password text,
               smtp_password_aad text, cc text, in_reply_to text, refs text,
               human boolean, files text, smtp_bearer boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT * FROM email.email_claim(p_limit, p_lease_ms, p_relay, p_files);
END
$$;

DROP FUNCTION IF EXISTS api.email_result(bytea, uuid, bigint, boolean, boolean, int, text,
                                         int, text, text, int, int, int);
CREATE OR REPLACE FUNCTION api.email_result(p_proof bytea, p_tenant uuid, p_outbox bigint,
    p_ok boolean, p_permanent boolean, p_smtp_status int, p_error text,
    p_duration_ms int, p_relay text, p_message_id text, p_max_attempts int,
    p_backoff_ms int, p_max_backoff_ms int, p_from text, p_subject text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN email.email_result(p_tenant, p_outbox, p_ok, p_permanent, p_smtp_status,
                              p_error, p_duration_ms, p_relay, p_message_id,
                              p_max_attempts, p_backoff_ms, p_max_backoff_ms,
                              p_from, p_subject);
END
$$;

CREATE OR REPLACE FUNCTION api.email_dkim_wanted(p_proof bytea, p_limit int)
RETURNS TABLE (tenant_id uuid, domain text, key_aad text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT * FROM email.dkim_wanted(p_limit);
END
$$;

CREATE OR REPLACE FUNCTION api.email_dkim_store(p_proof bytea, p_tenant uuid,
    p_domain text, p_key text, p_public text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN email.dkim_store(p_tenant, p_domain, p_key, p_public);
END
$$;

RESET ROLE;
