-- nginx-helpdesk: the entry points, schema "api".
--
-- These are the only functions the app role (helpdesk_app, what nginx logs
-- in as) may execute: one per statement the module sends.  Each is a thin
-- SECURITY DEFINER function owned by helpdesk_service, with a fixed
-- search_path, that calls the implementation in its concern's schema
-- ("tickets", "portal", ...: one per directory of sql/).  So:
--
--   - the app role holds no privilege on any table and cannot call an
--     internal function (one that skips the key check, sets any tenant, or
--     returns a tenant's secrets) directly, even with SQL of its own;
--   - the implementation runs as helpdesk_service, which is neither
--     superuser, BYPASSRLS nor a table owner: row-level security applies
--     to every statement in it, and only the few SECURITY DEFINER
--     functions owned by helpdesk_owner look across tenants.
--
-- Adding an entry point: write the implementation in its concern's
-- directory, add its wrapper here, call api.<name> from C.  A wrapper
-- whose signature or result changes needs its DROP FUNCTION IF EXISTS
-- (old signature) above its CREATE.  sql/privileges.sql grants EXECUTE on
-- every function of this schema to the app role and checks that each is
-- SECURITY DEFINER with a fixed search_path.

SET ROLE helpdesk_service;

-- The REST API ------------------------------------------------------------

-- a tenant's request, authenticated by its key's SHA-256
-- (status) left the result: the HTTP status is the module's
DROP FUNCTION IF EXISTS api.api_call(bytea, text, inet, text, jsonb);
CREATE OR REPLACE FUNCTION api.api_call(p_key_hash bytea, p_scope text,
    p_ip inet, p_op text, p_args jsonb,
    OUT body jsonb, OUT location text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.body, r.location INTO body, location
    FROM rest.api_call(p_key_hash, p_scope, p_ip, p_op, p_args) r;
END
$$;

-- the hosting provider's request: the module has checked its key and
-- passes the key's SHA-256, which must be the one installed in the
-- database (rest.module_proof), so the app role alone cannot reach it
-- (status) left the result: the HTTP status is the module's
DROP FUNCTION IF EXISTS api.provider_call(text, inet, jsonb);
CREATE OR REPLACE FUNCTION api.provider_call(p_proof bytea, p_op text,
    p_ip inet, p_args jsonb, OUT body jsonb, OUT location text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    SELECT r.body, r.location INTO body, location
    FROM rest.provider_call(p_op, p_ip, p_args) r;
END
$$;

CREATE OR REPLACE FUNCTION api.api_attachment(p_key_hash bytea, p_scope text,
    p_ip inet, p_args jsonb,
    OUT filename text, OUT content_type text, OUT data bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.filename, r.content_type, r.data INTO filename, content_type, data
    FROM tickets.api_attachment(p_key_hash, p_scope, p_ip, p_args) r;
END
$$;

-- POST /v1/uploads, before its body is read: the key (or the console's
-- session), its scope and the tenant, as rest.api_auth() checks them for
-- every call; it fails as the call itself would (401, 403)
CREATE OR REPLACE FUNCTION api.api_key_check(p_key_hash bytea, p_scope text,
    p_ip inet)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.api_auth(p_key_hash, p_scope, p_ip);
    RETURN true;
END
$$;

-- POST /v1/uploads: the file in binary, its name and type in p_args
CREATE OR REPLACE FUNCTION api.api_upload(p_key_hash bytea, p_scope text,
    p_ip inet, p_args jsonb, p_data bytea, OUT body jsonb, OUT location text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.body, r.location INTO body, location
    FROM tickets.api_upload(p_key_hash, p_scope, p_ip, p_args, p_data) r;
END
$$;

CREATE OR REPLACE FUNCTION api.api_whatsapp_number(p_key_hash bytea, p_scope text,
    p_ip inet, p_args jsonb, OUT number text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.number INTO number
    FROM whatsapp.api_whatsapp_number(p_key_hash, p_scope, p_ip, p_args) r;
END
$$;

-- The portal --------------------------------------------------------------

-- p_user is the session's user the module found in Redis; the account
-- steps that hand out a password's hash or a TOTP secret, or that log a
-- user in or set a password, also want the provider key's hash
-- (portal.account_proof): without it, the app role alone could learn any
-- account's user id and act as that user
-- (status) left the result: the HTTP status is the module's
DROP FUNCTION IF EXISTS api.portal_call(text, text, uuid, inet, text, jsonb);
CREATE OR REPLACE FUNCTION api.portal_call(p_host text, p_base text, p_user uuid,
    p_ip inet, p_op text, p_args jsonb, p_proof bytea, OUT body jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM portal.account_proof(p_op, p_proof);
    body := portal.portal_call(p_host, p_base, p_user, p_ip, p_op, p_args);
END
$$;

-- (status) left the result: the HTTP status is the module's
DROP FUNCTION IF EXISTS api.portal_upload(text, text, uuid, inet, text, text, bytea);
CREATE OR REPLACE FUNCTION api.portal_upload(p_host text, p_base text, p_user uuid,
    p_ip inet, p_filename text, p_type text, p_data bytea, OUT body jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    body := portal.portal_upload(p_host, p_base, p_user, p_ip, p_filename, p_type, p_data);
END
$$;

CREATE OR REPLACE FUNCTION api.portal_attachment(p_host text, p_base text, p_user uuid,
    p_ip inet, p_number text, p_id text,
    OUT filename text, OUT content_type text, OUT data bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.filename, r.content_type, r.data INTO filename, content_type, data
    FROM portal.portal_attachment(p_host, p_base, p_user, p_ip, p_number, p_id) r;
END
$$;

-- a tenant's logo or favicon, by Host
CREATE OR REPLACE FUNCTION api.portal_asset(p_host text, p_base text, p_name text,
    OUT content_type text, OUT sha256 text, OUT data bytea)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.content_type, r.sha256, r.data INTO content_type, sha256, data
    FROM portal.portal_asset(p_host, p_base, p_name) r;
END
$$;

-- The agent console -------------------------------------------------------

-- (the account steps want the proof, as for the portal)
-- (status) left the result: the HTTP status is the module's
DROP FUNCTION IF EXISTS api.console_call(text, text, uuid, inet, text, jsonb);
CREATE OR REPLACE FUNCTION api.console_call(p_host text, p_base text, p_user uuid,
    p_ip inet, p_op text, p_args jsonb, p_proof bytea, OUT body jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM portal.account_proof(p_op, p_proof);
    body := console.console_call(p_host, p_base, p_user, p_ip, p_op, p_args);
END
$$;

-- (status) left the result: the HTTP status is the module's
DROP FUNCTION IF EXISTS api.console_upload(text, text, uuid, inet, text, text, bytea);
CREATE OR REPLACE FUNCTION api.console_upload(p_host text, p_base text, p_user uuid,
    p_ip inet, p_filename text, p_type text, p_data bytea, OUT body jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    body := console.console_upload(p_host, p_base, p_user, p_ip, p_filename, p_type, p_data);
END
$$;

CREATE OR REPLACE FUNCTION api.console_attachment(p_host text, p_base text, p_user uuid,
    p_ip inet, p_number text, p_id text,
    OUT filename text, OUT content_type text, OUT data bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.filename, r.content_type, r.data INTO filename, content_type, data
    FROM console.console_attachment(p_host, p_base, p_user, p_ip, p_number, p_id) r;
END
$$;

-- the console's live updates: new events of every tenant, for the worker
-- that fans them out to the sessions entitled to them
CREATE OR REPLACE FUNCTION api.events_since(p_since bigint)
RETURNS TABLE (tenant_id uuid, ticket_id uuid, event_id bigint, high bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    RETURN QUERY SELECT r.tenant_id, r.ticket_id, r.event_id, r.high
                 FROM console.events_since(p_since) r;
END
$$;

-- WhatsApp ----------------------------------------------------------------

-- a webhook's token to its connection (and the secrets to verify it with)
CREATE OR REPLACE FUNCTION api.whatsapp_route(p_token text,
    OUT tenant_id uuid, OUT connection_id uuid, OUT provider text,
    OUT app_secret text, OUT verify_token text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.tenant_id, r.connection_id, r.provider, r.app_secret, r.verify_token
    INTO tenant_id, connection_id, provider, app_secret, verify_token
    FROM whatsapp.whatsapp_route(p_token) r;
END
$$;

-- verified deliveries, a batch at a time: each names its connection by
-- the webhook token it arrived on ("k"), never by ids the caller chose;
-- whatsapp.ingest_route() puts in the tenant and the connection
CREATE OR REPLACE FUNCTION api.whatsapp_ingest_batch(items jsonb)
RETURNS SETOF jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    RETURN QUERY SELECT r FROM whatsapp.whatsapp_ingest_batch(
                     whatsapp.ingest_route(items)) r;
END
$$;

-- The outbox runner -------------------------------------------------------

-- The runner works across tenants and receives their secrets (webhook
-- signing secrets, WhatsApp credentials): it proves itself with the
-- provider key's SHA-256, as api.provider_call does.
-- headers: a JSON array of [name, value] pairs; provider_url: the URL
-- came in a provider's answer and must name one of its media hosts
-- (secret_aad, auth_header, body_aad): secrets leave sealed, the module
-- opens them
DROP FUNCTION IF EXISTS api.outbox_claim(int, int);
DROP FUNCTION IF EXISTS api.outbox_claim(bytea, int, int);
CREATE OR REPLACE FUNCTION api.outbox_claim(p_proof bytea, p_limit int,
    p_lease_ms int)
RETURNS TABLE (tenant_id uuid, outbox_id bigint, kind text, delivery_id uuid,
               event_type text, method text, url text, headers jsonb,
               body text, secret text, binary_response boolean,
               provider_url boolean, secret_aad text, auth_header text,
               body_aad text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT r.tenant_id, r.outbox_id, r.kind, r.delivery_id, r.event_type,
                        r.method, r.url, r.headers, r.body, r.secret, r.binary_response,
                        r.provider_url, r.secret_aad, r.auth_header, r.body_aad
                 FROM outbox.outbox_claim(p_limit, p_lease_ms) r;
END
$$;

-- The rotation of secrets at rest: sealed values out and back in, across
-- tenants; the module proves itself as the runner does.
CREATE OR REPLACE FUNCTION api.secrets_stale(p_proof bytea, p_key_id text,
    p_field text, p_row uuid, p_limit int)
RETURNS TABLE (field text, row_id uuid, place text, value text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT r.field, r.row_id, r.place, r.value
                 FROM outbox.secrets_stale(p_key_id, p_field, p_row, p_limit) r;
END
$$;

CREATE OR REPLACE FUNCTION api.secrets_store(p_proof bytea, p_items jsonb)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN outbox.secrets_store(p_items);
END
$$;

DROP FUNCTION IF EXISTS api.outbox_result(uuid, bigint, boolean, int, text,
    int, text, int, int, int, int, bytea);
CREATE OR REPLACE FUNCTION api.outbox_result(p_proof bytea,
    p_tenant uuid, p_outbox bigint, p_ok boolean, p_http_status int,
    p_error text, p_duration_ms int, p_response text,
    p_max_attempts int, p_backoff_ms int, p_max_backoff_ms int,
    p_disable_after int, p_data bytea)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN outbox.outbox_result(p_tenant, p_outbox, p_ok, p_http_status, p_error,
                                  p_duration_ms, p_response, p_max_attempts, p_backoff_ms,
                                  p_max_backoff_ms, p_disable_after, p_data);
END
$$;

DROP FUNCTION IF EXISTS api.outbox_schedule(int);
CREATE OR REPLACE FUNCTION api.outbox_schedule(p_proof bytea, p_interval_ms int)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN whatsapp.outbox_schedule(p_interval_ms);
END
$$;

-- Refusals ---------------------------------------------------------------

-- A 401 or 403 the module answered (the request's own transaction rolled
-- back): recorded, rate-bounded, by tickets.refusal_record().  What the
-- caller can forge here is a counter of refusals, never an audit_log row.
-- (p_count: this refusal and those the worker met while its earlier
-- records were in flight, see ngx_http_helpdesk_req_refused)
CREATE OR REPLACE FUNCTION api.audit_refusal(p_surface text, p_host text,
    p_base text, p_key_hash bytea, p_key_prefix text, p_ip inet,
    p_method text, p_route text, p_status int, p_reason text, p_count int)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM tickets.refusal_record(p_surface, p_host, p_base, p_key_hash,
                                   p_key_prefix, p_ip, p_method, p_route,
                                   p_status, p_reason, p_count);
END
$$;

RESET ROLE;
