-- The website chat's record, called as nginx calls it: the offline form
-- (api.chat_offline: a ticket on the channel "chat", only where the
-- widget, the page and the form allow it, every invalid field named, a
-- limit per address), the settings (every field checked, origins
-- normalised) and row-level security of the chat's tables through the
-- REST API's entry point (api.chat_call: another tenant's conversations
-- are not found, listed or converted).
BEGIN;
SELECT plan(62);
SELECT hdtest.fixtures();
SELECT hdtest.seed_all();

-- acme's widget: one allowed page, a question of its own
UPDATE helpdesk.chat_widgets
SET allowed_origins = ARRAY['https://www.acme.example'],
    prechat_fields = '[{"name": "name", "required": true}, {"name": "email", "required": true},
                       {"name": "order", "label": "Order number", "required": true},
                       {"name": "plan", "label": "Plan", "required": false}]'
WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001';

-- the offline form as the transport calls it
CREATE FUNCTION pg_temp.offline(slug text, origin text, ip text, body jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT body::text FROM api.chat_offline(%L, %L, %L, %L)', slug, origin, ip, body)
$$;
CREATE FUNCTION pg_temp.form(msg text DEFAULT 'My invoice is wrong') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('name', 'Rita', 'email', 'Rita@Example.com', 'message', msg,
                              'fields', jsonb_build_object('order', '1234'))
$$;
-- the fields an error names, in order
CREATE FUNCTION pg_temp.fields(e jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT string_agg(x->>'field', ' ' ORDER BY x->>'field') FROM jsonb_array_elements(e->'detail') x
$$;
-- a REST call as nginx sends it, with acme's or globex's key
CREATE FUNCTION pg_temp.api(key text, scope text, op text, args jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT body FROM api.chat_call(%L, %L, ''192.0.2.1'', %L, %L)',
                  hdtest.key(key), scope, op, args)
$$;

-- --- the offline form -----------------------------------------------------------

SELECT is(hdtest.as_role(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7',
                                         pg_temp.form(E'My invoice is wrong\nIt says 200 instead of 100.'))),
          '{"ticket": {"number": "TKT-000002"}}', 'offline: a ticket, its number answered');

SELECT is(t.channel, 'chat', '... on the channel chat') FROM helpdesk.tickets t WHERE t.number = 2
  AND t.tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(t.subject, 'My invoice is wrong', '... the subject the message''s first line') FROM helpdesk.tickets t
WHERE t.number = 2 AND t.tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(t.description, E'My invoice is wrong\nIt says 200 instead of 100.', '... the message its description')
FROM helpdesk.tickets t WHERE t.number = 2 AND t.tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(t.custom_fields, '{"order": "1234"}', '... the form''s own fields in its custom fields')
FROM helpdesk.tickets t WHERE t.number = 2 AND t.tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(u.email || ' ' || u.name || ' ' || u.role || ' ' || (u.email_verified_at IS NULL),
          'rita@example.com Rita customer true', '... from a new customer, unproven')
FROM helpdesk.tickets t JOIN helpdesk.users u ON u.tenant_id = t.tenant_id AND u.user_id = t.requester_id
WHERE t.number = 2 AND t.tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(e.actor_type || ' ' || e.channel || ' ' || (e.data->'chat'->>'origin'),
          'user chat https://www.acme.example', '... created by that customer, on the chat, from that page')
FROM helpdesk.ticket_events e JOIN helpdesk.tickets t USING (tenant_id, ticket_id)
WHERE t.number = 2 AND t.tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is((SELECT count(*)::int FROM helpdesk.audit_log WHERE action = 'ticket.create' AND host(ip) = '198.51.100.7'),
          1, '... audited with the visitor''s address');

-- a customer the tenant knows keeps their record
SELECT hdtest.as_role(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.8',
    jsonb_build_object('name', 'C.', 'email', 'CARLA@acme.example', 'message', 'hello', 'fields', '{"order": "9"}'::jsonb)));
