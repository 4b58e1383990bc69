-- nginx-helpdesk: the REST API's dispatchers (called through api.api_call
-- and api.provider_call).
--
-- api_call() is the whole of a tenant API request in one statement: it
-- authenticates the key (by its SHA-256; keys themselves are never
-- stored), checks the scope, sets the tenant for row-level security and
-- runs the operation.  provider_call() serves the hosting provider, whose
-- key the module checks before calling; its functions look across tenants
-- and therefore run as the owner (SECURITY DEFINER) with a fixed
-- search_path.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION rest.api_key_auth(p_key_hash bytea,
    OUT tenant_id uuid, OUT key_id uuid, OUT name text, OUT scopes text[],
    OUT tenant_status text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT k.tenant_id, k.key_id, k.name, k.scopes, t.status
    INTO tenant_id, key_id, name, scopes, tenant_status
    FROM helpdesk.api_keys k JOIN helpdesk.tenants t USING (tenant_id)
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;

    IF key_id IS NOT NULL THEN
        -- at most one write a minute per key, not one per request
        UPDATE helpdesk.api_keys k SET last_used_at = now()
        WHERE k.tenant_id = api_key_auth.tenant_id
          AND k.key_id = api_key_auth.key_id
          AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute');
    END IF;
END
$$;

-- Who is asking, for every tenant API call: checks the key, its scope and
-- the tenant, sets the tenant for row-level security, and returns the
-- actor context the ticket service takes.
CREATE OR REPLACE FUNCTION rest.api_auth(p_key_hash bytea, p_scope text,
    p_ip inet)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    k record;
BEGIN
    -- an agent console's session, checked by the module (see
    -- ngx_http_helpdesk_api_session.c): "session:<host>\n<base>\n<user>"
    IF length(p_key_hash) > 32 AND substring(p_key_hash for 8) = '\x73657373696f6e3a'::bytea THEN
        RETURN rest.api_session_auth(
            string_to_array(convert_from(substring(p_key_hash from 9), 'UTF8'), E'\n'),
            p_scope, p_ip);
    END IF;

    SELECT * INTO k FROM rest.api_key_auth(p_key_hash);

    IF k.key_id IS NULL THEN
        PERFORM tickets.fail('HDUNA', 'unauthorized',
                              'the API key is not valid');
    END IF;

    IF k.tenant_status <> 'active' THEN
        PERFORM tickets.fail('HDDEN', 'tenant-disabled',
                              'this helpdesk is disabled');
    END IF;

    IF p_scope IS NOT NULL AND NOT (p_scope = ANY (k.scopes)) THEN
        PERFORM tickets.fail('HDDEN', 'insufficient-scope',
            format('the API key lacks the "%s" scope', p_scope));
    END IF;

    PERFORM set_config('helpdesk.tenant_id', k.tenant_id::text, true);

    RETURN jsonb_build_object('tenant_id', k.tenant_id,
                              'actor_type', 'api_key', 'actor_id', k.key_id,
                              'actor_name', k.name, 'channel', 'api',
                              'ip', p_ip);
END
$$;

-- An agent or admin of the Host's tenant, as the API's caller: admins may
-- do everything a key may, agents what concerns tickets.
CREATE OR REPLACE FUNCTION rest.api_session_auth(parts text[], p_scope text, p_ip inet)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tenants := portal.portal_site(parts[1], parts[2]);
    u helpdesk.users;
