-- Tenants' own domains against a hostile tenant or a hostile DNS/CA: the
-- reasons the outside world writes (a CA's problem detail, DNS text) are
-- stored bounded and without control characters whatever their length,
-- one tenant never reaches another's domain through the REST API, and the
-- provider's serving overview leaves an audit row in every tenant whose
-- names it shows.
BEGIN;
SELECT plan(11);
SELECT hdtest.fixtures();

CREATE FUNCTION pg_temp.api(key text, op text, args jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT body::text FROM api.api_call(%L, ''admin'', ''192.0.2.1'', %L, %L)',
                  hdtest.key(key), op, args)
$$;

INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'help.acme.example', 'verified'),
    ('b0000000-0000-4000-8000-000000000001', 'help.globex.example', 'active');

-- a CA's problem detail may be 2000 characters (acme_attempts keeps that
-- much); the domain's reason holds 500: stored cut, not refused (which
-- would roll the order's result back and retry it for ever)
SELECT lives_ok($$SELECT tls.domain_set('a0000000-0000-4000-8000-000000000001', 'help.acme.example',
                                        'issuing', NULL)$$, 'verified -> issuing');
SELECT lives_ok($$SELECT tls.domain_set('a0000000-0000-4000-8000-000000000001', 'help.acme.example',
                                        'dns_broken', 'Invalid response from http://help.acme.example/: '
                                        || repeat('<script>x</script>', 150))$$,
                'a 2000-character reason from the CA: the state changes');
SELECT cmp_ok((SELECT length(reason) FROM helpdesk.portal_domains WHERE hostname = 'help.acme.example'),
              '<=', 500, 'the reason kept is 500 characters at most');
SELECT ok((SELECT reason LIKE 'Invalid response from http://help.acme.example/: <script>%'
           FROM helpdesk.portal_domains WHERE hostname = 'help.acme.example'),
          'its beginning kept as it was written (text: the readers escape it)');
SELECT lives_ok($$SELECT tls.domain_set('a0000000-0000-4000-8000-000000000001', 'help.acme.example',
                                        'dns_broken', E'caa-forbids: evil.example\r\nX-Injected: 1\u0007' || repeat('z', 600))$$,
                'the same state with a long reason of control characters: kept');
SELECT is((SELECT reason ~ '[[:cntrl:]]' FROM helpdesk.portal_domains WHERE hostname = 'help.acme.example'),
          false, 'without its control characters');

-- one tenant, another's name: not found, whatever the operation
SELECT is(hdtest.error_of(pg_temp.api('hdk_acme_full', 'domain.get', '{"hostname": "help.globex.example"}'))->>'sqlstate',
          'HDNFD', 'a tenant cannot read another tenant''s domain');
SELECT is(hdtest.error_of(pg_temp.api('hdk_acme_full', 'domain.check', '{"hostname": "help.globex.example"}'))->>'sqlstate',
          'HDNFD', 'nor check it now');
SELECT is(hdtest.error_of(pg_temp.api('hdk_acme_full', 'domain.delete', '{"hostname": "HELP.globex.example."}'))->>'sqlstate',
          'HDNFD', 'nor release it, in any spelling');

-- GET /v1/provider/tls names tenants' domains (those serving without a
-- certificate): a read of their data, audited in each of them
DO $$ BEGIN PERFORM hdtest.as_role(
    format('SELECT body::text FROM api.provider_call(sha256(''hdp_provider''::bytea), ''tls.status'', ''192.0.2.1'', %L)',
           '{"node": {}}'::jsonb)); END $$;
SELECT is((SELECT string_agg(left(tenant_id::text, 1) || ' ' || actor_type, ',' ORDER BY tenant_id)
           FROM helpdesk.audit_log WHERE action = 'tls.status'),
          'a provider,b provider', 'the provider''s overview: one audit row in each tenant whose names it showed');

-- two helpdesks proving one name at the same moment: neither saw the other
-- (host_taken made blind here, as in a race); the index keeps one owner
-- and the other gets a conflict, not an internal error
CREATE OR REPLACE FUNCTION tls.host_taken(p_tenant uuid, p_host text) RETURNS boolean
LANGUAGE sql AS $$ SELECT false $$;
INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status) VALUES
    ('b0000000-0000-4000-8000-000000000001', 'help.acme.example', 'pending_dns');
SELECT throws_ok($$SELECT tls.domain_set('b0000000-0000-4000-8000-000000000001', 'help.acme.example',
                                         'verified', NULL)$$,
                 'HDCNF', NULL, 'a name proven at once by two helpdesks: a conflict for the second');

SELECT * FROM finish();
ROLLBACK;
