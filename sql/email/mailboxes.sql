-- nginx-helpdesk: a tenant's mailboxes (/v1/email/mailboxes, scope admin)
-- and how replies to closed tickets are taken (/v1/email/threading).
--
-- The module generates a mailbox's inbound token and passes its SHA-256
-- ("inbound_token") and the URL that carries the token ("inbound_url"),
-- which is answered once, when the mailbox is created or its token
-- replaced, and never stored.  Rules and the ignore list are checked here,
-- every field error at once.  Every change is audited.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION email.err(field text, message text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_array(jsonb_build_object('field', field, 'message', message))
$$;

-- a JSON number that is a whole number from lo to hi, or NULL
CREATE OR REPLACE FUNCTION email.whole(v jsonb, lo int, hi int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'number'
                     AND v::text::numeric BETWEEN lo AND hi
                     AND v::text::numeric = trunc(v::text::numeric)
                THEN v::text::numeric::int END
$$;

-- an address as stored: trimmed, lower case, one @, a plain domain
CREATE OR REPLACE FUNCTION email.address_ok(a text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    -- no control character: the address is a login (XOAUTH2's user=...^A)
    SELECT a IS NOT NULL AND length(a) <= 254 AND a !~ '[\x01-\x1f\x7f]'
           AND lower(a) ~ '^[^@\s<>"(),;:\\\[\]]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
$$;

CREATE OR REPLACE FUNCTION email.domain_ok(d text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT d IS NOT NULL AND length(d) <= 253
           AND lower(d) ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
$$;

-- a fetched mailbox's place, login (never its password) and progress
CREATE OR REPLACE FUNCTION email.mailbox_imap_json(m helpdesk.email_mailboxes)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'url', m.url, 'username', m.username,
        'password_set', m.password IS NOT NULL,
        'move_to', m.move_to, 'poll_interval', m.poll_interval,
        'fetch', jsonb_build_object(
            'last_fetch_at', m.last_fetch_at, 'next_fetch_at', m.next_fetch_at,
            'failures', m.fetch_failures, 'fetched', m.fetched_count,
            'uid_validity', m.uid_validity, 'last_uid', m.last_uid,
            'refused', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                 'uid', f.uid, 'size', f.size, 'reason', f.reason,
                                 'at', f.created_at) ORDER BY f.created_at DESC), '[]')
                        FROM (SELECT * FROM helpdesk.email_fetch_refusals f
                              WHERE f.tenant_id = m.tenant_id AND f.mailbox_id = m.mailbox_id
                              ORDER BY f.created_at DESC LIMIT 20) f)))
$$;

-- a provider's mailbox: its OAuth client (never its secret) and whether
-- it is authorised (a refresh token held), never a token
CREATE OR REPLACE FUNCTION email.mailbox_oauth_json(m helpdesk.email_mailboxes)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'client_id', m.oauth_client_id,
        'client_secret_set', m.oauth_client_secret IS NOT NULL,
        'smtp_url', m.smtp_url,
        'oauth', jsonb_build_object(
            'authorized', m.oauth_refresh_token IS NOT NULL,
            'access_token_expires_at', m.oauth_expires_at,
            'pending', EXISTS (SELECT 1 FROM helpdesk.email_oauth_states s
                               WHERE s.tenant_id = m.tenant_id AND s.mailbox_id = m.mailbox_id
                                 AND s.code IS NOT NULL AND s.exchanged_at IS NULL)))
$$;

