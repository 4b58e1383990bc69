-- nginx-helpdesk: the entry points of the module's ACME order job and of
-- its HTTP-01 answers (sql/tls/acme.sql).  They hand out the provider's
-- ACME account key (sealed) and write into any tenant: each wants the
-- module's proof.

SET ROLE helpdesk_service;

DROP FUNCTION IF EXISTS api.acme_account(bytea, text, int, int, int);
CREATE OR REPLACE FUNCTION api.acme_account(p_proof bytea, p_directory text,
    p_lease_seconds int, p_orders int, p_orders_seconds int, p_held uuid DEFAULT NULL)
RETURNS TABLE (account_id uuid, key_sealed text, kid_url text, thumbprint text,
               lease_token uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT * FROM tls.acme_account(p_directory, p_lease_seconds, p_orders,
                                                p_orders_seconds, p_held);
END
$$;

CREATE OR REPLACE FUNCTION api.acme_account_store(p_proof bytea, p_account uuid,
    p_lease uuid, p_key_sealed text, p_thumbprint text, p_kid text, p_caa text[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM tls.acme_account_store(p_account, p_lease, p_key_sealed, p_thumbprint, p_kid, p_caa);
END
$$;

-- p_checks: whether the module runs the DNS check job (renewals wait for
-- a passed check only then)
DROP FUNCTION IF EXISTS api.acme_claim(bytea, uuid, int, int, int, int);
CREATE OR REPLACE FUNCTION api.acme_claim(p_proof bytea, p_account uuid, p_limit int,
    p_lease_seconds int, p_name_failures int, p_failure_seconds int,
    p_checks boolean DEFAULT true)
RETURNS TABLE (tenant_id uuid, hostname text, kind text, step text, lease_token uuid,
               attempts int, order_url text, authz_urls text[], challenge_url text,
               token text, finalize_url text, cert_url text, key_sealed text,
               replaces text, cert_der bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT * FROM tls.acme_claim(p_account, p_limit, p_lease_seconds,
                                              p_name_failures, p_failure_seconds,
                                              p_checks);
END
$$;

CREATE OR REPLACE FUNCTION api.acme_step(p_proof bytea, p_tenant uuid, p_host text,
    p_lease uuid, p_step text, p_patch jsonb, p_due_in int, p_lease_seconds int)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN tls.acme_step(p_tenant, p_host, p_lease, p_step, p_patch, p_due_in, p_lease_seconds);
END
$$;

CREATE OR REPLACE FUNCTION api.acme_result(p_proof bytea, p_tenant uuid, p_host text,
    p_lease uuid, p_problem jsonb, p_retry_after int)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN tls.acme_result(p_tenant, p_host, p_lease, p_problem, p_retry_after);
END
$$;

DROP FUNCTION IF EXISTS api.acme_store(bytea, uuid, text, uuid, bytea[], text, timestamptz,
                                        timestamptz);
CREATE OR REPLACE FUNCTION api.acme_store(p_proof bytea, p_tenant uuid, p_host text,
    p_lease uuid, p_chain bytea[], p_key_sealed text, p_not_before timestamptz,
    p_not_after timestamptz, p_ari_cert_id text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN tls.acme_store(p_tenant, p_host, p_lease, p_chain, p_key_sealed, p_not_before,
                          p_not_after, p_ari_cert_id);
END
$$;

-- ARI: the certificates whose renewal information is due
CREATE OR REPLACE FUNCTION api.acme_ari_due(p_proof bytea, p_limit int)
RETURNS TABLE (tenant_id uuid, hostname text, generation int, ari_cert_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT * FROM tls.acme_ari_due(p_limit);
END
$$;

-- ARI: what the CA said about one of them
CREATE OR REPLACE FUNCTION api.acme_ari_set(p_proof bytea, p_tenant uuid, p_host text,
    p_generation int, p_start text, p_end text, p_retry_after int)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN tls.acme_ari_set(p_tenant, p_host, p_generation, p_start, p_end, p_retry_after);
END
$$;

CREATE OR REPLACE FUNCTION api.acme_revoked(p_proof bytea, p_tenant uuid, p_host text,
    p_lease uuid)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    PERFORM tls.acme_revoked(p_tenant, p_host, p_lease);
END
$$;

-- port 80: the HTTP-01 answer for a token (NULL: none waits on it)
CREATE OR REPLACE FUNCTION api.acme_http01(p_proof bytea, p_token text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN tls.acme_http01(p_token);
END
$$;

-- port 80: whether a name serves over HTTPS (then a request is
-- redirected there; otherwise it is not found)
CREATE OR REPLACE FUNCTION api.acme_redirect(p_proof bytea, p_host text, p_base text)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN (portal.portal_site(p_host, p_base)).tenant_id IS NOT NULL;
END
$$;

CREATE OR REPLACE FUNCTION api.acme_caa_identities(p_proof bytea) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN tls.acme_caa_identities();
END
$$;

RESET ROLE;
