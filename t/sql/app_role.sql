-- What nginx's role (helpdesk_app) can reach, whatever SQL it sends: every
-- statement here runs AS that role.  It reads no table, executes no
-- internal function, and the entry points that look across tenants give
-- it nothing of another tenant's: the provider's calls and the outbox
-- runner want the provider key's hash, WhatsApp deliveries are routed by
-- their token, the live stream's feed carries ids only, and no entry
-- point takes an actor, a tenant or a ctx the caller could forge.
BEGIN;
SELECT plan(
    (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'helpdesk')
  + (SELECT count(*)::int FROM pg_proc p
     WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'tickets', 'rest', 'outbox',
                                                   'whatsapp', 'portal', 'console', 'email', 'tls'))
  + 54);
SELECT hdtest.fixtures();
SELECT hdtest.seed_all();

-- every table: not even readable
SELECT is(hdtest.error_of(format('SELECT count(*) FROM helpdesk.%I', tablename)) ->> 'sqlstate',
          '42501', format('the app role cannot read helpdesk.%s', tablename))
FROM pg_tables WHERE schemaname = 'helpdesk' ORDER BY tablename;

-- every internal function (next_ticket_number, the key lookup, the host
-- map, the outbox's, the refusals' recorder, ...): not executable
SELECT is(hdtest.error_of(format('SELECT %I.%I(%s)', p.pronamespace::regnamespace, p.proname,
              (SELECT string_agg(format('NULL::%s', t::regtype), ', ' ORDER BY o)
               FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY x(t, o)))) ->> 'sqlstate',
          '42501', format('the app role cannot execute %s', p.oid::regprocedure))
FROM pg_proc p
WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'tickets', 'rest', 'outbox',
                                              'whatsapp', 'portal', 'console', 'email', 'tls')
ORDER BY p.oid::regprocedure::text;

-- no entry point takes who acts or for which tenant: the tenant and the
-- actor come from a key, a session's user checked against the Host, or a
-- webhook token; the exceptions (outbox_result's tenant, and the chat's
-- conversations layer, whose tenant the chat's transport resolved) want
-- the provider key's hash
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
           WHERE p.pronamespace = 'api'::regnamespace
             AND p.proargnames && ARRAY['ctx', 'p_ctx', 'actor', 'p_actor', 'p_actor_id',
                                        'p_actor_type', 'tenant', 'p_tenant', 'p_tenant_id']),
          ARRAY['api.acme_ari_set(bytea,uuid,text,integer,text,text,integer)',
                'api.acme_result(bytea,uuid,text,uuid,jsonb,integer)',
                'api.acme_revoked(bytea,uuid,text,uuid)',
                'api.acme_step(bytea,uuid,text,uuid,text,jsonb,integer,integer)',
                'api.acme_store(bytea,uuid,text,uuid,bytea[],text,timestamp with time zone,timestamp with time zone,text)',
                'api.chat_agent_hello(bytea,uuid,uuid)',
                'api.chat_convert(bytea,uuid,uuid,text,uuid,jsonb,jsonb)',
                'api.chat_file(bytea,uuid,uuid,uuid)',
                'api.chat_file_store(bytea,uuid,bytea,uuid,text,text,bytea)',
                'api.chat_files_claim(bytea,uuid,uuid,uuid,uuid,jsonb)',
                'api.chat_group(bytea,uuid,text)',
                'api.chat_kb(bytea,uuid,text,jsonb)',
                'api.chat_transcript(bytea,uuid,uuid,uuid,text)',
                'api.chat_visitor(bytea,uuid,bytea,uuid)',
                'api.domain_check_result(bytea,uuid,text,uuid,jsonb)',
                'api.email_dkim_store(bytea,uuid,text,text,text)',
                'api.email_fetch_begin(bytea,uuid,uuid,uuid,integer,bigint,bigint)',
                'api.email_fetch_chunk(bytea,uuid,uuid,uuid,integer,uuid,integer,bytea)',
                'api.email_fetch_done(bytea,uuid,uuid,uuid,integer,text,text,bigint,boolean)',
                'api.email_fetch_refuse(bytea,uuid,uuid,uuid,integer,bigint,bigint,bigint,text)',
                'api.email_fetch_store(bytea,uuid,uuid,uuid,integer,bigint,bigint,bigint,jsonb,bytea,uuid)',
                'api.email_oauth_failed(bytea,uuid,uuid,uuid,integer,text,boolean,text)',
                'api.email_oauth_tokens(bytea,uuid,uuid,uuid,integer,text,text,text,integer)',
                'api.email_result(bytea,uuid,bigint,boolean,boolean,integer,text,integer,text,text,integer,integer,integer,text,text)',
                'api.outbox_result(bytea,uuid,bigint,boolean,integer,text,integer,text,integer,integer,integer,integer,bytea)'],
          'no entry point takes an actor or a tenant, but the runner''s result, the chat''s conversations, the IMAP fetch job''s steps and tokens, the domain check job''s result and the ACME job''s steps (which want the proof)');
