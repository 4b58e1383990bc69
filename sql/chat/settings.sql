-- nginx-helpdesk: the website chat's settings (GET and PUT
-- /v1/chat/settings, the console's chat settings page).
--
-- One row of helpdesk.chat_widgets per tenant: how the widget looks, which
-- pages may open it, what it asks first, and how the queue behaves.  A
-- tenant that never saved any has the table's defaults; the row is made
-- the first time it is read.  Every field is checked here and every error
-- is listed at once, each naming its field ("allowed_origins.2",
-- "prechat_fields.1.label").  The business hours are not a setting of the
-- widget: they are the tenant's schedule for the channel "chat" (PUT
-- /v1/business-hours/chat), shown here read-only with whether the chat is
-- open now.

SET ROLE helpdesk_owner;

-- The fields a client may write, in the order the answer lists them.
CREATE OR REPLACE FUNCTION chat.settings_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['enabled', 'colour', 'position', 'title', 'greeting', 'icon',
                 'allowed_origins', 'prechat_fields', 'max_message_bytes',
                 'max_chats_per_agent', 'accept_timeout_seconds',
                 'reply_timeout_seconds', 'on_reply_timeout', 'waiting_message',
                 'transfer_allowed', 'auto_ticket_minutes', 'bot_enabled',
                 'bot_kb_suggestions', 'offline_form']
$$;

-- What the answer shows besides them: sent back in a PUT, they are ignored
-- (a client may PUT what it got).
CREATE OR REPLACE FUNCTION chat.settings_read_only() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['tenant', 'business_hours', 'open_now', 'updated_at']
$$;

-- An origin as a browser sends it in "Origin": scheme://host[:port], the
-- scheme and host in lower case, no default port.  Anything else (a path,
-- a user, a wildcard, another scheme, a name that is not a host name) is
-- refused with the reason.
CREATE OR REPLACE FUNCTION chat.origin_check(v text, OUT origin text, OUT problem text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    m       text[];
    scheme  text;
    rest    text;
    hostport text;
    tail    text;
    host    text;
    port    text;
    ip      inet;
BEGIN
    m := regexp_match(btrim(coalesce(v, '')), '^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$');
    IF m IS NULL THEN
        problem := 'must be an origin such as https://www.example.com';
        RETURN;
    END IF;

    scheme := lower(m[1]);
    rest := m[2];

    IF scheme NOT IN ('http', 'https') THEN
        problem := 'must start with https:// or http://';
        RETURN;
    END IF;

    m := regexp_match(rest, '^([^/?#]*)(.*)$');
    hostport := m[1];
    tail := m[2];

    IF position('@' IN hostport) > 0 THEN
        problem := 'must not contain a user name or password';
        RETURN;
    END IF;

    IF tail NOT IN ('', '/') THEN
        problem := 'must be scheme://host[:port] only, without a path, query or fragment';
        RETURN;
    END IF;

    IF position('*' IN hostport) > 0 THEN
        problem := 'must name one site: wildcards are not allowed';
        RETURN;
    END IF;

    IF hostport ~ '^\[' THEN
        m := regexp_match(hostport, '^\[([0-9A-Fa-f:.]+)\](:([0-9]*))?$');
        IF m IS NULL THEN
            problem := 'has an IPv6 address that is not valid';
            RETURN;
        END IF;
        BEGIN
            ip := m[1]::inet;
        EXCEPTION WHEN invalid_text_representation THEN
            ip := NULL;
        END;
        IF ip IS NULL OR family(ip) <> 6 THEN
            problem := 'has an IPv6 address that is not valid';
            RETURN;
        END IF;
        host := '[' || host(ip) || ']';
        port := m[3];
    ELSE
        m := regexp_match(hostport, '^([^:]*)(:([0-9]*))?$');
        IF m IS NULL THEN
            problem := 'has a port that is not a number';
            RETURN;
        END IF;
        host := lower(m[1]);
        port := m[3];

        IF host ~ '[^\x01-\x7f]' THEN
            problem := 'must write an international name in its ASCII form (xn--...)';
            RETURN;
        END IF;

        IF host = '' OR length(host) > 253
           OR host !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'
        THEN
            problem := 'has a host name that is not valid';
            RETURN;
        END IF;
    END IF;

    IF port IS NOT NULL THEN
        IF port !~ '^[0-9]{1,5}$' OR port::int NOT BETWEEN 1 AND 65535 THEN
            problem := 'has a port that is not valid (1 to 65535)';
            RETURN;
        END IF;
        port := ltrim(port, '0');
        IF (scheme = 'https' AND port = '443') OR (scheme = 'http' AND port = '80') THEN
            port := NULL;
        END IF;
    END IF;

    origin := scheme || '://' || host || coalesce(':' || port, '');
END
$$;

-- The tenant's widget row, made with the defaults the first time.
CREATE OR REPLACE FUNCTION chat.widget(p_tenant uuid) RETURNS helpdesk.chat_widgets
LANGUAGE plpgsql AS $$
DECLARE
    w helpdesk.chat_widgets;
BEGIN
    SELECT * INTO w FROM helpdesk.chat_widgets x WHERE x.tenant_id = p_tenant;

    IF w.tenant_id IS NULL THEN
        INSERT INTO helpdesk.chat_widgets (tenant_id) VALUES (p_tenant)
        ON CONFLICT (tenant_id) DO NOTHING;
        SELECT * INTO w FROM helpdesk.chat_widgets x WHERE x.tenant_id = p_tenant;
    END IF;

    RETURN w;
END
$$;

-- The tenant's widget row as saved or, for a tenant that never saved
-- one, with the table's defaults, without writing it: what the widget's
-- transport (chat.widget_public) and the conversations layer
-- (chat.settings) read.  The defaults are migration 025's, here once;
-- t/sql/chat.sql checks that they still are the table's.
CREATE OR REPLACE FUNCTION chat.widget_or_default(p_tenant uuid)
RETURNS helpdesk.chat_widgets
LANGUAGE plpgsql STABLE AS $$
DECLARE
    w helpdesk.chat_widgets;
BEGIN
    SELECT * INTO w FROM helpdesk.chat_widgets x WHERE x.tenant_id = p_tenant;

    IF NOT FOUND THEN
        w := ROW(p_tenant, true, '#1f6feb', 'bottom-right', '', '', 'bubble',
                 '{}', '[{"name": "name", "required": true},
                        {"name": "email", "required": false}]', 16384,
                 3, 30, 300, 'requeue', '', true, NULL, true, true, true,
                 now())::helpdesk.chat_widgets;
    END IF;

    RETURN w;