BEGIN
    IF t.tenant_id IS NULL OR array_length(parts, 1) <> 3 OR NOT tickets.is_uuid(parts[3]) THEN
        PERFORM tickets.fail('HDUNA', 'unauthorized', 'log in to the console again');
    END IF;

    PERFORM set_config('helpdesk.tenant_id', t.tenant_id::text, true);

    SELECT * INTO u FROM helpdesk.users x
    WHERE x.tenant_id = t.tenant_id AND x.user_id = parts[3]::uuid
      AND x.status = 'active' AND x.role IN ('agent', 'admin');

    IF u.user_id IS NULL THEN
        PERFORM tickets.fail('HDUNA', 'unauthorized', 'log in to the console again');
    END IF;

    -- the tenant's second-factor rule holds here as in the console
    IF console.console_totp_missing(t, u) THEN
        PERFORM tickets.fail('HDDEN', 'totp-enrollment-required',
            'this helpdesk requires a second factor: set it up in the console first');
    END IF;

    IF p_scope IS NOT NULL AND u.role <> 'admin' AND p_scope NOT IN ('tickets:read', 'tickets:write') THEN
        PERFORM tickets.fail('HDDEN', 'insufficient-scope',
            format('only admins may do this ("%s")', p_scope));
    END IF;

    RETURN jsonb_build_object('tenant_id', t.tenant_id,
                              'actor_type', 'user', 'actor_id', u.user_id,
                              'actor_name', coalesce(u.name, u.email),
                              'actor_role', u.role, 'channel', 'console',
                              -- tickets agents open are their customers' calls
                              'ticket_channel', 'phone',
                              'ip', p_ip);
END
$$;

-- the result lost its HTTP status (the module's to decide)
DROP FUNCTION IF EXISTS rest.api_call(bytea, text, inet, text, jsonb);
CREATE OR REPLACE FUNCTION rest.api_call(p_key_hash bytea, p_scope text,
    p_ip inet, p_op text, p_args jsonb,
    OUT body jsonb, OUT location text)
LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb;
    r   jsonb;
BEGIN
    ctx := rest.api_auth(p_key_hash, p_scope, p_ip);

    r := CASE p_op
        WHEN 'ticket.create'  THEN tickets.ticket_create(ctx, p_args)
        WHEN 'ticket.get'     THEN tickets.ticket_get(ctx, p_args)
        WHEN 'ticket.list'    THEN tickets.ticket_list(ctx, p_args)
        WHEN 'ticket.update'  THEN tickets.ticket_update(ctx, p_args)
        WHEN 'ticket.comment' THEN tickets.ticket_comment(ctx, p_args)
        WHEN 'ticket.events'  THEN tickets.ticket_events(ctx, p_args)
        WHEN 'user.create'    THEN tickets.user_create(ctx, p_args)
        WHEN 'user.list'      THEN tickets.user_list(ctx, p_args)
        WHEN 'group.list'     THEN tickets.group_list(ctx, p_args)
        WHEN 'group.get'      THEN tickets.group_get(ctx, p_args)
        WHEN 'group.create'   THEN tickets.group_create(ctx, p_args)
        WHEN 'group.update'   THEN tickets.group_update(ctx, p_args)
        WHEN 'group.delete'   THEN tickets.group_delete(ctx, p_args)
        WHEN 'group.members'  THEN tickets.group_members(ctx, p_args)
        WHEN 'group.member.add'    THEN tickets.group_member_add(ctx, p_args)
        WHEN 'group.member.remove' THEN tickets.group_member_remove(ctx, p_args)
        WHEN 'webhook.create' THEN outbox.webhook_create(ctx, p_args)
        WHEN 'webhook.list'   THEN outbox.webhook_list(ctx, p_args)
        WHEN 'webhook.get'    THEN outbox.webhook_get(ctx, p_args)
        WHEN 'webhook.update' THEN outbox.webhook_update(ctx, p_args)
        WHEN 'webhook.delete' THEN outbox.webhook_delete(ctx, p_args)
        WHEN 'webhook.ping'   THEN outbox.webhook_ping(ctx, p_args)
        WHEN 'webhook.deliveries' THEN outbox.webhook_deliveries(ctx, p_args)
        WHEN 'whatsapp.create' THEN whatsapp.whatsapp_connection_create(ctx, p_args)
        WHEN 'whatsapp.list'   THEN whatsapp.whatsapp_connection_list(ctx, p_args)
        WHEN 'whatsapp.get'    THEN whatsapp.whatsapp_connection_get(ctx, p_args)
        WHEN 'whatsapp.update' THEN whatsapp.whatsapp_connection_update(ctx, p_args)
        WHEN 'whatsapp.delete' THEN whatsapp.whatsapp_connection_delete(ctx, p_args)
        WHEN 'whatsapp.templates.get' THEN whatsapp.whatsapp_templates_get(ctx, p_args)
        WHEN 'whatsapp.templates.put' THEN whatsapp.whatsapp_templates_put(ctx, p_args)
        WHEN 'ticket.whatsapp_template' THEN whatsapp.whatsapp_send_template(ctx, p_args)
        WHEN 'business_hours.get' THEN tickets.business_hours_get(ctx, p_args)
        WHEN 'business_hours.put' THEN tickets.business_hours_put(ctx, p_args)
        WHEN 'portal.get'      THEN portal.portal_get(ctx, p_args)
        WHEN 'portal.put'      THEN portal.portal_put(ctx, p_args)
        WHEN 'portal.form.put' THEN portal.portal_form_put(ctx, p_args)
        WHEN 'portal.asset.put'    THEN portal.portal_asset_put(ctx, p_args)
        WHEN 'portal.asset.delete' THEN portal.portal_asset_delete(ctx, p_args)
        WHEN 'domain.list'     THEN tls.domain_list(ctx, p_args)
        WHEN 'domain.get'      THEN tls.domain_get(ctx, p_args)
        WHEN 'domain.create'   THEN tls.domain_create(ctx, p_args)
        WHEN 'domain.delete'   THEN tls.domain_delete(ctx, p_args)
        WHEN 'domain.check'    THEN tls.domain_check(ctx, p_args)
        WHEN 'kb.category.list'   THEN portal.kb_category_list(ctx, p_args)
        WHEN 'kb.category.create' THEN portal.kb_category_save(ctx, p_args - 'id')
        WHEN 'kb.category.update' THEN portal.kb_category_save(ctx, p_args)
        WHEN 'kb.category.delete' THEN portal.kb_category_delete(ctx, p_args)
        WHEN 'kb.article.list'    THEN portal.kb_article_list(ctx, p_args)
        WHEN 'kb.article.get'     THEN portal.kb_article_get(ctx, p_args)
        WHEN 'kb.article.create'  THEN portal.kb_article_save(ctx, p_args - 'id')
        WHEN 'kb.article.update'  THEN portal.kb_article_save(ctx, p_args)
        WHEN 'kb.article.delete'  THEN portal.kb_article_delete(ctx, p_args)
        WHEN 'user.invite'     THEN console.user_invite(ctx, p_args)
        WHEN 'console.settings' THEN console.console_settings(ctx, p_args)
        WHEN 'email.settings.get'  THEN email.settings_get(ctx, p_args)
        WHEN 'email.settings.put'  THEN email.settings_put(ctx, p_args)
        WHEN 'email.sender.send'   THEN email.sender_send(ctx, p_args)
        WHEN 'email.sender.verify' THEN email.sender_verify(ctx, p_args)
        WHEN 'email.template.get'  THEN email.template_get(ctx, p_args)
        WHEN 'email.template.put'  THEN email.template_put(ctx, p_args)
        WHEN 'email.template.delete'  THEN email.template_delete(ctx, p_args)
        WHEN 'email.template.preview' THEN email.template_preview(ctx, p_args)
    END;

    IF r IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'unknown operation');
    END IF;

    body := nullif(r->'body', 'null'::jsonb);
    location := r->>'location';
