-- nginx-helpdesk: what the chat's transports ask before a connection is
-- handed to the conversations layer (schema chat).
--
--   widget_public(slug, link)  a visitor's handshake: the tenant, its public
--                              widget settings, where pages may open a chat
--                              from (the tenant's own portal among them),
--                              the largest message it takes
--   chat_agent(host, base, user)  an agent's handshake: the console's
--                              session user, if an active agent or admin of
--                              the Host's tenant with nothing left to set up

SET ROLE helpdesk_owner;

-- The origins of a tenant's portal as browsers send them: its name under
-- the base domain and its verified custom domains, with the scheme and
-- port this server hands out in links.
CREATE OR REPLACE FUNCTION chat.portal_origins(t helpdesk.tenants, link jsonb)
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    base   text := rtrim(lower(coalesce(link->>'base', '')), '.');
    port   text := coalesce(link->>'port', '');
    scheme text := CASE WHEN link->>'scheme' = 'http' THEN 'http' ELSE 'https' END;
    suffix text;
    r      text[] := '{}';
BEGIN
    IF link IS NULL OR jsonb_typeof(link) <> 'object' THEN
        RETURN r;
    END IF;

    suffix := CASE WHEN port ~ '^[1-9][0-9]{0,4}$' THEN ':' || port ELSE '' END;

    IF base <> '' THEN
        r := r || (scheme || '://' || t.slug || '.' || base || suffix);
    END IF;

    IF coalesce(link->>'domains', 'true') <> 'false' THEN
        r := r || coalesce((SELECT array_agg(scheme || '://' || d.hostname || suffix
                                             ORDER BY d.hostname)
                            FROM helpdesk.portal_domains d
                            WHERE d.tenant_id = t.tenant_id
                              AND tls.serving(d.status)), '{}');
    END IF;

    RETURN r;
END
$$;

-- A tenant that never saved its widget gets the table's defaults
-- (chat.widget_or_default): enabled, but with no allowed origin, so that every page
-- is refused until the tenant names its own.  SECURITY DEFINER: a visitor
-- names a tenant by its slug, which is looked up across tenants (as
-- portal.portal_site() does for a Host); the widget is then read under
-- that tenant's row-level security.  The tenant's own portal may always
-- open its chat: p_link says how this server links to portals (scheme,
-- base, port: portal.tenant_origin()), and its origins -- "<slug>.<base>"
-- and each verified custom domain -- are added to those the admin named.
DROP FUNCTION IF EXISTS chat.widget_public(text);
CREATE OR REPLACE FUNCTION chat.widget_public(p_slug text, p_link jsonb,
    OUT tenant_id uuid, OUT slug text, OUT settings jsonb,
    OUT allowed_origins text[], OUT max_message_bytes integer,
    OUT enabled boolean)
RETURNS SETOF record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    t helpdesk.tenants;
    w helpdesk.chat_widgets;
BEGIN
    SELECT * INTO t FROM helpdesk.tenants x
    WHERE x.slug = lower(coalesce(p_slug, '')) AND x.status = 'active';

    IF t.tenant_id IS NULL THEN
        RETURN;
    END IF;

    PERFORM set_config('helpdesk.tenant_id', t.tenant_id::text, true);

    w := chat.widget_or_default(t.tenant_id);

    tenant_id := t.tenant_id;
    slug := t.slug;
    enabled := w.enabled;
    allowed_origins := w.allowed_origins || chat.portal_origins(t, p_link);
    max_message_bytes := w.max_message_bytes;
    settings := jsonb_build_object(
        'title', w.title,
        'colour', w.colour,
        'position', w.position,
        'greeting', w.greeting,
        'icon', w.icon,
        'prechat', w.prechat_fields,
        'offline_form', w.offline_form,
        'max_message', max_message_bytes);
    RETURN NEXT;
END
$$;

-- The console's session user for the chat: 404 for a name that is no
-- helpdesk, 403 for anyone but an active agent or admin (or one who must
-- set up a second factor first).
CREATE OR REPLACE FUNCTION chat.chat_agent(p_host text, p_base text, p_user uuid,
    OUT tenant_id uuid, OUT slug text, OUT user_id uuid, OUT name text,
    OUT role text)
LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    s := portal.app_session('console', ARRAY['agent', 'admin'], p_host, p_base,
                            p_user, NULL);

    IF (s.u).user_id IS NULL THEN
        PERFORM tickets.fail('HDDEN', 'forbidden', 'only agents and admins chat');
    END IF;

    IF console.console_totp_missing(s.t, s.u) THEN
        PERFORM tickets.fail('HDDEN', 'totp-enrollment-required',
            'this helpdesk requires a second factor: set it up first');
    END IF;

    tenant_id := (s.t).tenant_id;
    slug := (s.t).slug;
    user_id := (s.u).user_id;
    name := coalesce((s.u).name, (s.u).email);
    role := (s.u).role;
END
$$;

RESET ROLE;