END
$$;

CREATE OR REPLACE FUNCTION chat.settings_json(w helpdesk.chat_widgets) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    bh jsonb := tickets.business_hours(w.tenant_id, 'chat');
BEGIN
    RETURN jsonb_build_object(
        'tenant', (SELECT x.slug FROM helpdesk.tenants x WHERE x.tenant_id = w.tenant_id),
        'enabled', w.enabled,
        'colour', w.colour,
        'position', w.position,
        'title', w.title,
        'greeting', w.greeting,
        'icon', w.icon,
        'allowed_origins', to_jsonb(w.allowed_origins),
        'prechat_fields', w.prechat_fields,
        'max_message_bytes', w.max_message_bytes,
        'max_chats_per_agent', w.max_chats_per_agent,
        'accept_timeout_seconds', w.accept_timeout_seconds,
        'reply_timeout_seconds', w.reply_timeout_seconds,
        'on_reply_timeout', w.on_reply_timeout,
        'waiting_message', w.waiting_message,
        'transfer_allowed', w.transfer_allowed,
        'auto_ticket_minutes', w.auto_ticket_minutes,
        'bot_enabled', w.bot_enabled,
        'bot_kb_suggestions', w.bot_kb_suggestions,
        'offline_form', w.offline_form,
        -- read-only: the tenant's schedule for the channel "chat"
        'business_hours', coalesce(bh - 'auto_reply', jsonb_build_object('always_open', true)),
        'open_now', tickets.within_business_hours(w.tenant_id, 'chat', now()),
        'updated_at', w.updated_at);
END
$$;