SELECT is((SELECT count(*)::int FROM pg_proc p
           WHERE p.pronamespace = 'api'::regnamespace
             AND p.proname IN ('provider_call', 'outbox_claim', 'outbox_result', 'outbox_schedule',
                               'secrets_stale', 'secrets_store', 'chat_persist', 'chat_visitor',
                               'chat_agent_hello', 'chat_kb', 'chat_transcript', 'chat_convert',
                               'chat_file_store', 'chat_files_claim', 'chat_file', 'chat_group',
                               'chat_group_sync', 'email_claim', 'email_result', 'email_dkim_wanted',
                               'email_dkim_store', 'email_fetch_claim', 'email_fetch_begin',
                               'email_fetch_chunk', 'email_fetch_store', 'email_fetch_refuse',
                               'email_fetch_done', 'domain_check_claim', 'domain_check_result',
                               'acme_account', 'acme_account_store', 'acme_claim', 'acme_step',
                               'acme_result', 'acme_store', 'acme_revoked', 'acme_http01',
                               'acme_redirect', 'acme_ari_due', 'acme_ari_set')
             AND p.proargnames[1] = 'p_proof' AND p.proargtypes[0] = 'bytea'::regtype),
          40, 'the provider''s calls, the runners'', the rotation''s, the chat''s conversations, the IMAP fetch job''s, the domain check job''s and the ACME job''s take the proof first');

