-- Least privilege: nginx's role (helpdesk_app) may execute the entry points
-- in schema "api" and nothing else; they run as helpdesk_service, which
-- row-level security binds; no one else may execute anything.
BEGIN;
SELECT plan(31);

-- the roles
SELECT isnt_superuser('helpdesk_app');
SELECT isnt_superuser('helpdesk_service');
SELECT is((SELECT rolbypassrls OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'helpdesk_app'),
          false, 'the app role cannot bypass RLS, create roles or databases');
SELECT is((SELECT rolbypassrls OR rolcreaterole OR rolcreatedb OR rolcanlogin FROM pg_roles WHERE rolname = 'helpdesk_service'),
          false, 'the service role cannot log in, bypass RLS, create roles or databases');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'helpdesk_owner'), false,
          'the owner role cannot log in');
SELECT is((SELECT count(*)::int FROM pg_tables WHERE schemaname = 'helpdesk'
           AND tableowner NOT IN ('helpdesk_owner')), 0, 'every table belongs to helpdesk_owner');
SELECT is((SELECT count(*)::int FROM pg_tables WHERE schemaname = 'helpdesk' AND NOT rowsecurity), 0,
          'every table has row-level security');
SELECT is((SELECT count(*)::int FROM pg_tables t
           WHERE t.schemaname = 'helpdesk'
             AND NOT EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = t.schemaname
                             AND p.tablename = t.tablename AND p.policyname = 'tenant_isolation')),
          0, 'every table has the tenant_isolation policy');

-- schemas
SELECT ok(has_schema_privilege('helpdesk_app', 'api', 'USAGE'), 'the app role may use schema api');
SELECT ok(NOT has_schema_privilege('helpdesk_app', 'helpdesk', 'USAGE'), 'but not schema helpdesk');
SELECT is((SELECT array_agg(n ORDER BY n) FROM unnest(ARRAY['tickets', 'rest', 'outbox', 'whatsapp', 'portal', 'console', 'chat']) n
           WHERE has_schema_privilege('helpdesk_app', n, 'USAGE')), NULL,
          'nor any concern''s schema');
SELECT ok(NOT has_schema_privilege('helpdesk_app', 'api', 'CREATE'), 'and cannot create in api');
SELECT ok(NOT has_schema_privilege('helpdesk_app', 'public', 'CREATE'), 'nor in public');
SELECT ok(NOT has_schema_privilege('helpdesk_app', 'helpdesk_meta', 'USAGE'),
          'nor see the migrations');

-- tables: none for the app role
SELECT is((SELECT count(*)::int FROM pg_class c
           WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'p')
             AND (has_table_privilege('helpdesk_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                  OR has_any_column_privilege('helpdesk_app', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))),
          0, 'the app role holds no privilege on any table');
SELECT is((SELECT count(*)::int FROM pg_class c
           WHERE c.relnamespace = 'helpdesk'::regnamespace AND c.relkind = 'r'
             AND has_table_privilege('helpdesk_service', c.oid, 'TRUNCATE, REFERENCES, TRIGGER')),
          0, 'the service role cannot truncate, reference or add triggers');
SELECT ok(NOT has_table_privilege('helpdesk_service', 'helpdesk.audit_log', 'UPDATE')
          AND NOT has_table_privilege('helpdesk_service', 'helpdesk.audit_log', 'DELETE'),
          'the audit log is append-only for the service role');

-- functions: each concern in its own schema; "helpdesk" keeps only what
-- the tables need
SELECT is((SELECT array_agg(proname::text ORDER BY proname) FROM pg_proc
           WHERE pronamespace = 'helpdesk'::regnamespace),
          ARRAY['audit_log_immutable', 'current_tenant', 'kb_config', 'tenant_rls'],
          'schema helpdesk holds the data and the functions its tables need');

-- functions: the app role executes the entry points only
SELECT is((SELECT count(*)::int FROM pg_proc p
           WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'tickets', 'rest', 'outbox', 'whatsapp', 'portal', 'console')
             AND has_function_privilege('helpdesk_app', p.oid, 'EXECUTE')),
          0, 'the app role cannot execute any internal function');
SELECT is((SELECT count(*)::int FROM pg_proc p
           WHERE p.pronamespace = 'api'::regnamespace
             AND NOT has_function_privilege('helpdesk_app', p.oid, 'EXECUTE')),
          0, 'it can execute every entry point');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(p.proacl) a
           WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'api', 'tickets', 'rest', 'outbox', 'whatsapp', 'portal', 'console')
             AND a.grantee = 0),
          0, 'PUBLIC cannot execute any function of helpdesk or api');
SELECT is((SELECT count(*)::int FROM pg_proc p
           WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'api', 'tickets', 'rest', 'outbox', 'whatsapp', 'portal', 'console')
             AND p.proacl IS NULL),
          0, 'no function has default (PUBLIC) privileges');
SELECT function_privs_are('rest', 'api_key_auth', ARRAY['bytea'], 'helpdesk_app', ARRAY[]::text[],
                          'key lookup across tenants: not for the app role');
SELECT function_privs_are('rest', 'provider_tenant', ARRAY['text', 'boolean'], 'helpdesk_app', ARRAY[]::text[],
                          'any tenant by id: not for the app role');
SELECT function_privs_are('tickets', 'next_ticket_number', ARRAY['uuid'], 'helpdesk_app', ARRAY[]::text[],
                          'ticket numbers (SECURITY DEFINER, creates sequences): not for the app role');
SELECT is((SELECT count(*)::int FROM pg_proc p
           WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'api', 'tickets', 'rest', 'outbox', 'whatsapp', 'portal', 'console')
             AND p.prosecdef
             AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c ~ '^search_path=.*, pg_temp$')),
          0, 'every SECURITY DEFINER function puts pg_temp last in its search_path');
SELECT function_privs_are('tickets', 'ticket_get', ARRAY['jsonb', 'jsonb'], 'helpdesk_app', ARRAY[]::text[],
                          'an operation without the key check: not for the app role');
SELECT function_privs_are('api', 'api_call', ARRAY['bytea', 'text', 'inet', 'text', 'jsonb'], 'helpdesk_app',
                          ARRAY['EXECUTE'], 'the API entry point: for the app role');

-- the entry points: SECURITY DEFINER of the service role, fixed search_path
SELECT is((SELECT count(*)::int FROM pg_proc p
           WHERE p.pronamespace = 'api'::regnamespace
             AND (NOT p.prosecdef OR p.proowner <> 'helpdesk_service'::regrole)),
          0, 'every entry point is SECURITY DEFINER, owned by helpdesk_service');
SELECT is((SELECT count(*)::int FROM pg_proc p
           WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'api', 'tickets', 'rest', 'outbox', 'whatsapp', 'portal', 'console') AND p.prosecdef
             AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, helpdesk, pg_temp']),
          0, 'every SECURITY DEFINER function fixes its search_path');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
           WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'api', 'tickets', 'rest', 'outbox', 'whatsapp', 'portal', 'console') AND o.rolsuper),
          0, 'no function belongs to a superuser');

SELECT * FROM finish();
ROLLBACK;
