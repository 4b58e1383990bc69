-- The ACME order job's state (sql/tls/acme.sql), called as nginx calls it
-- (the app role, the module's proof): one account per directory made by
-- one node at a time, orders made for the names that need one and handed
-- out once with a lease, every write fenced by it, the new-order bucket,
-- problems mapped to the domain's state, backoff, the per-name failure
-- limit, the HTTP-01 answer for a waiting token only.
BEGIN;
SELECT plan(80);

SELECT hdtest.fixtures();

CREATE FUNCTION pg_temp.q(sql text) RETURNS text LANGUAGE sql AS $$
    SELECT hdtest.as_role(sql)
$$;

CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE sql AS $$
    SELECT hdtest.error_of(sql) ->> 'sqlstate'
$$;

CREATE FUNCTION pg_temp.proof() RETURNS text LANGUAGE sql AS $$
    SELECT quote_literal(hdtest.key('hdp_provider')::text) || '::bytea'
$$;

-- a claim as the job makes it: its rows as json
CREATE FUNCTION pg_temp.claim(account uuid, n int DEFAULT 10) RETURNS jsonb LANGUAGE sql AS $$
    SELECT hdtest.as_role(format(
        'SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.hostname), ''[]'') FROM api.acme_claim(%s, %L, %s, 60, 3, 3600) c',
        pg_temp.proof(), account, n))::jsonb
$$;

CREATE FUNCTION pg_temp.step(host text, lease text, step text, patch jsonb DEFAULT '{}')
RETURNS text LANGUAGE sql AS $$
    SELECT hdtest.as_role(format('SELECT api.acme_step(%s, %L, %L, %L::uuid, %L, %L::jsonb, 0, 60)',
        pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001', host, lease, step, patch))
$$;

CREATE FUNCTION pg_temp.result(host text, lease text, problem jsonb, retry int DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
    SELECT hdtest.as_role(format('SELECT api.acme_result(%s, %L, %L, %L::uuid, %L::jsonb, %L::int)',
        pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001', host, lease, problem, retry))
$$;

CREATE FUNCTION pg_temp.status(host text) RETURNS text LANGUAGE sql AS $$
    SELECT status FROM helpdesk.portal_domains WHERE hostname = host
$$;

CREATE FUNCTION pg_temp.lease(c jsonb, host text) RETURNS text LANGUAGE sql AS $$
    SELECT x->>'lease_token' FROM jsonb_array_elements(c) x WHERE x->>'hostname' = host
$$;

CREATE FUNCTION pg_temp.expire(host text) RETURNS void LANGUAGE sql AS $$
    UPDATE helpdesk.acme_orders SET lease_until = now() - interval '1 second', due_at = now()
    WHERE hostname = host
$$;

-- the proof ------------------------------------------------------------
SELECT is(pg_temp.err($$SELECT * FROM api.acme_account(sha256('x'::bytea), 'https://ca.test/dir', 60, 300, 10800)$$),
          'HDUNA', 'account: a wrong proof is refused');
SELECT is(pg_temp.err($$SELECT * FROM api.acme_claim(NULL, gen_random_uuid(), 10, 60, 3, 3600)$$),
          'HDUNA', 'claim: no proof, no order handed out');
SELECT is(pg_temp.err($$SELECT api.acme_http01(sha256('x'::bytea), 'abcdefghijklmnopqrstuvwxyz')$$),
          'HDUNA', 'http01: a wrong proof is refused');
SELECT is(pg_temp.err($$SELECT * FROM helpdesk_meta.acme_accounts$$), '42501',
          'the app role cannot read the accounts');

-- the account ----------------------------------------------------------
CREATE TEMP TABLE acct AS
SELECT * FROM jsonb_to_record(pg_temp.q(format(
    'SELECT to_jsonb(a) FROM api.acme_account(%s, %L, 60, 2, 10800) a',
    pg_temp.proof(), 'https://ca.test/dir'))::jsonb)
    AS x(account_id uuid, key_sealed text, kid_url text, thumbprint text, lease_token uuid);
GRANT SELECT ON acct TO helpdesk_app;

SELECT ok((SELECT lease_token IS NOT NULL AND key_sealed IS NULL FROM acct),
          'a new account: a lease to make it, no key yet');
SELECT is(pg_temp.q(format('SELECT to_jsonb(a) FROM api.acme_account(%s, %L, 60, 2, 10800) a',
                           pg_temp.proof(), 'https://ca.test/dir'))::jsonb - 'account_id',
          '{"key_sealed": null, "kid_url": null, "thumbprint": null, "lease_token": null}'::jsonb,
          'while another node makes it: neither key nor lease');
SELECT is(pg_temp.q(format('SELECT to_jsonb(a) FROM api.acme_account(%s, %L, 60, 2, 10800, %L) a',
                           pg_temp.proof(), 'https://ca.test/dir', gen_random_uuid()))::jsonb
          ->> 'lease_token', NULL,
          'a lease it does not hold: none for that node either');
SELECT is(pg_temp.q(format('SELECT to_jsonb(a) FROM api.acme_account(%s, %L, 60, 2, 10800, %L) a',
                           pg_temp.proof(), 'https://ca.test/dir', (SELECT lease_token FROM acct)))::jsonb
          ->> 'lease_token', (SELECT lease_token::text FROM acct),
          'its holder (a newAccount that failed) gets its lease back, to try again at once');
SELECT is(pg_temp.err(format('SELECT api.acme_account_store(%s, %L, gen_random_uuid(), %L, %L, NULL, NULL)',
                             pg_temp.proof(), (SELECT account_id FROM acct), 'v1:k:x',
                             repeat('T', 43))),
          'HDCNF', 'the key is stored by the lease holder only');
SELECT lives_ok(format('SELECT hdtest.as_role(%L)', format(
                    'SELECT api.acme_account_store(%s, %L, %L, %L, %L, NULL, NULL)',
                    pg_temp.proof(), (SELECT account_id FROM acct), (SELECT lease_token FROM acct),
                    'v1:k:sealed-key', repeat('T', 43))),
                'the key and its thumbprint stored before newAccount');
SELECT is(pg_temp.err(format('SELECT api.acme_account_store(%s, %L, %L, %L, NULL, NULL, NULL)',
                             pg_temp.proof(), (SELECT account_id FROM acct),
                             (SELECT lease_token FROM acct), 'v1:k:another')),
          'HDCNF', 'a stored key is never replaced');
SELECT lives_ok(format('SELECT hdtest.as_role(%L)', format(
                    'SELECT api.acme_account_store(%s, %L, %L, NULL, NULL, %L, NULL)',
                    pg_temp.proof(), (SELECT account_id FROM acct), (SELECT lease_token FROM acct),
                    'https://ca.test/acct/1')),
                'the account''s URL stored after newAccount');
SELECT is(pg_temp.q(format('SELECT to_jsonb(a) FROM api.acme_account(%s, %L, 60, 2, 10800) a',
                           pg_temp.proof(), 'https://ca.test/dir'))::jsonb - 'account_id',
          jsonb_build_object('key_sealed', 'v1:k:sealed-key', 'kid_url', 'https://ca.test/acct/1',
                             'thumbprint', repeat('T', 43), 'lease_token', NULL),
          'then every node gets the account, no lease');
SELECT lives_ok(format('SELECT hdtest.as_role(%L)', format(
                    'SELECT api.acme_account_store(%s, %L, NULL, NULL, NULL, NULL, %L)',
                    pg_temp.proof(), (SELECT account_id FROM acct), '{letsencrypt.org}')),
                'the CAA identities from any node');
SELECT is((SELECT caa_identities FROM helpdesk_meta.acme_accounts), '{letsencrypt.org}'::text[],
          'CAA identities kept');

-- claim: an issue order for a verified name -----------------------------
INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'one.acme.test', 'verified'),
    ('a0000000-0000-4000-8000-000000000001', 'two.acme.test', 'verified'),
    ('a0000000-0000-4000-8000-000000000001', 'late.acme.test', 'pending_dns'),
    ('d0000000-0000-4000-8000-000000000001', 'dead.test', 'verified');

CREATE TEMP TABLE c1 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;

SELECT is((SELECT jsonb_agg(x->>'hostname' ORDER BY x->>'hostname') FROM c1, jsonb_array_elements(c) x),
          '["one.acme.test", "two.acme.test"]'::jsonb,
          'claim: the verified names of active tenants, nothing pending');
SELECT is((SELECT count(*)::int FROM c1, jsonb_array_elements(c) x
           WHERE x->>'kind' = 'issue' AND x->>'step' = 'new' AND x->>'lease_token' IS NOT NULL),
          2, 'issue orders at step new, each with a lease');
SELECT is(pg_temp.status('one.acme.test'), 'issuing', 'an issue claim moves the domain to issuing');
SELECT is(pg_temp.claim((SELECT account_id FROM acct)), '[]'::jsonb,
          'a leased order is not handed out twice');

-- step: fenced, the bucket -----------------------------------------------
SELECT is(pg_temp.err(format('SELECT api.acme_step(%s, %L, %L, gen_random_uuid(), %L, %L, 0, 60)',
                             pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001',
                             'one.acme.test', 'ordered', '{}')),
          'HDCNF', 'a step without the lease is refused');
SELECT is(pg_temp.err(format('SELECT api.acme_step(%s, %L, %L, %L::uuid, %L, %L, 0, 60)',
                             pg_temp.proof(), 'b0000000-0000-4000-8000-000000000001',
                             'one.acme.test', pg_temp.lease((SELECT c FROM c1), 'one.acme.test'),
                             'ordered', '{}')),
          'HDCNF', 'the lease of one tenant''s order does not reach another''s');
SELECT is(pg_temp.err(format('SELECT api.acme_step(%s, %L, %L, %L::uuid, %L, %L, 0, 60)',
                             pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001',
                             'one.acme.test', pg_temp.lease((SELECT c FROM c1), 'one.acme.test'),
                             'ordered', '{"tenant_id": "x"}')),
          'HDVAL', 'a patch names order fields only');

SELECT is(pg_temp.step('one.acme.test', pg_temp.lease((SELECT c FROM c1), 'one.acme.test'), 'ordered'),
          '0', 'entering ordered spends a token');
SELECT is(pg_temp.step('two.acme.test', pg_temp.lease((SELECT c FROM c1), 'two.acme.test'), 'ordered'),
          '0', 'a second token (orders=2)');

INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'three.acme.test', 'verified');
CREATE TEMP TABLE c2 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT ok((SELECT w::int BETWEEN 5000 AND 5401
           FROM pg_temp.step('three.acme.test', pg_temp.lease((SELECT c FROM c2), 'three.acme.test'),
                             'ordered') w),
          'the bucket is empty: the order waits about 3h/2 for the next token');
SELECT is((SELECT step || ' ' || (lease_token IS NULL)::text || ' ' || (due_at > now() + interval '1 hour')::text
           FROM helpdesk.acme_orders WHERE hostname = 'three.acme.test'),
          'new true true', 'still new, lease given back, due when a token is there');

-- the URLs and the token, persisted; the HTTP-01 answer ----------------
SELECT is(pg_temp.step('one.acme.test', pg_temp.lease((SELECT c FROM c1), 'one.acme.test'), 'authorizing',
                       '{"order_url": "https://ca.test/order/1", "authz_urls": ["https://ca.test/authz/1"],
                         "finalize_url": "https://ca.test/finalize/1"}'),
          '0', 'the order''s URLs stored');
SELECT is(pg_temp.q(format('SELECT api.acme_http01(%s, %L)', pg_temp.proof(), 'tok_ABCDEFGHIJKLMNOP')),
          NULL, 'no answer before the token is persisted');
SELECT is(pg_temp.step('one.acme.test', pg_temp.lease((SELECT c FROM c1), 'one.acme.test'), 'authorizing',
                       '{"challenge_url": "https://ca.test/chall/1", "token": "tok_ABCDEFGHIJKLMNOP"}'),
          '0', 'the token persisted before the challenge is answered');
SELECT is(pg_temp.q(format('SELECT api.acme_http01(%s, %L)', pg_temp.proof(), 'tok_ABCDEFGHIJKLMNOP')),
          'tok_ABCDEFGHIJKLMNOP.' || repeat('T', 43), 'the key authorization for the waiting token');
SELECT is(pg_temp.q(format('SELECT api.acme_http01(%s, %L)', pg_temp.proof(), 'tok_ABCDEFGHIJKLMNOQ')),
          NULL, 'an unknown token: no answer');
SELECT is(pg_temp.q(format('SELECT api.acme_http01(%s, %L)', pg_temp.proof(), 'tok_ABCDEFGHIJKLMN%')),
          NULL, 'a token outside the alphabet: no answer');
SELECT is((SELECT array_to_string(authz_urls, ',') || ' ' || order_url || ' ' || challenge_url
           FROM helpdesk.acme_orders WHERE hostname = 'one.acme.test'),
          'https://ca.test/authz/1 https://ca.test/order/1 https://ca.test/chall/1',
          'earlier URLs kept when a later patch omits them');

-- a crash: the lease runs out, another node resumes at the same step ----
SELECT pg_temp.expire('one.acme.test');
CREATE TEMP TABLE c3 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is((SELECT x->>'step' || ' ' || (x->>'token') FROM c3, jsonb_array_elements(c) x
           WHERE x->>'hostname' = 'one.acme.test'),
          'authorizing tok_ABCDEFGHIJKLMNOP', 'a lapsed lease: claimed again at its step, with its token');
SELECT is(pg_temp.err(format('SELECT api.acme_step(%s, %L, %L, %L::uuid, %L, %L, 0, 60)',
                             pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001', 'one.acme.test',
                             pg_temp.lease((SELECT c FROM c1), 'one.acme.test'), 'validating', '{}')),
          'HDCNF', 'the old holder''s late write is refused');

-- problems -> domain states ----------------------------------------------
SELECT is(pg_temp.result('one.acme.test', pg_temp.lease((SELECT c FROM c3), 'one.acme.test'),
                         '{"type": "urn:ietf:params:acme:error:incorrectResponse",
                           "detail": "the key authorization did not match"}'),
          'dns_broken', 'incorrectResponse: dns_broken');
SELECT is((SELECT status || ': ' || reason FROM helpdesk.portal_domains WHERE hostname = 'one.acme.test'),
          'dns_broken: the key authorization did not match', 'with the CA''s detail as the reason');
SELECT is(pg_temp.q(format('SELECT api.acme_http01(%s, %L)', pg_temp.proof(), 'tok_ABCDEFGHIJKLMNOP')),
          NULL, 'a failed order''s token: no answer');

SELECT is(pg_temp.result('two.acme.test', pg_temp.lease((SELECT c FROM c1), 'two.acme.test'),
                         '{"type": "urn:ietf:params:acme:error:serverInternal", "detail": "oops"}'),
          'backoff', 'serverInternal: backoff only');
SELECT is((SELECT step || ' ' || attempts || ' ' || (due_at BETWEEN now() + interval '59 seconds'
                                                               AND now() + interval '61 seconds')::text
           FROM helpdesk.acme_orders WHERE hostname = 'two.acme.test'),
          'ordered 1 true', 'the step kept, due in a minute');
SELECT is(pg_temp.status('two.acme.test'), 'issuing', 'the domain unchanged');
SELECT pg_temp.expire('two.acme.test');
CREATE TEMP TABLE c4 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is(pg_temp.result('two.acme.test', pg_temp.lease((SELECT c FROM c4), 'two.acme.test'),
                         '{"detail": "connection refused"}', 30),
          'backoff', 'a transfer that failed: backoff');
SELECT ok((SELECT due_at BETWEEN now() + interval '599 seconds' AND now() + interval '601 seconds'
           FROM helpdesk.acme_orders WHERE hostname = 'two.acme.test'),
          'the second failure in a row: ten minutes (Retry-After shorter)');

SELECT pg_temp.expire('two.acme.test');
CREATE TEMP TABLE c4b AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is(pg_temp.result('two.acme.test', pg_temp.lease((SELECT c FROM c4b), 'two.acme.test'),
                         '{"type": "urn:ietf:params:acme:error:badNonce", "detail": "stale"}'),
          'backoff', 'nonces refused past the retries: backoff');
SELECT ok((SELECT attempts = 2 AND due_at BETWEEN now() + interval '4 seconds' AND now() + interval '6 seconds'
           FROM helpdesk.acme_orders WHERE hostname = 'two.acme.test'),
          'but soon again (5 s), the failures in a row not counted');

SELECT pg_temp.expire('two.acme.test');
CREATE TEMP TABLE c5 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is(pg_temp.result('two.acme.test', pg_temp.lease((SELECT c FROM c5), 'two.acme.test'),
                         '{"type": "urn:ietf:params:acme:error:rateLimited", "detail": "slow down"}', 7200),
          'paused', 'rateLimited: paused');
SELECT is(pg_temp.status('two.acme.test'), 'issuing', 'rateLimited leaves the domain as it was');
SELECT ok((SELECT paused_until BETWEEN now() + interval '7199 seconds' AND now() + interval '7201 seconds'
           FROM helpdesk_meta.acme_limits), 'the account paused until Retry-After');
UPDATE helpdesk.acme_orders SET due_at = now() WHERE hostname = 'two.acme.test';
SELECT is(pg_temp.claim((SELECT account_id FROM acct)), '[]'::jsonb, 'a paused account gets nothing');
UPDATE helpdesk_meta.acme_limits SET paused_until = NULL;

CREATE TEMP TABLE c6 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is(pg_temp.result('two.acme.test', pg_temp.lease((SELECT c FROM c6), 'two.acme.test'),
                         '{"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "forbidden name"}'),
          'failed', 'rejectedIdentifier: failed');
SELECT is(pg_temp.status('two.acme.test'), 'failed', 'the domain failed');

-- three failed authorizations of a name in the hour: not claimed --------
INSERT INTO helpdesk.acme_attempts (tenant_id, hostname, kind, outcome)
SELECT 'a0000000-0000-4000-8000-000000000001', 'three.acme.test', 'issue', 'authz_failed'
FROM generate_series(1, 3);
UPDATE helpdesk.acme_orders SET due_at = now() WHERE hostname = 'three.acme.test';
SELECT is(pg_temp.claim((SELECT account_id FROM acct)), '[]'::jsonb,
          'a name with 3 failed authorizations in the last hour waits');
UPDATE helpdesk.acme_attempts SET at = now() - interval '61 minutes' WHERE hostname = 'three.acme.test';

-- store ----------------------------------------------------------------
CREATE TEMP TABLE c7 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is(pg_temp.q(format('SELECT api.acme_store(%s, %L, %L, %L::uuid, %L, %L, now(), now() + interval %L, %L)',
                           pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001', 'three.acme.test',
                           pg_temp.lease((SELECT c FROM c7), 'three.acme.test'),
                           ARRAY['\x3082'::bytea, '\x3083'::bytea], 'v1:k:leaf-key', '90 days',
                           'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')),
          '1', 'the certificate stored: generation 1');
SELECT is((SELECT o.step || ' ' || d.status FROM helpdesk.acme_orders o
           JOIN helpdesk.portal_domains d USING (tenant_id, hostname) WHERE o.hostname = 'three.acme.test'),
          'done active', 'the order done, the domain active');
SELECT ok((SELECT renew_after BETWEEN not_before + interval '58 days' AND not_before + interval '62 days'
           FROM helpdesk.tls_certificates WHERE hostname = 'three.acme.test'),
          'renewal due at two thirds of the life');

-- ARI: the renewal information asked once, the window taken ------------
CREATE FUNCTION pg_temp.ari_due() RETURNS text LANGUAGE sql AS $$
    SELECT hdtest.as_role(format(
        'SELECT coalesce(string_agg(hostname || '' '' || generation || '' '' || ari_cert_id, '',''), '''') FROM api.acme_ari_due(%s, 8)',
        pg_temp.proof()))
$$;
CREATE FUNCTION pg_temp.ari_set(s text, e text, retry int) RETURNS text LANGUAGE sql AS $$
    SELECT hdtest.as_role(format('SELECT api.acme_ari_set(%s, %L, %L, 1, %L, %L, %L::int)',
        pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001', 'three.acme.test', s, e, retry))
$$;
SELECT is(pg_temp.err($$SELECT * FROM api.acme_ari_due(NULL, 8)$$), 'HDUNA', 'ARI: no proof, nothing handed out');
SELECT is(pg_temp.ari_due(), 'three.acme.test 1 aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
          'ARI: a stored certificate with its certID is asked about at once');
SELECT is(pg_temp.ari_due(), '', 'ARI: handed out once (one node asks)');
SELECT pg_temp.ari_set((now() + interval '10 days')::text, (now() + interval '12 days')::text, NULL);
SELECT ok((SELECT renew_after BETWEEN now() + interval '10 days' AND now() + interval '12 days'
                  AND ari_next_at BETWEEN now() + interval '359 minutes' AND now() + interval '361 minutes'
           FROM helpdesk.tls_certificates WHERE hostname = 'three.acme.test'),
          'ARI: renew_after inside the suggested window, asked again in 6 hours without Retry-After');
SELECT pg_temp.ari_set('garbage', 'x', 7200);
SELECT ok((SELECT renew_after BETWEEN now() + interval '10 days' AND now() + interval '12 days'
                  AND ari_next_at BETWEEN now() + interval '119 minutes' AND now() + interval '121 minutes'
           FROM helpdesk.tls_certificates WHERE hostname = 'three.acme.test'),
          'ARI: an unreadable window changes nothing but the next ask (Retry-After: 2 hours)');
SELECT pg_temp.ari_set((now() - interval '2 days')::text, (now() - interval '1 day')::text, 30);
SELECT ok((SELECT renew_after <= now() AND ari_next_at BETWEEN now() + interval '59 seconds' AND now() + interval '61 seconds'
           FROM helpdesk.tls_certificates WHERE hostname = 'three.acme.test'),
          'ARI: a window in the past: renewal due now; a Retry-After under a minute: asked again in a minute');

-- renew: due, DNS checked within a day ----------------------------------
UPDATE helpdesk.tls_certificates SET renew_after = now() - interval '1 minute' WHERE hostname = 'three.acme.test';
UPDATE helpdesk.portal_domains SET checked_at = now() - interval '2 days' WHERE hostname = 'three.acme.test';
SELECT is(pg_temp.claim((SELECT account_id FROM acct)), '[]'::jsonb,
          'no renewal while the last DNS check is older than a day');
UPDATE helpdesk.portal_domains SET checked_at = now() - interval '1 hour' WHERE hostname = 'three.acme.test';
CREATE TEMP TABLE c7r AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is((SELECT x->>'kind' || ' ' || (x->>'step') || ' ' || (x->>'replaces') FROM c7r, jsonb_array_elements(c) x),
          'renew new aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
          'a renewal order once DNS was checked, replacing the certificate (ARI)');
UPDATE helpdesk_meta.acme_limits SET tokens = 3, updated_at = now() WHERE account_id = (SELECT account_id FROM acct);
SELECT is(pg_temp.step('three.acme.test', pg_temp.lease((SELECT c FROM c7r), 'three.acme.test'), 'ordered'), '0',
          'ARI renewal: ordered');
SELECT ok((SELECT tokens >= 3 FROM helpdesk_meta.acme_limits WHERE account_id = (SELECT account_id FROM acct)),
          'without spending a new-order token');
UPDATE helpdesk_meta.acme_limits SET tokens = 0, updated_at = now() WHERE account_id = (SELECT account_id FROM acct);
SELECT isnt(pg_temp.step('three.acme.test', pg_temp.lease((SELECT c FROM c7r), 'three.acme.test'), 'ordered',
                         '{"replaces": null}'), '0',
            'the replacement refused, ordered without it: that one waits for a token');
SELECT is((SELECT step || ' ' || coalesce(replaces, '-') FROM helpdesk.acme_orders WHERE hostname = 'three.acme.test'),
          'new -', 'back to new, without replaces');
UPDATE helpdesk_meta.acme_limits SET tokens = 5, updated_at = now() WHERE account_id = (SELECT account_id FROM acct);
SELECT pg_temp.expire('three.acme.test');
CREATE TEMP TABLE c7s AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is(pg_temp.err(format('SELECT api.acme_step(%s, %L, %L, %L::uuid, %L, %L, 0, 60)',
                             pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001', 'three.acme.test',
                             pg_temp.lease((SELECT c FROM c7s), 'three.acme.test'),
                             'ordered', '{"replaces": "x.y"}')),
          'HDVAL', 'replaces can only be dropped');
UPDATE helpdesk_meta.acme_limits SET tokens = 5, updated_at = now() WHERE account_id = (SELECT account_id FROM acct);

-- revoke: a released name's live certificate ----------------------------
SELECT pg_temp.expire('three.acme.test');
UPDATE helpdesk.portal_domains SET status = 'released' WHERE hostname = 'three.acme.test';
CREATE TEMP TABLE c8 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is((SELECT x->>'kind' || ' ' || (x->>'cert_der') FROM c8, jsonb_array_elements(c) x),
          'revoke \x3082', 'released: a revoke order with the leaf');
SELECT lives_ok(format('SELECT hdtest.as_role(%L)', format('SELECT api.acme_revoked(%s, %L, %L, %L::uuid)',
                    pg_temp.proof(), 'a0000000-0000-4000-8000-000000000001', 'three.acme.test',
                    pg_temp.lease((SELECT c FROM c8), 'three.acme.test'))),
                'revoked');
SELECT is((SELECT count(*)::int FROM helpdesk.tls_certificates
           WHERE hostname = 'three.acme.test' AND revoked_at IS NULL),
          0, 'never served again');

-- fairness: one tenant's backlog does not go first, nor past its cap ----
CREATE FUNCTION pg_temp.step_of(tenant text, host text, lease text, step text)
RETURNS text LANGUAGE sql AS $$
    SELECT hdtest.as_role(format('SELECT api.acme_step(%s, %L, %L, %L::uuid, %L, %L::jsonb, 0, 60)',
        pg_temp.proof(), tenant, host, lease, step, '{}'))
$$;
UPDATE helpdesk_meta.acme_limits SET tokens = 5, updated_at = now() WHERE account_id = (SELECT account_id FROM acct);
INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status)
SELECT 'a0000000-0000-4000-8000-000000000001'::uuid, 'swap' || i || '.acme.test', 'verified'
FROM generate_series(1, 4) i
UNION ALL SELECT 'b0000000-0000-4000-8000-000000000001', 'fair.globex.test', 'verified';
INSERT INTO helpdesk.acme_orders (tenant_id, hostname, kind, due_at)
SELECT 'a0000000-0000-4000-8000-000000000001'::uuid, 'swap' || i || '.acme.test', 'issue',
       now() - make_interval(mins => 20 - i)
FROM generate_series(1, 4) i
UNION ALL SELECT 'b0000000-0000-4000-8000-000000000001', 'fair.globex.test', 'issue',
                 now() - interval '1 minute';
CREATE TEMP TABLE f1 AS SELECT pg_temp.claim((SELECT account_id FROM acct), 2) AS c;
SELECT is((SELECT jsonb_agg(x->>'hostname' ORDER BY x->>'hostname') FROM f1, jsonb_array_elements(c) x),
          '["fair.globex.test", "swap1.acme.test"]'::jsonb,
          'claim: each tenant''s oldest order first, not the oldest tenant''s backlog');

INSERT INTO helpdesk.acme_attempts (tenant_id, hostname, kind, outcome, at)
SELECT 'a0000000-0000-4000-8000-000000000001', 'gone' || i || '.acme.test', 'issue', 'ordered',
       now() - interval '30 minutes' + make_interval(secs => i)
FROM generate_series(1, 10) i;
SELECT ok((SELECT w::int BETWEEN 1790 AND 1811
           FROM pg_temp.step_of('a0000000-0000-4000-8000-000000000001', 'swap1.acme.test',
                                pg_temp.lease((SELECT c FROM f1), 'swap1.acme.test'), 'ordered') w),
          'a tenant with 10 new orders in the hour waits until the oldest is an hour old');
SELECT is((SELECT step || ' ' || (lease_token IS NULL)::text || ' ' || (due_at > now() + interval '29 minutes')::text
           FROM helpdesk.acme_orders WHERE hostname = 'swap1.acme.test'),
          'new true true', 'its order still new, the lease given back, due then');
SELECT ok((SELECT tokens >= 4.99 FROM helpdesk_meta.acme_limits WHERE account_id = (SELECT account_id FROM acct)),
          'and no token of the shared bucket spent');
SELECT is(pg_temp.step_of('b0000000-0000-4000-8000-000000000001', 'fair.globex.test',
                          pg_temp.lease((SELECT c FROM f1), 'fair.globex.test'), 'ordered'),
          '0', 'another tenant orders meanwhile');
SELECT is((SELECT count(*)::int FROM helpdesk.acme_attempts
           WHERE tenant_id = 'b0000000-0000-4000-8000-000000000001' AND outcome = 'ordered'),
          1, 'its new order recorded (the count the cap reads)');

-- a name released and taken up again before any claim: still revoked ---
INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'quick.acme.test', 'active');
SELECT tls.cert_store('a0000000-0000-4000-8000-000000000001', 'quick.acme.test',
                      ARRAY['\x3084'::bytea], 'v1:k:quick', now(), now() + interval '90 days', 'acme');
UPDATE helpdesk.portal_domains SET status = 'released' WHERE hostname = 'quick.acme.test';
UPDATE helpdesk.portal_domains SET status = 'pending_dns' WHERE hostname = 'quick.acme.test';
UPDATE helpdesk.acme_orders SET lease_until = now() + interval '1 hour'
WHERE hostname IN ('swap1.acme.test', 'swap2.acme.test', 'swap3.acme.test', 'swap4.acme.test',
                   'fair.globex.test');
CREATE TEMP TABLE q1 AS SELECT pg_temp.claim((SELECT account_id FROM acct)) AS c;
SELECT is((SELECT string_agg(x->>'hostname' || ' ' || (x->>'kind') || ' ' || (x->>'cert_der'), ',')
           FROM q1, jsonb_array_elements(c) x),
          'quick.acme.test revoke \x3084',
          'released then pending again before a claim: its certificate is revoked all the same');

-- without the DNS check job: renewals on renew_after alone ---------------
CREATE FUNCTION pg_temp.claim_checks(account uuid, checks boolean) RETURNS jsonb LANGUAGE sql AS $$
    SELECT hdtest.as_role(format(
        'SELECT coalesce(jsonb_agg(x->>''hostname'' || '' '' || (x->>''kind'')), ''[]'') FROM (SELECT to_jsonb(c) x FROM api.acme_claim(%s, %L, 10, 60, 3, 3600, %L) c) y',
        pg_temp.proof(), account, checks))::jsonb
$$;
INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'nocheck.acme.test', 'active');
SELECT tls.cert_store('a0000000-0000-4000-8000-000000000001', 'nocheck.acme.test',
                      ARRAY['\x3085'::bytea], 'v1:k:nocheck', now() - interval '80 days',
                      now() + interval '10 days', 'acme');
UPDATE helpdesk.tls_certificates SET renew_after = now() - interval '1 minute'
WHERE hostname = 'nocheck.acme.test';
SELECT is(pg_temp.claim_checks((SELECT account_id FROM acct), true), '[]'::jsonb,
          'with DNS checks running: a name never checked is not renewed');
SELECT is(pg_temp.claim_checks((SELECT account_id FROM acct), false), '["nocheck.acme.test renew"]'::jsonb,
          'without the DNS check job: renewed once renew_after has come');

SELECT * FROM finish();
ROLLBACK;
