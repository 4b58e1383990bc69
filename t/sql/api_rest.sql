-- The REST API's entry points, called as nginx calls them (as helpdesk_app):
-- api.api_call, api.provider_call, api.api_attachment, api.api_whatsapp_number.
-- Errors are SQLSTATEs HDnnn with the problem's slug in HINT and, for
-- HDINV, the field errors as a JSON array in DETAIL.
BEGIN;
SELECT plan(40);
SELECT hdtest.fixtures();

CREATE FUNCTION pg_temp.call(k text, scope text, op text, args jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT row_to_json(r)::text FROM api.api_call(%L, %L, ''192.0.2.1'', %L, %L) r',
                  hdtest.key(k), scope, op, args)
$$;

-- authentication and authorization
SELECT is(hdtest.error_of(pg_temp.call('hdk_nope', 'tickets:read', 'ticket.list', '{}')) ->> 'sqlstate',
          'HDUNA', 'an unknown key: HDUNA');
SELECT is(hdtest.error_of(pg_temp.call('hdk_nope', 'tickets:read', 'ticket.list', '{}')) ->> 'hint',
          'unauthorized', '... with the slug "unauthorized"');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_revoked', 'tickets:read', 'ticket.list', '{}')) ->> 'sqlstate',
          'HDUNA', 'a revoked key: HDUNA');
SELECT is(hdtest.error_of(format('SELECT api.api_call(NULL, ''tickets:read'', NULL, ''ticket.list'', ''{}'')')) ->> 'sqlstate',
          'HDUNA', 'no key at all: HDUNA');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_read', 'tickets:write', 'ticket.create', '{"subject": "x"}')),
          '{"sqlstate": "HDDEN", "hint": "insufficient-scope", "message": "the API key lacks the \"tickets:write\" scope", "detail": ""}'::jsonb,
          'a key without the scope: HDDEN insufficient-scope');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_read', 'admin', 'webhook.list', '{}')) ->> 'hint',
          'insufficient-scope', 'a read key cannot do admin work');
SELECT is(hdtest.error_of(pg_temp.call('hdk_dead_full', 'tickets:read', 'ticket.list', '{}')) ->> 'hint',
          'tenant-disabled', 'a disabled tenant''s key: HDDEN tenant-disabled');
SELECT is(hdtest.error_of(pg_temp.call('hdk_dead_full', 'tickets:read', 'ticket.list', '{}')) ->> 'sqlstate',
          'HDDEN', '... as HDDEN');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:read', 'ticket.nothing', '{}')) ->> 'sqlstate',
          'HDNFD', 'an unknown operation: HDNFD');

-- another tenant's ids are not found, never shown
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:read', 'ticket.get',
                                       '{"id": "b0000000-0000-4000-8000-0000000000f1"}')) ->> 'sqlstate',
          'HDNFD', 'another tenant''s ticket by id: HDNFD');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:read', 'ticket.events',
                                       '{"id": "b0000000-0000-4000-8000-0000000000f1"}')) ->> 'sqlstate',
          'HDNFD', 'its events: HDNFD');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.update',
                                       '{"id": "b0000000-0000-4000-8000-0000000000f1", "priority": "low"}')) ->> 'sqlstate',
          'HDNFD', 'updating it: HDNFD');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.comment',
                                       '{"id": "b0000000-0000-4000-8000-0000000000f1", "body": "hi"}')) ->> 'sqlstate',
          'HDNFD', 'commenting on it: HDNFD');
SELECT is(hdtest.as_role(pg_temp.call('hdk_acme_full', 'tickets:read', 'ticket.get', '{"id": "TKT-000001"}'))::jsonb
          #>> '{body,subject}', 'printer on fire', 'a ticket number is the caller''s own tenant''s');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:read', 'ticket.get', '{"id": "1; DROP TABLE x"}')) ->> 'sqlstate',
          'HDNFD', 'an id that is no id: HDNFD, not a cast error');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:read', 'ticket.get',
                                       '{"id": "b0000000-0000-4000-8000-0000000000f1"}')) ->> 'message',
          'there is no ticket b0000000-0000-4000-8000-0000000000f1', '... and the message says nothing of its owner');