END
$$;

-- provider API

CREATE OR REPLACE FUNCTION rest.tenant_json(t helpdesk.tenants)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', t.tenant_id, 'slug', t.slug,
                              'name', t.name, 'status', t.status,
                              'created_at', t.created_at,
                              'updated_at', t.updated_at)
$$;

CREATE OR REPLACE FUNCTION rest.key_json(k helpdesk.api_keys)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', k.key_id, 'name', k.name,
                              'prefix', k.prefix, 'scopes', to_jsonb(k.scopes),
                              'created_at', k.created_at,
                              'last_used_at', k.last_used_at,
                              'revoked_at', k.revoked_at)
$$;

CREATE OR REPLACE FUNCTION rest.provider_tenant(p_ref text, for_update boolean)
RETURNS helpdesk.tenants
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    t helpdesk.tenants;
BEGIN
    -- a tenant is named by its id or by its slug
    IF tickets.is_uuid(p_ref) THEN
        IF for_update THEN
            SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = p_ref::uuid FOR UPDATE;
        ELSE
            SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = p_ref::uuid;
        END IF;
    ELSIF for_update THEN
        SELECT * INTO t FROM helpdesk.tenants WHERE slug = p_ref FOR UPDATE;
    ELSE
        SELECT * INTO t FROM helpdesk.tenants WHERE slug = p_ref;
    END IF;

    IF t.tenant_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
                              format('there is no tenant %s', p_ref));
    END IF;

    RETURN t;
