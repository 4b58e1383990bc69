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
