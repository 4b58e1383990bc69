-- The portal's, the console's, WhatsApp's and the job runner's entry
-- points, called as nginx calls them (as helpdesk_app).  The tenant comes
-- from the Host (<slug>.<base domain>); the user from the session, which
-- must belong to that tenant and have the app's role.
BEGIN;
SELECT plan(25);
SELECT hdtest.fixtures();

CREATE FUNCTION pg_temp.app(fn text, host text, u text, op text, args jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT jsonb_build_object(''body'', r.body)::text FROM api.%I(%L, ''helpdesk.test'', %L, ''192.0.2.1'', %L, %L, sha256(''hdp_provider''::bytea)) r',
                  fn, host, u, op, args)
$$;

-- the portal
SELECT is(hdtest.error_of(pg_temp.app('portal_call', 'nowhere.example', NULL, 'boot', '{}')),
          '{"sqlstate": "HDNFD", "hint": "unknown-site", "message": "there is no support portal at this address", "detail": ""}'::jsonb,
          'portal: a host that is no tenant''s: HDNFD unknown-site');
SELECT is(hdtest.as_role(format('SELECT (body IS NULL)::text FROM api.portal_call(%L, ''helpdesk.test'', NULL, ''192.0.2.1'', %L, %L, sha256(''hdp_provider''::bytea))',
                                 'acme.helpdesk.test', 'login.result', '{"ok": false, "email": "x@acme.example"}')),
          'true', 'portal: a refused login answers no body at all (not a JSON null)');
SELECT is(hdtest.error_of(pg_temp.app('portal_call', 'dead.helpdesk.test', NULL, 'boot', '{}')) ->> 'hint',
          'unknown-site', 'portal: a disabled tenant''s host: unknown-site');
SELECT is(hdtest.error_of(pg_temp.app('portal_call', 'acme.helpdesk.test', NULL, 'ticket.list', '{}')) ->> 'sqlstate',
          'HDUNA', 'portal: no session, no tickets (HDUNA)');
SELECT is(hdtest.error_of(pg_temp.app('portal_call', 'acme.helpdesk.test', 'b0000000-0000-4000-8000-0000000000c1',
                                      'ticket.list', '{}')) ->> 'hint',
          'login-required', 'portal: another tenant''s customer is nobody here');
SELECT is(hdtest.error_of(pg_temp.app('portal_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000e1',
                                      'ticket.list', '{}')) ->> 'hint',
          'login-required', 'portal: an agent is no customer');
SELECT is(hdtest.as_role(pg_temp.app('portal_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000c1',
                                     'ticket.get', '{"number": "TKT-000001"}'))::jsonb #>> '{body,subject}',
          'printer on fire', 'portal: a customer sees their ticket');
SELECT is(hdtest.error_of(pg_temp.app('portal_call', 'globex.helpdesk.test', 'a0000000-0000-4000-8000-0000000000c1',
                                      'ticket.get', '{"number": "TKT-000001"}')) ->> 'sqlstate',
          'HDUNA', 'portal: not on another tenant''s host');
SELECT is(hdtest.error_of(pg_temp.app('portal_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000c1',
                                      'ticket.get', '{"number": "TKT-000002"}')) ->> 'sqlstate',
          'HDNFD', 'portal: a ticket that is not theirs: HDNFD');
SELECT is(hdtest.error_of(pg_temp.app('portal_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000c1',
                                      'ticket.create', '{}')) ->> 'sqlstate',
          'HDINV', 'portal: a ticket without its fields: HDINV');
SELECT is(jsonb_typeof(hdtest.error_of(pg_temp.app('portal_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000c1',
                                                   'ticket.create', '{}')) -> 'detail'),
          'array', '... with the field errors');
SELECT is(hdtest.error_of(format('SELECT api.portal_upload(''acme.helpdesk.test'', ''helpdesk.test'', NULL, NULL, ''a.txt'', ''text/plain'', %L)',
                                 'x'::bytea)) ->> 'sqlstate',
          'HDUNA', 'portal: no upload without a session');
SELECT is(hdtest.error_of(format('SELECT api.portal_attachment(''acme.helpdesk.test'', ''helpdesk.test'', %L, NULL, ''TKT-000001'', %L)',
                                 'a0000000-0000-4000-8000-0000000000c1', 'b0000000-0000-4000-8000-0000000000aa')) ->> 'sqlstate',
          'HDNFD', 'portal: an attachment that is not there: HDNFD');
SELECT is(hdtest.as_role($$SELECT count(*) FROM api.portal_asset('nowhere.example', 'helpdesk.test', 'logo') WHERE data IS NOT NULL$$),
          '0', 'portal: no logo for a host that is no tenant''s');

-- the console
SELECT is(hdtest.error_of(pg_temp.app('console_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000c1',
                                      'queue', '{}')) ->> 'hint',
          'login-required', 'console: a customer is no agent');
SELECT is(hdtest.error_of(pg_temp.app('console_call', 'acme.helpdesk.test', 'b0000000-0000-4000-8000-0000000000e1',
                                      'queue', '{}')) ->> 'hint',
          'login-required', 'console: another tenant''s admin is nobody here');
SELECT is(hdtest.error_of(pg_temp.app('console_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000e1',
                                      'ticket.get', '{"number": "b0000000-0000-4000-8000-0000000000f1"}')) ->> 'sqlstate',
          'HDNFD', 'console: another tenant''s ticket by id: HDNFD');
SELECT is(hdtest.as_role(pg_temp.app('console_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000e1',
                                     'ticket.get', '{"number": "TKT-000001"}'))::jsonb #>> '{body,number}',
          'TKT-000001', 'console: an agent opens their tenant''s ticket');
SELECT is(hdtest.error_of(pg_temp.app('console_call', 'acme.helpdesk.test', 'a0000000-0000-4000-8000-0000000000e1',
                                      'nothing', '{}')) ->> 'sqlstate',
          'HDNFD', 'console: an unknown operation: HDNFD');
SELECT is(hdtest.error_of(format('SELECT api.console_attachment(''acme.helpdesk.test'', ''helpdesk.test'', %L, NULL, %L, %L)',
                                 'a0000000-0000-4000-8000-0000000000e1', 'b0000000-0000-4000-8000-0000000000f1',
                                 'b0000000-0000-4000-8000-0000000000aa')) ->> 'sqlstate',
          'HDNFD', 'console: another tenant''s attachment: HDNFD');

-- WhatsApp and the runners
SELECT is(hdtest.as_role($$SELECT tenant_id FROM api.whatsapp_route('no-such-token')$$), NULL,
          'whatsapp: an unknown webhook token routes nowhere');
SELECT lives_ok($$SELECT hdtest.as_role('SELECT count(*) FROM api.whatsapp_ingest_batch(''[]'')')$$,
                'whatsapp: an empty batch is accepted');
SELECT lives_ok($$SELECT hdtest.as_role('SELECT count(*) FROM api.events_since(0)')$$,
                'console stream: events since a point');
SELECT lives_ok($$SELECT hdtest.as_role('SELECT count(*) FROM api.outbox_claim(sha256(''hdp_provider''::bytea), 10, 1000)')$$,
                'outbox: claiming due work');
SELECT lives_ok($$SELECT hdtest.as_role('SELECT api.outbox_schedule(sha256(''hdp_provider''::bytea), 1000)')$$,
                'outbox: scheduling');

SELECT * FROM finish();
ROLLBACK;