END
$$;

-- the result lost its HTTP status (the module's to decide)
DROP FUNCTION IF EXISTS rest.provider_call(text, inet, jsonb);
CREATE OR REPLACE FUNCTION rest.provider_admin(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    u      helpdesk.users;
    v_email text := portal.norm_email(args->>'email');
    link   jsonb := coalesce(args->'link', '{}') || jsonb_build_object('path',
                        rtrim(coalesce(substring(args->>'url'
                            FROM '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(/[^?#]*)'), ''), '/'));
    token  text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    r      helpdesk.password_resets;
BEGIN
    IF portal.tenant_origin(t, link) IS NULL THEN
        PERFORM tickets.fail('HDCNF', 'no-link',
            'this helpdesk has no address its links could point to: verify a domain or configure helpdesk_base_domain');
    END IF;

    INSERT INTO helpdesk.users (tenant_id, email, name, role)
    VALUES (t.tenant_id, v_email, nullif(btrim(args->>'name'), ''), 'admin')
    ON CONFLICT (tenant_id, email) DO NOTHING
    RETURNING * INTO u;

    IF u.user_id IS NULL THEN
        SELECT * INTO u FROM helpdesk.users x
        WHERE x.tenant_id = t.tenant_id AND x.email = v_email;

        IF u.role <> 'admin' OR u.status <> 'active' THEN
            PERFORM tickets.fail('HDCNF', 'conflict',
                'there is already a user with this email who is not an active admin',
                jsonb_build_array(jsonb_build_object('field', 'email',
                    'message', 'belongs to a user who is not an active admin')));
        END IF;
    ELSE
        PERFORM tickets.audit(ctx, 'agent.create', 'user', u.user_id::text,
                               jsonb_build_object('role', 'admin'));
    END IF;

    INSERT INTO helpdesk.password_resets (tenant_id, token_hash, user_id, expires_at,
                                          purpose, email)
    VALUES (t.tenant_id, sha256(convert_to(token, 'UTF8')), u.user_id,
            now() + interval '7 days', 'invite', u.email)
    RETURNING * INTO r;

    PERFORM tickets.audit(ctx, 'agent.invite', 'user', u.user_id::text,
                           jsonb_build_object('link', 'in the answer'));

    RETURN jsonb_build_object(
        'user', jsonb_build_object('id', u.user_id, 'email', u.email, 'name', u.name,
                                   'role', u.role),
        'link', portal.app_link(t, link, '/reset/' || token),
        'language', coalesce(args->>'language', 'pt-BR'),
        'expires_at', r.expires_at);
END
$$;

CREATE OR REPLACE FUNCTION rest.provider_call(p_op text, p_ip inet, p_args jsonb,
    OUT body jsonb, OUT location text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
DECLARE
    t   helpdesk.tenants;
    k   helpdesk.api_keys;
    ctx jsonb;
BEGIN
    ctx := jsonb_build_object('actor_type', 'provider', 'ip', p_ip);

    CASE p_op

    WHEN 'tenant.create' THEN
        INSERT INTO helpdesk.tenants (slug, name, settings)
        VALUES (p_args->>'slug', p_args->>'name', coalesce(p_args->'settings', '{}'))
        ON CONFLICT (slug) DO NOTHING
        RETURNING * INTO t;

        IF t.tenant_id IS NULL THEN
            PERFORM tickets.fail('HDCNF', 'conflict',
                format('the slug "%s" is already in use', p_args->>'slug'),
                jsonb_build_array(jsonb_build_object('field', 'slug',
                    'message', 'is already in use')));
        END IF;

        PERFORM tickets.audit(ctx || jsonb_build_object('tenant_id', t.tenant_id),
                               'tenant.create', 'tenant', t.tenant_id::text);
        body := rest.tenant_json(t);
        location := '/v1/provider/tenants/' || t.tenant_id;

    WHEN 'secrets.status' THEN
        -- what the rotation has left to re-encrypt (the module names its key)
        body := outbox.secrets_status(p_args->>'key_id');

    -- reads are audited like every read, in the tenant read: a list
    -- leaves one row in each tenant's log
    WHEN 'tenant.list' THEN
        PERFORM tickets.read_only_audit();
        SELECT coalesce(jsonb_agg(rest.tenant_json(x) ORDER BY x.created_at, x.slug), '[]')
        INTO body FROM helpdesk.tenants x;
        INSERT INTO helpdesk.audit_log (tenant_id, actor_type, action, object_type,
                                        object_id, ip)
        SELECT (x->>'id')::uuid, 'provider', 'tenant.list', 'tenant', x->>'id', p_ip
        FROM jsonb_array_elements(body) x;
        body := jsonb_build_object('data', body);

    WHEN 'tenant.get' THEN
        t := rest.provider_tenant(p_args->>'id', false);
        PERFORM tickets.audit_read(ctx || jsonb_build_object('tenant_id', t.tenant_id),
                                    'tenant.read', 'tenant', t.tenant_id::text);
        body := rest.tenant_json(t);

    WHEN 'tenant.update' THEN
        t := rest.provider_tenant(p_args->>'id', true);

        UPDATE helpdesk.tenants x SET
            name = coalesce(p_args->>'name', x.name),
            status = coalesce(p_args->>'status', x.status),
            updated_at = now()
        WHERE x.tenant_id = t.tenant_id
        RETURNING x.* INTO t;

        PERFORM tickets.audit(ctx || jsonb_build_object('tenant_id', t.tenant_id),
                               'tenant.update', 'tenant', t.tenant_id::text,
                               p_args - 'id');
        body := rest.tenant_json(t);

    WHEN 'key.create' THEN
        t := rest.provider_tenant(p_args->>'tenant_id', false);

        INSERT INTO helpdesk.api_keys (tenant_id, name, prefix, key_hash, scopes)
        VALUES (t.tenant_id, p_args->>'name', p_args->>'prefix',
                decode(p_args->>'key_hash', 'hex'),
                ARRAY(SELECT jsonb_array_elements_text(p_args->'scopes')))
        RETURNING * INTO k;

        PERFORM tickets.audit(ctx || jsonb_build_object('tenant_id', t.tenant_id),
                               'api_key.create', 'api_key', k.key_id::text,
                               jsonb_build_object('scopes', p_args->'scopes'));
        body := rest.key_json(k);
        location := '/v1/provider/tenants/' || t.tenant_id || '/api-keys/' || k.key_id;

    -- a tenant's admin, with a one-time link to the console to choose a
    -- password, in the answer and in no mail (a provider's billing system
    -- bringing in the first admin of a tenant it sold); an admin already
    -- there gets a new link
    WHEN 'admin.create' THEN
        t := rest.provider_tenant(p_args->>'tenant_id', false);
        body := rest.provider_admin(ctx || jsonb_build_object('tenant_id', t.tenant_id), t, p_args);

    WHEN 'key.list' THEN
        t := rest.provider_tenant(p_args->>'tenant_id', false);
        SELECT coalesce(jsonb_agg(rest.key_json(x) ORDER BY x.created_at), '[]')
        INTO body FROM helpdesk.api_keys x WHERE x.tenant_id = t.tenant_id;
        PERFORM tickets.audit_read(ctx || jsonb_build_object('tenant_id', t.tenant_id),
                                    'api_key.list', 'api_key', NULL,
                                    jsonb_build_object('count', jsonb_array_length(body)));
        body := jsonb_build_object('data', body);

    WHEN 'key.delete' THEN
        t := rest.provider_tenant(p_args->>'tenant_id', false);

        IF tickets.is_uuid(p_args->>'key_id') THEN
            UPDATE helpdesk.api_keys SET revoked_at = coalesce(revoked_at, now())
            WHERE tenant_id = t.tenant_id AND key_id = (p_args->>'key_id')::uuid
            RETURNING * INTO k;
        END IF;

        IF k.key_id IS NULL THEN
            PERFORM tickets.fail('HDNFD', 'not-found',
                format('there is no API key %s', p_args->>'key_id'));
        END IF;

        PERFORM tickets.audit(ctx || jsonb_build_object('tenant_id', t.tenant_id),
                               'api_key.revoke', 'api_key', k.key_id::text);

    -- a portal name the provider has checked itself (serves at once), or
    -- with "verified": false one the tenant's DNS must prove; the same
    -- answers as the tenant's own routes (tls.domain_*)
    WHEN 'domain.create', 'domain.list', 'domain.get', 'domain.delete' THEN
        t := rest.provider_tenant(p_args->>'tenant_id', false);
        PERFORM set_config('helpdesk.tenant_id', t.tenant_id::text, true);
        SELECT r.body, r.location INTO body, location
        FROM jsonb_to_record(CASE p_op
                 WHEN 'domain.create' THEN tls.domain_create(ctx || jsonb_build_object('tenant_id', t.tenant_id), p_args)
                 WHEN 'domain.list' THEN tls.domain_list(ctx || jsonb_build_object('tenant_id', t.tenant_id), p_args)
                 WHEN 'domain.get' THEN tls.domain_get(ctx || jsonb_build_object('tenant_id', t.tenant_id), p_args)
                 ELSE tls.domain_delete(ctx || jsonb_build_object('tenant_id', t.tenant_id), p_args) END)
             AS r(body jsonb, location text);
        location := CASE WHEN location IS NOT NULL
                         THEN '/v1/provider/tenants/' || t.tenant_id || '/domains/' || (body->>'hostname') END;

    -- a certificate the provider brings for a tenant's name (checked, its
    -- key sealed by the module)
    WHEN 'domain.certificate' THEN
        t := rest.provider_tenant(p_args->>'tenant_id', false);
        body := tls.cert_import(ctx, t, p_args);

    -- the serving of certificates: this node's table and sync, the names
    -- still without a certificate, the ones expiring soon
    WHEN 'tls.status' THEN
        PERFORM tickets.read_only_audit();
        body := tls.status(p_args);
        -- the names it shows are tenants' data: one row in each of them
        INSERT INTO helpdesk.audit_log (tenant_id, actor_type, action, object_type,
                                        object_id, ip, detail)
        SELECT x.tenant_id, 'provider', 'tls.status', 'domain', NULL, p_ip,
               jsonb_build_object('hostnames', jsonb_agg(DISTINCT x.hostname))
        FROM (SELECT (e->>'tenant_id')::uuid AS tenant_id, e->>'hostname' AS hostname
              FROM jsonb_array_elements((body->'missing') || (body->'expiring')) e) x
        GROUP BY x.tenant_id;

    ELSE
        PERFORM tickets.fail('HDNFD', 'not-found', 'unknown operation');
    END CASE;
END
$$;

RESET ROLE;

-- The module's proof, for the entry points that look across tenants
-- (the provider's calls, the outbox runner's): the SHA-256 of the hosting
-- provider's key, which the module holds (helpdesk_provider_key_file) and
-- the database knows from its installation (helpdesk_meta.module_keys).
-- The app role's password alone, without the key, reaches none of them.
SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION rest.module_proof(p_proof bytea) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    expected bytea;
BEGIN
    SELECT k.key_hash INTO expected FROM helpdesk_meta.module_keys k
    WHERE k.name = 'provider';

    IF expected IS NULL THEN
        PERFORM tickets.fail('HDUNA', 'unauthorized',
            'the provider key is not installed in the database '
            '(stack.sh provider-key, see docs/operations.md)');
    END IF;

    -- what is stored is the digest of the proof: a copy of the table is
    -- no proof (migration 024)
    IF p_proof IS NULL OR sha256(p_proof) <> expected THEN
        PERFORM tickets.fail('HDUNA', 'unauthorized',
                              'the provider key is not valid');
    END IF;
END
$$;

RESET ROLE;