-- A stable code for the common reasons a mailbox's health or an OAuth
-- consent gives (the reason itself stays English, for the log and the
-- API): the console words the code in the admin's language, and shows the
-- reason as it is where there is none.  The reasons are this module's own
-- sentences (sql/email/oauth.sql, src/jobs/ngx_helpdesk_email_oauth.c)
-- and libcurl's error texts for a failed IMAP connection.
CREATE OR REPLACE FUNCTION email.reason_code(p_reason text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_reason IS NULL OR p_reason = '' THEN NULL
        -- a consent
        WHEN p_reason = 'waiting for the consent' THEN 'waiting_consent'
        WHEN p_reason LIKE 'authorised: %' THEN 'checking'
        WHEN p_reason LIKE 'the consent was not given: access\_denied%' THEN 'access_denied'
        WHEN p_reason LIKE 'the consent was not given: %' THEN 'consent_refused'
        WHEN p_reason = 'the provider sent no authorisation code' THEN 'no_code'
        WHEN p_reason LIKE 'this authorisation expired%' THEN 'consent_expired'
        WHEN p_reason LIKE 'this authorisation was used already%' THEN 'consent_used'
        WHEN p_reason LIKE 'this authorisation is unknown here%' THEN 'consent_unknown'
        WHEN p_reason = 'this authorisation was started by another admin' THEN 'consent_other_admin'
        WHEN p_reason = 'the mailbox was deleted' THEN 'mailbox_deleted'
        -- the tokens
        WHEN p_reason LIKE '%(invalid\_grant%' THEN 'invalid_grant'
        WHEN p_reason LIKE 'the token endpoint refused the authorisation code%' THEN 'code_refused'
        WHEN p_reason LIKE 'not authorised: %' THEN 'not_authorized'
        WHEN p_reason LIKE 'the token endpoint%' THEN 'token_endpoint'
        -- the connection (the module's policy, then libcurl's words)
        WHEN p_reason LIKE 'refused: %' THEN 'not_allowed'
        WHEN p_reason ~* 'login denied|access denied|authenticat' THEN 'login_denied'
        WHEN p_reason ~* 'timed? ?out' THEN 'timeout'
        WHEN p_reason ~* 'ssl|tls|certificate' THEN 'tls'
        WHEN p_reason ~* 'resolve|connect' THEN 'unreachable'
    END
$$;

CREATE OR REPLACE FUNCTION email.mailbox_json(m helpdesk.email_mailboxes)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', m.mailbox_id, 'address', m.address, 'name', m.name,
        'kind', m.kind, 'enabled', m.enabled,
        'rules', m.rules, 'ignore', to_jsonb(m.ignore),
        'sender_limit', m.sender_limit,
        'health', jsonb_build_object('state', m.health, 'reason', m.health_reason,
                                     'code', email.reason_code(m.health_reason),
                                     'checked_at', m.health_checked_at),
        'created_at', m.created_at, 'updated_at', m.updated_at)
    || CASE WHEN m.kind = 'imap' THEN email.mailbox_imap_json(m)
            WHEN m.kind IN ('microsoft365', 'gmail')
            THEN (email.mailbox_imap_json(m) - 'password_set') || email.mailbox_oauth_json(m)
            ELSE '{}' END
$$;

CREATE OR REPLACE FUNCTION email.mailbox_find(ref text, for_update boolean)
RETURNS helpdesk.email_mailboxes LANGUAGE plpgsql AS $$
DECLARE
    m helpdesk.email_mailboxes;
BEGIN
    IF tickets.is_uuid(ref) THEN
        IF for_update THEN
            SELECT * INTO m FROM helpdesk.email_mailboxes
            WHERE tenant_id = helpdesk.current_tenant() AND mailbox_id = ref::uuid
              AND deleted_at IS NULL FOR UPDATE;
        ELSE
            SELECT * INTO m FROM helpdesk.email_mailboxes
            WHERE tenant_id = helpdesk.current_tenant() AND mailbox_id = ref::uuid
              AND deleted_at IS NULL;
        END IF;
    END IF;

    IF m.mailbox_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', format('there is no mailbox %s', ref));
    END IF;

    RETURN m;
END
$$;