SELECT is(t.requester_id, 'a0000000-0000-4000-8000-0000000000c1'::uuid, 'offline: a known email is that customer''s ticket')
FROM helpdesk.tickets t WHERE t.number = 3 AND t.tenant_id = 'a0000000-0000-4000-8000-000000000001';

-- a long first line: cut at a word, marked
SELECT hdtest.as_role(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.9',
    pg_temp.form(repeat('invoice ', 40))));
SELECT ok(length(t.subject) <= 120 AND t.subject LIKE 'invoice invoice%…' AND t.subject NOT LIKE '%invoi…',
          'offline: a long first line cut at a word') FROM helpdesk.tickets t
WHERE t.number = 4 AND t.tenant_id = 'a0000000-0000-4000-8000-000000000001';

-- where it is refused, and how
SELECT is(hdtest.error_of(pg_temp.offline('acme', 'https://evil.example', '198.51.100.7', pg_temp.form()))->>'hint',
          'origin-not-allowed', 'offline: a page not allowed is refused');
SELECT is(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example/path', '198.51.100.7', pg_temp.form()))->>'hint',
          'origin-not-allowed', '... and an Origin that is not one');
SELECT is(hdtest.error_of(pg_temp.offline('acme', NULL, '198.51.100.7', pg_temp.form()))->>'hint',
          'origin-not-allowed', '... and no Origin');
SELECT is(hdtest.error_of(pg_temp.offline('globex', 'https://www.acme.example', '198.51.100.7', pg_temp.form()))->>'hint',
          'origin-not-allowed', '... and acme''s page for globex''s widget');
SELECT is(hdtest.error_of(pg_temp.offline('nobody', 'https://www.acme.example', '198.51.100.7', pg_temp.form()))->>'sqlstate',
          'HDNFD', '... an unknown tenant is not found');
SELECT is(hdtest.error_of(pg_temp.offline('dead', 'https://www.acme.example', '198.51.100.7', pg_temp.form()))->>'sqlstate',
          'HDNFD', '... and a disabled one');

UPDATE helpdesk.chat_widgets SET offline_form = false WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7', pg_temp.form()))->>'hint',
          'offline-form-off', 'offline: the form turned off is refused');
UPDATE helpdesk.chat_widgets SET offline_form = true, enabled = false WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7', pg_temp.form()))->>'hint',
          'chat-disabled', '... and the widget turned off');
UPDATE helpdesk.chat_widgets SET enabled = true WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001';

-- every invalid field at once
SELECT is(pg_temp.fields(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7',
          '{"name": "Ri\u0007ta", "email": "not an address", "message": "   ", "fields": {"colour": "red"}, "extra": 1}'))),
          'email extra fields.colour fields.order message name', 'offline: every invalid field named');
SELECT is(pg_temp.fields(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7',
          jsonb_build_object('email', 'rita@example.com', 'message', repeat('x', 10001), 'fields', '{"order": "1"}'::jsonb)))),
          'message name', '... a message over 10,000 characters, a name required and missing');
SELECT ok(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7',
          jsonb_build_object('name', 'R', 'email', 'r@example.com', 'message', repeat('é', 10000), 'fields', '{"order": "1"}'::jsonb))) IS NULL,
          '... 10,000 characters (20,000 bytes) are fine');
SELECT is(pg_temp.fields(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7',
          '{"name": "R", "email": "r@example.com", "message": "hi", "fields": {"order": 42, "name": "x"}}'))),
          'fields.name fields.order', '... fields: text only, and name is not one of them');