SELECT is(hdtest.error_of(pg_temp.call('hdk_globex_full', 'admin', 'webhook.get',
                                       '{"id": "a0000000-0000-4000-8000-0000000000a1"}')) ->> 'sqlstate',
          'HDNFD', 'an id of another kind and tenant: HDNFD');

-- invalid input: HDINV with the fields in DETAIL
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.update',
                                       '{"id": "TKT-000001", "assignee": "nobody@acme.example"}')) ->> 'sqlstate',
          'HDINV', 'an assignee who is no agent: HDINV');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.update',
                                       '{"id": "TKT-000001", "assignee": "nobody@acme.example"}')) -> 'detail',
          '[{"field": "assignee", "message": "is not an active agent of this helpdesk"}]'::jsonb,
          '... naming the field');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.update',
                                       '{"id": "TKT-000001", "assignee": "bob@globex.example"}')) #>> '{detail,0,field}',
          'assignee', 'another tenant''s agent is no agent here');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.update',
                                       '{"id": "TKT-000001", "assignee": "b0000000-0000-4000-8000-0000000000e1"}')) #>> '{detail,0,field}',
          'assignee', '... not by id either');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:read', 'ticket.list', '{"cursor": "garbage"}')) -> 'detail',
          '[{"field": "cursor", "message": "is not a cursor this API returned"}]'::jsonb,
          'a cursor the API did not return: HDINV on "cursor"');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.update',
                                       '{"id": "TKT-000001", "status": "closed"}')), NULL,
          'closing a ticket works');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.update',
                                       '{"id": "TKT-000001", "status": "open"}')) ->> 'sqlstate',
          'HDINV', 'reopening a closed one: HDINV');
SELECT is(hdtest.error_of(pg_temp.call('hdk_acme_full', 'admin', 'business_hours.put',
                                       '{"channel": "whatsapp", "timezone": "Mars/Olympus"}')) ->> 'sqlstate',
          'HDINV', 'business hours in a time zone that does not exist: HDINV');

-- what works, works as the app role, and writes its event and audit row
SELECT is(hdtest.as_role(pg_temp.call('hdk_acme_full', 'tickets:write', 'ticket.create',
                                      '{"subject": "from pgTAP", "description": "d"}'))::jsonb #>> '{body,subject}',
          'from pgTAP', 'a ticket created through api.api_call');
SELECT is((SELECT count(*)::int FROM helpdesk.ticket_events e JOIN helpdesk.tickets t USING (tenant_id, ticket_id)
           WHERE t.subject = 'from pgTAP' AND e.type = 'created'), 1, '... with its event');
SELECT is((SELECT count(*)::int FROM helpdesk.audit_log a JOIN helpdesk.tickets t
           ON t.tenant_id = a.tenant_id AND t.ticket_id::text = a.object_id
           WHERE t.subject = 'from pgTAP' AND a.action = 'ticket.create'), 1, '... and its audit row');
SELECT is((SELECT tenant_id FROM helpdesk.tickets WHERE subject = 'from pgTAP'),
          'a0000000-0000-4000-8000-000000000001'::uuid, '... in the key''s tenant');

-- the provider API (the module checks the provider's key first, and
-- passes its hash, which must be the one installed)
SELECT is(hdtest.error_of($$SELECT api.provider_call(sha256('hdp_provider'::bytea), 'tenant.get', NULL, '{"id": "f0000000-0000-4000-8000-000000000009"}')$$) ->> 'sqlstate',
          'HDNFD', 'provider: an unknown tenant is HDNFD');
SELECT is(hdtest.error_of($$SELECT api.provider_call(sha256('hdp_provider'::bytea), 'tenant.create', NULL, '{"slug": "acme", "name": "Again"}')$$),
          '{"sqlstate": "HDCNF", "hint": "conflict", "message": "the slug \"acme\" is already in use",
            "detail": [{"field": "slug", "message": "is already in use"}]}'::jsonb,
          'provider: a slug in use is HDCNF on "slug"');
