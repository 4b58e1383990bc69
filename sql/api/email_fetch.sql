-- nginx-helpdesk: the entry points of the module's IMAP fetch job
-- (sql/email/fetch.sql).  They hand out every tenant's mailbox passwords
-- (sealed) and write into any tenant: each wants the module's proof.

SET ROLE helpdesk_service;

-- its columns grew (a provider's mailbox's OAuth client and tokens)
DROP FUNCTION IF EXISTS api.email_fetch_claim(bytea, int, int);

CREATE OR REPLACE FUNCTION api.email_fetch_claim(p_proof bytea, p_limit int,
    p_lease_ms int)
RETURNS TABLE (tenant_id uuid, mailbox_id uuid, url text, username text,
               password text, move_to text, lease_token uuid, kind text,
               client_id text, client_secret text, refresh_token text,
               access_token text, access_ttl int, code text, verifier text,
               state_hash text, redirect_uri text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT * FROM email.fetch_claim(p_limit, p_lease_ms);
END
$$;

DROP FUNCTION IF EXISTS api.email_fetch_begin(bytea, uuid, uuid, uuid, int, bigint);
CREATE OR REPLACE FUNCTION api.email_fetch_begin(p_proof bytea, p_tenant uuid,
    p_mailbox uuid, p_token uuid, p_lease_ms int, p_validity bigint,
    p_uidnext bigint, OUT after bigint, OUT seen_below bigint, OUT reset boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    SELECT b.after, b.seen_below, b.reset INTO after, seen_below, reset
    FROM email.fetch_begin(p_tenant, p_mailbox, p_token, p_lease_ms, p_validity,
                           p_uidnext) b;
END
$$;

CREATE OR REPLACE FUNCTION api.email_fetch_chunk(p_proof bytea, p_tenant uuid,
    p_mailbox uuid, p_token uuid, p_lease_ms int, p_upload uuid, p_seq int,
    p_data bytea)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM email.fetch_chunk(p_tenant, p_mailbox, p_token, p_lease_ms,
                              p_upload, p_seq, p_data);
END
$$;

-- the message: its blob the pieces staged under p_upload, then p_tail
CREATE OR REPLACE FUNCTION api.email_fetch_store(p_proof bytea, p_tenant uuid,
    p_mailbox uuid, p_token uuid, p_lease_ms int, p_validity bigint,
    p_uid bigint, p_size bigint, p_meta jsonb, p_tail bytea, p_upload uuid)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN email.fetch_store(p_tenant, p_mailbox, p_token, p_lease_ms,
                             p_validity, p_uid, p_size, p_meta, p_tail,
                             p_upload);
END
$$;

CREATE OR REPLACE FUNCTION api.email_fetch_refuse(p_proof bytea, p_tenant uuid,
    p_mailbox uuid, p_token uuid, p_lease_ms int, p_validity bigint,
    p_uid bigint, p_size bigint, p_reason text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN email.fetch_refuse(p_tenant, p_mailbox, p_token, p_lease_ms,
                              p_validity, p_uid, p_size, p_reason);
END
$$;

CREATE OR REPLACE FUNCTION api.email_fetch_done(p_proof bytea, p_tenant uuid,
    p_mailbox uuid, p_token uuid, p_lease_ms int, p_state text, p_reason text,
    p_listed_to bigint, p_more boolean)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN email.fetch_done(p_tenant, p_mailbox, p_token, p_state, p_reason,
                            p_listed_to, p_more);
END
$$;

-- a provider's mailbox: the tokens the fetch job got (sealed), or why not
CREATE OR REPLACE FUNCTION api.email_oauth_tokens(p_proof bytea, p_tenant uuid,
    p_mailbox uuid, p_token uuid, p_lease_ms int, p_state text, p_refresh text,
    p_access text, p_expires_in int)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM email.oauth_tokens(p_tenant, p_mailbox, p_token, p_lease_ms, p_state,
                               p_refresh, p_access, p_expires_in);
END
$$;

CREATE OR REPLACE FUNCTION api.email_oauth_failed(p_proof bytea, p_tenant uuid,
    p_mailbox uuid, p_token uuid, p_lease_ms int, p_state text, p_revoke boolean,
    p_reason text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN email.oauth_failed(p_tenant, p_mailbox, p_token, p_state, p_revoke, p_reason);
END
$$;

RESET ROLE;