-- The rules as stored, or the errors: each {"when": {one of from_domain,
-- subject, recipient}, "set": {category, priority, assignee}}; an
-- assignee is an active agent, stored by id.
CREATE OR REPLACE FUNCTION email.rules_check(p_tenant uuid, p_rules jsonb,
    INOUT errors jsonb, OUT rules jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r      jsonb;
    i      int := 0;
    f      text;
    w      jsonb;
    s      jsonb;
    keys   text[];
    agent  uuid;
BEGIN
    rules := '[]';

    IF jsonb_typeof(p_rules) <> 'array' THEN
        errors := errors || email.err('rules', 'must be a list of rules');
        RETURN;
    END IF;

    IF jsonb_array_length(p_rules) > 50 THEN
        errors := errors || email.err('rules', 'may hold 50 rules at most');
        RETURN;
    END IF;

    FOR r IN SELECT x FROM jsonb_array_elements(p_rules) x LOOP
        f := 'rules.' || i;
        i := i + 1;
        w := r->'when';
        s := r->'set';

        IF jsonb_typeof(r) <> 'object' OR jsonb_typeof(w) <> 'object'
           OR jsonb_typeof(s) <> 'object'
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(r) k WHERE k NOT IN ('when', 'set'))
        THEN
            errors := errors || email.err(f, 'must be {"when": {...}, "set": {...}}');
            CONTINUE;
        END IF;

        keys := ARRAY(SELECT jsonb_object_keys(w));
        IF array_length(keys, 1) IS DISTINCT FROM 1
           OR keys[1] NOT IN ('from_domain', 'subject', 'recipient')
           OR jsonb_typeof(w->keys[1]) <> 'string'
           OR length(btrim(w->>keys[1])) NOT BETWEEN 1 AND 200
           OR w->>keys[1] ~ '[\x01-\x1f\x7f]'
        THEN
            errors := errors || email.err(f || '.when',
                'must name one of from_domain, subject, recipient, with text of 1 to 200 characters');
            CONTINUE;
        END IF;

        IF keys[1] = 'from_domain' AND NOT email.domain_ok(btrim(w->>'from_domain')) THEN
            errors := errors || email.err(f || '.when.from_domain', 'must be a domain such as example.com');
            CONTINUE;
        END IF;

        IF keys[1] = 'recipient' AND NOT email.address_ok(btrim(w->>'recipient')) THEN
            errors := errors || email.err(f || '.when.recipient', 'must be an email address');
            CONTINUE;
        END IF;

        IF s = '{}'::jsonb OR EXISTS (SELECT 1 FROM jsonb_object_keys(s) k
                                      WHERE k NOT IN ('category', 'priority', 'assignee')) THEN
            errors := errors || email.err(f || '.set', 'must set one or more of category, priority, assignee');
            CONTINUE;
        END IF;

        IF s ? 'category' AND (jsonb_typeof(s->'category') <> 'string'
                               OR length(s->>'category') NOT BETWEEN 1 AND 100) THEN
            errors := errors || email.err(f || '.set.category', 'must be text of 1 to 100 characters');
        END IF;

        IF s ? 'priority' AND (jsonb_typeof(s->'priority') <> 'string'
                               OR s->>'priority' NOT IN ('low', 'normal', 'high', 'urgent')) THEN
            errors := errors || email.err(f || '.set.priority', 'must be one of low, normal, high, urgent');
        END IF;

        IF s ? 'assignee' THEN
            agent := NULL;
            IF jsonb_typeof(s->'assignee') = 'string' THEN
                IF tickets.is_uuid(s->>'assignee') THEN
                    SELECT user_id INTO agent FROM helpdesk.users
                    WHERE tenant_id = p_tenant AND user_id = (s->>'assignee')::uuid
                      AND role IN ('agent', 'admin') AND status = 'active';
                ELSE
                    SELECT user_id INTO agent FROM helpdesk.users
                    WHERE tenant_id = p_tenant AND email = lower(s->>'assignee')
                      AND role IN ('agent', 'admin') AND status = 'active';
                END IF;
            END IF;
            IF agent IS NULL THEN
                errors := errors || email.err(f || '.set.assignee', 'is not an active agent of this helpdesk');
            ELSE
                s := jsonb_set(s, '{assignee}', to_jsonb(agent::text));
            END IF;
        END IF;

        rules := rules || jsonb_build_array(jsonb_build_object(
            'when', jsonb_build_object(keys[1], lower(btrim(w->>keys[1]))), 'set', s));
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION email.ignore_check(p_list jsonb, INOUT errors jsonb,
    OUT list text[])
LANGUAGE plpgsql AS $$
DECLARE
    v  jsonb;
    i  int := 0;
