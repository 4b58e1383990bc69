-- nginx-helpdesk: the customer portal's data and service functions.
--
-- A portal request arrives with the Host it was sent to; portal_site()
-- maps that name to a tenant (a "<slug>.<base domain>" name, or a verified
-- custom domain), and portal_call() runs one operation for the customer of
-- the session, tenant-scoped by row-level security like everything else.
-- Passwords are hashed and checked by the module, in a thread pool: the
-- database only stores and hands out the hash.

SET ROLE helpdesk_owner;

-- Settings ------------------------------------------------------------

-- The documented default form.  Field types: text, textarea, select,
-- attachments, tel.  "core" fields land in the ticket's own columns, the
-- others in its custom fields.
CREATE OR REPLACE FUNCTION portal.portal_default_form() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '[
      {"name": "subject", "type": "text", "required": true, "core": true,
       "label": {"pt-BR": "Assunto", "es": "Asunto", "en": "Subject"}},
      {"name": "category", "type": "select", "required": true, "core": true,
       "label": {"pt-BR": "Categoria", "es": "Categoría", "en": "Category"},
       "options": [
         {"value": "technical", "label": {"pt-BR": "Suporte técnico", "es": "Soporte técnico", "en": "Technical support"}},
         {"value": "billing", "label": {"pt-BR": "Financeiro", "es": "Facturación", "en": "Billing"}},
         {"value": "commercial", "label": {"pt-BR": "Comercial", "es": "Comercial", "en": "Sales"}},
         {"value": "other", "label": {"pt-BR": "Outros", "es": "Otros", "en": "Other"}}]},
      {"name": "priority", "type": "select", "required": true, "core": true,
       "label": {"pt-BR": "Prioridade", "es": "Prioridad", "en": "Priority"},
       "options": [
         {"value": "low", "label": {"pt-BR": "Baixa", "es": "Baja", "en": "Low"}},
         {"value": "normal", "label": {"pt-BR": "Normal", "es": "Normal", "en": "Normal"}},
         {"value": "high", "label": {"pt-BR": "Alta", "es": "Alta", "en": "High"}},
         {"value": "urgent", "label": {"pt-BR": "Urgente", "es": "Urgente", "en": "Urgent"}}]},
      {"name": "description", "type": "textarea", "required": true, "core": true,
       "label": {"pt-BR": "Descrição", "es": "Descripción", "en": "Description"}},
      {"name": "attachments", "type": "attachments", "required": false, "core": true,
       "label": {"pt-BR": "Anexos", "es": "Adjuntos", "en": "Attachments"}},
      {"name": "equipment", "type": "select", "required": false,
       "label": {"pt-BR": "Equipamento", "es": "Equipo", "en": "Equipment"},
       "options": [
         {"value": "router", "label": {"pt-BR": "Roteador", "es": "Router", "en": "Router"}},
         {"value": "computer", "label": {"pt-BR": "Computador", "es": "Computadora", "en": "Computer"}},
         {"value": "phone", "label": {"pt-BR": "Telefone", "es": "Teléfono", "en": "Phone"}},
         {"value": "other", "label": {"pt-BR": "Outro", "es": "Otro", "en": "Other"}}]},
      {"name": "contact_phone", "type": "tel", "required": false,
       "label": {"pt-BR": "Telefone para contato", "es": "Teléfono de contacto", "en": "Contact phone"}}
    ]'::jsonb
$$;

CREATE OR REPLACE FUNCTION portal.portal_settings(t helpdesk.tenants) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'allow_signup', coalesce((t.settings->'portal'->>'allow_signup')::boolean, true),
        'require_login', coalesce((t.settings->'portal'->>'require_login')::boolean, false),
        'default_language', coalesce(t.settings->'portal'->>'default_language', 'pt-BR'),
        'branding', jsonb_build_object(
            'primary_color', coalesce(t.settings->'portal'->'branding'->>'primary_color', '#1f5fbf'),
            'secondary_color', coalesce(t.settings->'portal'->'branding'->>'secondary_color', '#0f766e'),
            'welcome_title', t.settings->'portal'->'branding'->'welcome_title',
            'welcome_text', t.settings->'portal'->'branding'->'welcome_text'))
$$;

CREATE OR REPLACE FUNCTION portal.portal_form(t helpdesk.tenants) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(t.settings->'portal'->'form', portal.portal_default_form())
$$;

-- Host → tenant ---------------------------------------------------------

-- "<slug>.<base>" or a custom domain that serves (tls.serving); NULL for anything else.
CREATE OR REPLACE FUNCTION portal.portal_site(p_host text, p_base text)
RETURNS helpdesk.tenants
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    host text := rtrim(lower(split_part(coalesce(p_host, ''), ':', 1)), '.');
    base text := rtrim(lower(coalesce(p_base, '')), '.');
    t    helpdesk.tenants;
BEGIN
    IF base <> '' AND right(host, length(base) + 1) = '.' || base THEN
        SELECT * INTO t FROM helpdesk.tenants x
        WHERE x.slug = left(host, length(host) - length(base) - 1)
          AND x.status = 'active';
    ELSE
        SELECT x.* INTO t FROM helpdesk.portal_domains d
        JOIN helpdesk.tenants x ON x.tenant_id = d.tenant_id
        WHERE d.hostname = host AND tls.serving(d.status) AND x.status = 'active';
    END IF;

    RETURN t;
END
$$;

-- Customer-facing views ---------------------------------------------------

CREATE OR REPLACE FUNCTION portal.portal_user_json(u helpdesk.users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', u.user_id, 'email', u.email, 'name', u.name,
                              'phone', u.phone,
                              'email_verified', u.email_verified_at IS NOT NULL)
$$;