SELECT is(pg_temp.fields(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7', '[1, 2]'))),
          '', '... a body that is not an object');
SELECT is(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.7', NULL))->>'sqlstate',
          'HDINV', '... no body');
SELECT is(hdtest.error_of(format('SELECT api.chat_offline(%L, %L, %L, convert_from(%L::bytea, ''UTF8'')::jsonb)',
          'acme', 'https://www.acme.example', '198.51.100.7', '\x7b226e616d65223a22ff227d'))->>'sqlstate',
          '22021', '... bytes that are not UTF-8 are refused by PostgreSQL itself (22021), as the request core maps it');
SELECT is(hdtest.error_of(format('SELECT api.chat_offline(%L, %L, %L, %L::jsonb)', 'acme', 'https://www.acme.example',
          '198.51.100.7', '{"message": "a\u0000b"}'))->>'sqlstate',
          '22P05', '... a NUL is refused by PostgreSQL itself (22P05), as the request core maps it');

-- no ticket was made by any of those
SELECT is((SELECT count(*)::int FROM helpdesk.tickets WHERE channel = 'chat'), 4, 'offline: refusals make no ticket');

-- five a window per address; an IPv6 /64 is one address
SELECT hdtest.as_role(pg_temp.offline('acme', 'https://www.acme.example', '203.0.113.5', pg_temp.form()))
FROM generate_series(1, 5);
SELECT is(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '203.0.113.5', pg_temp.form()))->>'hint',
          'rate-limited', 'offline: the sixth from an address in ten minutes is refused');
SELECT ok((hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '203.0.113.5', pg_temp.form()))
          ->'detail'->>'retry_after')::int BETWEEN 1 AND 600, '... saying when to try again');
SELECT ok(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '203.0.113.6', pg_temp.form())) IS NULL,
          '... another address is not');
SELECT hdtest.as_role(pg_temp.offline('acme', 'https://www.acme.example', '2001:db8:1:2::' || n, pg_temp.form()))
FROM generate_series(1, 5) n;
SELECT is(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '2001:db8:1:2:ffff::1', pg_temp.form()))->>'hint',
          'rate-limited', '... an IPv6 /64 counts as one address');
SELECT is(hdtest.error_of(pg_temp.offline('acme', 'https://www.acme.example', '2001:db8:1:3::1', pg_temp.form())), NULL,
          '... the next /64 does not');
UPDATE helpdesk.chat_widgets SET allowed_origins = ARRAY['https://www.globex.example'] WHERE tenant_id = 'b0000000-0000-4000-8000-000000000001';
UPDATE helpdesk.chat_widgets SET prechat_fields = '[]' WHERE tenant_id = 'b0000000-0000-4000-8000-000000000001';
SELECT is(hdtest.error_of(pg_temp.offline('globex', 'https://www.globex.example', '203.0.113.5',
          '{"email": "g@example.com", "message": "hi"}')), NULL, '... nor the same address on another tenant''s');

-- --- the settings -----------------------------------------------------------------

