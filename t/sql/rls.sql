-- Row-level security: whatever SQL reaches the tables, a tenant sees and
-- writes its own rows only, and with no tenant set, nothing.
--
-- Every table of schema helpdesk is checked, from the catalogue: a table
-- added later is covered without a line here, and must get its row in
-- hdtest.seed_all() (the first test says which tables lack one).
BEGIN;
SELECT plan(20 + 7 * (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'helpdesk'));
SELECT hdtest.fixtures();
SELECT hdtest.seed_all();

SELECT is(hdtest.unseeded(), '{}'::text[],
          'every table has a row of acme and one of globex to check isolation with');

-- acme's rows, as they are before globex tries anything
CREATE TEMP TABLE acme_before AS
SELECT tablename::text AS tb, hdtest.as_tenant(format(
           'SELECT md5(coalesce(string_agg(to_jsonb(x)::text, '','' ORDER BY to_jsonb(x)::text), '''')) FROM helpdesk.%I x',
           tablename), 'a0000000-0000-4000-8000-000000000001') AS digest
FROM pg_tables WHERE schemaname = 'helpdesk';

-- each table: acme sees its row; with globex set, acme's rows are not
-- there, and cannot be changed, deleted or written
SELECT ok(hdtest.as_tenant(format('SELECT count(*) FROM helpdesk.%I WHERE tenant_id = %L',
                                  tablename, 'a0000000-0000-4000-8000-000000000001'),
                           'a0000000-0000-4000-8000-000000000001')::int > 0,
          format('%s: acme sees its own rows', tablename))
FROM pg_tables WHERE schemaname = 'helpdesk' ORDER BY tablename;

SELECT is(hdtest.as_tenant(format('SELECT count(*) FROM helpdesk.%I WHERE tenant_id = %L',
                                  tablename, 'a0000000-0000-4000-8000-000000000001'),
                           'b0000000-0000-4000-8000-000000000001'),
          '0', format('%s: globex does not see acme''s rows', tablename))
FROM pg_tables WHERE schemaname = 'helpdesk' ORDER BY tablename;

SELECT ok(hdtest.touched(format('UPDATE helpdesk.%I SET tenant_id = tenant_id WHERE tenant_id = %L',
                                tablename, 'a0000000-0000-4000-8000-000000000001'),
                         'b0000000-0000-4000-8000-000000000001') IN ('0', 'refused'),
          format('%s: globex updates none of acme''s rows', tablename))
FROM pg_tables WHERE schemaname = 'helpdesk' ORDER BY tablename;

SELECT ok(hdtest.touched(format('DELETE FROM helpdesk.%I WHERE tenant_id = %L',
                                tablename, 'a0000000-0000-4000-8000-000000000001'),
                         'b0000000-0000-4000-8000-000000000001') IN ('0', 'refused'),
          format('%s: globex deletes none of acme''s rows', tablename))
FROM pg_tables WHERE schemaname = 'helpdesk' ORDER BY tablename;

SELECT is(hdtest.touched(hdtest.copy_insert(tablename, 'a0000000-0000-4000-8000-000000000001'),
                         'b0000000-0000-4000-8000-000000000001'),
          'refused', format('%s: globex cannot write a row of acme''s', tablename))
FROM pg_tables WHERE schemaname = 'helpdesk' ORDER BY tablename;

SELECT is(hdtest.as_tenant(format(
              'SELECT md5(coalesce(string_agg(to_jsonb(x)::text, '','' ORDER BY to_jsonb(x)::text), '''')) FROM helpdesk.%I x',
              b.tb), 'a0000000-0000-4000-8000-000000000001'),
          b.digest, format('%s: acme''s rows are as they were', b.tb))
FROM acme_before b ORDER BY b.tb;

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
SELECT is(hdtest.as_tenant('SELECT count(*) FROM helpdesk.auth_refusals',
                           'b0000000-0000-4000-8000-000000000001'),
          '1', 'and its own refusals only');
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
