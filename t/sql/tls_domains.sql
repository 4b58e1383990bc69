-- Tenants' own domains (sql/tls/domains.sql): the transitions allowed and
-- refused, the check schedule, one owner per proven name across tenants,
-- the check job's lease fence, "check now" once a minute, and a released
-- name added again.  Everything runs in one transaction (now() stands
-- still): times are moved by editing the rows.
BEGIN;
SELECT plan(49);
SELECT hdtest.fixtures();

CREATE TEMP TABLE ids AS SELECT 'a0000000-0000-4000-8000-000000000001'::uuid AS acme,
                                'b0000000-0000-4000-8000-000000000001'::uuid AS globex;
GRANT SELECT ON ids TO PUBLIC;

INSERT INTO helpdesk.webhook_endpoints (tenant_id, url, secret, events)
SELECT acme, 'https://hooks.acme.example/', 'v1:k1:whsec', ARRAY['domain.status_changed'] FROM ids;

CREATE FUNCTION pg_temp.acme_ctx() RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('tenant_id', 'a0000000-0000-4000-8000-000000000001',
                              'actor_type', 'api_key', 'actor_id', 'a0000000-0000-4000-8000-0000000000a1')
$$;

-- the serving states, and their readers
SELECT ok(tls.serving('active') AND tls.serving('dns_broken'), 'active and dns_broken serve');
SELECT ok(NOT tls.serving('pending_dns') AND NOT tls.serving('verified') AND NOT tls.serving('issuing')
          AND NOT tls.serving('failed') AND NOT tls.serving('released'), 'no other state serves');

-- names
SELECT is(tls.host_normal('  Help.Acme.EXAMPLE. '), 'help.acme.example', 'lower case, no blanks, no trailing dot');
SELECT is(tls.host_problem(repeat('a', 60) || '.' || repeat('b', 60) || '.' || repeat('c', 60) || '.' || repeat('d', 60) || '.' || repeat('e', 60) || '.com'),
          'a host name has 253 characters at most', 'longer than 253: refused');
SELECT is(tls.host_problem('*.acme.example'), 'a wildcard is not accepted: add each name', 'a wildcard: refused');
SELECT is(tls.host_problem('192.0.2.1'), 'an IP address is not a host name', 'an IPv4 address: refused');
SELECT is(tls.host_problem('[2001:db8::1]'), 'an IP address is not a host name', 'an IPv6 address: refused');
SELECT is(tls.host_problem(repeat('a', 64) || '.example'), 'a label (between dots) has 63 characters at most', 'a label of 64: refused');
SELECT is(tls.host_problem('localhost'), 'a full name with a dot, like help.example.com', 'one label: refused');
SELECT is(tls.host_problem('-x.example'), 'letters, digits and hyphens only, between dots, no hyphen at either end of a label', 'a leading hyphen: refused');
SELECT is(tls.host_problem('suporte.açaí.example'), 'an international name is sent in its ASCII form (xn--...)', 'a U-label: refused');
SELECT is(tls.host_problem('xn--aa-nia.example'), NULL, 'an A-label: accepted');

-- adding: the records, the provider's own zones, the cap
SELECT is((SELECT (tls.domain_add(acme, 'Help.Acme.Example.', 'cd.provider.example', 'claim',
                                             ARRAY['support.provider.example'], pg_temp.acme_ctx())).status FROM ids),
          'pending_dns', 'a tenant''s name starts pending_dns');
SELECT is((SELECT cname_target FROM helpdesk.portal_domains WHERE hostname = 'help.acme.example'),
          't-a0000000000040008000000000000001.cd.provider.example', 'its CNAME target names the tenant');
SELECT is((SELECT tls.domain_json(d)->'records'->0 FROM helpdesk.portal_domains d WHERE hostname = 'help.acme.example'),
          jsonb_build_object('type', 'CNAME', 'name', 'help.acme.example',
                             'value', 't-a0000000000040008000000000000001.cd.provider.example'),
          'the records to create: the CNAME');
SELECT is((SELECT tls.domain_json(d)->'records'->1->>'name' FROM helpdesk.portal_domains d WHERE hostname = 'help.acme.example'),
          '_helpdesk-verify.help.acme.example', 'and the TXT proof');
SELECT ok((SELECT tls.domain_json(d) ? 'certificate' AND tls.domain_json(d)->'certificate' = 'null'
           FROM helpdesk.portal_domains d WHERE hostname = 'help.acme.example'),
          'no certificate yet');