SELECT is(hdtest.error_of($$SELECT api.provider_call(sha256('hdp_provider'::bytea), 'key.delete', NULL,
              '{"tenant_id": "a0000000-0000-4000-8000-000000000001", "key_id": "b0000000-0000-4000-8000-0000000000b1"}')$$) ->> 'sqlstate',
          'HDNFD', 'provider: revoking a key under the wrong tenant is HDNFD');
SELECT is((SELECT revoked_at FROM helpdesk.api_keys WHERE key_id = 'b0000000-0000-4000-8000-0000000000b1'), NULL,
          '... and leaves it alone');
SELECT is(hdtest.error_of($$SELECT api.provider_call(sha256('hdp_provider'::bytea), 'tenant.nothing', NULL, '{}')$$) ->> 'sqlstate',
          'HDNFD', 'provider: an unknown operation is HDNFD');

-- attachments and the WhatsApp number's QR code
INSERT INTO helpdesk.attachments (tenant_id, attachment_id, ticket_id, event_id, filename, content_type, size, sha256, data)
SELECT tenant_id, 'b0000000-0000-4000-8000-0000000000aa', ticket_id, event_id, 'plans.pdf', 'application/pdf', 4, encode(sha256('PLAN'), 'hex'), 'PLAN'
FROM helpdesk.ticket_events WHERE tenant_id = 'b0000000-0000-4000-8000-000000000001';
SELECT is(hdtest.error_of(format('SELECT api.api_attachment(%L, ''tickets:read'', NULL, %L)', hdtest.key('hdk_nope'),
              '{"id": "b0000000-0000-4000-8000-0000000000f1", "attachment_id": "b0000000-0000-4000-8000-0000000000aa"}')) ->> 'sqlstate',
          'HDUNA', 'an attachment with an unknown key: HDUNA');
SELECT is(hdtest.error_of(format('SELECT api.api_attachment(%L, ''tickets:read'', NULL, %L)', hdtest.key('hdk_acme_full'),
              '{"id": "b0000000-0000-4000-8000-0000000000f1", "attachment_id": "b0000000-0000-4000-8000-0000000000aa"}')) ->> 'sqlstate',
          'HDNFD', 'another tenant''s attachment: HDNFD');
SELECT is(hdtest.error_of(format('SELECT api.api_attachment(%L, ''tickets:read'', NULL, %L)', hdtest.key('hdk_acme_full'),
              '{"id": "TKT-000001", "attachment_id": "b0000000-0000-4000-8000-0000000000aa"}')) ->> 'sqlstate',
          'HDNFD', '... even under one of its own tickets');
SELECT is(hdtest.as_role(format('SELECT filename FROM api.api_attachment(%L, ''tickets:read'', NULL, %L)', hdtest.key('hdk_globex_full'),
              '{"id": "b0000000-0000-4000-8000-0000000000f1", "attachment_id": "b0000000-0000-4000-8000-0000000000aa"}')),
          'plans.pdf', 'its own tenant gets it');
SELECT is(hdtest.error_of(format('SELECT api.api_whatsapp_number(%L, ''admin'', NULL, %L)', hdtest.key('hdk_nope'),
              '{"id": "b0000000-0000-4000-8000-0000000000f1"}')) ->> 'sqlstate',
          'HDUNA', 'a WhatsApp number with an unknown key: HDUNA');
SELECT is(hdtest.error_of(format('SELECT api.api_whatsapp_number(%L, ''admin'', NULL, %L)', hdtest.key('hdk_acme_read'),
              '{"id": "b0000000-0000-4000-8000-0000000000f1"}')) ->> 'sqlstate',
          'HDDEN', '... with a key without the admin scope: HDDEN');

SELECT * FROM finish();
ROLLBACK;