-- An address as accounts are looked up and counted by: without the
-- white space around it (spaces, tabs, line breaks), in lower case.
CREATE OR REPLACE FUNCTION portal.norm_email(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(regexp_replace(p, '^\s+|\s+$', '', 'g'))
$$;

-- Where links back to a tenant start: the scheme and port this server is
-- configured to hand out (helpdesk_link_scheme), and the tenant's own
-- name, never the Host a request came with: its first serving custom
-- domain, or "<slug>.<base domain>" (only that for a console on names of
-- its own: "domains" false).  NULL when it has neither.
CREATE OR REPLACE FUNCTION portal.tenant_origin(t helpdesk.tenants, link jsonb)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    host text;
    base text := rtrim(lower(coalesce(link->>'base', '')), '.');
    port text := coalesce(link->>'port', '');
BEGIN
    IF coalesce(link->>'domains', 'true') <> 'false' THEN
        SELECT d.hostname INTO host FROM helpdesk.portal_domains d
        WHERE d.tenant_id = t.tenant_id AND tls.serving(d.status)
        ORDER BY d.verified_at, d.hostname
        LIMIT 1;
    END IF;

    IF host IS NULL AND base <> '' THEN
        host := t.slug || '.' || base;
    END IF;

    IF host IS NULL THEN
        RETURN NULL;
    END IF;

    RETURN CASE WHEN link->>'scheme' = 'http' THEN 'http' ELSE 'https' END
           || '://' || host
           || CASE WHEN port ~ '^[1-9][0-9]{0,4}$' THEN ':' || port ELSE '' END;
END
$$;

-- A link to the app the request came to: its origin and its path.
CREATE OR REPLACE FUNCTION portal.app_link(t helpdesk.tenants, link jsonb, p_path text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT portal.tenant_origin(t, link) || coalesce(link->>'path', '') || p_path
$$;

-- A ticket the portal shows its customer: any of theirs once their
-- address is proven, and until then only what they opened on the portal
-- themselves (an address typed at sign-up proves nothing: tickets that
-- reached us for it by other channels are not theirs to read yet).
CREATE OR REPLACE FUNCTION portal.portal_ticket_visible(u helpdesk.users, t helpdesk.tickets)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT t.requester_id = u.user_id
           AND (u.email_verified_at IS NOT NULL
                OR EXISTS (SELECT 1 FROM helpdesk.ticket_events e
                           WHERE e.tenant_id = t.tenant_id AND e.ticket_id = t.ticket_id
                             AND e.type = 'created' AND e.channel = 'portal'
                             AND e.actor_id = u.user_id))
$$;

CREATE OR REPLACE FUNCTION portal.portal_ticket_json(t helpdesk.tickets) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'number', tickets.ticket_number(t.number), 'subject', t.subject,
        'description', t.description, 'status', t.status, 'priority', t.priority,
        'category', t.category, 'channel', t.channel,
        'fields', t.custom_fields,
        'created_at', t.created_at, 'updated_at', t.updated_at,
        'resolved_at', t.resolved_at)
$$;

-- A public event as the customer sees it: who (themself, the support
-- team, or the system), never an internal note.
CREATE OR REPLACE FUNCTION portal.portal_event_json(e helpdesk.ticket_events, p_user uuid)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    files jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_object('id', a.attachment_id, 'filename', a.filename,
                                        'content_type', a.content_type, 'size', a.size)
                     ORDER BY a.created_at)
    INTO files
    FROM helpdesk.attachments a
    WHERE a.tenant_id = e.tenant_id AND a.event_id = e.event_id;

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'id', e.event_id, 'type', e.type, 'channel', e.channel,
        'created_at', e.created_at,
        'author', CASE WHEN e.actor_id = p_user THEN 'you'
                       -- written as a record since merged into this customer
                       WHEN e.actor_type = 'user' AND EXISTS (
                                SELECT 1 FROM helpdesk.users m
                                WHERE m.tenant_id = e.tenant_id AND m.user_id = e.actor_id
                                  AND m.merged_into = p_user) THEN 'you'
                       WHEN e.actor_type = 'system' THEN 'system'
                       WHEN e.actor_type = 'user' AND EXISTS (
                                SELECT 1 FROM helpdesk.users u
                                WHERE u.tenant_id = e.tenant_id AND u.user_id = e.actor_id
                                  AND u.role = 'customer') THEN 'customer'
                       ELSE 'agent' END,
        'author_name', CASE WHEN e.actor_type = 'api_key' THEN NULL ELSE e.actor_name END,
        'body', e.body,
        'change', CASE WHEN e.type LIKE '%\_changed' THEN
                       jsonb_build_object('from', e.data->>'from', 'to', e.data->>'to') END,
        'attachments', files));
END
$$;

-- Operations ------------------------------------------------------------