SELECT is(hdtest.error_of($$SELECT tls.domain_add('a0000000-0000-4000-8000-000000000001', 'acme.support.provider.example',
                               'cd.provider.example', 'claim', ARRAY['support.provider.example'])$$, 'postgres')->>'sqlstate',
          'HDINV', 'a name under the base zone: refused');
SELECT is(hdtest.error_of($$SELECT tls.domain_add('a0000000-0000-4000-8000-000000000001', 'CD.provider.example',
                               'cd.provider.example', 'claim', ARRAY['support.provider.example'])$$, 'postgres')->'detail'->0->>'code',
          'reserved', 'the CNAME zone itself: refused');

INSERT INTO helpdesk.portal_domains (tenant_id, hostname)
SELECT globex, 'n' || i || '.globex.example' FROM ids, generate_series(1, 50) i;
SELECT is(hdtest.error_of($$SELECT tls.domain_add('b0000000-0000-4000-8000-000000000001', 'n51.globex.example',
                               NULL, 'claim')$$, 'postgres')->>'hint',
          'domain-limit', 'the 51st domain of a tenant: refused');
SELECT lives_ok($$SELECT tls.domain_add('b0000000-0000-4000-8000-000000000001', 'n50.globex.example', NULL, 'claim')$$,
                'one it has already: given back');
DELETE FROM helpdesk.portal_domains WHERE hostname ~ '^n[0-9]+\.globex\.example$';

-- several claims, one owner
SELECT is((SELECT (tls.domain_add(globex, 'help.acme.example', 'cd.provider.example', 'claim')).status FROM ids),
          'pending_dns', 'another tenant may claim a name nobody proved');

-- the job: claim, fence, result
SELECT is(hdtest.error_of($$SELECT * FROM api.domain_check_claim(sha256('x'::bytea), 10, 60)$$)->>'sqlstate',
          'HDUNA', 'no claim without the module''s proof');
CREATE TEMP TABLE claim AS
    SELECT * FROM api.domain_check_claim(hdtest.key('hdp_provider'), 10, 60);
GRANT SELECT ON claim TO PUBLIC;
SELECT is((SELECT count(*)::int FROM claim), 2, 'both claims are due at once');
SELECT is((SELECT count(*)::int FROM api.domain_check_claim(hdtest.key('hdp_provider'), 10, 60)), 0,
          'a leased name is not claimed twice');
SELECT is((SELECT txt_value FROM claim, ids WHERE tenant_id = acme),
          (SELECT 'helpdesk-verify=' || verify_token FROM helpdesk.portal_domains, ids
           WHERE tenant_id = acme AND hostname = 'help.acme.example'),
          'the claim carries the TXT proof to look for');
SELECT is(api.domain_check_result(hdtest.key('hdp_provider'), acme, 'help.acme.example', gen_random_uuid(),
                                  '{"ok": true}'), NULL, 'a result without the lease''s token is dropped')
FROM ids;
SELECT is((SELECT status FROM helpdesk.portal_domains, ids WHERE tenant_id = acme AND hostname = 'help.acme.example'),
          'pending_dns', 'and changes nothing');
SELECT is(api.domain_check_result(hdtest.key('hdp_provider'), c.tenant_id, c.hostname, c.lease_token,
                                  '{"ok": false, "reason": "proof-missing"}'), 'pending_dns',
          'not proven: still pending')
FROM claim c, ids WHERE c.tenant_id = globex;
SELECT is((SELECT reason FROM helpdesk.portal_domains, ids WHERE tenant_id = globex AND hostname = 'help.acme.example'),
          'proof-missing', 'with the reason');
SELECT is(api.domain_check_result(hdtest.key('hdp_provider'), c.tenant_id, c.hostname, c.lease_token,
                                  '{"ok": true}'), 'verified', 'proven: verified')
FROM claim c, ids WHERE c.tenant_id = acme;
SELECT is((SELECT (payload->'data') - 'status_at' FROM helpdesk.outbox, ids
           WHERE tenant_id = acme AND event_type = 'domain.status_changed'),
          '{"hostname": "help.acme.example", "old_status": "pending_dns", "status": "verified", "reason": null}'::jsonb,
          'the change reaches the tenant''s webhook');
SELECT is(api.domain_check_result(hdtest.key('hdp_provider'), c.tenant_id, c.hostname, c.lease_token,
                                  '{"ok": true}'), NULL, 'a lease serves once')
FROM claim c, ids WHERE c.tenant_id = acme;
SELECT is(hdtest.error_of($$SELECT tls.domain_add('b0000000-0000-4000-8000-000000000001', 'help.acme.example',
                               NULL, 'verified')$$, 'postgres')->>'sqlstate',
          'HDCNF', 'a name another tenant proved: refused, even for the provider');