CREATE OR REPLACE FUNCTION chat.settings_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := (ctx->>'tenant_id')::uuid;
BEGIN
    -- audited first, so that the read waits for no flush (the defaults
    -- made on a first read are no change of anyone's)
    PERFORM tickets.audit_read(ctx, 'chat.settings.read', 'chat_widget', tenant::text);
    RETURN jsonb_build_object('body', chat.settings_json(chat.widget(tenant)));
END
$$;

-- one field error, as the API lists them
CREATE OR REPLACE FUNCTION chat.err(field text, message text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_array(jsonb_build_object('field', field, 'message', message))
$$;

-- an integer in a range, as JSON
CREATE OR REPLACE FUNCTION chat.int_ok(v jsonb, lo int, hi int) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'number' AND v::text ~ '^-?[0-9]{1,10}$'
                THEN v::text::bigint BETWEEN lo AND hi ELSE false END
$$;

-- text of at most max characters, on one line or (lines) several
CREATE OR REPLACE FUNCTION chat.text_ok(v jsonb, max int, lines boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(v) = 'string' AND length(v #>> '{}') <= max
           AND (v #>> '{}') !~ CASE WHEN lines THEN '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]'
                                    ELSE '[\x01-\x1f\x7f]' END
$$;

-- The pre-chat questions: name and email (the widget knows them), and the
-- tenant's own fields, each with a label; at most 20, each name once.
CREATE OR REPLACE FUNCTION chat.prechat_check(v jsonb, OUT fields jsonb, OUT errors jsonb)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    f     jsonb;
    i     int := 0;
    k     text;
    name  text;
    seen  text[] := '{}';
    where_ text;
BEGIN
    fields := '[]';
    errors := '[]';

    IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) > 20 THEN
        errors := chat.err('prechat_fields', 'must be a list of at most 20 fields '
                           '[{"name": "name", "required": true}, {"name": "order", "label": "Order number"}]');
        RETURN;
    END IF;

    FOR f IN SELECT x FROM jsonb_array_elements(v) x LOOP
        where_ := 'prechat_fields.' || i;
        i := i + 1;

        IF jsonb_typeof(f) <> 'object' THEN
            errors := errors || chat.err(where_, 'must be an object {"name", "label", "required"}');
            CONTINUE;
        END IF;

        FOR k IN SELECT jsonb_object_keys(f) LOOP
            IF k NOT IN ('name', 'label', 'required') THEN
                errors := errors || chat.err(where_ || '.' || k, 'unknown field');
            END IF;
        END LOOP;

        name := CASE WHEN jsonb_typeof(f->'name') = 'string' THEN f->>'name' END;

        IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,39}$' THEN
            errors := errors || chat.err(where_ || '.name',
                'must be "name", "email" or a name of your own: a-z, 0-9 and _, 40 at most');
        ELSIF name = ANY (seen) THEN
            errors := errors || chat.err(where_ || '.name', 'is asked for twice');
        ELSE
            seen := seen || name;
        END IF;

        IF f ? 'label' AND NOT (f->'label' = 'null' OR chat.text_ok(f->'label', 100, false)) THEN
            errors := errors || chat.err(where_ || '.label', 'must be text of 100 characters at most, on one line');
        ELSIF name NOT IN ('name', 'email')
              AND coalesce(btrim(CASE WHEN jsonb_typeof(f->'label') = 'string' THEN f->>'label' END), '') = ''
        THEN
            errors := errors || chat.err(where_ || '.label', 'a field of your own needs a label');
        END IF;

        IF f ? 'required' AND jsonb_typeof(f->'required') <> 'boolean' THEN
            errors := errors || chat.err(where_ || '.required', 'must be true or false');
        END IF;

        IF errors = '[]' THEN
            fields := fields || jsonb_build_array(
                jsonb_strip_nulls(jsonb_build_object(
                    'name', name,
                    'label', nullif(btrim(CASE WHEN jsonb_typeof(f->'label') = 'string' THEN f->>'label' END), ''),
                    'required', coalesce((f->>'required')::boolean, false))));
        END IF;
    END LOOP;
END
$$;

-- PUT /v1/chat/settings: the fields sent are checked and saved; those left
-- out keep their values.
CREATE OR REPLACE FUNCTION chat.settings_put(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    tenant  uuid := (ctx->>'tenant_id')::uuid;
    errors  jsonb := '[]';
    k       text;
    v       jsonb;
    i       int;
    o       record;
    origins text[] := NULL;
    pc      record;
    prechat jsonb := NULL;
    w       helpdesk.chat_widgets;
    before  jsonb;
    after   jsonb;
    changed jsonb;
BEGIN
    IF jsonb_typeof(args) <> 'object' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             chat.err('', 'send a JSON object'));
    END IF;

    FOR k, v IN SELECT * FROM jsonb_each(args) LOOP
        IF k = ANY (chat.settings_read_only()) THEN
            CONTINUE;
        END IF;

        CASE k
        WHEN 'enabled', 'transfer_allowed', 'bot_enabled', 'bot_kb_suggestions', 'offline_form' THEN
            IF jsonb_typeof(v) <> 'boolean' THEN
                errors := errors || chat.err(k, 'must be true or false');
            END IF;
        WHEN 'colour' THEN
            IF jsonb_typeof(v) <> 'string' OR v #>> '{}' !~ '^#[0-9A-Fa-f]{6}$' THEN
                errors := errors || chat.err(k, 'must be a colour as #rrggbb, e.g. #1f6feb');
            END IF;
        WHEN 'position' THEN
            IF jsonb_typeof(v) <> 'string' OR v #>> '{}' NOT IN ('bottom-right', 'bottom-left') THEN
                errors := errors || chat.err(k, 'must be one of: bottom-right bottom-left');
            END IF;
        WHEN 'icon' THEN
            IF jsonb_typeof(v) <> 'string' OR v #>> '{}' NOT IN ('bubble', 'question', 'headset', 'wave') THEN
                errors := errors || chat.err(k, 'must be one of: bubble question headset wave');
            END IF;
        WHEN 'on_reply_timeout' THEN
            IF jsonb_typeof(v) <> 'string' OR v #>> '{}' NOT IN ('requeue', 'ticket') THEN
                errors := errors || chat.err(k, 'must be one of: requeue ticket');
            END IF;
        WHEN 'title' THEN
            IF NOT chat.text_ok(v, 80, false) THEN
                errors := errors || chat.err(k, 'must be text of 80 characters at most, on one line');
            END IF;
        WHEN 'greeting' THEN
            IF NOT chat.text_ok(v, 1000, true) THEN
                errors := errors || chat.err(k, 'must be text of 1000 characters at most');
            END IF;
        WHEN 'waiting_message' THEN
            IF NOT chat.text_ok(v, 500, true) THEN
                errors := errors || chat.err(k, 'must be text of 500 characters at most');
            END IF;
        WHEN 'max_message_bytes' THEN
            IF NOT chat.int_ok(v, 256, 65536) THEN
                errors := errors || chat.err(k, 'must be a whole number from 256 to 65536');
            END IF;
        WHEN 'max_chats_per_agent' THEN
            IF NOT chat.int_ok(v, 1, 20) THEN
                errors := errors || chat.err(k, 'must be a whole number from 1 to 20');
            END IF;
        WHEN 'accept_timeout_seconds' THEN
            IF NOT chat.int_ok(v, 10, 600) THEN
                errors := errors || chat.err(k, 'must be a whole number of seconds from 10 to 600');
            END IF;
        WHEN 'reply_timeout_seconds' THEN
            IF NOT chat.int_ok(v, 30, 86400) THEN
                errors := errors || chat.err(k, 'must be a whole number of seconds from 30 to 86400');
            END IF;
        WHEN 'auto_ticket_minutes' THEN
            IF v <> 'null' AND NOT chat.int_ok(v, 1, 10080) THEN
                errors := errors || chat.err(k, 'must be null (never) or a whole number of minutes from 1 to 10080');
            END IF;
        WHEN 'allowed_origins' THEN
            IF jsonb_typeof(v) <> 'array' THEN
                errors := errors || chat.err(k, 'must be a list of origins such as ["https://www.example.com"]');
            ELSIF jsonb_array_length(v) > 50 THEN
                errors := errors || chat.err(k, 'must list 50 origins at most');
            ELSE
                origins := '{}';
                FOR i IN 0 .. jsonb_array_length(v) - 1 LOOP
                    IF jsonb_typeof(v->i) <> 'string' OR length(v->>i) > 300 THEN
                        errors := errors || chat.err(k || '.' || i, 'must be an origin such as https://www.example.com');
                        CONTINUE;
                    END IF;
                    o := chat.origin_check(v->>i);
                    IF o.problem IS NOT NULL THEN
                        errors := errors || chat.err(k || '.' || i, o.problem);
                    ELSIF NOT o.origin = ANY (origins) THEN
                        origins := origins || o.origin;
                    END IF;
                END LOOP;
            END IF;
        WHEN 'prechat_fields' THEN
            pc := chat.prechat_check(v);
            errors := errors || pc.errors;
            prechat := pc.fields;
        ELSE
            errors := errors || chat.err(k, 'unknown field');
        END CASE;
    END LOOP;

    IF errors <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields', errors);
    END IF;

    w := chat.widget(tenant);
    before := to_jsonb(w);

    UPDATE helpdesk.chat_widgets x SET
        enabled = coalesce((args->>'enabled')::boolean, x.enabled),
        colour = coalesce(lower(args->>'colour'), x.colour),
        position = coalesce(args->>'position', x.position),
        title = coalesce(btrim(args->>'title'), x.title),
        greeting = coalesce(btrim(args->>'greeting'), x.greeting),
        icon = coalesce(args->>'icon', x.icon),
        allowed_origins = coalesce(origins, x.allowed_origins),
        prechat_fields = coalesce(prechat, x.prechat_fields),
        max_message_bytes = coalesce((args->>'max_message_bytes')::int, x.max_message_bytes),
        max_chats_per_agent = coalesce((args->>'max_chats_per_agent')::int, x.max_chats_per_agent),
        accept_timeout_seconds = coalesce((args->>'accept_timeout_seconds')::int, x.accept_timeout_seconds),
        reply_timeout_seconds = coalesce((args->>'reply_timeout_seconds')::int, x.reply_timeout_seconds),
        on_reply_timeout = coalesce(args->>'on_reply_timeout', x.on_reply_timeout),
        waiting_message = coalesce(btrim(args->>'waiting_message'), x.waiting_message),
        transfer_allowed = coalesce((args->>'transfer_allowed')::boolean, x.transfer_allowed),
        auto_ticket_minutes = CASE WHEN args ? 'auto_ticket_minutes'
                                   THEN (args->>'auto_ticket_minutes')::int
                                   ELSE x.auto_ticket_minutes END,
        bot_enabled = coalesce((args->>'bot_enabled')::boolean, x.bot_enabled),
        bot_kb_suggestions = coalesce((args->>'bot_kb_suggestions')::boolean, x.bot_kb_suggestions),
        offline_form = coalesce((args->>'offline_form')::boolean, x.offline_form),
        updated_at = now()
    WHERE x.tenant_id = tenant
    RETURNING x.* INTO w;

    -- the audit row says what changed, from what to what
    after := to_jsonb(w);
    SELECT coalesce(jsonb_object_agg(f, jsonb_build_object('from', before->f, 'to', after->f)), '{}')
    INTO changed
    FROM unnest(chat.settings_fields()) f
    WHERE before->f IS DISTINCT FROM after->f;

    PERFORM tickets.audit(ctx, 'chat.settings.update', 'chat_widget', tenant::text,
                          jsonb_build_object('changed', changed));

    RETURN jsonb_build_object('body', chat.settings_json(w));
END
$$;

RESET ROLE;

-- The REST API's chat operations (api.chat_call): who asks is checked as
-- for every tenant request (rest.api_auth: the key, its scope, the
-- tenant; the tenant set for row-level security), then the operation.
SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION chat.api_call(p_key_hash bytea, p_scope text,
    p_ip inet, p_op text, p_args jsonb,
    OUT body jsonb, OUT location text)
LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb;
    r   jsonb;
BEGIN
    ctx := rest.api_auth(p_key_hash, p_scope, p_ip);

    r := CASE p_op
        WHEN 'chat.settings.get'        THEN chat.settings_get(ctx, p_args)
        WHEN 'chat.settings.put'        THEN chat.settings_put(ctx, p_args)
        WHEN 'chat.conversation.list'   THEN chat.conversation_list(ctx, p_args)
        WHEN 'chat.conversation.get'    THEN chat.conversation_get(ctx, p_args)
        WHEN 'chat.conversation.ticket' THEN chat.conversation_ticket(ctx, p_args)
    END;

    IF r IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'unknown operation');
    END IF;

    body := nullif(r->'body', 'null'::jsonb);
    location := r->>'location';
END
$$;

RESET ROLE;
