-- Every read of tenant data leaves an audit_log row, in the reader's
-- tenant, with the reader as actor: the REST API's (webhooks and their
-- deliveries, WhatsApp connections and templates, domains, business hours,
-- the portal's settings, the knowledge base's admin lists), the console's
-- (agents, canned replies, the audit log itself and its CSV) and the
-- provider's (tenants, keys, domains).  Called as nginx calls them.
BEGIN;
SELECT plan(21);
SELECT hdtest.fixtures();
SELECT hdtest.seed_all();

CREATE FUNCTION pg_temp.api(op text, args jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT body::text FROM api.api_call(%L, ''admin'', ''192.0.2.1'', %L, %L)',
                  hdtest.key('hdk_acme_full'), op, args)
$$;
CREATE FUNCTION pg_temp.console(op text, args jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT body::text FROM api.console_call(''globex.helpdesk.test'', ''helpdesk.test'', %L, ''192.0.2.1'', %L, %L, NULL)',
                  'b0000000-0000-4000-8000-0000000000e1', op, args)
$$;
CREATE FUNCTION pg_temp.provider(op text, args jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT body::text FROM api.provider_call(sha256(''hdp_provider''::bytea), %L, ''192.0.2.1'', %L)', op, args)
$$;
-- the audit rows of an action: "tenant actor_type actor_id", one per row
CREATE FUNCTION pg_temp.audited(act text) RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(concat_ws(' ', left(tenant_id::text, 1), actor_type, left(coalesce(actor_id::text, '-'), 1),
                                host(ip)), ',' ORDER BY audit_id)
    FROM helpdesk.audit_log WHERE action = act
$$;

DO $$ BEGIN PERFORM hdtest.as_role(pg_temp.api(op, args))
FROM (VALUES ('webhook.list', '{}'::jsonb), ('webhook.get', '{"id": "a0000000-0000-4000-8000-0000000000b7"}'),
             ('webhook.deliveries', '{"id": "a0000000-0000-4000-8000-0000000000b7"}'),
             ('whatsapp.list', '{}'), ('whatsapp.get', '{"id": "a0000000-0000-4000-8000-0000000000d7"}'),
             ('whatsapp.templates.get', '{}'), ('domain.list', '{}'),
             ('business_hours.get', '{"channel": "whatsapp"}'), ('portal.get', '{}'),
             ('kb.category.list', '{}'), ('kb.article.list', '{}'),
             ('kb.article.get', '{"id": "a0000000-0000-4000-8000-0000000000a7"}')) v(op, args); END $$;

SELECT is(pg_temp.audited(a), 'a api_key a 192.0.2.1', format('api: %s audited as the key, in its tenant', a))
FROM unnest(ARRAY['webhook.list', 'webhook.read', 'webhook.deliveries.read', 'whatsapp.connection.list',
                  'whatsapp.connection.read', 'whatsapp.templates.read', 'domain.list', 'business_hours.read',
                  'portal.read', 'kb.category.list', 'kb.article.list', 'kb.article.read']) a;

DO $$ BEGIN PERFORM hdtest.as_role(pg_temp.console(op, '{}'))
FROM unnest(ARRAY['agents.list', 'canned.list', 'audit.list', 'audit.csv']) op; END $$;
SELECT is(pg_temp.audited(a), 'b user b 192.0.2.1', format('console: %s audited as the admin, in globex', a))
FROM unnest(ARRAY['console.agents.list', 'canned.list', 'audit.read', 'audit.export']) a;

DO $$ BEGIN PERFORM hdtest.as_role(pg_temp.provider(op, args))
FROM (VALUES ('tenant.get', '{"id": "acme"}'::jsonb),
             ('key.list', '{"tenant_id": "acme"}'),
             ('domain.list', '{"tenant_id": "acme"}')) v(op, args); END $$;
SELECT is(pg_temp.audited('tenant.read'), 'a provider - 192.0.2.1', 'provider: a tenant read, in its log');
SELECT is(pg_temp.audited('api_key.list'), 'a provider - 192.0.2.1', 'provider: its keys listed, in its log');
SELECT is((SELECT count(*)::int FROM helpdesk.audit_log WHERE action = 'domain.list' AND actor_type = 'provider'
           AND tenant_id = 'a0000000-0000-4000-8000-000000000001'), 1, 'provider: its domains listed, in its log');
DO $$ BEGIN PERFORM hdtest.as_role(pg_temp.provider('tenant.list', '{}')); END $$;
SELECT is((SELECT array_agg(DISTINCT left(tenant_id::text, 1)) FROM helpdesk.audit_log WHERE action = 'tenant.list'),
          ARRAY['a', 'b', 'd'], 'provider: the tenants listed, one row in each one''s log');
SELECT is((SELECT count(*)::int FROM helpdesk.audit_log WHERE action = 'tenant.list'),
          (SELECT count(*)::int FROM helpdesk.tenants), '... no more');

SELECT * FROM finish();
ROLLBACK;