BEGIN
    list := '{}';

    IF jsonb_typeof(p_list) <> 'array' OR jsonb_array_length(p_list) > 500 THEN
        errors := errors || email.err('ignore', 'must be a list of 500 addresses or domains at most');
        RETURN;
    END IF;

    FOR v IN SELECT x FROM jsonb_array_elements(p_list) x LOOP
        IF jsonb_typeof(v) <> 'string'
           OR NOT (email.address_ok(btrim(v #>> '{}')) OR email.domain_ok(btrim(v #>> '{}'))) THEN
            errors := errors || email.err('ignore.' || i, 'must be an address or a domain');
        ELSE
            list := list || lower(btrim(v #>> '{}'));
        END IF;
        i := i + 1;
    END LOOP;
END
$$;

-- the fields every write shares; errors listed, nothing written
CREATE OR REPLACE FUNCTION email.mailbox_fields(p_tenant uuid, args jsonb,
    INOUT m helpdesk.email_mailboxes)
LANGUAGE plpgsql AS $$
DECLARE
    errors jsonb := '[]';
    r      record;
    l      record;
BEGIN
    IF args ? 'address' THEN
        IF NOT email.address_ok(btrim(args->>'address')) THEN
            errors := errors || email.err('address', 'must be an email address');
        ELSE
            m.address := lower(btrim(args->>'address'));
        END IF;
    END IF;

    IF args ? 'name' THEN
        IF length(args->>'name') > 100 OR args->>'name' ~ '[\x01-\x1f\x7f]' THEN
            errors := errors || email.err('name', 'must be text of 100 characters at most, on one line');
        ELSE
            m.name := btrim(args->>'name');
        END IF;
    END IF;

    IF args ? 'enabled' THEN
        m.enabled := (args->>'enabled')::boolean;
    END IF;

    IF args ? 'sender_limit' THEN
        IF email.whole(args->'sender_limit', 1, 10000) IS NULL THEN
            errors := errors || email.err('sender_limit', 'must be a whole number from 1 to 10000');
        ELSE
            m.sender_limit := email.whole(args->'sender_limit', 1, 10000);
        END IF;
    END IF;

    -- a fetched mailbox: the URL was checked and the password sealed by
    -- the module (to this row); the folder to move stored messages to
    IF args ? 'url' THEN
        IF m.kind IS DISTINCT FROM 'imap' THEN
            errors := errors || email.err('url', 'is for a mailbox of kind imap');
        ELSE
            m.url := args->>'url';
        END IF;
    END IF;

    IF args ? 'username' THEN
        IF m.kind IS DISTINCT FROM 'imap' THEN
            errors := errors || email.err('username', 'is for a mailbox of kind imap');
        ELSIF jsonb_typeof(args->'username') <> 'string'
              OR length(args->>'username') NOT BETWEEN 1 AND 254
              OR args->>'username' ~ '[\x01-\x1f\x7f]' THEN
            errors := errors || email.err('username', 'must be text of 1 to 254 characters, on one line');
        ELSE
            m.username := args->>'username';
        END IF;
    END IF;

    IF args ? 'password' THEN
        IF m.kind IS DISTINCT FROM 'imap' THEN
            errors := errors || email.err('password', 'is for a mailbox of kind imap');
        ELSIF coalesce(args->>'password', '') !~ '^v1:' THEN
            errors := errors || email.err('password', 'must be sealed by the module');
        ELSE
            m.password := args->>'password';
        END IF;
    END IF;

    IF args ? 'move_to' THEN
        IF m.kind NOT IN ('imap', 'microsoft365', 'gmail') THEN
            errors := errors || email.err('move_to', 'is for a mailbox of kind imap, microsoft365 or gmail');
        ELSIF jsonb_typeof(args->'move_to') = 'null' THEN
            m.move_to := NULL;
        ELSIF jsonb_typeof(args->'move_to') <> 'string'
              OR length(args->>'move_to') NOT BETWEEN 1 AND 200
              OR args->>'move_to' !~ '^[\x20-\x7e]+$' OR args->>'move_to' ~ '["\\]' THEN
            errors := errors || email.err('move_to',
                'must be a folder name of 1 to 200 printable ASCII characters without quotes or backslashes, or null');
        ELSE
            m.move_to := args->>'move_to';
        END IF;
    END IF;

    IF args ? 'poll_interval' THEN
        IF m.kind NOT IN ('imap', 'microsoft365', 'gmail') THEN
            errors := errors || email.err('poll_interval', 'is for a mailbox of kind imap, microsoft365 or gmail');
        ELSIF email.whole(args->'poll_interval', 30, 86400) IS NULL THEN
            errors := errors || email.err('poll_interval', 'must be a whole number of seconds from 30 to 86400');
        ELSE
            m.poll_interval := email.whole(args->'poll_interval', 30, 86400);
        END IF;
    END IF;

    -- a provider's mailbox: its OAuth client (the secret sealed by the
    -- module to this row), its place as the module's configuration says
    IF args ? 'client_id' THEN
        IF m.kind NOT IN ('microsoft365', 'gmail') THEN
            errors := errors || email.err('client_id', 'is for a mailbox of kind microsoft365 or gmail');
        ELSIF jsonb_typeof(args->'client_id') IS DISTINCT FROM 'string'
              OR length(args->>'client_id') NOT BETWEEN 1 AND 500
              OR args->>'client_id' !~ '^[A-Za-z0-9._~-]+$' THEN
            errors := errors || email.err('client_id', 'must be 1 to 500 letters, digits, dots, dashes, underscores or tildes');
        ELSE
            m.oauth_client_id := args->>'client_id';
        END IF;
    END IF;

    IF args ? 'client_secret' THEN
        IF m.kind NOT IN ('microsoft365', 'gmail') THEN
            errors := errors || email.err('client_secret', 'is for a mailbox of kind microsoft365 or gmail');
        ELSIF coalesce(args->>'client_secret', '') !~ '^v1:' THEN
            errors := errors || email.err('client_secret', 'must be sealed by the module');
        ELSE
            m.oauth_client_secret := args->>'client_secret';
        END IF;
    END IF;

    IF m.kind IN ('microsoft365', 'gmail') THEN
        -- the login is the address; the places are the configuration's
        m.username := m.address;
        m.url := coalesce(args->>'oauth_imap_url', m.url);
        m.smtp_url := coalesce(args->>'oauth_smtp_url', m.smtp_url);

        IF errors = '[]' AND (m.oauth_client_id IS NULL OR m.oauth_client_secret IS NULL) THEN
            errors := errors || email.err(CASE WHEN m.oauth_client_id IS NULL THEN 'client_id'
                                               ELSE 'client_secret' END,
                                          'is required for a mailbox of kind ' || m.kind);
        END IF;
    END IF;

    IF m.kind = 'imap' AND (m.url IS NULL OR m.username IS NULL OR m.password IS NULL)
       AND errors = '[]' THEN
        errors := errors || email.err(CASE WHEN m.url IS NULL THEN 'url'
                                           WHEN m.username IS NULL THEN 'username'
                                           ELSE 'password' END,
                                      'is required for a mailbox of kind imap');
    END IF;

    IF args ? 'rules' THEN
        SELECT * INTO r FROM email.rules_check(p_tenant, args->'rules', errors);
        errors := r.errors;
        m.rules := r.rules;
    END IF;

    IF args ? 'ignore' THEN
        SELECT * INTO l FROM email.ignore_check(args->'ignore', errors);
        errors := l.errors;
        m.ignore := l.list;
    END IF;

    IF errors <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields', errors);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION email.mailbox_taken(p_tenant uuid, p_address text,
    p_self uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM helpdesk.email_mailboxes
               WHERE tenant_id = p_tenant AND address = p_address
                 AND deleted_at IS NULL AND mailbox_id IS DISTINCT FROM p_self) THEN
        PERFORM tickets.fail('HDCNF', 'conflict',
            format('there is a mailbox for %s already', p_address));
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION email.mailbox_create(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (ctx->>'tenant_id')::uuid;
    m      helpdesk.email_mailboxes;
BEGIN
    IF NOT args ? 'address' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             email.err('address', 'is required'));
    END IF;

    IF coalesce(args->>'kind', 'inbound') NOT IN ('inbound', 'imap', 'microsoft365', 'gmail') THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             email.err('kind', 'must be inbound, imap, microsoft365 or gmail'));
    END IF;

    m.tenant_id := tenant;
    m.kind := coalesce(args->>'kind', 'inbound');
    m.name := '';
    m.enabled := true;
    m.sender_limit := 30;
    m.poll_interval := 60;
    m.rules := '[]';
    m.ignore := '{}';
    m := email.mailbox_fields(tenant, args, m);
    PERFORM email.mailbox_taken(tenant, m.address, NULL);

    -- a fetched mailbox's password is sealed to the id the module chose
    INSERT INTO helpdesk.email_mailboxes (tenant_id, mailbox_id, address, name, kind,
        enabled, inbound_token, url, username, password, move_to, poll_interval,
        next_fetch_at, rules, ignore, sender_limit, smtp_url, oauth_client_id,
        oauth_client_secret, health_reason)
    VALUES (tenant, coalesce((args->>'mailbox_id')::uuid, gen_random_uuid()),
            m.address, m.name, m.kind, m.enabled,
            CASE WHEN m.kind = 'inbound' THEN args->>'inbound_token' END,
            m.url, m.username, m.password, m.move_to, m.poll_interval,
            CASE WHEN m.kind = 'imap' THEN now() END,
            m.rules, m.ignore, m.sender_limit, m.smtp_url, m.oauth_client_id,
            m.oauth_client_secret,
            CASE WHEN m.kind IN ('microsoft365', 'gmail') THEN 'waiting for the consent' END)
    RETURNING * INTO m;

    PERFORM tickets.audit(ctx, 'email.mailbox.create', 'email_mailbox',
                          m.mailbox_id::text, jsonb_build_object('address', m.address));

    RETURN jsonb_build_object(
        'body', email.mailbox_json(m)
                || jsonb_strip_nulls(jsonb_build_object('inbound_url',
                       CASE WHEN m.kind = 'inbound' THEN args->>'inbound_url' END))
                || CASE WHEN m.kind IN ('microsoft365', 'gmail')
                        THEN email.oauth_state_new(ctx, m, args) ELSE '{}' END,
        'location', '/v1/email/mailboxes/' || m.mailbox_id);
END
$$;

CREATE OR REPLACE FUNCTION email.mailbox_list(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    items jsonb;
BEGIN
    PERFORM tickets.read_only_audit();
    SELECT coalesce(jsonb_agg(email.mailbox_json(m) ORDER BY m.address), '[]') INTO items
    FROM helpdesk.email_mailboxes m
    WHERE m.tenant_id = (ctx->>'tenant_id')::uuid AND m.deleted_at IS NULL;
    RETURN jsonb_build_object('body', jsonb_build_object('data', items));
END
$$;

CREATE OR REPLACE FUNCTION email.mailbox_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickets.read_only_audit();
    RETURN jsonb_build_object('body', email.mailbox_json(email.mailbox_find(args->>'id', false)));
END
$$;

CREATE OR REPLACE FUNCTION email.mailbox_update(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (ctx->>'tenant_id')::uuid;
    m      helpdesk.email_mailboxes := email.mailbox_find(args->>'id', true);
    old    helpdesk.email_mailboxes := m;
    recheck boolean;
BEGIN
    IF args ? 'kind' AND args->>'kind' IS DISTINCT FROM m.kind THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             email.err('kind', 'cannot change: make another mailbox'));
    END IF;

    m := email.mailbox_fields(tenant, args, m);
    PERFORM email.mailbox_taken(tenant, m.address, m.mailbox_id);

    -- the connection changed, or the mailbox was enabled again: checked
    -- (and fetched) now
    recheck := (m.kind = 'imap' AND (args ?| ARRAY['url', 'username', 'password']
                                   OR (m.enabled AND NOT old.enabled)))
               OR (m.kind IN ('microsoft365', 'gmail') AND m.oauth_refresh_token IS NOT NULL
                   AND m.enabled AND NOT old.enabled);

    UPDATE helpdesk.email_mailboxes SET
        address = m.address, name = m.name, enabled = m.enabled,
        rules = m.rules, ignore = m.ignore, sender_limit = m.sender_limit,
        inbound_token = CASE WHEN m.kind = 'inbound'
                             THEN coalesce(args->>'inbound_token', inbound_token) END,
        url = m.url, username = m.username, password = m.password,
        move_to = m.move_to, poll_interval = m.poll_interval,
        -- another OAuth client: the tokens were the other one's
        oauth_client_id = m.oauth_client_id, oauth_client_secret = m.oauth_client_secret,
        oauth_refresh_token = CASE WHEN args ?| ARRAY['client_id', 'client_secret']
                                   THEN NULL ELSE oauth_refresh_token END,
        oauth_access_token = CASE WHEN args ?| ARRAY['client_id', 'client_secret']
                                  THEN NULL ELSE oauth_access_token END,
        -- another server or folder: its UIDs are others'
        uid_validity = CASE WHEN m.url IS DISTINCT FROM old.url THEN NULL ELSE uid_validity END,
        last_uid = CASE WHEN m.url IS DISTINCT FROM old.url THEN NULL ELSE last_uid END,
        health = CASE WHEN recheck OR args ?| ARRAY['client_id', 'client_secret']
                      THEN 'unknown' ELSE health END,
        health_reason = CASE WHEN args ?| ARRAY['client_id', 'client_secret']
                             THEN 'waiting for the consent'
                             WHEN recheck THEN NULL ELSE health_reason END,
        next_fetch_at = CASE WHEN recheck THEN now() ELSE next_fetch_at END,
        fetch_failures = CASE WHEN recheck THEN 0 ELSE fetch_failures END,
        updated_at = now()
    WHERE tenant_id = m.tenant_id AND mailbox_id = m.mailbox_id
    RETURNING * INTO m;

    PERFORM tickets.audit(ctx, 'email.mailbox.update', 'email_mailbox',
        m.mailbox_id::text,
        jsonb_build_object('fields', (SELECT jsonb_agg(k) FROM jsonb_object_keys(args - 'id' - 'inbound_url') k)));

    RETURN jsonb_build_object('body', email.mailbox_json(m)
        || jsonb_strip_nulls(jsonb_build_object('inbound_url',
               CASE WHEN m.kind = 'inbound' THEN args->>'inbound_url' END)));
END
$$;

-- a deleted mailbox keeps its row (its mails name it), without its token
CREATE OR REPLACE FUNCTION email.mailbox_delete(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    m helpdesk.email_mailboxes := email.mailbox_find(args->>'id', true);
BEGIN
    UPDATE helpdesk.email_mailboxes SET deleted_at = now(), inbound_token = NULL,
        enabled = false, password = NULL, oauth_client_secret = NULL,
        oauth_refresh_token = NULL, oauth_access_token = NULL, updated_at = now()
    WHERE tenant_id = m.tenant_id AND mailbox_id = m.mailbox_id;

    -- mail no longer leaves through it: the relay sends again
    UPDATE helpdesk.email_settings SET smtp_mailbox_id = NULL, updated_at = now()
    WHERE tenant_id = m.tenant_id AND smtp_mailbox_id = m.mailbox_id;

    PERFORM tickets.audit(ctx, 'email.mailbox.delete', 'email_mailbox',
                          m.mailbox_id::text, jsonb_build_object('address', m.address));

    RETURN jsonb_build_object('body', NULL);
END
$$;

-- what a reply to a closed ticket does: "reopen" (the default) or
-- "follow_up" (a new ticket that names the closed one)
CREATE OR REPLACE FUNCTION email.closed_reply(p_tenant uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT settings->'email'->>'closed_reply'
                     FROM helpdesk.tenants WHERE tenant_id = p_tenant), 'reopen')
$$;

CREATE OR REPLACE FUNCTION email.threading_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('body', jsonb_build_object(
        'closed_reply', email.closed_reply((ctx->>'tenant_id')::uuid)));
END
$$;

CREATE OR REPLACE FUNCTION email.threading_put(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (ctx->>'tenant_id')::uuid;
BEGIN
    IF jsonb_typeof(args->'closed_reply') IS DISTINCT FROM 'string'
       OR args->>'closed_reply' NOT IN ('reopen', 'follow_up') THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             email.err('closed_reply', 'must be reopen or follow_up'));
    END IF;

    UPDATE helpdesk.tenants SET
        settings = jsonb_set(settings, '{email}',
                             coalesce(settings->'email', '{}')
                             || jsonb_build_object('closed_reply', args->>'closed_reply')),
        updated_at = now()
    WHERE tenant_id = tenant;

    PERFORM tickets.audit(ctx, 'email.threading.update', 'tenant', tenant::text,
                          jsonb_build_object('closed_reply', args->>'closed_reply'));

    RETURN email.threading_get(ctx, args);
END
$$;

CREATE OR REPLACE FUNCTION email.api_call(p_key_hash bytea, p_scope text,
    p_ip inet, p_op text, p_args jsonb, OUT body jsonb, OUT location text)
LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb;
    r   jsonb;
BEGIN
    ctx := rest.api_auth(p_key_hash, p_scope, p_ip);

    r := CASE p_op
        WHEN 'email.mailbox.list'   THEN email.mailbox_list(ctx, p_args)
        WHEN 'email.mailbox.get'    THEN email.mailbox_get(ctx, p_args)
        WHEN 'email.mailbox.create' THEN email.mailbox_create(ctx, p_args)
        WHEN 'email.mailbox.update' THEN email.mailbox_update(ctx, p_args)
        WHEN 'email.mailbox.delete' THEN email.mailbox_delete(ctx, p_args)
        WHEN 'email.mailbox.authorize' THEN email.oauth_authorize(ctx, p_args)
        WHEN 'email.threading.get'  THEN email.threading_get(ctx, p_args)
        WHEN 'email.threading.put'  THEN email.threading_put(ctx, p_args)
    END;

    IF r IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'unknown operation');
    END IF;

    body := nullif(r->'body', 'null'::jsonb);
    location := r->>'location';
END
$$;

RESET ROLE;