SELECT is(pg_temp.fields(hdtest.error_of(pg_temp.api('hdk_acme_full', 'admin', 'chat.settings.put',
    '{"colour": "#12345", "position": "middle", "title": "one\ntwo", "greeting": 7, "icon": "",
      "allowed_origins": ["https://ok.example", "https://*.example", "file:///etc/passwd", "https://a@b.example",
                          "https://b.example/x", "https://b.example:0", "https://-b.example", "https://[::1"],
      "prechat_fields": [{"name": "email"}, {"name": "email"}, {"name": "x", "label": ""}, {"name": "y", "label": "Y", "size": 1}],
      "max_message_bytes": 255, "max_chats_per_agent": 0, "accept_timeout_seconds": 601,
      "reply_timeout_seconds": 29, "on_reply_timeout": "drop", "waiting_message": null,
      "transfer_allowed": 1, "auto_ticket_minutes": 0, "bot_enabled": null, "bot_kb_suggestions": "true",
      "offline_form": [], "enabled": {}, "colours": "#000000"}'))),
    'accept_timeout_seconds allowed_origins.1 allowed_origins.2 allowed_origins.3 allowed_origins.4 allowed_origins.5 '
    'allowed_origins.6 allowed_origins.7 auto_ticket_minutes bot_enabled bot_kb_suggestions colour colours enabled '
    'greeting icon max_chats_per_agent max_message_bytes offline_form on_reply_timeout position prechat_fields.1.name '
    'prechat_fields.2.label prechat_fields.3.size reply_timeout_seconds title transfer_allowed waiting_message',
    'settings: every invalid field named');

SELECT is(hdtest.as_role(pg_temp.api('hdk_acme_full', 'admin', 'chat.settings.put',
    '{"allowed_origins": ["HTTPS://WWW.Acme.Example:443/", "http://acme.example:80", "https://acme.example:8443",
                          "http://[2001:DB8::1]:8080", "http://192.0.2.1", "https://xn--exmple-cua.com",
                          "https://www.acme.example"]}'))::jsonb->'allowed_origins',
    '["https://www.acme.example", "http://acme.example", "https://acme.example:8443", "http://[2001:db8::1]:8080", "http://192.0.2.1", "https://xn--exmple-cua.com"]',
    'settings: origins as browsers send them, each once');
SELECT is(pg_temp.fields(hdtest.error_of(pg_temp.api('hdk_acme_full', 'admin', 'chat.settings.put',
    jsonb_build_object('allowed_origins', (SELECT jsonb_agg('https://s' || n || '.example') FROM generate_series(1, 51) n))))),
    'allowed_origins', 'settings: at most 50 origins');
SELECT is(hdtest.as_role(pg_temp.api('hdk_acme_full', 'admin', 'chat.settings.put',
    '{"prechat_fields": [{"name": "email", "required": true}, {"name": "order", "label": " Order ", "required": true}]}'))::jsonb->'prechat_fields',
    '[{"name": "email", "required": true}, {"name": "order", "label": "Order", "required": true}]',
    'settings: the pre-chat fields as saved');
SELECT is(hdtest.as_role(pg_temp.api('hdk_acme_full', 'admin', 'chat.settings.put', '{"auto_ticket_minutes": 90}'))::jsonb->'auto_ticket_minutes',
          '90', 'settings: one field alone');
SELECT is((SELECT w.allowed_origins[1] FROM helpdesk.chat_widgets w WHERE w.tenant_id = 'a0000000-0000-4000-8000-000000000001'),
          'https://www.acme.example', '... the others kept');
SELECT is((SELECT count(*)::int FROM helpdesk.audit_log WHERE action = 'chat.settings.update'
           AND tenant_id = 'a0000000-0000-4000-8000-000000000001' AND actor_id = 'a0000000-0000-4000-8000-0000000000a1'), 3,
          'settings: each change audited, as the key');
SELECT is(hdtest.error_of(pg_temp.api('hdk_acme_read', 'admin', 'chat.settings.get', '{}'))->>'hint',
          'insufficient-scope', 'settings: a tickets:read key reads no settings');
SELECT is(hdtest.as_role(pg_temp.api('hdk_globex_full', 'admin', 'chat.settings.get', '{}'))::jsonb->>'tenant',
          'globex', 'settings: each key its own tenant''s');

-- business hours of the channel chat, read-only
UPDATE helpdesk.tenants SET settings = jsonb_build_object('business_hours', jsonb_build_object('chat',
    '{"timezone": "UTC", "days": {"mon": [], "tue": [], "wed": [], "thu": [], "fri": [], "sat": [], "sun": []}}'::jsonb))
WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(hdtest.as_role(pg_temp.api('hdk_acme_full', 'admin', 'chat.settings.get', '{}'))::jsonb->>'open_now',
          'false', 'settings: closed outside the chat''s hours');

-- --- the chat's tables, through the entry point ------------------------------------

SELECT is(hdtest.as_role(pg_temp.api('hdk_acme_full', 'tickets:read', 'chat.conversation.list', '{}'))::jsonb->'data'->0->>'id',
          'a0000000-0000-4000-8000-0000000000d2', 'rls: a tenant lists its own conversations');
SELECT is(jsonb_array_length(hdtest.as_role(pg_temp.api('hdk_acme_full', 'tickets:read', 'chat.conversation.list', '{}'))::jsonb->'data'),
          1, '... only');
SELECT is(hdtest.error_of(pg_temp.api('hdk_acme_full', 'tickets:read', 'chat.conversation.get',
          '{"id": "b0000000-0000-4000-8000-0000000000d2"}'))->>'sqlstate', 'HDNFD', 'rls: another tenant''s conversation is not found');
SELECT is(hdtest.error_of(pg_temp.api('hdk_acme_full', 'tickets:write', 'chat.conversation.ticket',
          '{"id": "b0000000-0000-4000-8000-0000000000d2"}'))->>'sqlstate', 'HDNFD', '... nor converted');
SELECT is(jsonb_array_length(hdtest.as_role(pg_temp.api('hdk_acme_full', 'tickets:read', 'chat.conversation.list',
          '{"visitor": "b0000000-0000-4000-8000-0000000000d1"}'))::jsonb->'data'), 0, '... nor listed by its visitor');
SELECT is(hdtest.as_role(pg_temp.api('hdk_acme_full', 'tickets:read', 'chat.conversation.get',
          '{"id": "a0000000-0000-4000-8000-0000000000d2"}'))::jsonb->'messages'->0->>'body', 'hello from a',
          'rls: its own transcript read');
SELECT is((SELECT string_agg(action || ':' || left(tenant_id::text, 1), ',' ORDER BY audit_id) FROM helpdesk.audit_log
           WHERE action IN ('chat.read', 'chat.list')),
          'chat.list:a,chat.list:a,chat.list:a,chat.read:a', 'rls: the reads audited in the reader''s tenant');

-- an agent's address typed into the form: the form proves no address, so
-- the ticket is nobody's on the staff, and the audit names no one
SELECT hdtest.as_role(pg_temp.offline('acme', 'https://www.acme.example', '198.51.100.30',
    jsonb_build_object('name', 'Alice?', 'email', 'ALICE@acme.example', 'message', 'please reset my MFA',
                       'fields', '{"order": "1"}'::jsonb)));
SELECT is(t.requester_id, NULL, 'offline: a staff member''s email makes no ticket of theirs')
FROM helpdesk.tickets t WHERE t.tenant_id = 'a0000000-0000-4000-8000-000000000001'
  AND t.subject = 'please reset my MFA';
SELECT is((SELECT string_agg(coalesce(a.actor_id::text, '-'), ',') FROM helpdesk.audit_log a
           WHERE a.action = 'ticket.create' AND host(a.ip) = '198.51.100.30'),
          '-', '... its creation audited as no user''s');
SELECT is(e.actor_type || ' ' || coalesce(e.actor_id::text, '-') || ' ' || (e.data->'chat'->>'email'),
          'system - alice@acme.example', '... its first event no user''s either, with the address given')
FROM helpdesk.ticket_events e JOIN helpdesk.tickets t USING (tenant_id, ticket_id)
WHERE t.tenant_id = 'a0000000-0000-4000-8000-000000000001' AND t.subject = 'please reset my MFA'
  AND e.type = 'created';

-- "email me the transcript": a few a conversation, not a mailer for
-- anything a visitor writes to any address
SELECT chat.transcript('a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-0000000000d2',
                       'a0000000-0000-4000-8000-0000000000d1', 'someone' || n || '@example.com')
FROM generate_series(1, 3) n;
SELECT is((SELECT count(*)::int FROM helpdesk.outbox WHERE event_type = 'email.chat_transcript'
           AND target_id = 'a0000000-0000-4000-8000-0000000000d2'), 3, 'transcript: three emailed');
SELECT is(hdtest.error_of($$SELECT chat.transcript('a0000000-0000-4000-8000-000000000001',
          'a0000000-0000-4000-8000-0000000000d2', 'a0000000-0000-4000-8000-0000000000d1', 'victim@example.com')$$, 'helpdesk_service')->>'sqlstate',
          'HDLIM', 'transcript: a fourth of one conversation is refused');
SELECT is((SELECT count(*)::int FROM helpdesk.outbox WHERE event_type = 'email.chat_transcript'
           AND target_id = 'a0000000-0000-4000-8000-0000000000d2'), 3, '... and not queued');

-- a conversion through the API converts what the record holds; what the
-- chat said later (written by the chat's own conversion path, which
-- converts again) joins the same ticket, each message once
SELECT hdtest.as_role(pg_temp.api('hdk_acme_full', 'tickets:write', 'chat.conversation.ticket',
          '{"id": "a0000000-0000-4000-8000-0000000000d2"}'));
SET LOCAL helpdesk.tenant_id = 'a0000000-0000-4000-8000-000000000001';
INSERT INTO helpdesk.chat_messages (tenant_id, conversation_id, message_id, kind, author_type, body, created_at)
VALUES ('a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-0000000000d2', '1764480009999-0',
        'message', 'visitor', 'said just before the conversion', now());
SELECT is(chat.convert('{"tenant_id": "a0000000-0000-4000-8000-000000000001", "actor_type": "system"}',
                       'a0000000-0000-4000-8000-0000000000d2')->>'created', 'false',
          'convert: converting again answers the same ticket');
SELECT chat.convert('{"tenant_id": "a0000000-0000-4000-8000-000000000001", "actor_type": "system"}',
                    'a0000000-0000-4000-8000-0000000000d2');
SELECT is((SELECT string_agg(e.body, ' | ' ORDER BY e.event_id) FROM helpdesk.ticket_events e
           JOIN helpdesk.chat_conversations c ON c.tenant_id = e.tenant_id AND c.ticket_id = e.ticket_id
           WHERE c.conversation_id = 'a0000000-0000-4000-8000-0000000000d2' AND e.type = 'comment'),
          'hello from a | said just before the conversion',
          '... with what was said after the record was converted, once');
RESET helpdesk.tenant_id;

-- a tenant that never saved its widget: the transport and the
-- conversations layer read the table's own defaults, and write nothing
DELETE FROM helpdesk.chat_widgets WHERE tenant_id = 'b0000000-0000-4000-8000-000000000001';
CREATE TEMP TABLE unsaved AS SELECT * FROM chat.widget_or_default('b0000000-0000-4000-8000-000000000001');
SELECT is((SELECT count(*)::int FROM helpdesk.chat_widgets WHERE tenant_id = 'b0000000-0000-4000-8000-000000000001'),
          0, 'a widget never saved: read without writing it');
SELECT is((SELECT s.settings->>'colour' || ' ' || (s.settings->'prechat'->0->>'name') || ' ' || s.max_message_bytes
           FROM chat.widget_public('globex', '{}') s),
          '#1f6feb name 16384', '... the widget''s transport has its defaults');
SELECT is(chat.settings('b0000000-0000-4000-8000-000000000001') - 'open_now',
          '{"greeting": "", "bot_enabled": true, "prechat_fields": [{"name": "name", "required": true},
            {"name": "email", "required": false}], "waiting_message": "", "on_reply_timeout": "requeue",
            "transfer_allowed": true, "bot_kb_suggestions": true, "auto_ticket_minutes": null,
            "max_chats_per_agent": 3, "reply_timeout_seconds": 300, "accept_timeout_seconds": 30}',
          '... and so has the conversations layer');
INSERT INTO helpdesk.chat_widgets (tenant_id) VALUES ('b0000000-0000-4000-8000-000000000001');
SELECT is((SELECT to_jsonb(u) - 'updated_at' FROM unsaved u),
          (SELECT to_jsonb(w) - 'updated_at' FROM helpdesk.chat_widgets w
           WHERE w.tenant_id = 'b0000000-0000-4000-8000-000000000001'),
          '... the same as a row made with the table''s defaults');

SELECT * FROM finish();
ROLLBACK;
