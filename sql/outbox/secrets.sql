-- nginx-helpdesk: rotating the keys of secrets at rest.
--
-- Every secret column, as one list of (field, row, place, value): "place"
-- is what the module binds the ciphertext to ("<table>.<column>:<row id>",
-- as ngx_helpdesk_secret_aad() writes it; an agent's pending TOTP secret
-- is bound to totp_secret, where enabling moves it).  The module's
-- rotation (src/jobs/ngx_helpdesk_rekey.c) reads the values that are not
-- under its current key, re-encrypts them and writes them back, each only
-- if it is still the value it read.  These functions look across tenants
-- (SECURITY DEFINER, owner): they only ever see and write ciphertexts.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION outbox.secrets_all()
RETURNS TABLE (field text, row_id uuid, place text, value text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT 'webhook_endpoints.secret', e.endpoint_id,
           'webhook_endpoints.secret:' || e.endpoint_id, e.secret
    FROM helpdesk.webhook_endpoints e
    UNION ALL
    SELECT f.field, c.connection_id, f.field || ':' || c.connection_id, f.value
    FROM helpdesk.whatsapp_connections c
    CROSS JOIN LATERAL (VALUES
        ('whatsapp_connections.access_token', c.access_token),
        ('whatsapp_connections.app_secret', c.app_secret),
        ('whatsapp_connections.verify_token', c.verify_token),
        ('whatsapp_connections.api_key', c.api_key),
        ('whatsapp_connections.webhook_url', c.webhook_url)) f(field, value)
    UNION ALL
    SELECT f.field, u.user_id, 'users.totp_secret:' || u.user_id, f.value
    FROM helpdesk.users u
    CROSS JOIN LATERAL (VALUES ('users.totp_secret', u.totp_secret),
                               ('users.totp_pending', u.totp_pending)) f(field, value)
    WHERE u.totp_secret IS NOT NULL OR u.totp_pending IS NOT NULL
    UNION ALL
    -- a relay's password is sealed to an id of its own (chosen when it was
    -- given), a DKIM key to its tenant
    SELECT 'email_settings.smtp_password', e.smtp_secret_id,
           'email_settings.smtp_password:' || e.smtp_secret_id, e.smtp_password
    FROM helpdesk.email_settings e
    WHERE e.smtp_password IS NOT NULL
    UNION ALL
    SELECT 'email_settings.dkim_key', e.tenant_id,
           'email_settings.dkim_key:' || e.tenant_id, e.dkim_key
    FROM helpdesk.email_settings e
    WHERE e.dkim_key IS NOT NULL
    UNION ALL
    -- an IMAP mailbox's password is sealed to its mailbox
    SELECT 'email_mailboxes.password', m.mailbox_id,
           'email_mailboxes.password:' || m.mailbox_id, m.password
    FROM helpdesk.email_mailboxes m
    WHERE m.password IS NOT NULL
    UNION ALL
    -- a provider mailbox's OAuth client secret and tokens, sealed to it
    SELECT f.field, m.mailbox_id, f.field || ':' || m.mailbox_id, f.value
    FROM helpdesk.email_mailboxes m
    CROSS JOIN LATERAL (VALUES
        ('email_mailboxes.oauth_client_secret', m.oauth_client_secret),
        ('email_mailboxes.oauth_refresh_token', m.oauth_refresh_token),
        ('email_mailboxes.oauth_access_token', m.oauth_access_token)) f(field, value)
    WHERE f.value IS NOT NULL
    UNION ALL
    -- an authorisation's PKCE verifier and code are sealed to its state's
    -- hash (its first 64 characters, as the module bounds a place); the row
    -- named here is the hash's first 128 bits as a uuid
    SELECT f.field, substr(s.state_hash, 8, 32)::uuid,
           f.field || ':' || left(s.state_hash, 64), f.value
    FROM helpdesk.email_oauth_states s
    CROSS JOIN LATERAL (VALUES
        ('email_oauth_states.verifier', s.verifier),
        ('email_oauth_states.code', s.code)) f(field, value)
    WHERE f.value IS NOT NULL
    UNION ALL
    -- a certificate's private key is sealed to its name; the row named here
    -- is a digest of the certificate's key (tenant, name, generation)
    SELECT 'tls_certificates.key', md5(c.tenant_id || '/' || c.hostname || '/' || c.generation)::uuid,
           'tls_key:' || c.hostname, c.key_sealed
    FROM helpdesk.tls_certificates c
    UNION ALL
    -- the ACME account's key is sealed to its account
    SELECT 'acme_accounts.key', a.account_id, 'acme_accounts.key:' || a.account_id, a.key_sealed
    FROM helpdesk_meta.acme_accounts a
    WHERE a.key_sealed IS NOT NULL
    UNION ALL
    -- an order's certificate key, made before its CSR, is sealed to its
    -- name like the certificate's; the row named here is a digest of the
    -- order's key (tenant, name)
    SELECT 'acme_orders.key', md5(o.tenant_id || '/' || o.hostname)::uuid,
           'tls_key:' || o.hostname, o.key_sealed
    FROM helpdesk.acme_orders o
    WHERE o.key_sealed IS NOT NULL
$$;