CREATE OR REPLACE FUNCTION portal.portal_boot(ctx jsonb, t helpdesk.tenants, u helpdesk.users)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    s jsonb := portal.portal_settings(t);
BEGIN
    RETURN jsonb_build_object('body', jsonb_build_object(
        'tenant', jsonb_build_object('name', t.name, 'slug', t.slug),
        'portal', s || jsonb_build_object(
            'logo', EXISTS (SELECT 1 FROM helpdesk.portal_assets a
                            WHERE a.tenant_id = t.tenant_id AND a.name = 'logo'),
            'favicon', EXISTS (SELECT 1 FROM helpdesk.portal_assets a
                               WHERE a.tenant_id = t.tenant_id AND a.name = 'favicon')),
        'user', CASE WHEN u.user_id IS NULL THEN NULL ELSE portal.portal_user_json(u) END,
        'form', CASE WHEN u.user_id IS NOT NULL THEN portal.portal_form(t) END,
        -- the tenant's website chat, on its portal too once set up and on
        'chat', EXISTS (SELECT 1 FROM helpdesk.chat_widgets w
                        WHERE w.tenant_id = t.tenant_id AND w.enabled)));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_signup(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_email text := portal.norm_email(args->>'email');
    u       helpdesk.users;
    errs    jsonb := '[]';
BEGIN
    IF NOT (portal.portal_settings(t)->>'allow_signup')::boolean THEN
        PERFORM tickets.fail('HDDEN', 'signup-closed',
            'this portal does not take new accounts; ask the support team for one');
    END IF;

    IF v_email IS NULL OR v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' OR length(v_email) > 254 THEN
        errs := errs || jsonb_build_object('field', 'email', 'code', 'invalid',
                                           'message', 'enter a valid email address');
    END IF;

    IF length(coalesce(btrim(args->>'name'), '')) NOT BETWEEN 1 AND 200 THEN
        errs := errs || jsonb_build_object('field', 'name', 'code', 'required',
                                           'message', 'enter your name');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    -- an existing record (a customer known from email or the API, or an
    -- account) is never taken over by a sign-up: it would hand over that
    -- customer's tickets to whoever typed the address
    INSERT INTO helpdesk.users (tenant_id, email, name, role, password_hash)
    VALUES (t.tenant_id, v_email, btrim(args->>'name'), 'customer', args->>'password_hash')
    ON CONFLICT (tenant_id, email) DO NOTHING
    RETURNING * INTO u;

    IF u.user_id IS NULL THEN
        PERFORM tickets.fail('HDCNF', 'account-exists',
            'there is already an account for this email: log in, or reset the password');
    END IF;

    PERFORM tickets.audit(ctx || jsonb_build_object('actor_type', 'user', 'actor_id', u.user_id),
                           'portal.signup', 'user', u.user_id::text);

    -- the address is a claim until the link sent to it comes back
    PERFORM portal.portal_verify_send(ctx, t, u, args);

    RETURN jsonb_build_object('body', portal.portal_user_json(u));
END
$$;

-- The stored hash of a customer's password, for the module to check.
CREATE OR REPLACE FUNCTION portal.portal_login_lookup(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    u helpdesk.users;
BEGIN
    SELECT * INTO u FROM helpdesk.users x
    WHERE x.tenant_id = t.tenant_id AND x.email = portal.norm_email(args->>'email')
      AND x.role = ANY (portal.app_roles(ctx)) AND x.status = 'active'
      AND x.password_hash IS NOT NULL;

    RETURN jsonb_build_object('body',
        jsonb_build_object('user_id', u.user_id, 'password_hash', u.password_hash,
                           'totp_secret', u.totp_secret));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_login_result(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    u helpdesk.users;
BEGIN
    IF (args->>'ok')::boolean AND tickets.is_uuid(args->>'user_id') THEN
        SELECT * INTO u FROM helpdesk.users x
        WHERE x.tenant_id = t.tenant_id AND x.user_id = (args->>'user_id')::uuid
          AND x.status = 'active';
    END IF;

    IF u.user_id IS NULL THEN
        PERFORM tickets.audit(ctx, 'portal.login_failed', 'user', NULL,
                               jsonb_build_object('email', portal.norm_email(args->>'email')));
        RETURN jsonb_build_object('body', NULL);
    END IF;

    PERFORM tickets.audit(ctx || jsonb_build_object('actor_type', 'user', 'actor_id', u.user_id),
                           'portal.login', 'user', u.user_id::text);

    RETURN jsonb_build_object('body', portal.portal_user_json(u));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_logout(ctx jsonb, u helpdesk.users)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF u.user_id IS NOT NULL THEN
        PERFORM tickets.audit(ctx, 'portal.logout', 'user', u.user_id::text);
    END IF;

    RETURN jsonb_build_object('body', NULL);
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_password_lookup(ctx jsonb, u helpdesk.users)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('body',
        jsonb_build_object('user_id', u.user_id, 'password_hash', u.password_hash))
$$;

CREATE OR REPLACE FUNCTION portal.portal_password_set(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    UPDATE helpdesk.users SET password_hash = args->>'password_hash', updated_at = now()
    WHERE tenant_id = u.tenant_id AND user_id = u.user_id;

    PERFORM tickets.audit(ctx, 'portal.password_changed', 'user', u.user_id::text);

    RETURN jsonb_build_object('body', NULL);
END
$$;

-- Who may log in where: customers on the portal, agents and admins on
-- the console.
CREATE OR REPLACE FUNCTION portal.app_roles(ctx jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ctx->>'app' = 'console' THEN ARRAY['agent', 'admin']
                ELSE ARRAY['customer'] END
$$;

-- A one-time link, valid for an hour, sent by email through the outbox.
-- The answer is the same whether or not the address has an account.
CREATE OR REPLACE FUNCTION portal.portal_reset_request(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    u      helpdesk.users;
    token  text;
    link   text;
    lang   text := coalesce(args->>'language', 'pt-BR');
    invite boolean := coalesce((args->>'invite')::boolean, false);
BEGIN
    -- no name to link to (no verified domain, no base domain where the
    -- request came): say so for every address alike, send nothing
    IF portal.tenant_origin(t, args->'link') IS NULL THEN
        PERFORM tickets.fail('HDCNF', 'no-link',
            'this helpdesk has no address its links could point to; its provider must configure one');
    END IF;

    SELECT * INTO u FROM helpdesk.users x
    WHERE x.tenant_id = t.tenant_id AND x.email = portal.norm_email(args->>'email')
      AND x.role = ANY (portal.app_roles(ctx)) AND x.status = 'active';

    IF u.user_id IS NOT NULL THEN
        token := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
        link := portal.app_link(t, args->'link', '/reset/' || token);

        -- an invitation waits a week, a forgotten password an hour
        INSERT INTO helpdesk.password_resets (tenant_id, token_hash, user_id, expires_at,
                                              purpose, email)
        VALUES (t.tenant_id, sha256(convert_to(token, 'UTF8')), u.user_id,
                now() + CASE WHEN invite THEN interval '7 days' ELSE interval '1 hour' END,
                CASE WHEN invite THEN 'invite' ELSE 'reset' END, u.email);

        INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id,
                                     event_type, payload)
        VALUES (t.tenant_id, 'email', u.user_id, gen_random_uuid(),
                CASE WHEN invite THEN 'email.invitation' ELSE 'email.password_reset' END,
                jsonb_build_object(
                    'to', u.email, 'language', lang, 'link', link,
                    'subject', CASE WHEN invite THEN
                                   CASE lang WHEN 'es' THEN 'Invitación al soporte de '
                                             WHEN 'en' THEN 'You are invited to the helpdesk of '
                                             ELSE 'Convite para o atendimento da ' END
                               ELSE
                                   CASE lang WHEN 'es' THEN 'Restablecer su contraseña — '
                                             WHEN 'en' THEN 'Reset your password — '
                                             ELSE 'Redefinir sua senha — ' END
                               END || t.name,
                    'text', CASE WHEN invite THEN
                        CASE lang
                        WHEN 'es' THEN 'Para entrar, elija su contraseña en este enlace (vale una semana): '
                        WHEN 'en' THEN 'To join, choose your password at this link (it works for a week): '
                        ELSE 'Para entrar, escolha sua senha neste link (vale por uma semana): '
                        END
                    ELSE
                        CASE lang
                        WHEN 'es' THEN 'Para elegir una nueva contraseña, abra este enlace (vale por una hora y una sola vez): '
                        WHEN 'en' THEN 'To choose a new password, open this link (it works once, for one hour): '
                        ELSE 'Para escolher uma nova senha, abra este link (vale uma vez, por uma hora): '
                        END
                    END || link));

        PERFORM tickets.audit(ctx, 'portal.password_reset_requested', 'user', u.user_id::text);
    END IF;

    RETURN jsonb_build_object('body', NULL);
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_reset_find(t helpdesk.tenants, p_token text)
RETURNS helpdesk.password_resets LANGUAGE plpgsql AS $$
DECLARE
    r helpdesk.password_resets;
BEGIN
    SELECT * INTO r FROM helpdesk.password_resets x
    WHERE x.tenant_id = t.tenant_id
      AND x.token_hash = sha256(convert_to(coalesce(p_token, ''), 'UTF8'))
      AND x.purpose IN ('reset', 'invite')
    FOR UPDATE;

    -- a link sent to an address the account no longer has is dead too:
    -- whoever keeps the old mailbox must not set the password
    IF r.user_id IS NULL OR r.used_at IS NOT NULL OR r.expires_at < now()
       OR (r.email IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM helpdesk.users x
               WHERE x.tenant_id = r.tenant_id AND x.user_id = r.user_id
                 AND x.email = r.email)) THEN
        PERFORM tickets.fail('HDNFD', 'reset-link-invalid',
            'this link is not valid any more: links work once, for one hour; ask for a new one');
    END IF;

    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_reset_check(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM portal.portal_reset_find(t, args->>'token');
    RETURN jsonb_build_object('body', '{}'::jsonb);
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_reset_done(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r helpdesk.password_resets := portal.portal_reset_find(t, args->>'token');
BEGIN
    UPDATE helpdesk.password_resets SET used_at = now()
    WHERE tenant_id = r.tenant_id AND token_hash = r.token_hash;

    -- every other link of the account dies with this one
    UPDATE helpdesk.password_resets SET used_at = now()
    WHERE tenant_id = r.tenant_id AND user_id = r.user_id AND used_at IS NULL;

    -- the link came through the address: that proves it (if it is still
    -- the account's address)
    UPDATE helpdesk.users x SET password_hash = args->>'password_hash', updated_at = now(),
        email_verified_at = CASE WHEN r.email IS NULL OR r.email = x.email
                                 THEN coalesce(x.email_verified_at, now())
                                 ELSE x.email_verified_at END
    WHERE x.tenant_id = r.tenant_id AND x.user_id = r.user_id;

    PERFORM tickets.audit(ctx || jsonb_build_object('actor_type', 'user', 'actor_id', r.user_id),
                           'portal.password_reset', 'user', r.user_id::text);

    RETURN jsonb_build_object('body', jsonb_build_object('user_id', r.user_id));
END
$$;

-- A link that proves an address: sent to it (by the outbox's email job),
-- valid for two days and once, stored as a hash, bound to the address it
-- went to.  Sign-up sends one; a customer may ask for another.
CREATE OR REPLACE FUNCTION portal.portal_verify_send(ctx jsonb, t helpdesk.tenants,
    u helpdesk.users, args jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    token text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    link  text := portal.app_link(t, args->'link', '/verify/' || token);
    lang  text := coalesce(args->>'language', portal.portal_settings(t)->>'default_language');
BEGIN
    IF u.email_verified_at IS NOT NULL OR link IS NULL THEN
        RETURN;
    END IF;

    INSERT INTO helpdesk.password_resets (tenant_id, token_hash, user_id, expires_at,
                                          purpose, email)
    VALUES (t.tenant_id, sha256(convert_to(token, 'UTF8')), u.user_id,
            now() + interval '2 days', 'verify', u.email);

    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id, event_type, payload)
    VALUES (t.tenant_id, 'email', u.user_id, gen_random_uuid(), 'email.verification',
            jsonb_build_object(
                'to', u.email, 'language', lang, 'link', link,
                'subject', CASE lang WHEN 'es' THEN 'Confirme su correo — '
                                     WHEN 'en' THEN 'Confirm your email — '
                                     ELSE 'Confirme seu email — ' END || t.name,
                'text', CASE lang
                    WHEN 'es' THEN 'Para confirmar que esta dirección es suya, entre en su cuenta y abra este enlace (vale dos días): '
                    WHEN 'en' THEN 'To confirm this address is yours, log in to your account and open this link (it works for two days): '
                    ELSE 'Para confirmar que este endereço é seu, entre na sua conta e abra este link (vale por dois dias): '
                    END || link || E'\n\n' || CASE lang
                    WHEN 'es' THEN 'Si usted no creó esta cuenta, no abra el enlace: elija una contraseña nueva con «¿Olvidó su contraseña?» y la cuenta será suya.'
                    WHEN 'en' THEN 'If you did not create this account, do not open the link: choose a new password with "Forgot your password?" and the account is yours.'
                    ELSE 'Se você não criou esta conta, não abra o link: escolha uma senha nova em “Esqueceu a senha?” e a conta passa a ser sua.'
                    END));

    PERFORM tickets.audit(ctx || jsonb_build_object('actor_type', 'user', 'actor_id', u.user_id),
                           'portal.verification_sent', 'user', u.user_id::text);
END
$$;

-- Another link, for a signed-in customer whose address is not proven yet
-- (at most five a day).
CREATE OR REPLACE FUNCTION portal.portal_verify_request(ctx jsonb, t helpdesk.tenants,
    u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF u.email_verified_at IS NOT NULL THEN
        PERFORM tickets.fail('HDCNF', 'already-verified', 'your email address is already confirmed');
    END IF;

    IF (SELECT count(*) FROM helpdesk.password_resets r
        WHERE r.tenant_id = u.tenant_id AND r.user_id = u.user_id AND r.purpose = 'verify'
          AND r.created_at > now() - interval '1 day') >= 5 THEN
        PERFORM tickets.fail('HDCNF', 'too-many-links',
            'several links were sent today already: use the last one, or try again tomorrow');
    END IF;

    PERFORM portal.portal_verify_send(ctx, t, u, args);

    RETURN jsonb_build_object('body', NULL);
END
$$;

-- The link came back, opened in a session of the account it was made
-- for: the address is the account's.  Only its session: whoever signed up
-- with somebody else's address keeps a session, and the owner's click
-- must not hand that session their tickets; the owner takes such an
-- account over with a password reset, which proves the address and ends
-- every session.
DROP FUNCTION IF EXISTS portal.portal_verify_done(jsonb, helpdesk.tenants, jsonb);
CREATE OR REPLACE FUNCTION portal.portal_verify_done(ctx jsonb, t helpdesk.tenants,
    s helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r helpdesk.password_resets;
    u helpdesk.users;
BEGIN
    SELECT * INTO r FROM helpdesk.password_resets x
    WHERE x.tenant_id = t.tenant_id AND x.purpose = 'verify'
      AND x.token_hash = sha256(convert_to(coalesce(args->>'token', ''), 'UTF8'))
    FOR UPDATE;

    IF r.user_id IS NOT NULL THEN
        SELECT * INTO u FROM helpdesk.users x
        WHERE x.tenant_id = r.tenant_id AND x.user_id = r.user_id AND x.status = 'active';
    END IF;

    IF u.user_id IS NULL OR r.used_at IS NOT NULL OR r.expires_at < now()
       OR r.email IS DISTINCT FROM u.email THEN
        PERFORM tickets.fail('HDNFD', 'verify-link-invalid',
            'this link is not valid any more: links work once, for two days; log in and ask for a new one');
    END IF;

    IF s.user_id IS DISTINCT FROM u.user_id THEN
        PERFORM tickets.fail('HDUNA', 'login-required',
            'log in to the account this address belongs to, then open the link again; '
            'if you did not create that account, choose a new password with "forgot password" instead');
    END IF;

    UPDATE helpdesk.password_resets SET used_at = now()
    WHERE tenant_id = r.tenant_id AND user_id = r.user_id AND purpose = 'verify'
      AND used_at IS NULL;

    UPDATE helpdesk.users SET email_verified_at = coalesce(email_verified_at, now()),
                              updated_at = now()
    WHERE tenant_id = u.tenant_id AND user_id = u.user_id
    RETURNING * INTO u;

    PERFORM tickets.audit(ctx || jsonb_build_object('actor_type', 'user', 'actor_id', u.user_id),
                           'portal.email_verified', 'user', u.user_id::text);

    RETURN jsonb_build_object('body', jsonb_build_object('email_verified', true));
END
$$;

-- What the attempts of an account are counted by: the tenant (whatever
-- name it was reached by) and the address as it is looked up.
CREATE OR REPLACE FUNCTION portal.app_account_key(t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('body', jsonb_build_object(
        'tenant', t.tenant_id, 'account', coalesce(portal.norm_email(args->>'email'), '')))
$$;

-- A second factor's code is taken once: its time step must be later than
-- the last one accepted for the user.
CREATE OR REPLACE FUNCTION portal.app_totp_claim(t helpdesk.tenants, p_user uuid, p_step text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    IF p_user IS NULL OR coalesce(p_step, '') !~ '^[0-9]{1,15}$' THEN
        RETURN false;
    END IF;

    UPDATE helpdesk.users SET totp_last_step = p_step::bigint
    WHERE tenant_id = t.tenant_id AND user_id = p_user
      AND (totp_last_step IS NULL OR totp_last_step < p_step::bigint);

    GET DIAGNOSTICS n = ROW_COUNT;

    RETURN n = 1;
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_login_claim(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('body', jsonb_build_object('ok',
        portal.app_totp_claim(t, CASE WHEN tickets.is_uuid(args->>'user_id')
                                      THEN (args->>'user_id')::uuid END,
                              args->>'totp_step')));
END
$$;

-- A customer's own ticket, by number; anything else is "not found".
CREATE OR REPLACE FUNCTION portal.portal_ticket_find(u helpdesk.users, ref text, for_update boolean)
RETURNS helpdesk.tickets LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tickets;
    n bigint;
BEGIN
    IF ref ~* '^(tkt-)?0*[0-9]{1,15}$' THEN
        n := regexp_replace(ref, '^(tkt-)?0*', '', 'i')::bigint;
    END IF;

    IF for_update THEN
        SELECT * INTO t FROM helpdesk.tickets x
        WHERE x.tenant_id = u.tenant_id AND x.number = n AND x.requester_id = u.user_id
          AND portal.portal_ticket_visible(u, x)
        FOR UPDATE;
    ELSE
        SELECT * INTO t FROM helpdesk.tickets x
        WHERE x.tenant_id = u.tenant_id AND x.number = n AND x.requester_id = u.user_id
          AND portal.portal_ticket_visible(u, x);
    END IF;

    IF t.ticket_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such ticket among yours');
    END IF;

    RETURN t;
END
$$;

-- Files uploaded by this customer, claimed for an event of a ticket.
CREATE OR REPLACE FUNCTION portal.portal_attach(u helpdesk.users, p_ticket uuid,
    p_event bigint, p_uploads jsonb)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
    n   int;
BEGIN
    IF jsonb_typeof(p_uploads) IS DISTINCT FROM 'array' OR p_uploads = '[]' THEN
        RETURN 0;
    END IF;

    ids := ARRAY(SELECT x::uuid FROM jsonb_array_elements_text(p_uploads) x
                 WHERE tickets.is_uuid(x));

    WITH gone AS (
        DELETE FROM helpdesk.uploads x
        WHERE x.tenant_id = u.tenant_id AND x.user_id = u.user_id
          AND x.upload_id = ANY (ids)
        RETURNING x.*)
    INSERT INTO helpdesk.attachments (tenant_id, ticket_id, event_id, filename,
                                      content_type, size, sha256, data, source)
    SELECT g.tenant_id, p_ticket, p_event, g.filename, g.content_type, g.size,
           g.sha256, g.data, 'portal'
    FROM gone g;

    GET DIAGNOSTICS n = ROW_COUNT;

    IF n <> coalesce(array_length(ids, 1), 0) OR n <> jsonb_array_length(p_uploads) THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'an attachment is missing',
            jsonb_build_array(jsonb_build_object('field', 'attachments', 'code', 'unknown',
                'message', 'an uploaded file was not found; upload it again')));
    END IF;

    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_ticket_create(ctx jsonb, t helpdesk.tenants,
    u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    f      jsonb;
    v      jsonb;
    errs   jsonb := '[]';
    core   jsonb := '{}';
    custom jsonb := '{}';
    r      jsonb;
    tk     helpdesk.tickets;
    ev     bigint;
    n      int;
BEGIN
    FOR f IN SELECT * FROM jsonb_array_elements(portal.portal_form(t)) LOOP
        CONTINUE WHEN f->>'type' = 'attachments';
        v := args->(f->>'name');

        IF v IS NULL OR v = 'null' OR btrim(v #>> '{}') = '' THEN
            IF coalesce((f->>'required')::boolean, false) THEN
                errs := errs || jsonb_build_object('field', f->>'name', 'code', 'required',
                                                   'message', 'this field is required');
            END IF;
            CONTINUE;
        END IF;

        IF jsonb_typeof(v) <> 'string' THEN
            errs := errs || jsonb_build_object('field', f->>'name', 'code', 'type',
                                               'message', 'expected text');
        ELSIF f->>'type' = 'select' AND NOT EXISTS (
                  SELECT 1 FROM jsonb_array_elements(f->'options') o
                  WHERE o->>'value' = v->>0 OR o->>'value' = v #>> '{}') THEN
            errs := errs || jsonb_build_object('field', f->>'name', 'code', 'invalid',
                                               'message', 'choose one of the options');
        ELSIF length(v #>> '{}') > (CASE f->>'type' WHEN 'textarea' THEN 20000 ELSE 300 END) THEN
            errs := errs || jsonb_build_object('field', f->>'name', 'code', 'too_long',
                                               'message', 'this is too long');
        ELSIF coalesce((f->>'core')::boolean, false) THEN
            core := core || jsonb_build_object(f->>'name', btrim(v #>> '{}'));
        ELSE
            custom := custom || jsonb_build_object(f->>'name', btrim(v #>> '{}'));
        END IF;
    END LOOP;

    IF core ? 'priority' AND core->>'priority' NOT IN ('low', 'normal', 'high', 'urgent') THEN
        core := core - 'priority';
    END IF;

    IF NOT core ? 'subject' AND NOT errs @> '[{"field": "subject"}]' THEN
        errs := errs || jsonb_build_object('field', 'subject', 'code', 'required',
                                           'message', 'this field is required');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    r := tickets.ticket_create(ctx, core || jsonb_build_object(
             'requester_id', u.user_id, 'custom_fields', custom));

    SELECT * INTO tk FROM helpdesk.tickets x
    WHERE x.tenant_id = t.tenant_id AND x.ticket_id = (r->'body'->>'id')::uuid;

    SELECT e.event_id INTO ev FROM helpdesk.ticket_events e
    WHERE e.tenant_id = t.tenant_id AND e.ticket_id = tk.ticket_id AND e.type = 'created';

    n := portal.portal_attach(u, tk.ticket_id, ev, args->'attachments');

    RETURN jsonb_build_object('body', portal.portal_ticket_json(tk));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_ticket_list(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    PERFORM tickets.read_only_audit();

    IF args->>'status' NOT IN ('open', 'closed', 'all') THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid',
            portal.err('status', 'invalid', 'open, closed or all'));
    END IF;

    SELECT coalesce(jsonb_agg(portal.portal_ticket_json(x) ORDER BY x.number DESC), '[]')
    INTO r
    FROM (SELECT * FROM helpdesk.tickets x
          WHERE x.tenant_id = u.tenant_id AND x.requester_id = u.user_id
            AND portal.portal_ticket_visible(u, x)
            AND (coalesce(args->>'status', 'all') = 'all'
                 OR (args->>'status' = 'open' AND x.status NOT IN ('resolved', 'closed'))
                 OR (args->>'status' = 'closed' AND x.status IN ('resolved', 'closed')))
          ORDER BY x.number DESC LIMIT 200) x;

    PERFORM tickets.audit(ctx, 'portal.ticket.list', 'ticket', NULL);

    RETURN jsonb_build_object('body', jsonb_build_object('data', r));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_ticket_get(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tickets := portal.portal_ticket_find(u, args->>'number', false);
    r jsonb;
BEGIN
    PERFORM tickets.read_only_audit();

    SELECT coalesce(jsonb_agg(portal.portal_event_json(e, u.user_id) ORDER BY e.event_id), '[]')
    INTO r
    FROM helpdesk.ticket_events e
    WHERE e.tenant_id = t.tenant_id AND e.ticket_id = t.ticket_id
      AND e.visibility = 'public';

    PERFORM tickets.audit(ctx, 'portal.ticket.read', 'ticket', t.ticket_id::text,
                           jsonb_build_object('number', tickets.ticket_number(t.number)));

    RETURN jsonb_build_object('body',
        portal.portal_ticket_json(t) || jsonb_build_object('events', r));
END
$$;

-- The customer says the problem is solved: the ticket is resolved (by
-- them, in its history; webhooks and audit as for an agent's change).  A
-- later comment of theirs opens it again.
CREATE OR REPLACE FUNCTION portal.portal_ticket_resolve(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tickets := portal.portal_ticket_find(u, args->>'number', true);
BEGIN
    IF t.status IN ('resolved', 'closed') THEN
        PERFORM tickets.fail('HDCNF', 'already-resolved',
            format('%s is already %s', tickets.ticket_number(t.number), t.status));
    END IF;

    PERFORM tickets.ticket_update(ctx, jsonb_build_object('id', t.ticket_id, 'status', 'resolved'));

    RETURN portal.portal_ticket_get(ctx, u, jsonb_build_object('number', args->>'number'));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_ticket_comment(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t    helpdesk.tickets := portal.portal_ticket_find(u, args->>'number', true);
    body text := btrim(coalesce(args->>'body', ''));
    r    jsonb;
    e    helpdesk.ticket_events;
    n    int;
BEGIN
    IF body = '' AND coalesce(jsonb_array_length(
           CASE jsonb_typeof(args->'attachments') WHEN 'array' THEN args->'attachments'
                ELSE '[]' END), 0) = 0 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'write a message or attach a file',
            '[{"field": "body", "code": "required", "message": "write a message"}]');
    END IF;

    IF length(body) > 20000 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the message is too long',
            '[{"field": "body", "code": "too_long", "message": "the message is too long"}]');
    END IF;

    r := tickets.ticket_comment(ctx, jsonb_build_object('id', t.ticket_id,
                                                         'body', body, 'visibility', 'public'));

    SELECT * INTO e FROM helpdesk.ticket_events x
    WHERE x.tenant_id = t.tenant_id AND x.event_id = (r->'body'->>'id')::bigint;

    n := portal.portal_attach(u, t.ticket_id, e.event_id, args->'attachments');

    -- the customer wrote again: a resolved or waiting ticket is open again
    IF t.status IN ('resolved', 'pending') THEN
        PERFORM tickets.event_add(ctx, t.ticket_id, 'status_changed', 'public', NULL,
            jsonb_build_object('from', t.status, 'to', 'open'));
        UPDATE helpdesk.tickets SET status = 'open', resolved_at = NULL, updated_at = now()
        WHERE tenant_id = t.tenant_id AND ticket_id = t.ticket_id;
    END IF;

    RETURN jsonb_build_object('body', portal.portal_event_json(e, u.user_id));
END
$$;

-- Knowledge base, as readers see it: public articles for everyone,
-- "customers" articles once logged in, drafts never.
CREATE OR REPLACE FUNCTION portal.kb_visible(a helpdesk.kb_articles, u helpdesk.users)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT a.visibility = 'public' OR (a.visibility = 'customers' AND u.user_id IS NOT NULL)
$$;

CREATE OR REPLACE FUNCTION portal.kb_article_brief(a helpdesk.kb_articles) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('slug', a.slug, 'title', a.title, 'language', a.language,
                              'updated_at', a.updated_at)
$$;

-- A query in one language: every word (as a search engine would read
-- it), or any of them.
CREATE OR REPLACE FUNCTION portal.kb_query(cfg regconfig, q text, any_word boolean)
RETURNS tsquery LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    words text;
BEGIN
    IF NOT any_word THEN
        RETURN websearch_to_tsquery(cfg, q);
    END IF;

    SELECT string_agg(quote_literal(l) || ':*', ' | ') INTO words
    FROM (SELECT DISTINCT unnest(tsvector_to_array(to_tsvector(cfg, q))) l) w;

    -- the words are lexemes of cfg already: 'simple' keeps them as they are
    RETURN coalesce(to_tsquery('pg_catalog.simple', words), ''::tsquery);
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_kb_home(ctx jsonb, t helpdesk.tenants, u helpdesk.users)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    cats jsonb;
    top  jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(jsonb_build_object('slug', c.slug, 'name', c.name,
               'description', c.description, 'articles', coalesce(a.list, '[]'))
               ORDER BY c.position, c.name), '[]')
    INTO cats
    FROM helpdesk.kb_categories c
    LEFT JOIN LATERAL (
        SELECT jsonb_agg(portal.kb_article_brief(x) ORDER BY x.title) AS list
        FROM helpdesk.kb_articles x
        WHERE x.tenant_id = c.tenant_id AND x.category_id = c.category_id
          AND portal.kb_visible(x, u)) a ON true
    WHERE c.tenant_id = t.tenant_id;

    SELECT coalesce(jsonb_agg(portal.kb_article_brief(x) ORDER BY x.views DESC, x.title), '[]')
    INTO top
    FROM (SELECT * FROM helpdesk.kb_articles x
          WHERE x.tenant_id = t.tenant_id AND portal.kb_visible(x, u)
          ORDER BY x.views DESC, x.title LIMIT 6) x;

    RETURN jsonb_build_object('body',
                              jsonb_build_object('categories', cats, 'popular', top));
END
$$;

-- Full-text search in each article's own language; "limit" 5 for the
-- suggestions shown while a customer types a ticket's subject.
CREATE OR REPLACE FUNCTION portal.portal_kb_search(ctx jsonb, t helpdesk.tenants,
    u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_q text := left(btrim(coalesce(args->>'q', '')), 200);
    lim int := CASE WHEN args->>'limit' ~ '^[0-9]{1,2}$'
                    THEN least((args->>'limit')::int, 20) ELSE 20 END;
    r   jsonb;
    any_word boolean;
BEGIN
    IF v_q = '' THEN
        RETURN jsonb_build_object('body', jsonb_build_object('data', '[]'::jsonb));
    END IF;

    -- every word (a search), or any word (suggestions while typing, and a
    -- search that found nothing with every word)
    FOR any_word IN SELECT unnest(CASE WHEN args ? 'limit' THEN ARRAY[true]
                                       ELSE ARRAY[false, true] END) LOOP
        SELECT coalesce(jsonb_agg(portal.kb_article_brief(s.a)
                   || jsonb_build_object('snippet', s.snippet) ORDER BY s.rank DESC), '[]')
        INTO r
        FROM (SELECT x AS a, ts_rank(x.search, q.tsq) AS rank,
                     ts_headline(helpdesk.kb_config(x.language), x.body_md, q.tsq,
                                 'StartSel=[[, StopSel=]], MaxWords=30, MinWords=12') AS snippet
              FROM helpdesk.kb_articles x
              CROSS JOIN LATERAL (SELECT portal.kb_query(helpdesk.kb_config(x.language),
                                                           v_q, any_word) AS tsq) q
              WHERE x.tenant_id = t.tenant_id AND portal.kb_visible(x, u)
                AND (x.search @@ portal.kb_query('pg_catalog.portuguese', v_q, any_word)
                     OR x.search @@ portal.kb_query('pg_catalog.spanish', v_q, any_word)
                     OR x.search @@ portal.kb_query('pg_catalog.english', v_q, any_word))
                AND x.search @@ q.tsq
              ORDER BY rank DESC LIMIT lim) s;

        EXIT WHEN r <> '[]';
    END LOOP;

    RETURN jsonb_build_object('body', jsonb_build_object('data', r));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_kb_article(ctx jsonb, t helpdesk.tenants,
    u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    a helpdesk.kb_articles;
    c helpdesk.kb_categories;
    mine jsonb;
BEGIN
    SELECT * INTO a FROM helpdesk.kb_articles x
    WHERE x.tenant_id = t.tenant_id AND x.slug = args->>'slug';

    IF a.article_id IS NULL OR NOT portal.kb_visible(a, u) THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such article');
    END IF;

    UPDATE helpdesk.kb_articles SET views = views + 1
    WHERE tenant_id = a.tenant_id AND article_id = a.article_id;
    PERFORM set_config('synchronous_commit', 'off', true);

    SELECT * INTO c FROM helpdesk.kb_categories x
    WHERE x.tenant_id = a.tenant_id AND x.category_id = a.category_id;

    SELECT to_jsonb(v.helpful) INTO mine FROM helpdesk.kb_votes v
    WHERE v.tenant_id = a.tenant_id AND v.article_id = a.article_id
      AND v.voter = args->>'voter';

    RETURN jsonb_build_object('body', portal.kb_article_brief(a)
        || jsonb_build_object('html', CASE WHEN a.html_rendered THEN a.body_html END,
                              'markdown', CASE WHEN NOT a.html_rendered THEN a.body_md END,
                              'helpful', a.helpful,
                              'not_helpful', a.not_helpful, 'my_vote', mine,
                              'category', CASE WHEN c.category_id IS NOT NULL THEN
                                  jsonb_build_object('slug', c.slug, 'name', c.name) END));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_kb_vote(ctx jsonb, t helpdesk.tenants,
    u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    a   helpdesk.kb_articles;
    old boolean;
    new boolean := (args->>'helpful')::boolean;
BEGIN
    IF jsonb_typeof(args->'helpful') IS DISTINCT FROM 'boolean' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'say whether it helped',
            '[{"field": "helpful", "code": "type", "message": "expected true or false"}]');
    END IF;

    SELECT * INTO a FROM helpdesk.kb_articles x
    WHERE x.tenant_id = t.tenant_id AND x.slug = args->>'slug' FOR UPDATE;

    IF a.article_id IS NULL OR NOT portal.kb_visible(a, u) THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such article');
    END IF;

    SELECT v.helpful INTO old FROM helpdesk.kb_votes v
    WHERE v.tenant_id = a.tenant_id AND v.article_id = a.article_id
      AND v.voter = args->>'voter';

    INSERT INTO helpdesk.kb_votes (tenant_id, article_id, voter, helpful)
    VALUES (a.tenant_id, a.article_id, args->>'voter', new)
    ON CONFLICT (tenant_id, article_id, voter) DO UPDATE SET helpful = excluded.helpful;

    UPDATE helpdesk.kb_articles SET
        helpful = helpful + (CASE WHEN new THEN 1 ELSE 0 END)
                          - (CASE WHEN old IS TRUE THEN 1 ELSE 0 END),
        not_helpful = not_helpful + (CASE WHEN NOT new THEN 1 ELSE 0 END)
                                  - (CASE WHEN old IS FALSE THEN 1 ELSE 0 END)
    WHERE tenant_id = a.tenant_id AND article_id = a.article_id
    RETURNING * INTO a;

    RETURN jsonb_build_object('body', jsonb_build_object(
        'helpful', a.helpful, 'not_helpful', a.not_helpful, 'my_vote', new));
END
$$;

-- What every request of the portal and the console starts with: the
-- tenant the Host names (none: 404), that tenant for row-level security,
-- the session's user if it is active and has one of the app's roles, and
-- the ctx the ticket service records as the actor.
CREATE OR REPLACE FUNCTION portal.app_session(p_app text, p_roles text[], p_host text,
    p_base text, p_user uuid, p_ip inet,
    OUT t helpdesk.tenants, OUT u helpdesk.users, OUT ctx jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    t := portal.portal_site(p_host, p_base);

    IF t.tenant_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'unknown-site', CASE p_app WHEN 'portal'
            THEN 'there is no support portal at this address'
            ELSE 'there is no helpdesk at this address' END);
    END IF;

    PERFORM set_config('helpdesk.tenant_id', t.tenant_id::text, true);

    IF p_user IS NOT NULL THEN
        SELECT * INTO u FROM helpdesk.users x
        WHERE x.tenant_id = t.tenant_id AND x.user_id = p_user
          AND x.status = 'active' AND x.role = ANY (p_roles);
    END IF;

    ctx := jsonb_build_object('tenant_id', t.tenant_id, 'channel', p_app, 'ip', p_ip,
                              'app', p_app,
                              'actor_type', CASE WHEN u.user_id IS NULL THEN 'system' ELSE 'user' END,
                              'actor_id', u.user_id,
                              'actor_name', coalesce(u.name, u.email),
                              -- no one logged in: the app's role, if it has only one
                              'actor_role', coalesce(u.role, CASE WHEN cardinality(p_roles) = 1
                                                                  THEN p_roles[1] END));
END
$$;

-- The account steps that hand out an account's secrets (a password's
-- hash, a TOTP secret) or its user id for an email, or that log a user in,
-- set a password or a second factor: only with the module's proof (see
-- rest.module_proof), so that SQL run as the app role alone cannot learn a
-- user id and act as that user.
CREATE OR REPLACE FUNCTION portal.account_proof(p_op text, p_proof bytea)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_op IN ('login.lookup', 'login.claim', 'login.result', 'password.lookup', 'password.set',
                'reset.done', 'totp.setup', 'totp.pending', 'totp.current',
                'totp.enable', 'totp.disable') THEN
        PERFORM rest.module_proof(p_proof);
    END IF;
END
$$;

-- The account operations the portal and the console share: logging in
-- (the module checks the password between lookup and result), logging
-- out, changing the password, and the reset links.
CREATE OR REPLACE FUNCTION portal.app_account_op(ctx jsonb, t helpdesk.tenants, u helpdesk.users,
    p_op text, p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN CASE p_op
        WHEN 'login.lookup'    THEN portal.portal_login_lookup(ctx, t, p_args)
        WHEN 'login.result'    THEN portal.portal_login_result(ctx, t, p_args)
        WHEN 'logout'          THEN portal.portal_logout(ctx, u)
        WHEN 'password.lookup' THEN portal.portal_password_lookup(ctx, u)
        WHEN 'password.set'    THEN portal.portal_password_set(ctx, u, p_args)
        WHEN 'reset.request'   THEN portal.portal_reset_request(ctx, t, p_args)
        WHEN 'reset.check'     THEN portal.portal_reset_check(ctx, t, p_args)
        WHEN 'reset.done'      THEN portal.portal_reset_done(ctx, t, p_args)
        WHEN 'account.key'     THEN portal.app_account_key(t, p_args)
        WHEN 'login.claim'     THEN portal.portal_login_claim(ctx, t, p_args)
    END;
END
$$;

-- One portal request.  p_user comes from the session the module found in
-- Redis (NULL when there is none); it must belong to the Host's tenant.
-- the result lost its HTTP status (the module's to decide)
DROP FUNCTION IF EXISTS portal.portal_call(text, text, uuid, inet, text, jsonb);
CREATE OR REPLACE FUNCTION portal.portal_call(p_host text, p_base text, p_user uuid,
    p_ip inet, p_op text, p_args jsonb, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    s   record;
    t   helpdesk.tenants;
    u   helpdesk.users;
    ctx jsonb;
    r   jsonb;
BEGIN
    s := portal.app_session('portal', ARRAY['customer'], p_host, p_base, p_user, p_ip);
    t := s.t;
    u := s.u;
    ctx := s.ctx;

    -- what needs a customer, and what a login-only portal hides
    IF p_op IN ('logout', 'password.lookup', 'password.set', 'form', 'ticket.create',
                'verify.request',
                'ticket.list', 'ticket.get', 'ticket.comment', 'ticket.resolve',
                'chat.list', 'chat.get',
                'profile.update', 'export')
       OR (p_op LIKE 'kb.%' AND (portal.portal_settings(t)->>'require_login')::boolean)
    THEN
        IF u.user_id IS NULL THEN
            PERFORM tickets.fail('HDUNA', 'login-required', 'log in to continue');
        END IF;
    END IF;

    -- the shared account operations, or this app's own
    r := coalesce(portal.app_account_op(ctx, t, u, p_op, p_args), CASE p_op
        WHEN 'boot'            THEN portal.portal_boot(ctx, t, u)
        WHEN 'signup'          THEN portal.portal_signup(ctx, t, p_args)
        WHEN 'verify.request'  THEN portal.portal_verify_request(ctx, t, u, p_args)
        WHEN 'verify.done'     THEN portal.portal_verify_done(ctx, t, u, p_args)
        WHEN 'form'            THEN jsonb_build_object('body',
                                        jsonb_build_object('fields', portal.portal_form(t)))
        WHEN 'ticket.create'   THEN portal.portal_ticket_create(ctx, t, u, p_args)
        WHEN 'ticket.list'     THEN portal.portal_ticket_list(ctx, u, p_args)
        WHEN 'ticket.get'      THEN portal.portal_ticket_get(ctx, u, p_args)
        WHEN 'ticket.comment'  THEN portal.portal_ticket_comment(ctx, u, p_args)
        WHEN 'ticket.resolve'  THEN portal.portal_ticket_resolve(ctx, u, p_args)
        WHEN 'chat.list'       THEN portal.portal_chat_list(ctx, u)
        WHEN 'chat.get'        THEN portal.portal_chat_get(ctx, u, p_args)
        WHEN 'profile.update'  THEN portal.portal_profile_update(ctx, u, p_args)
        WHEN 'export'          THEN portal.portal_export(ctx, t, u)
        WHEN 'kb.home'         THEN portal.portal_kb_home(ctx, t, u)
        WHEN 'kb.search'       THEN portal.portal_kb_search(ctx, t, u, p_args)
        WHEN 'kb.article'      THEN portal.portal_kb_article(ctx, t, u, p_args)
        WHEN 'kb.vote'         THEN portal.portal_kb_vote(ctx, t, u, p_args)
    END);

    IF r IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'unknown operation');
    END IF;

    body := nullif(r->'body', 'null'::jsonb);
END
$$;

-- A file from the portal or the console, kept until the ticket or message
-- it goes with.
-- the result lost its HTTP status (the module's to decide)
DROP FUNCTION IF EXISTS portal.app_upload(text, text, text, uuid, text, text, bytea);
CREATE OR REPLACE FUNCTION portal.app_upload(p_app text, p_host text, p_base text,
    p_user uuid, p_filename text, p_type text, p_data bytea, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    t  helpdesk.tenants := portal.portal_site(p_host, p_base);
    up helpdesk.uploads;
BEGIN
    IF t.tenant_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'unknown-site', 'there is no support portal at this address');
    END IF;

    PERFORM set_config('helpdesk.tenant_id', t.tenant_id::text, true);

    IF p_user IS NULL OR NOT EXISTS (
           SELECT 1 FROM helpdesk.users x
           WHERE x.tenant_id = t.tenant_id AND x.user_id = p_user AND x.status = 'active'
             AND x.role = ANY (portal.app_roles(jsonb_build_object('app', p_app)))) THEN
        PERFORM tickets.fail('HDUNA', 'login-required', 'log in to continue');
    END IF;

    IF p_app = 'console' AND console.console_totp_missing(t, (SELECT x FROM helpdesk.users x
           WHERE x.tenant_id = t.tenant_id AND x.user_id = p_user)) THEN
        PERFORM tickets.fail('HDDEN', 'totp-enrollment-required',
            'this helpdesk requires a second factor: set it up first');
    END IF;

    -- what was never used is forgotten after a day
    DELETE FROM helpdesk.uploads x
    WHERE x.tenant_id = t.tenant_id AND x.user_id = p_user
      AND x.created_at < now() - interval '1 day';

    INSERT INTO helpdesk.uploads (tenant_id, user_id, filename, content_type, size, sha256, data)
    VALUES (t.tenant_id, p_user, p_filename, p_type, length(p_data),
            encode(sha256(p_data), 'hex'), p_data)
    RETURNING * INTO up;

    body := jsonb_build_object('id', up.upload_id, 'filename', up.filename,
                               'content_type', up.content_type, 'size', up.size);
END
$$;
-- the result lost its HTTP status (the module's to decide)
DROP FUNCTION IF EXISTS portal.portal_upload(text, text, uuid, inet, text, text, bytea);
CREATE OR REPLACE FUNCTION portal.portal_upload(p_host text, p_base text, p_user uuid,
    p_ip inet, p_filename text, p_type text, p_data bytea, OUT body jsonb)
LANGUAGE sql AS $$
    SELECT * FROM portal.app_upload('portal', p_host, p_base, p_user, p_filename, p_type, p_data)
$$;

-- An attachment, for the portal (a file of the customer's own tickets, on
-- a public event) or the console (any file of the tenant's tickets); the
-- download is audited.
CREATE OR REPLACE FUNCTION portal.app_attachment(p_app text, p_host text, p_base text,
    p_user uuid, p_ip inet, p_number text, p_id text,
    OUT filename text, OUT content_type text, OUT data bytea)
LANGUAGE plpgsql AS $$
DECLARE
    t  helpdesk.tenants := portal.portal_site(p_host, p_base);
    u  helpdesk.users;
    tk helpdesk.tickets;
    a  helpdesk.attachments;
BEGIN
    IF t.tenant_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'unknown-site', 'there is no support portal at this address');
    END IF;

    PERFORM set_config('helpdesk.tenant_id', t.tenant_id::text, true);
    PERFORM tickets.read_only_audit();

    SELECT * INTO u FROM helpdesk.users x
    WHERE x.tenant_id = t.tenant_id AND x.user_id = p_user AND x.status = 'active'
      AND x.role = ANY (portal.app_roles(jsonb_build_object('app', p_app)));

    IF u.user_id IS NULL THEN
        PERFORM tickets.fail('HDUNA', 'login-required', 'log in to continue');
    END IF;

    IF p_app = 'console' AND console.console_totp_missing(t, u) THEN
        PERFORM tickets.fail('HDDEN', 'totp-enrollment-required',
            'this helpdesk requires a second factor: set it up first');
    END IF;

    tk := CASE WHEN p_app = 'portal' THEN portal.portal_ticket_find(u, p_number, false)
               ELSE tickets.ticket_find(p_number, false) END;

    IF tickets.is_uuid(p_id) THEN
        SELECT x.* INTO a FROM helpdesk.attachments x
        JOIN helpdesk.ticket_events e ON e.tenant_id = x.tenant_id AND e.event_id = x.event_id
        WHERE x.tenant_id = t.tenant_id AND x.ticket_id = tk.ticket_id
          AND x.attachment_id = p_id::uuid
          AND (p_app <> 'portal' OR e.visibility = 'public');
    END IF;

    IF a.attachment_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such attachment');
    END IF;

    PERFORM tickets.audit(jsonb_build_object('tenant_id', t.tenant_id, 'actor_type', 'user',
                                              'actor_id', u.user_id, 'ip', p_ip),
                           'attachment.read', 'attachment', a.attachment_id::text,
                           jsonb_build_object('ticket_id', tk.ticket_id));

    filename := a.filename;
    content_type := a.content_type;
    data := a.data;
END
$$;
CREATE OR REPLACE FUNCTION portal.portal_attachment(p_host text, p_base text, p_user uuid,
    p_ip inet, p_number text, p_id text,
    OUT filename text, OUT content_type text, OUT data bytea)
LANGUAGE sql AS $$
    SELECT * FROM portal.app_attachment('portal', p_host, p_base, p_user, p_ip, p_number, p_id)
$$;

-- The tenant's logo or favicon, by Host (no login: it is on every page).
CREATE OR REPLACE FUNCTION portal.portal_asset(p_host text, p_base text, p_name text,
    OUT content_type text, OUT sha256 text, OUT data bytea)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t helpdesk.tenants := portal.portal_site(p_host, p_base);
BEGIN
    IF t.tenant_id IS NULL THEN
        RETURN;
    END IF;

    PERFORM set_config('helpdesk.tenant_id', t.tenant_id::text, true);

    SELECT a.content_type, a.sha256, a.data INTO content_type, sha256, data
    FROM helpdesk.portal_assets a
    WHERE a.tenant_id = t.tenant_id AND a.name = p_name;
END
$$;

RESET ROLE;