UPDATE helpdesk.portal_domains SET next_check_at = now(), lease_token = NULL FROM ids
WHERE tenant_id = globex AND hostname = 'help.acme.example';
SELECT is(api.domain_check_result(hdtest.key('hdp_provider'), globex, 'help.acme.example', c.lease_token,
                                  '{"ok": true}'), 'failed', 'a late proof of a name another tenant owns: failed')
FROM ids, api.domain_check_claim(hdtest.key('hdp_provider'), 10, 60) c;

-- transitions
SELECT is((tls.domain_set(acme, 'help.acme.example', 'issuing', NULL)).status, 'issuing', 'verified -> issuing') FROM ids;
SELECT is((tls.domain_set(acme, 'help.acme.example', 'active', NULL)).status, 'active', 'issuing -> active') FROM ids;
SELECT is(hdtest.error_of($$SELECT tls.domain_set('a0000000-0000-4000-8000-000000000001', 'help.acme.example',
                               'pending_dns', NULL)$$, 'postgres')->>'hint',
          'invalid-transition', 'active -> pending_dns: refused');
UPDATE helpdesk.portal_domains SET next_check_at = now() - interval '1 second'
WHERE hostname = 'help.acme.example' AND status = 'active';
SELECT is(api.domain_check_result(hdtest.key('hdp_provider'), acme, 'help.acme.example', c.lease_token,
                                  '{"ok": false, "reason": "points-elsewhere: 203.0.113.9"}'), 'dns_broken',
          'an active name whose records stopped holding: dns_broken')
FROM ids, api.domain_check_claim(hdtest.key('hdp_provider'), 10, 60) c WHERE c.tenant_id = acme;

-- the ladder
UPDATE helpdesk.portal_domains SET broken_since = now() - interval '5 minutes' WHERE hostname = 'help.acme.example' AND status = 'dns_broken';
SELECT is(tls.next_check(d) - now(), interval '1 minute', 'broken 5 minutes: checked every minute')
FROM helpdesk.portal_domains d WHERE hostname = 'help.acme.example' AND status = 'dns_broken';
UPDATE helpdesk.portal_domains SET broken_since = now() - interval '3 hours' WHERE hostname = 'help.acme.example' AND status = 'dns_broken';
SELECT is(tls.next_check(d) - now(), interval '10 minutes', '3 hours: every 10 minutes')
FROM helpdesk.portal_domains d WHERE hostname = 'help.acme.example' AND status = 'dns_broken';
UPDATE helpdesk.portal_domains SET broken_since = now() - interval '3 days' WHERE hostname = 'help.acme.example' AND status = 'dns_broken';
SELECT is(tls.next_check(d) - now(), interval '1 hour', '3 days: hourly')
FROM helpdesk.portal_domains d WHERE hostname = 'help.acme.example' AND status = 'dns_broken';
UPDATE helpdesk.portal_domains SET broken_since = now() - interval '31 days', next_check_at = now(), lease_token = NULL
WHERE hostname = 'help.acme.example' AND status = 'dns_broken';
SELECT is((SELECT count(*)::int FROM api.domain_check_claim(hdtest.key('hdp_provider'), 10, 60)), 0,
          'broken for 30 days: released rather than checked');
SELECT is((SELECT status || ': ' || reason FROM helpdesk.portal_domains, ids WHERE tenant_id = acme AND hostname = 'help.acme.example'),
          'released: DNS records broken for 30 days', 'with the reason');

-- a released name may be added again, by anyone
SELECT is((SELECT (tls.domain_add(globex, 'help.acme.example', NULL, 'verified')).status FROM ids),
          'active', 'another tenant takes a released name (the provider''s word)');
SELECT is((tls.domain_set(globex, 'help.acme.example', 'released', 'removed')).status, 'released', 'and lets it go') FROM ids;
SELECT is((SELECT (tls.domain_add(acme, 'help.acme.example', 'cd.provider.example', 'claim')).status FROM ids),
          'pending_dns', 'the first tenant adds it again: pending_dns');

-- check now: once a minute
SELECT is((tls.domain_check_now(pg_temp.acme_ctx(), 'help.acme.example')).next_check_at, now(),
          'check now: due at once');
SELECT is(hdtest.error_of($$SELECT tls.domain_check_now(
              '{"tenant_id": "a0000000-0000-4000-8000-000000000001", "actor_type": "system"}', 'help.acme.example')$$,
              'postgres') - 'message' - 'hint',
          '{"sqlstate": "HDLIM", "detail": {"retry_after": 60}}', 'twice in a minute: 429 with Retry-After');

SELECT * FROM finish();
ROLLBACK;
