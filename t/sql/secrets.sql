-- Secrets at rest, in the database: the columns take sealed values
-- ("v1:") or values marked as from before encryption ("plain:") only;
-- the rotation's entry points see ciphertexts only, write back sealed
-- values only and only over the value they read; the app role cannot
-- list secrets any other way.
BEGIN;
SELECT plan(19);
SELECT hdtest.fixtures();

INSERT INTO helpdesk.webhook_endpoints (tenant_id, endpoint_id, url, secret, events) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-0000000000f1',
     'https://acme.example/hook', 'v1:k1:AAAA', ARRAY['ticket.created']),
    ('b0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-0000000000f1',
     'https://globex.example/hook', 'plain:whsec_old', ARRAY['ticket.created']);

SELECT throws_ok($$INSERT INTO helpdesk.webhook_endpoints (tenant_id, url, secret, events)
                   VALUES ('a0000000-0000-4000-8000-000000000001', 'https://x.example', 'whsec_clear',
                           ARRAY['ticket.created'])$$,
                 '23514', NULL, 'a webhook secret in the clear is refused');
SELECT throws_ok($$UPDATE helpdesk.users SET totp_secret = 'JBSWY3DPEHPK3PXP'
                   WHERE user_id = 'a0000000-0000-4000-8000-0000000000e1'$$,
                 '23514', NULL, 'a TOTP secret in the clear is refused');
