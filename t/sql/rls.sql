-- Row-level security: whatever SQL reaches the tables, a tenant sees and
-- writes its own rows only, and with no tenant set, nothing.
BEGIN;
SELECT plan(18 + (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'helpdesk'));
SELECT hdtest.fixtures();

-- the app role: no way in at all
SELECT throws_ok($$SELECT hdtest.as_role('SELECT count(*) FROM helpdesk.tickets')$$,
                 '42501', NULL, 'the app role cannot read a table');
SELECT throws_ok($$SELECT hdtest.as_role('INSERT INTO helpdesk.audit_log (tenant_id, actor_type, action, object_type)
                                          VALUES (''a0000000-0000-4000-8000-000000000001'', ''system'', ''x'', ''x'')')$$,
                 '42501', NULL, 'nor write one');
SELECT throws_ok($$SELECT hdtest.as_role('SELECT helpdesk.current_tenant()')$$,
                 '42501', NULL, 'nor call an internal function');

-- the service role, no tenant set: no rows anywhere
SELECT is(hdtest.as_tenant(format('SELECT count(*) FROM %I.%I', schemaname, tablename), NULL), '0',
          format('no tenant set: no rows in %s', tablename))
FROM pg_tables WHERE schemaname = 'helpdesk' ORDER BY tablename;

-- a tenant set: its own rows only
SELECT is(hdtest.as_tenant('SELECT string_agg(subject, '','') FROM helpdesk.tickets',
                           'a0000000-0000-4000-8000-000000000001'),
          'printer on fire', 'acme sees its ticket only');
SELECT is(hdtest.as_tenant('SELECT count(*) FROM helpdesk.tenants',
                           'a0000000-0000-4000-8000-000000000001'),
          '1', 'and its own tenant only');
SELECT is(hdtest.as_tenant('SELECT count(*) FROM helpdesk.api_keys',
                           'a0000000-0000-4000-8000-000000000001'),
          '3', 'and its own keys only');
SELECT is(hdtest.as_tenant($$SELECT count(*) FROM helpdesk.tickets
                             WHERE ticket_id = 'b0000000-0000-4000-8000-0000000000f1'$$,
                           'a0000000-0000-4000-8000-000000000001'),
          '0', 'another tenant''s ticket, by id: not there');
SELECT is(hdtest.as_tenant($$SELECT count(*) FROM helpdesk.users WHERE email = 'gina@globex.example'$$,
                           'a0000000-0000-4000-8000-000000000001'),
          '0', 'another tenant''s customer, by email: not there');

-- cross-tenant writes
SELECT throws_ok($$SELECT hdtest.as_tenant('INSERT INTO helpdesk.users (tenant_id, email, role)
                       VALUES (''b0000000-0000-4000-8000-000000000001'', ''x@y.z'', ''agent'')',
                       'a0000000-0000-4000-8000-000000000001')$$,
                 '42501', NULL, 'cannot insert into another tenant');
SELECT is(hdtest.as_tenant($$WITH u AS (UPDATE helpdesk.tickets SET subject = 'mine now'
                                        WHERE ticket_id = 'b0000000-0000-4000-8000-0000000000f1' RETURNING 1)
                             SELECT count(*) FROM u$$,
                           'a0000000-0000-4000-8000-000000000001'),
          '0', 'updating another tenant''s ticket changes nothing');
SELECT throws_ok($$SELECT hdtest.as_tenant('UPDATE helpdesk.tickets SET tenant_id = ''b0000000-0000-4000-8000-000000000001''
                       WHERE ticket_id = ''a0000000-0000-4000-8000-0000000000f1''',
                       'a0000000-0000-4000-8000-000000000001')$$,
                 '42501', NULL, 'nor can a row be moved to another tenant');
SELECT is((SELECT subject FROM helpdesk.tickets WHERE ticket_id = 'b0000000-0000-4000-8000-0000000000f1'),
          'secret plans', 'globex''s ticket is untouched');
SELECT throws_ok($$SELECT hdtest.as_tenant('DELETE FROM helpdesk.tickets',
                       'a0000000-0000-4000-8000-000000000001')$$,
                 '42501', NULL, 'tickets are never deleted');

-- the audit log is append-only
SELECT lives_ok($$SELECT hdtest.as_tenant('INSERT INTO helpdesk.audit_log (tenant_id, actor_type, action, object_type)
                      VALUES (''a0000000-0000-4000-8000-000000000001'', ''system'', ''x'', ''x'') RETURNING 1',
                      'a0000000-0000-4000-8000-000000000001')$$,
                'the audit log takes new rows');
SELECT throws_ok($$SELECT hdtest.as_tenant('UPDATE helpdesk.audit_log SET action = ''y''',
                       'a0000000-0000-4000-8000-000000000001')$$,
                 '42501', NULL, 'but the service role cannot change one');
SELECT throws_ok($$SELECT hdtest.as_tenant('DELETE FROM helpdesk.audit_log',
                       'a0000000-0000-4000-8000-000000000001')$$,
                 '42501', NULL, 'nor delete one');
SELECT throws_ok($$DELETE FROM helpdesk.audit_log$$, 'HDCNF', 'audit_log is append-only',
                 'and a trigger refuses it to every role, even a superuser');
SELECT throws_ok($$UPDATE helpdesk.audit_log SET action = 'y'$$, 'HDCNF', 'audit_log is append-only',
                 'updates included');

SELECT * FROM finish();
ROLLBACK;
