-- nginx-helpdesk: Microsoft 365 and Gmail mailboxes, authorised by OAuth 2.0.
--
-- The authorisation code flow, as the console walks an admin through it:
--
--   1. POST /v1/email/mailboxes (kind microsoft365 or gmail, the client id,
--      the client secret sealed by the module), or POST
--      /v1/email/mailboxes/{id}/authorize to authorise it again: the module
--      draws a state and a PKCE verifier and builds the provider's consent
--      URL; here the state is kept as its SHA-256 only, with the verifier
--      (sealed to the state), bound to the tenant, the mailbox and the
--      admin, for ten minutes.
--   2. The provider sends the admin back to GET /v1/email/oauth/callback
--      (on the console's own name, its session with it): the state is
--      taken once (unknown, another tenant's or admin's, expired, used
--      already: refused, nothing changes); an error (access_denied) is the
--      mailbox's health; a code is kept (sealed by the module to the state)
--      and the mailbox made due.
--   3. The fetch job exchanges the code for tokens (the module's libcurl,
--      on nginx events), keeps the refresh token sealed, checks the
--      connection with XOAUTH2 and records the health; later runs refresh
--      the access token before it expires.  A refresh answered
--      invalid_grant drops the tokens: the mailbox is auth_failed, and is
--      not fetched again until it is authorised again.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION email.oauth_kind(k text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT k IN ('microsoft365', 'gmail')
$$;

-- s percent-encoded for a URL's query, byte by byte (RFC 3986's
-- unreserved characters kept)
CREATE OR REPLACE FUNCTION email.url_escape(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(CASE WHEN b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90
                                         OR b BETWEEN 97 AND 122 OR b IN (45, 46, 95, 126)
                                    THEN chr(b)
                                    ELSE '%' || lpad(upper(to_hex(b)), 2, '0') END,
                               '' ORDER BY i), '')
    FROM (SELECT i, get_byte(convert_to(s, 'UTF8'), i) AS b
          FROM generate_series(0, octet_length(convert_to(s, 'UTF8')) - 1) i) x
$$;

-- A new authorisation of mailbox m: the state's hash, the sealed
-- verifier, the redirect URI and the consent URL are the module's (args).
CREATE OR REPLACE FUNCTION email.oauth_state_new(ctx jsonb, m helpdesk.email_mailboxes,
    args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    expires timestamptz := now() + interval '10 minutes';
BEGIN
    IF coalesce(args->>'oauth_state_hash', '') !~ '^sha256:[0-9a-f]{64}$'
       OR coalesce(args->>'oauth_verifier', '') !~ '^v1:'
       OR coalesce(args->>'redirect_uri', '') !~ '^https?://'
       OR coalesce(args->'authorize_urls'->>m.kind, '') !~ '^https?://' THEN
        PERFORM tickets.fail('HDINV', 'validation-error',
            'the consent URL cannot be made (helpdesk_email_oauth, helpdesk_secret_key_file or a name for the console is missing)');
    END IF;

    -- the states of this mailbox not used yet are given up: one at a time
    DELETE FROM helpdesk.email_oauth_states s
    WHERE s.tenant_id = m.tenant_id AND s.mailbox_id = m.mailbox_id
      AND (s.used_at IS NULL OR s.created_at < now() - interval '1 day');

    INSERT INTO helpdesk.email_oauth_states (tenant_id, state_hash, mailbox_id, user_id,
        redirect_uri, verifier, expires_at)
    VALUES (m.tenant_id, args->>'oauth_state_hash', m.mailbox_id,
            CASE WHEN ctx->>'actor_type' = 'user' THEN (ctx->>'actor_id')::uuid END,
            args->>'redirect_uri', args->>'oauth_verifier', expires);

    -- the module's URL for the provider, with this mailbox's client id
    -- (which holds nothing a URL must escape)
    RETURN jsonb_build_object('authorize_url',
                              replace(replace(args->'authorize_urls'->>m.kind, '{client_id}',
                                              m.oauth_client_id),
                                      '{login_hint}', email.url_escape(m.address)),
                              'redirect_uri', args->>'redirect_uri',
                              'authorize_expires_at', expires);
END
$$;

-- POST /v1/email/mailboxes/{id}/authorize: the consent again (after an
-- invalid_grant, another client secret, or a consent not given)
CREATE OR REPLACE FUNCTION email.oauth_authorize(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    m helpdesk.email_mailboxes := email.mailbox_find(args->>'id', true);
    r jsonb;
BEGIN
    IF NOT email.oauth_kind(m.kind) THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             email.err('kind', 'only a mailbox of kind microsoft365 or gmail is authorised'));
    END IF;

    r := email.oauth_state_new(ctx, m, args);

    PERFORM tickets.audit(ctx, 'email.mailbox.authorize', 'email_mailbox',
                          m.mailbox_id::text, jsonb_build_object('address', m.address));

    RETURN jsonb_build_object('body', email.mailbox_json(m) || r);
END
$$;

-- The provider's redirect, as the module read it: {"state_hash", "code"
-- (sealed to the state), "error", "error_description"}.  Answers the
-- mailbox (when the state was good), the outcome (ok, refused, invalid)
-- and what to tell the admin.
CREATE OR REPLACE FUNCTION email.oauth_callback(ctx jsonb, args jsonb,
    OUT mailbox uuid, OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (ctx->>'tenant_id')::uuid;
    st     helpdesk.email_oauth_states;
    m      helpdesk.email_mailboxes;
    why    text;
BEGIN
    outcome := 'invalid';

    SELECT * INTO st FROM helpdesk.email_oauth_states s
    WHERE s.tenant_id = tenant AND s.state_hash = args->>'state_hash'
    FOR UPDATE;

    IF st.state_hash IS NULL THEN
        detail := 'this authorisation is unknown here (started for another helpdesk, or its link was altered): start it again from the mailbox';
        RETURN;
    END IF;

    mailbox := st.mailbox_id;

    IF st.used_at IS NOT NULL THEN
        detail := 'this authorisation was used already: start it again from the mailbox';
        RETURN;
    END IF;

    IF st.expires_at < now() THEN
        detail := 'this authorisation expired (it lasts ten minutes): start it again from the mailbox';
        RETURN;
    END IF;

    IF st.user_id IS NOT NULL AND (ctx->>'actor_type' IS DISTINCT FROM 'user'
                                   OR (ctx->>'actor_id')::uuid IS DISTINCT FROM st.user_id) THEN
        detail := 'this authorisation was started by another admin';
        RETURN;
    END IF;

    SELECT * INTO m FROM helpdesk.email_mailboxes x
    WHERE x.tenant_id = tenant AND x.mailbox_id = st.mailbox_id AND x.deleted_at IS NULL
    FOR UPDATE;

    IF m.mailbox_id IS NULL THEN
        detail := 'the mailbox was deleted';
        RETURN;
    END IF;

    UPDATE helpdesk.email_oauth_states s SET used_at = now()
    WHERE s.tenant_id = tenant AND s.state_hash = st.state_hash;

    IF args ? 'error' OR coalesce(args->>'code', '') = '' THEN
        why := left(regexp_replace(
                   CASE WHEN args ? 'error'
                        THEN 'the consent was not given: ' || coalesce(args->>'error', '')
                             || coalesce(': ' || nullif(args->>'error_description', ''), '')
                        ELSE 'the provider sent no authorisation code' END,
                   '[\x01-\x1f\x7f]+', ' ', 'g'), 500);

        UPDATE helpdesk.email_oauth_states s SET error = why
        WHERE s.tenant_id = tenant AND s.state_hash = st.state_hash;

        -- a mailbox that works keeps working: only one never authorised
        -- shows the refusal as its health
        IF m.oauth_refresh_token IS NULL THEN
            UPDATE helpdesk.email_mailboxes x
            SET health = 'auth_failed', health_reason = why, health_checked_at = now()
            WHERE x.tenant_id = tenant AND x.mailbox_id = m.mailbox_id;
        END IF;

        PERFORM tickets.audit(ctx, 'email.mailbox.consent_refused', 'email_mailbox',
                              m.mailbox_id::text, jsonb_build_object('reason', why));
        outcome := 'refused';
        detail := why;
        RETURN;
    END IF;

    IF args->>'code' !~ '^v1:' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the code must be sealed by the module');
    END IF;

    UPDATE helpdesk.email_oauth_states s SET code = args->>'code'
    WHERE s.tenant_id = tenant AND s.state_hash = st.state_hash;

    -- the fetch job exchanges the code and checks the connection now
    UPDATE helpdesk.email_mailboxes x
    SET health = 'unknown', health_reason = 'authorised: checking the connection',
        next_fetch_at = now(), fetch_failures = 0, updated_at = now()
    WHERE x.tenant_id = tenant AND x.mailbox_id = m.mailbox_id;

    PERFORM tickets.audit(ctx, 'email.mailbox.consent', 'email_mailbox',
                          m.mailbox_id::text, jsonb_build_object('address', m.address));
    outcome := 'ok';
    detail := 'authorised: the connection is being checked';
END
$$;

-- The fetch job exchanged a code (p_state set) or refreshed the access
-- token: the tokens as the module sealed them to the mailbox (a refresh
-- answer without a refresh token keeps the one held).
CREATE OR REPLACE FUNCTION email.oauth_tokens(p_tenant uuid, p_mailbox uuid,
    p_token uuid, p_lease_ms int, p_state text, p_refresh text, p_access text,
    p_expires_in int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m helpdesk.email_mailboxes := email.fetch_held(p_tenant, p_mailbox, p_token, p_lease_ms);
BEGIN
    IF p_access !~ '^v1:' OR (p_refresh IS NOT NULL AND p_refresh !~ '^v1:')
       OR (p_state IS NOT NULL AND p_refresh IS NULL) THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'tokens must be sealed by the module');
    END IF;

    IF p_state IS NOT NULL THEN
        UPDATE helpdesk.email_oauth_states s SET code = NULL, exchanged_at = now()
        WHERE s.tenant_id = p_tenant AND s.state_hash = p_state;

        PERFORM tickets.audit(jsonb_build_object('tenant_id', p_tenant, 'actor_type', 'system'),
            'email.mailbox.authorized', 'email_mailbox', p_mailbox::text, '{}'::jsonb);
    END IF;

    UPDATE helpdesk.email_mailboxes x
    SET oauth_refresh_token = coalesce(p_refresh, x.oauth_refresh_token),
        oauth_access_token = p_access,
        oauth_expires_at = now() + make_interval(secs => greatest(coalesce(p_expires_in, 3600), 0)),
        updated_at = now()
    WHERE x.tenant_id = p_tenant AND x.mailbox_id = p_mailbox;
END
$$;

-- The tokens could not be had: a code the token endpoint did not take
-- (codes are good once: the admin authorises again), or a refresh token
-- it refused (invalid_grant: revoked, expired, the password changed):
-- the mailbox is auth_failed and not fetched until authorised again;
-- nothing the answer held is kept.
CREATE OR REPLACE FUNCTION email.oauth_failed(p_tenant uuid, p_mailbox uuid,
    p_token uuid, p_state text, p_revoke boolean, p_reason text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    m   helpdesk.email_mailboxes;
    why text := left(regexp_replace(coalesce(p_reason, 'the authorisation failed'),
                                    '[\x01-\x1f\x7f]+', ' ', 'g'), 500);
BEGIN
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    SELECT * INTO m FROM helpdesk.email_mailboxes x
    WHERE x.tenant_id = p_tenant AND x.mailbox_id = p_mailbox
      AND x.lease_token = p_token
    FOR UPDATE;

    IF m.mailbox_id IS NULL THEN
        RETURN 'stale';
    END IF;

    IF p_state IS NOT NULL THEN
        UPDATE helpdesk.email_oauth_states s SET code = NULL, exchanged_at = now(), error = why
        WHERE s.tenant_id = p_tenant AND s.state_hash = p_state;
    END IF;

    UPDATE helpdesk.email_mailboxes x
    SET health = 'auth_failed', health_reason = why, health_checked_at = now(),
        oauth_refresh_token = CASE WHEN p_revoke THEN NULL ELSE x.oauth_refresh_token END,
        oauth_access_token = CASE WHEN p_revoke THEN NULL ELSE x.oauth_access_token END,
        oauth_expires_at = CASE WHEN p_revoke THEN NULL ELSE x.oauth_expires_at END,
        fetch_failures = x.fetch_failures + 1,
        -- a mailbox still authorised (a new consent that failed) goes on
        next_fetch_at = CASE WHEN p_revoke OR x.oauth_refresh_token IS NULL THEN NULL
                             ELSE now() + interval '1 minute' END,
        lease_token = NULL, lease_until = NULL
    WHERE x.tenant_id = p_tenant AND x.mailbox_id = p_mailbox;

    PERFORM tickets.audit(jsonb_build_object('tenant_id', p_tenant, 'actor_type', 'system'),
        'email.mailbox.auth_failed', 'email_mailbox', p_mailbox::text,
        jsonb_build_object('reason', why));

    RETURN 'auth_failed';
END
$$;

RESET ROLE;