-- is a stored value under the key p_key_id?
CREATE OR REPLACE FUNCTION outbox.secret_current(p_value text, p_key_id text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT left(p_value, length(p_key_id) + 4) = 'v1:' || p_key_id || ':'
$$;

-- the next values to re-encrypt, after (p_field, p_row), in that order
CREATE OR REPLACE FUNCTION outbox.secrets_stale(p_key_id text, p_field text,
    p_row uuid, p_limit int)
RETURNS TABLE (field text, row_id uuid, place text, value text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT s.field, s.row_id, s.place, s.value
    FROM outbox.secrets_all() s
    WHERE s.value IS NOT NULL AND NOT outbox.secret_current(s.value, p_key_id)
      AND (s.field, s.row_id) > (coalesce(p_field, ''),
                                 coalesce(p_row, '00000000-0000-0000-0000-000000000000'))
    ORDER BY s.field, s.row_id
    LIMIT least(greatest(p_limit, 1), 1000)
$$;

-- [{"field", "row_id", "old", "new"}]: each written only if still "old"
CREATE OR REPLACE FUNCTION outbox.secrets_store(p_items jsonb)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    it  record;
    n   int := 0;
    k   int;
BEGIN
    FOR it IN SELECT * FROM jsonb_to_recordset(p_items)
                  AS x(field text, row_id uuid, old text, new text)
    LOOP
        IF it.new !~ '^v1:' THEN
            RAISE EXCEPTION 'secrets_store: % of % is not sealed', it.field, it.row_id;
        END IF;

        CASE it.field
        WHEN 'webhook_endpoints.secret' THEN
            UPDATE helpdesk.webhook_endpoints SET secret = it.new
            WHERE endpoint_id = it.row_id AND secret = it.old;
        WHEN 'whatsapp_connections.access_token' THEN
            UPDATE helpdesk.whatsapp_connections SET access_token = it.new
            WHERE connection_id = it.row_id AND access_token = it.old;
        WHEN 'whatsapp_connections.app_secret' THEN
            UPDATE helpdesk.whatsapp_connections SET app_secret = it.new
            WHERE connection_id = it.row_id AND app_secret = it.old;
        WHEN 'whatsapp_connections.verify_token' THEN
            UPDATE helpdesk.whatsapp_connections SET verify_token = it.new
            WHERE connection_id = it.row_id AND verify_token = it.old;
        WHEN 'whatsapp_connections.api_key' THEN
            UPDATE helpdesk.whatsapp_connections SET api_key = it.new
            WHERE connection_id = it.row_id AND api_key = it.old;
        WHEN 'whatsapp_connections.webhook_url' THEN
            UPDATE helpdesk.whatsapp_connections SET webhook_url = it.new
            WHERE connection_id = it.row_id AND webhook_url = it.old;
        WHEN 'users.totp_secret' THEN
            UPDATE helpdesk.users SET totp_secret = it.new
            WHERE user_id = it.row_id AND totp_secret = it.old;
        WHEN 'users.totp_pending' THEN
            UPDATE helpdesk.users SET totp_pending = it.new
            WHERE user_id = it.row_id AND totp_pending = it.old;
        WHEN 'email_settings.smtp_password' THEN
            UPDATE helpdesk.email_settings SET smtp_password = it.new
            WHERE smtp_secret_id = it.row_id AND smtp_password = it.old;
        WHEN 'email_settings.dkim_key' THEN
            UPDATE helpdesk.email_settings SET dkim_key = it.new
            WHERE tenant_id = it.row_id AND dkim_key = it.old;
        WHEN 'email_mailboxes.password' THEN
            UPDATE helpdesk.email_mailboxes SET password = it.new
            WHERE mailbox_id = it.row_id AND password = it.old;
        WHEN 'email_mailboxes.oauth_client_secret' THEN
            UPDATE helpdesk.email_mailboxes SET oauth_client_secret = it.new
            WHERE mailbox_id = it.row_id AND oauth_client_secret = it.old;
        WHEN 'email_mailboxes.oauth_refresh_token' THEN
            UPDATE helpdesk.email_mailboxes SET oauth_refresh_token = it.new
            WHERE mailbox_id = it.row_id AND oauth_refresh_token = it.old;
        WHEN 'email_mailboxes.oauth_access_token' THEN
            UPDATE helpdesk.email_mailboxes SET oauth_access_token = it.new
            WHERE mailbox_id = it.row_id AND oauth_access_token = it.old;
        WHEN 'email_oauth_states.verifier' THEN
            UPDATE helpdesk.email_oauth_states SET verifier = it.new
            WHERE substr(state_hash, 8, 32)::uuid = it.row_id AND verifier = it.old;
        WHEN 'email_oauth_states.code' THEN
            UPDATE helpdesk.email_oauth_states SET code = it.new
            WHERE substr(state_hash, 8, 32)::uuid = it.row_id AND code = it.old;
        WHEN 'tls_certificates.key' THEN
            UPDATE helpdesk.tls_certificates SET key_sealed = it.new
            WHERE md5(tenant_id || '/' || hostname || '/' || generation)::uuid = it.row_id
              AND key_sealed = it.old;
        WHEN 'acme_accounts.key' THEN
            UPDATE helpdesk_meta.acme_accounts SET key_sealed = it.new
            WHERE account_id = it.row_id AND key_sealed = it.old;
        WHEN 'acme_orders.key' THEN
            UPDATE helpdesk.acme_orders SET key_sealed = it.new
            WHERE md5(tenant_id || '/' || hostname)::uuid = it.row_id
              AND key_sealed = it.old;
        ELSE
            RAISE EXCEPTION 'secrets_store: unknown field %', it.field;
        END CASE;

        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;

    RETURN n;
END
$$;

-- how many values each field holds that are not under p_key_id
CREATE OR REPLACE FUNCTION outbox.secrets_status(p_key_id text)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT jsonb_build_object(
        'key_id', p_key_id,
        'remaining', coalesce(sum(n), 0),
        'fields', coalesce(jsonb_object_agg(field, n), '{}'))
    FROM (SELECT s.field, count(*) AS n
          FROM outbox.secrets_all() s
          WHERE s.value IS NOT NULL AND NOT outbox.secret_current(s.value, p_key_id)
          GROUP BY s.field) x
$$;

RESET ROLE;