SELECT throws_ok($$INSERT INTO helpdesk.whatsapp_connections (tenant_id, provider, display_phone_number,
                       base_url, api_key, webhook_token)
                   VALUES ('a0000000-0000-4000-8000-000000000001', '360dialog', '+1 555', 'https://x.example',
                           'v1:k1:DDDD', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$,
                 '23514', NULL, 'a webhook token kept as it is (not its SHA-256) is refused');
SELECT lives_ok($$UPDATE helpdesk.users SET totp_secret = 'v1:k1:BBBB'
                  WHERE user_id = 'a0000000-0000-4000-8000-0000000000e1'$$,
                'a sealed one is taken');

SELECT is(hdtest.as_role($$SELECT string_agg(field || '=' || value, ',' ORDER BY field)
                           FROM api.secrets_stale(sha256('hdp_provider'::bytea), 'k1', NULL, NULL, 10)$$),
          'webhook_endpoints.secret=plain:whsec_old',
          'the values not under the current key: the plaintext one only');
SELECT is(hdtest.as_role($$SELECT string_agg(place, ',' ORDER BY field)
                           FROM api.secrets_stale(sha256('hdp_provider'::bytea), 'k2', NULL, NULL, 10)$$),
          'users.totp_secret:a0000000-0000-4000-8000-0000000000e1,'
          || 'webhook_endpoints.secret:a0000000-0000-4000-8000-0000000000f1,'
          || 'webhook_endpoints.secret:b0000000-0000-4000-8000-0000000000f1',
          'under a new key: all of them, each with the place its ciphertext is bound to');
SELECT is(hdtest.as_role($$SELECT count(*)::text FROM api.secrets_stale(sha256('hdp_provider'::bytea), 'k2',
                             'webhook_endpoints.secret', 'a0000000-0000-4000-8000-0000000000f1', 10)$$),
          '1', 'in batches: after a (field, row)');
SELECT is(hdtest.as_role($$SELECT count(*)::text FROM api.secrets_stale(sha256('hdp_provider'::bytea), 'k_', NULL, NULL, 10)$$),
          '3', 'a key id is matched as it is, not as a pattern');

SELECT is(hdtest.error_of($$SELECT api.secrets_store(sha256('hdp_provider'::bytea), '[{"field": "webhook_endpoints.secret",
        "row_id": "b0000000-0000-4000-8000-0000000000f1", "old": "plain:whsec_old", "new": "whsec_new"}]')$$)
          ->> 'sqlstate', 'P0001', 'the rotation cannot write a plaintext');
SELECT is(hdtest.error_of($$SELECT api.secrets_store(sha256('hdp_provider'::bytea), '[{"field": "tenants.name",
        "row_id": "b0000000-0000-4000-8000-0000000000f1", "old": "x", "new": "v1:k2:x"}]')$$)
          ->> 'sqlstate', 'P0001', 'nor another column');
SELECT is(hdtest.as_role($$SELECT api.secrets_store(sha256('hdp_provider'::bytea), '[{"field": "webhook_endpoints.secret",
        "row_id": "b0000000-0000-4000-8000-0000000000f1", "old": "plain:changed", "new": "v1:k2:CCCC"}]')::text$$),
          '0', 'a value changed since it was read is left alone');
SELECT is(hdtest.as_role($$SELECT api.secrets_store(sha256('hdp_provider'::bytea), '[{"field": "webhook_endpoints.secret",
        "row_id": "b0000000-0000-4000-8000-0000000000f1", "old": "plain:whsec_old", "new": "v1:k2:CCCC"}]')::text$$),
          '1', 'the value read is replaced');
SELECT is((SELECT secret FROM helpdesk.webhook_endpoints WHERE endpoint_id = 'b0000000-0000-4000-8000-0000000000f1'),
          'v1:k2:CCCC', 'by its new ciphertext');

SELECT is(hdtest.error_of($$SELECT count(*) FROM api.secrets_stale(NULL, 'k9', NULL, NULL, 10)$$) ->> 'sqlstate',
          'HDUNA', 'no proof of the provider key: no secrets to rotate');
SELECT is(hdtest.error_of($$SELECT api.secrets_store(sha256('hdk_acme_full'::bytea), '[]')$$) ->> 'sqlstate',
          'HDUNA', 'a tenant key''s hash is no proof');
SELECT is(hdtest.error_of('SELECT count(*) FROM outbox.secrets_all()') ->> 'sqlstate', '42501',
          'the app role cannot list secrets but through the entry points');

-- the ACME account's key and an order's certificate key: listed with the
-- places the module seals them to, written back over the value read
INSERT INTO helpdesk_meta.acme_accounts (account_id, directory_url, key_sealed)
VALUES ('c0000000-0000-4000-8000-0000000000a1', 'https://ca.example/dir', 'v1:k1:ACCT');
INSERT INTO helpdesk.acme_orders (tenant_id, hostname, kind, step, key_sealed)
VALUES ('a0000000-0000-4000-8000-000000000001', 'help.acme.example', 'issue', 'finalizing', 'v1:k1:ORDER');
SELECT is(hdtest.as_role($$SELECT string_agg(field || ' ' || place || ' ' || value, ',' ORDER BY field)
                           FROM api.secrets_stale(sha256('hdp_provider'::bytea), 'k2', 'acme', NULL, 10)
                           WHERE field LIKE 'acme%'$$),
          'acme_accounts.key acme_accounts.key:c0000000-0000-4000-8000-0000000000a1 v1:k1:ACCT,'
          || 'acme_orders.key tls_key:help.acme.example v1:k1:ORDER',
          'the ACME account key (sealed to its account) and an order''s key (sealed to its name) are rotated');
SELECT is(hdtest.as_role(format($$SELECT api.secrets_store(sha256('hdp_provider'::bytea), %L)::text$$,
          jsonb_build_array(
              jsonb_build_object('field', 'acme_accounts.key', 'row_id', 'c0000000-0000-4000-8000-0000000000a1',
                                 'old', 'v1:k1:ACCT', 'new', 'v1:k2:ACCT2'),
              jsonb_build_object('field', 'acme_orders.key',
                                 'row_id', md5('a0000000-0000-4000-8000-000000000001/help.acme.example')::uuid,
                                 'old', 'v1:k1:ORDER', 'new', 'v1:k2:ORDER2')))),
          '2', 'both written back');
SELECT is((SELECT a.key_sealed || ' ' || o.key_sealed FROM helpdesk_meta.acme_accounts a, helpdesk.acme_orders o
           WHERE a.account_id = 'c0000000-0000-4000-8000-0000000000a1' AND o.hostname = 'help.acme.example'),
          'v1:k2:ACCT2 v1:k2:ORDER2', 'under the new key');

SELECT * FROM finish();
ROLLBACK;
