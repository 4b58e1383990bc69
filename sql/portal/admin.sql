-- nginx-helpdesk: what a tenant sets up for its portal, through the API
-- (scope "admin"): appearance and rules, the ticket form, logo and
-- favicon, and the knowledge base.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION portal.err(field text, code text, message text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_array(jsonb_build_object('field', field, 'code', code, 'message', message))
$$;

-- text in one language for all, or one per language
CREATE OR REPLACE FUNCTION portal.portal_text_ok(v jsonb, max int) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT v IS NULL OR v = 'null'
        OR (jsonb_typeof(v) = 'string' AND length(v #>> '{}') <= max)
        OR (jsonb_typeof(v) = 'object' AND NOT EXISTS (
                SELECT 1 FROM jsonb_each(v) e
                WHERE e.key NOT IN ('pt-BR', 'es', 'en') OR jsonb_typeof(e.value) <> 'string'
                   OR length(e.value #>> '{}') > max))
$$;

CREATE OR REPLACE FUNCTION portal.portal_admin_json(t helpdesk.tenants) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT portal.portal_settings(t) || jsonb_build_object(
        'form', portal.portal_form(t),
        'logo', EXISTS (SELECT 1 FROM helpdesk.portal_assets a
                        WHERE a.tenant_id = t.tenant_id AND a.name = 'logo'),
        'favicon', EXISTS (SELECT 1 FROM helpdesk.portal_assets a
                           WHERE a.tenant_id = t.tenant_id AND a.name = 'favicon'))
$$;

CREATE OR REPLACE FUNCTION portal.portal_admin_tenant(ctx jsonb) RETURNS helpdesk.tenants
LANGUAGE sql STABLE AS $$
    SELECT * FROM helpdesk.tenants WHERE tenant_id = (ctx->>'tenant_id')::uuid
$$;

-- the admin reads of the portal and the knowledge base (drafts included)
-- are audited like every read
CREATE OR REPLACE FUNCTION portal.portal_get(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickets.audit_read(ctx, 'portal.read', 'tenant', ctx->>'tenant_id');
    RETURN jsonb_build_object('body',
                              portal.portal_admin_json(portal.portal_admin_tenant(ctx)));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_put(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t    helpdesk.tenants;
    errs jsonb := '[]';
    b    jsonb := coalesce(args->'branding', '{}');
    k    text;
BEGIN
    FOREACH k IN ARRAY ARRAY['allow_signup', 'require_login'] LOOP
        IF args ? k AND jsonb_typeof(args->k) <> 'boolean' THEN
            errs := errs || portal.err(k, 'type', 'expected true or false');
        END IF;
    END LOOP;

    IF args ? 'default_language' AND args->>'default_language' NOT IN ('pt-BR', 'es', 'en') THEN
        errs := errs || portal.err('default_language', 'invalid', 'one of pt-BR, es, en');
    END IF;

    IF jsonb_typeof(b) <> 'object' THEN
        errs := errs || portal.err('branding', 'type', 'expected an object');
        b := '{}';
    END IF;

    FOREACH k IN ARRAY ARRAY['primary_color', 'secondary_color'] LOOP
        IF b ? k AND coalesce(b->>k, '') !~ '^#[0-9a-fA-F]{6}$' THEN
            errs := errs || portal.err('branding.' || k, 'invalid', 'a colour like #1f5fbf');
        END IF;
    END LOOP;

    IF NOT portal.portal_text_ok(b->'welcome_title', 200) THEN
        errs := errs || portal.err('branding.welcome_title', 'invalid',
                                     'text (200 characters at most), or one per language');
    END IF;

    IF NOT portal.portal_text_ok(b->'welcome_text', 2000) THEN
        errs := errs || portal.err('branding.welcome_text', 'invalid',
                                     'text (2000 characters at most), or one per language');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    UPDATE helpdesk.tenants x SET settings = jsonb_set(x.settings, '{portal}',
        coalesce(x.settings->'portal', '{}')
        || jsonb_strip_nulls(jsonb_build_object(
               'allow_signup', args->'allow_signup', 'require_login', args->'require_login',
               'default_language', args->'default_language'))
        || CASE WHEN args ? 'branding' THEN jsonb_build_object('branding',
               coalesce(x.settings->'portal'->'branding', '{}') || b) ELSE '{}' END),
        updated_at = now()
    WHERE x.tenant_id = (ctx->>'tenant_id')::uuid
    RETURNING * INTO t;

    PERFORM tickets.audit(ctx, 'portal.update', 'tenant', t.tenant_id::text, args);

    RETURN jsonb_build_object('body', portal.portal_admin_json(t));
END
$$;

-- The ticket form: labels, options, order, what is required.
CREATE OR REPLACE FUNCTION portal.portal_form_put(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t      helpdesk.tenants;
    f      jsonb;
    i      int := 0;
    errs   jsonb := '[]';
    names  text[] := '{}';
    out    jsonb := '[]';
    core   boolean;
    p      text;
BEGIN
    IF jsonb_typeof(args->'fields') IS DISTINCT FROM 'array'
       OR jsonb_array_length(args->'fields') NOT BETWEEN 1 AND 40 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'fields: a list of 1 to 40 fields',
            portal.err('fields', 'type', 'a list of 1 to 40 fields'));
    END IF;

    FOR f IN SELECT * FROM jsonb_array_elements(args->'fields') LOOP
        p := 'fields[' || i || ']';
        i := i + 1;

        IF jsonb_typeof(f) <> 'object' THEN
            errs := errs || portal.err(p, 'type', 'expected an object');
            CONTINUE;
        END IF;

        core := f->>'name' IN ('subject', 'category', 'priority', 'description', 'attachments');

        IF coalesce(f->>'name', '') !~ '^[a-z][a-z0-9_]{0,39}$' THEN
            errs := errs || portal.err(p || '.name', 'invalid',
                                         'lower-case letters, digits and _, starting with a letter');
        ELSIF f->>'name' = ANY (names) THEN
            errs := errs || portal.err(p || '.name', 'duplicate', 'each name once');
        END IF;

        names := names || (f->>'name');

        IF coalesce(f->>'type', '') NOT IN ('text', 'textarea', 'select', 'attachments', 'tel') THEN
            errs := errs || portal.err(p || '.type', 'invalid',
                                         'one of text, textarea, select, attachments, tel');
        ELSIF (f->>'name' = 'attachments') <> (f->>'type' = 'attachments')
              OR (f->>'name' IN ('category', 'priority') AND f->>'type' <> 'select')
              OR (f->>'name' IN ('subject') AND f->>'type' <> 'text') THEN
            errs := errs || portal.err(p || '.type', 'invalid',
                                         'this field''s type cannot change');
        END IF;

        IF f->'label' IS NULL OR NOT portal.portal_text_ok(f->'label', 200) THEN
            errs := errs || portal.err(p || '.label', 'invalid',
                                         'text, or one per language (pt-BR, es, en)');
        END IF;

        IF f ? 'required' AND jsonb_typeof(f->'required') <> 'boolean' THEN
            errs := errs || portal.err(p || '.required', 'type', 'expected true or false');
        END IF;

        IF f->>'type' = 'select' AND (jsonb_typeof(f->'options') IS DISTINCT FROM 'array'
               OR jsonb_array_length(f->'options') = 0
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(f->'options') o
                          WHERE jsonb_typeof(o) <> 'object' OR coalesce(o->>'value', '') = ''
                             OR length(o->>'value') > 100
                             OR NOT portal.portal_text_ok(o->'label', 200))
               OR (SELECT count(DISTINCT o->>'value') <> count(*)
                   FROM jsonb_array_elements(f->'options') o)
               OR (f->>'name' = 'priority' AND EXISTS (
                       SELECT 1 FROM jsonb_array_elements(f->'options') o
                       WHERE o->>'value' NOT IN ('low', 'normal', 'high', 'urgent'))))
        THEN
            errs := errs || portal.err(p || '.options', 'invalid',
                'a list of {"value", "label"} with different values (priority: low, normal, high, urgent)');
        END IF;

        out := out || jsonb_strip_nulls(jsonb_build_object(
                   'name', f->>'name', 'type', f->>'type', 'label', f->'label',
                   'required', coalesce((f->>'required')::boolean, false)
                               OR f->>'name' = 'subject',
                   'core', CASE WHEN core THEN true END,
                   'options', CASE WHEN f->>'type' = 'select' THEN f->'options' END));
    END LOOP;

    IF NOT 'subject' = ANY (names) THEN
        errs := errs || portal.err('fields', 'required', 'the form needs a "subject" field');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    UPDATE helpdesk.tenants x SET
        settings = jsonb_set(x.settings, '{portal}',
                             coalesce(x.settings->'portal', '{}') || jsonb_build_object('form', out)),
        updated_at = now()
    WHERE x.tenant_id = (ctx->>'tenant_id')::uuid
    RETURNING * INTO t;

    PERFORM tickets.audit(ctx, 'portal.form.update', 'tenant', t.tenant_id::text);

    RETURN jsonb_build_object('body', jsonb_build_object('fields', out));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_asset_put(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    data bytea;
BEGIN
    IF args->>'content_type' NOT IN ('image/png', 'image/jpeg', 'image/gif', 'image/webp',
                                     'image/x-icon', 'image/vnd.microsoft.icon') THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'unsupported image type',
            portal.err('content_type', 'invalid',
                         'PNG, JPEG, GIF, WebP or ICO (SVG is not accepted: it can carry scripts)'));
    END IF;

    BEGIN
        data := decode(args->>'data', 'base64');
    EXCEPTION WHEN OTHERS THEN
        data := NULL;
    END;

    IF data IS NULL OR length(data) = 0 OR length(data) > 512 * 1024 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the image is missing or too large',
            portal.err('data', 'invalid', 'the image in base64, 512 KB at most'));
    END IF;

    INSERT INTO helpdesk.portal_assets (tenant_id, name, content_type, data, sha256)
    VALUES ((ctx->>'tenant_id')::uuid, args->>'name', args->>'content_type', data,
            encode(sha256(data), 'hex'))
    ON CONFLICT (tenant_id, name) DO UPDATE SET content_type = excluded.content_type,
        data = excluded.data, sha256 = excluded.sha256, updated_at = now();

    PERFORM tickets.audit(ctx, 'portal.asset.update', 'tenant', ctx->>'tenant_id',
                           jsonb_build_object('name', args->>'name'));

    RETURN jsonb_build_object('body', jsonb_build_object(
        'name', args->>'name', 'content_type', args->>'content_type', 'size', length(data),
        'sha256', encode(sha256(data), 'hex')));
END
$$;

CREATE OR REPLACE FUNCTION portal.portal_asset_delete(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM helpdesk.portal_assets
    WHERE tenant_id = (ctx->>'tenant_id')::uuid AND name = args->>'name';

    RETURN jsonb_build_object('body', NULL);
END
$$;

-- Custom domains: sql/tls/domains.sql (tls.domain_*) since the names are
-- checked and certified by the module; the functions that were here go.

DROP FUNCTION IF EXISTS portal.domain_json(helpdesk.portal_domains);
DROP FUNCTION IF EXISTS portal.domain_name(text);
DROP FUNCTION IF EXISTS portal.domain_add(uuid, text, boolean);
DROP FUNCTION IF EXISTS portal.domain_list(jsonb, jsonb);
DROP FUNCTION IF EXISTS portal.domain_create(jsonb, jsonb);
DROP FUNCTION IF EXISTS portal.domain_delete(jsonb, jsonb);

-- Knowledge base ------------------------------------------------------------

CREATE OR REPLACE FUNCTION portal.kb_category_json(c helpdesk.kb_categories) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', c.category_id, 'slug', c.slug, 'name', c.name,
                              'description', c.description, 'position', c.position)
$$;

CREATE OR REPLACE FUNCTION portal.kb_article_json(a helpdesk.kb_articles) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', a.article_id, 'slug', a.slug, 'title', a.title,
        'language', a.language, 'visibility', a.visibility, 'body', a.body_md,
        'category', (SELECT c.slug FROM helpdesk.kb_categories c
                     WHERE c.tenant_id = a.tenant_id AND c.category_id = a.category_id),
        'helpful', a.helpful, 'not_helpful', a.not_helpful, 'views', a.views,
        'created_at', a.created_at, 'updated_at', a.updated_at)
$$;

CREATE OR REPLACE FUNCTION portal.kb_category_find(ctx jsonb, ref text) RETURNS helpdesk.kb_categories
LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.kb_categories;
BEGIN
    SELECT * INTO c FROM helpdesk.kb_categories x
    WHERE x.tenant_id = (ctx->>'tenant_id')::uuid
      AND (x.slug = ref OR (tickets.is_uuid(ref) AND x.category_id = ref::uuid));

    IF c.category_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such category');
    END IF;

    RETURN c;
END
$$;

CREATE OR REPLACE FUNCTION portal.kb_article_find(ctx jsonb, ref text) RETURNS helpdesk.kb_articles
LANGUAGE plpgsql AS $$
DECLARE
    a helpdesk.kb_articles;
BEGIN
    SELECT * INTO a FROM helpdesk.kb_articles x
    WHERE x.tenant_id = (ctx->>'tenant_id')::uuid
      AND (x.slug = ref OR (tickets.is_uuid(ref) AND x.article_id = ref::uuid));

    IF a.article_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such article');
    END IF;

    RETURN a;
END
$$;

CREATE OR REPLACE FUNCTION portal.kb_category_save(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c    helpdesk.kb_categories;
    errs jsonb := '[]';
BEGIN
    IF args ? 'id' THEN
        c := portal.kb_category_find(ctx, args->>'id');
    END IF;

    IF (c.category_id IS NULL OR args ? 'slug')
       AND coalesce(args->>'slug', '') !~ '^[a-z0-9]([a-z0-9-]{0,78}[a-z0-9])?$' THEN
        errs := errs || portal.err('slug', 'invalid', 'lower-case letters, digits and -');
    END IF;

    IF (c.category_id IS NULL OR args ? 'name')
       AND length(coalesce(args->>'name', '')) NOT BETWEEN 1 AND 200 THEN
        errs := errs || portal.err('name', 'required', '1 to 200 characters');
    END IF;

    IF args ? 'position' AND jsonb_typeof(args->'position') <> 'number' THEN
        errs := errs || portal.err('position', 'type', 'expected a number');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    IF c.category_id IS NULL THEN
        INSERT INTO helpdesk.kb_categories (tenant_id, slug, name, description, position)
        VALUES ((ctx->>'tenant_id')::uuid, args->>'slug', args->>'name',
                coalesce(args->>'description', ''), coalesce((args->>'position')::int, 0))
        ON CONFLICT (tenant_id, slug) DO NOTHING
        RETURNING * INTO c;

        IF c.category_id IS NULL THEN
            PERFORM tickets.fail('HDCNF', 'conflict', 'this slug is in use',
                                  portal.err('slug', 'taken', 'this slug is in use'));
        END IF;

        PERFORM tickets.audit(ctx, 'kb.category.create', 'kb_category', c.category_id::text);
        RETURN jsonb_build_object('body', portal.kb_category_json(c));
    END IF;

    UPDATE helpdesk.kb_categories x SET
        slug = coalesce(args->>'slug', x.slug), name = coalesce(args->>'name', x.name),
        description = coalesce(args->>'description', x.description),
        position = coalesce((args->>'position')::int, x.position)
    WHERE x.tenant_id = c.tenant_id AND x.category_id = c.category_id
    RETURNING * INTO c;

    PERFORM tickets.audit(ctx, 'kb.category.update', 'kb_category', c.category_id::text);
    RETURN jsonb_build_object('body', portal.kb_category_json(c));
END
$$;

CREATE OR REPLACE FUNCTION portal.kb_category_list(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickets.audit_read(ctx, 'kb.category.list', 'kb_category', NULL);
    RETURN jsonb_build_object('body', jsonb_build_object('data',
        coalesce((SELECT jsonb_agg(portal.kb_category_json(c) ORDER BY c.position, c.name)
                  FROM helpdesk.kb_categories c
                  WHERE c.tenant_id = (ctx->>'tenant_id')::uuid), '[]')));
END
$$;

CREATE OR REPLACE FUNCTION portal.kb_category_delete(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.kb_categories := portal.kb_category_find(ctx, args->>'id');
BEGIN
    UPDATE helpdesk.kb_articles SET category_id = NULL
    WHERE tenant_id = c.tenant_id AND category_id = c.category_id;
    DELETE FROM helpdesk.kb_categories
    WHERE tenant_id = c.tenant_id AND category_id = c.category_id;
    PERFORM tickets.audit(ctx, 'kb.category.delete', 'kb_category', c.category_id::text);
    RETURN jsonb_build_object('body', NULL);
END
$$;

-- body_html is rendered from the Markdown by the module (cmark, raw HTML
-- dropped) and passed along with the body; the module refuses a request
-- that carries HTML of its own, and HTML is stored (and marked as the
-- renderer's) only together with the Markdown it was rendered from.
CREATE OR REPLACE FUNCTION portal.kb_article_save(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a    helpdesk.kb_articles;
    c    helpdesk.kb_categories;
    errs jsonb := '[]';
BEGIN
    IF args ? 'id' THEN
        a := portal.kb_article_find(ctx, args->>'id');
    END IF;

    IF (a.article_id IS NULL OR args ? 'slug')
       AND coalesce(args->>'slug', '') !~ '^[a-z0-9]([a-z0-9-]{0,118}[a-z0-9])?$' THEN
        errs := errs || portal.err('slug', 'invalid', 'lower-case letters, digits and -');
    END IF;

    IF (a.article_id IS NULL OR args ? 'title')
       AND length(coalesce(args->>'title', '')) NOT BETWEEN 1 AND 300 THEN
        errs := errs || portal.err('title', 'required', '1 to 300 characters');
    END IF;

    IF args ? 'language' AND args->>'language' NOT IN ('pt-BR', 'es', 'en') THEN
        errs := errs || portal.err('language', 'invalid', 'one of pt-BR, es, en');
    END IF;

    IF args ? 'visibility' AND args->>'visibility' NOT IN ('public', 'customers', 'draft') THEN
        errs := errs || portal.err('visibility', 'invalid', 'one of public, customers, draft');
    END IF;

    IF length(coalesce(args->>'body', '')) > 200000 THEN
        errs := errs || portal.err('body', 'too_long', '200,000 characters at most');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    IF args ? 'category' AND args->>'category' IS NOT NULL THEN
        c := portal.kb_category_find(ctx, args->>'category');
    END IF;

    IF a.article_id IS NULL THEN
        INSERT INTO helpdesk.kb_articles (tenant_id, category_id, slug, language, title,
                                          body_md, body_html, html_rendered, visibility)
        VALUES ((ctx->>'tenant_id')::uuid, c.category_id, args->>'slug',
                coalesce(args->>'language', 'pt-BR'), args->>'title',
                coalesce(args->>'body', ''),
                CASE WHEN args ? 'body' THEN coalesce(args->>'body_html', '') ELSE '' END,
                true, coalesce(args->>'visibility', 'public'))
        ON CONFLICT (tenant_id, slug) DO NOTHING
        RETURNING * INTO a;

        IF a.article_id IS NULL THEN
            PERFORM tickets.fail('HDCNF', 'conflict', 'this slug is in use',
                                  portal.err('slug', 'taken', 'this slug is in use'));
        END IF;

        PERFORM tickets.audit(ctx, 'kb.article.create', 'kb_article', a.article_id::text);
        RETURN jsonb_build_object('body', portal.kb_article_json(a));
    END IF;

    UPDATE helpdesk.kb_articles x SET
        slug = coalesce(args->>'slug', x.slug), title = coalesce(args->>'title', x.title),
        language = coalesce(args->>'language', x.language),
        visibility = coalesce(args->>'visibility', x.visibility),
        category_id = CASE WHEN args ? 'category' THEN c.category_id ELSE x.category_id END,
        body_md = coalesce(args->>'body', x.body_md),
        body_html = CASE WHEN args ? 'body' THEN coalesce(args->>'body_html', '') ELSE x.body_html END,
        html_rendered = CASE WHEN args ? 'body' THEN true ELSE x.html_rendered END,
        updated_at = now()
    WHERE x.tenant_id = a.tenant_id AND x.article_id = a.article_id
    RETURNING * INTO a;

    PERFORM tickets.audit(ctx, 'kb.article.update', 'kb_article', a.article_id::text);
    RETURN jsonb_build_object('body', portal.kb_article_json(a));
END
$$;

CREATE OR REPLACE FUNCTION portal.kb_article_list(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tickets.audit_read(ctx, 'kb.article.list', 'kb_article', NULL);
    RETURN jsonb_build_object('body', jsonb_build_object('data',
        coalesce((SELECT jsonb_agg(portal.kb_article_json(a) - 'body' ORDER BY a.title)
                  FROM helpdesk.kb_articles a
                  WHERE a.tenant_id = (ctx->>'tenant_id')::uuid), '[]')));
END
$$;

CREATE OR REPLACE FUNCTION portal.kb_article_get(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a helpdesk.kb_articles := portal.kb_article_find(ctx, args->>'id');
BEGIN
    PERFORM tickets.audit_read(ctx, 'kb.article.read', 'kb_article', a.article_id::text);
    RETURN jsonb_build_object('body', portal.kb_article_json(a));
END
$$;

CREATE OR REPLACE FUNCTION portal.kb_article_delete(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a helpdesk.kb_articles := portal.kb_article_find(ctx, args->>'id');
BEGIN
    DELETE FROM helpdesk.kb_articles WHERE tenant_id = a.tenant_id AND article_id = a.article_id;
    PERFORM tickets.audit(ctx, 'kb.article.delete', 'kb_article', a.article_id::text);
    RETURN jsonb_build_object('body', NULL);
END
$$;

RESET ROLE;