-- the IMAP fetch job: nothing without the proof (its claim hands out
-- every tenant's sealed mailbox passwords)
SELECT is(hdtest.error_of($$SELECT * FROM api.email_fetch_claim(sha256('x'::bytea), 10, 60000)$$) ->> 'sqlstate',
          'HDUNA', 'email fetch: a wrong proof, no mailbox claimed');
SELECT is(hdtest.error_of($$SELECT api.email_fetch_chunk(NULL, 'a0000000-0000-4000-8000-000000000001',
                                                     'a0000000-0000-4000-8000-0000000000c1', gen_random_uuid(),
                                                     60000, gen_random_uuid(), 0, '\x41')$$) ->> 'sqlstate',
          'HDUNA', 'email fetch: no proof, no piece staged');
SELECT is(hdtest.error_of($$SELECT api.email_fetch_store(NULL, 'a0000000-0000-4000-8000-000000000001',
                                                     'a0000000-0000-4000-8000-0000000000c1', gen_random_uuid(),
                                                     60000, 1, 1, 10, '{"message_id": "<x@y>"}', '\x41', NULL)$$) ->> 'sqlstate',
          'HDUNA', 'email fetch: no proof, nothing stored');

-- the chat's conversations: nothing without the proof
SELECT is(hdtest.error_of($$SELECT api.chat_persist(NULL, '[]')$$) ->> 'sqlstate', 'HDUNA',
          'chat: no proof, no record written');
SELECT is(hdtest.error_of($$SELECT api.chat_visitor(sha256('x'::bytea), 'a0000000-0000-4000-8000-000000000001',
                                                     sha256('token'::bytea), NULL)$$) ->> 'sqlstate', 'HDUNA',
          'chat: a wrong proof, no visitor of any tenant');
SELECT is(hdtest.error_of($$SELECT * FROM api.chat_file(sha256('x'::bytea), 'a0000000-0000-4000-8000-000000000001',
                                                     'a0000000-0000-4000-8000-0000000000d3', NULL)$$) ->> 'sqlstate',
          'HDUNA', 'chat: a wrong proof, no file of any tenant');
SELECT is(hdtest.error_of($$SELECT api.chat_file_store(NULL, 'a0000000-0000-4000-8000-000000000001',
                                                     sha256('visitor a'::bytea), NULL, 'x.txt', 'text/plain',
                                                     '\x41')$$) ->> 'sqlstate',
          'HDUNA', 'chat: no proof, no file stored');

-- the provider's calls: only with the installed key's hash
SELECT is(hdtest.error_of($$SELECT api.provider_call(NULL, 'tenant.list', NULL, '{}')$$) ->> 'sqlstate',
          'HDUNA', 'provider: no proof, no tenants');
SELECT is(hdtest.error_of($$SELECT api.provider_call(sha256('hdk_acme_full'::bytea), 'key.create', NULL,
              '{"tenant_id": "b0000000-0000-4000-8000-000000000001", "name": "mine", "prefix": "hdk_xxxxxxxx",
                "key_hash": "00", "scopes": ["admin"]}')$$) ->> 'sqlstate',
          'HDUNA', 'provider: a tenant''s key hash is no proof (no key for another tenant)');
SELECT is((SELECT count(*)::int FROM helpdesk.api_keys WHERE name = 'mine'), 0, '... and no key was made');
SELECT is(hdtest.error_of($$SELECT api.provider_call(sha256('hdp_provider'::bytea), 'tenant.update', NULL,
              '{"id": "globex", "status": "disabled"}')$$), NULL,
          'provider: the installed key''s hash is');
SELECT is((SELECT status FROM helpdesk.tenants WHERE slug = 'globex'), 'disabled', '... and acts');
UPDATE helpdesk.tenants SET status = 'active' WHERE slug = 'globex';
DELETE FROM helpdesk_meta.module_keys;
SELECT is(hdtest.error_of($$SELECT api.provider_call(sha256('hdp_provider'::bytea), 'tenant.list', NULL, '{}')$$) ->> 'message',
          'the provider key is not installed in the database (stack.sh provider-key, see docs/operations.md)',
          'provider: with no key installed, nothing (and says why)');
INSERT INTO helpdesk_meta.module_keys (name, key_hash) VALUES ('provider', sha256(sha256('hdp_provider'::bytea)));
SELECT is(hdtest.error_of(format('SELECT api.provider_call(%L::bytea, ''tenant.list'', NULL, ''{}'')',
                                 (SELECT key_hash FROM helpdesk_meta.module_keys WHERE name = 'provider'))) ->> 'message',
          'the provider key is not valid', 'provider: the stored value itself is no proof');
SELECT is(hdtest.error_of('INSERT INTO helpdesk_meta.module_keys (name, key_hash) VALUES (''provider'', sha256(''x''::bytea))')
          ->> 'sqlstate', '42501', 'the app role cannot install a key of its own');

-- the email runner: every tenant's relay password and DKIM key, only with the proof
SELECT is(hdtest.error_of($$SELECT count(*) FROM api.email_claim(NULL, 10, 1000, true)$$) ->> 'sqlstate',
          'HDUNA', 'email: no proof, no claim (no relay passwords, no DKIM keys)');
SELECT is(hdtest.error_of($$SELECT count(*) FROM api.email_dkim_wanted(sha256('hdk_globex_full'::bytea), 10)$$) ->> 'sqlstate',
          'HDUNA', 'email: a tenant key''s hash is no proof');

-- the outbox runner: every tenant's secrets, only with the proof
SELECT is(hdtest.error_of($$SELECT count(*) FROM api.outbox_claim(NULL, 10, 1000)$$) ->> 'sqlstate',
          'HDUNA', 'outbox: no proof, no claim (no webhook secrets)');
SELECT is(hdtest.error_of($$SELECT count(*) FROM api.outbox_claim(sha256('hdk_globex_full'::bytea), 10, 1000)$$) ->> 'sqlstate',
          'HDUNA', 'outbox: a tenant key''s hash is no proof');
SELECT is(hdtest.error_of(format('SELECT api.outbox_result(NULL, %L, %s, true, 200, NULL, 1, NULL, 5, 1000, 60000, 50, NULL)',
                                 'a0000000-0000-4000-8000-000000000001',
                                 (SELECT outbox_id FROM helpdesk.outbox WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001')))
          ->> 'sqlstate', 'HDUNA', 'outbox: no proof, no result recorded for any tenant');
SELECT is((SELECT status FROM helpdesk.outbox WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001'),
          'pending', '... acme''s delivery is still pending');
SELECT is(hdtest.error_of($$SELECT api.outbox_schedule(NULL, 1000)$$) ->> 'sqlstate',
          'HDUNA', 'outbox: no proof, nothing scheduled');

-- WhatsApp: routed by the unguessable token only (the module passes its
-- SHA-256, "sha256:<hex>", which is all the database keeps)
SELECT is(hdtest.as_role($$SELECT count(*) FROM api.whatsapp_route('sha256:6c847f7911599d6063da22f3ab515e9b990709f0d4e130b0e5f3f9ddad2cc719')$$),
          '1', 'whatsapp: a token routes to its one connection');
SELECT is(hdtest.as_role($$SELECT tenant_id FROM api.whatsapp_route('sha256:6c847f7911599d6063da22f3ab515e9b990709f0d4e130b0e5f3f9ddad2cc719')$$),
          'a0000000-0000-4000-8000-000000000001', '... of its tenant');
SELECT is(hdtest.as_role($$SELECT tenant_id FROM api.whatsapp_route('sha256:6c847f7911599d6063da')$$), NULL,
          'whatsapp: part of a token routes nowhere');
CREATE TEMP TABLE delivery AS SELECT jsonb_build_object('entry', jsonb_build_array(jsonb_build_object(
    'changes', jsonb_build_array(jsonb_build_object('field', 'messages', 'value', jsonb_build_object(
        'contacts', jsonb_build_array(jsonb_build_object('wa_id', '5511988887777', 'profile', jsonb_build_object('name', 'Eve'))),
        'messages', jsonb_build_array(jsonb_build_object('from', '5511988887777', 'id', 'wamid.forged',
            'timestamp', '1700000000', 'type', 'text', 'text', jsonb_build_object('body', 'forged')))))))))
    AS b;
GRANT SELECT ON delivery TO helpdesk_app;
SELECT is(hdtest.as_role($$SELECT r->>'sqlstate' FROM api.whatsapp_ingest_batch(
              (SELECT jsonb_build_array(jsonb_build_object('t', 'a0000000-0000-4000-8000-000000000001',
                   'c', 'a0000000-0000-4000-8000-0000000000d7', 'b', b)) FROM delivery)) r$$),
          'HDNFD', 'whatsapp: a delivery naming acme''s ids but no token is refused');
SELECT is(hdtest.as_role($$SELECT count(*) FROM api.whatsapp_ingest_batch(
              (SELECT jsonb_build_array(jsonb_build_object('k', 'sha256:8c402abd4b89fe13fe604c1cc49ede63cc3e4c68fbb1f8a2a9a0fc07294ce2f3',
                   't', 'a0000000-0000-4000-8000-000000000001',
                   'c', 'a0000000-0000-4000-8000-0000000000d7', 'b', b)) FROM delivery)) r$$),
          '1', 'whatsapp: a delivery on globex''s token naming acme''s ids ...');
SELECT is((SELECT array_agg(DISTINCT tenant_id::text) FROM helpdesk.whatsapp_messages WHERE wamid = 'wamid.forged'),
          ARRAY['b0000000-0000-4000-8000-000000000001'], '... is stored as globex''s, by its token');
SELECT is((SELECT count(*)::int FROM helpdesk.tickets WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001'),
          1, '... and acme has no new ticket');

-- the live stream's feed: ids and marks, never content
SELECT is((SELECT array_agg(n ORDER BY o) FROM pg_proc p,
           unnest(p.proargnames, p.proargmodes) WITH ORDINALITY x(n, m, o)
           WHERE p.oid = 'api.events_since(bigint)'::regprocedure AND m = 't'),
          ARRAY['tenant_id', 'ticket_id', 'event_id', 'high']::text[],
          'events_since returns tenant and ticket ids and event marks only');

-- portal assets: the Host's tenant's only
SELECT is(hdtest.as_role($$SELECT sha256 FROM api.portal_asset('globex.helpdesk.test', 'helpdesk.test', 'logo')$$),
          repeat('3', 64), 'portal_asset: globex''s logo on globex''s Host');
SELECT is(hdtest.as_role($$SELECT sha256 FROM api.portal_asset('help.b.example', 'helpdesk.test', 'logo')$$),
          repeat('3', 64), '... and on its verified domain');
SELECT is(hdtest.as_role($$SELECT count(*) FROM api.portal_asset('nowhere.example', 'helpdesk.test', 'logo') WHERE data IS NOT NULL$$),
          '0', '... nothing on a Host that is no tenant''s');

-- a tenant's key, a session's user: another tenant's ids are not found
SELECT is(hdtest.error_of(format('SELECT api.api_call(%L, ''tickets:read'', NULL, ''ticket.get'', %L)',
                                 hdtest.key('hdk_acme_full'), '{"id": "b0000000-0000-4000-8000-0000000000f1"}')) ->> 'sqlstate',
          'HDNFD', 'api: acme''s key, globex''s ticket: HDNFD');
SELECT is(hdtest.error_of(format('SELECT api.api_call(%L, ''admin'', NULL, ''webhook.get'', %L)',
                                 hdtest.key('hdk_acme_full'), '{"id": "b0000000-0000-4000-8000-0000000000b7"}')) ->> 'sqlstate',
          'HDNFD', 'api: acme''s key, globex''s webhook: HDNFD');
SELECT is(hdtest.error_of(format('SELECT api.api_call(%L, ''admin'', NULL, ''whatsapp.get'', %L)',
                                 hdtest.key('hdk_acme_full'), '{"id": "b0000000-0000-4000-8000-0000000000d7"}')) ->> 'sqlstate',
          'HDNFD', 'api: acme''s key, globex''s WhatsApp connection: HDNFD');
SELECT is(hdtest.error_of(format('SELECT api.api_call(%L, ''tickets:read'', NULL, ''ticket.get'', %L)',
                                 convert_to(E'session:globex.helpdesk.test\nhelpdesk.test\na0000000-0000-4000-8000-0000000000e1', 'UTF8'),
                                 '{"id": "b0000000-0000-4000-8000-0000000000f1"}')) ->> 'sqlstate',
          'HDUNA', 'api: acme''s agent as a console session on globex''s Host: HDUNA');
SELECT is(hdtest.error_of($$SELECT api.console_call('globex.helpdesk.test', 'helpdesk.test',
              'a0000000-0000-4000-8000-0000000000e1', '192.0.2.1', 'ticket.get', '{"number": "TKT-000001"}', NULL)$$) ->> 'sqlstate',
          'HDUNA', 'console: acme''s agent on globex''s Host: HDUNA');
SELECT is(hdtest.error_of($$SELECT api.console_attachment('globex.helpdesk.test', 'helpdesk.test',
              'a0000000-0000-4000-8000-0000000000e1', '192.0.2.1', 'TKT-000001', 'b0000000-0000-4000-8000-0000000000aa')$$) ->> 'sqlstate',
          'HDUNA', 'console: nor globex''s attachment');

-- the account steps: an email's user id, password hash and TOTP secret
-- only with the proof (else the app role would learn a user id and act as
-- that user through the calls that trust the session's user)
UPDATE helpdesk.users SET password_hash = 'scrypt$hash', totp_secret = 'v1:k1:TOTPSECRET'
WHERE user_id = 'b0000000-0000-4000-8000-0000000000e1';
SELECT is(hdtest.error_of($$SELECT api.console_call('globex.helpdesk.test', 'helpdesk.test', NULL, '192.0.2.1',
              'login.lookup', '{"email": "bob@globex.example"}', NULL)$$) ->> 'sqlstate',
          'HDUNA', 'console: no proof, no login lookup (no user id, hash or TOTP secret)');
SELECT is(hdtest.error_of($$SELECT api.portal_call('globex.helpdesk.test', 'helpdesk.test', NULL, '192.0.2.1',
              'login.result', '{"ok": true, "user_id": "b0000000-0000-4000-8000-0000000000c1"}',
              sha256('hdk_globex_full'::bytea))$$) ->> 'sqlstate',
          'HDUNA', 'portal: a tenant key''s hash is no proof: no login result');
SELECT is(hdtest.error_of($$SELECT api.console_call('globex.helpdesk.test', 'helpdesk.test',
              'b0000000-0000-4000-8000-0000000000e1', '192.0.2.1', 'totp.current', '{}', NULL)$$) ->> 'sqlstate',
          'HDUNA', 'console: no proof, no TOTP secret');
SELECT is(hdtest.as_role($$SELECT body->>'totp_secret' FROM api.console_call('globex.helpdesk.test', 'helpdesk.test', NULL,
              '192.0.2.1', 'login.lookup', '{"email": "bob@globex.example"}', sha256('hdp_provider'::bytea))$$),
          'v1:k1:TOTPSECRET', 'the module, with the proof, looks the account up (the secret sealed)');

-- audit rows: written by the functions, from the ctx they build; the
-- caller passes its address, nothing else of the row
SELECT lives_ok(format('SELECT hdtest.as_role(%L)',
                       format('SELECT api.api_call(%L, ''tickets:read'', ''198.51.100.7'', ''ticket.get'', %L)',
                              hdtest.key('hdk_acme_read'), '{"id": "a0000000-0000-4000-8000-0000000000f1"}')),
                'api: acme''s read key reads its ticket');
SELECT is((SELECT row(tenant_id, actor_type, actor_id, host(ip))::text FROM helpdesk.audit_log
           WHERE action = 'ticket.read' ORDER BY audit_id DESC LIMIT 1),
          row('a0000000-0000-4000-8000-000000000001'::uuid, 'api_key',
              'a0000000-0000-4000-8000-0000000000a2'::uuid, '198.51.100.7')::text,
          '... audited as that key, in its tenant, from the address passed');

-- refusals: a counter the tenant is found for, never an audit row
SELECT lives_ok(format('SELECT hdtest.as_role(%L)',
                       format('SELECT api.audit_refusal(''api'', ''globex.helpdesk.test'', ''helpdesk.test'', %L, ''hdk_acme'', ''198.51.100.9'', ''GET'', ''/v1/webhooks'', 403, ''insufficient-scope'', 1)',
                              hdtest.key('hdk_acme_read'))),
                'refusal: recorded');
SELECT is((SELECT tenant_id FROM helpdesk.auth_refusals WHERE address = '198.51.100.9'),
          'a0000000-0000-4000-8000-000000000001'::uuid, '... in the tenant of the key, not of the Host the caller named');
SELECT is((SELECT count(*)::int FROM helpdesk.audit_log WHERE host(ip) = '198.51.100.9'), 0,
          '... and no audit_log row');

SELECT lives_ok($$SELECT hdtest.as_role('SELECT count(api.audit_refusal(''portal'', ''nowhere.example'', ''helpdesk.test'', NULL, '''',
                      ''203.0.113.5'', ''POST'', ''/_/api/login'', 401, ''login-failed'', 1)) FROM generate_series(1, 5)')$$,
                'refusal: five from one address');
SELECT is((SELECT array_agg(count) FROM helpdesk.auth_refusals WHERE address = '203.0.113.5'),
          ARRAY[5], '... are one row that counts them');
SELECT lives_ok($$SELECT hdtest.as_role('SELECT count(api.audit_refusal(''api'', NULL, NULL, NULL, '''',
                      (''10.1.'' || (i / 256) || ''.'' || (i % 256))::inet, ''GET'', ''/v1/tickets'', 401,
                      ''unauthorized'', 1)) FROM generate_series(1, 300) i')$$,
                'refusal: a flood from 300 addresses, no tenant known');
SELECT is((SELECT row(count(*), sum(count))::text FROM helpdesk.auth_refusals
           WHERE tenant_id = '00000000-0000-0000-0000-000000000000'),
          row(201, 305)::text,
          'a flood from 300 addresses: at most 200 rows and one catch-all, every refusal counted');

SELECT * FROM finish();
ROLLBACK;
