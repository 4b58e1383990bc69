-- Demo data for `make run`: one tenant, an admin agent, an API key with
-- every scope.  psql variables: api_key (the secret, hashed here).

INSERT INTO helpdesk.tenants (slug, name)
VALUES ('demo', 'Demo Hosting Co.')
ON CONFLICT (slug) DO NOTHING;

SELECT set_config('helpdesk.tenant_id',
                  (SELECT tenant_id::text FROM helpdesk.tenants WHERE slug = 'demo'),
                  false);

INSERT INTO helpdesk.users (tenant_id, email, name, role)
VALUES (helpdesk.current_tenant(), 'agent@demo.example', 'Ana Agent', 'admin')
ON CONFLICT (tenant_id, email) DO NOTHING;

INSERT INTO helpdesk.api_keys (tenant_id, name, prefix, key_hash, scopes)
VALUES (helpdesk.current_tenant(), 'demo key', substr(:'api_key', 1, 12),
        sha256(convert_to(:'api_key', 'UTF8')),
        ARRAY['tickets:read', 'tickets:write', 'admin'])
ON CONFLICT (key_hash) DO NOTHING;

-- The website chat: the demo site's page (make run serves it) may open
-- chats; origins added since are kept.
INSERT INTO helpdesk.chat_widgets (tenant_id, title, greeting, allowed_origins)
VALUES (helpdesk.current_tenant(), 'Demo Hosting Co.',
        'Olá! Como podemos ajudar?', ARRAY['http://www.demo.localhost:8080'])
ON CONFLICT (tenant_id) DO UPDATE
SET allowed_origins = ARRAY(
        SELECT DISTINCT o
        FROM unnest(helpdesk.chat_widgets.allowed_origins
                    || EXCLUDED.allowed_origins) AS o
        ORDER BY o);
