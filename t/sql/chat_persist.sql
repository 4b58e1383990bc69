-- The chat's record as the persistence job writes it (api.chat_persist,
-- called as nginx calls it): a batch of two tenants' entries, each
-- conversation's row from its latest state, the events once however
-- often the batch comes, what is audited audited once, an agent's
-- message by the agent of its moment (a transfer audited as its maker), entries of a conversation the
-- record cannot make skipped, and what the record refuses for its data
-- refused with a data exception (the job then writes it entry by entry).
BEGIN;
SELECT plan(21);
SELECT hdtest.fixtures();
SELECT hdtest.seed_all();

-- an entry as the chat script appends it: t, c, i, j, u, h (JSON text)
CREATE FUNCTION pg_temp.e(p text, conv text, id text, j jsonb, h jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('t', p || '0000000-0000-4000-8000-000000000001',
                              'c', p || conv, 'i', id, 'j', coalesce(j::text, ''), 'u', '*',
                              'h', coalesce(h::text, ''))
$$;
CREATE FUNCTION pg_temp.state(p text, st text, ag text DEFAULT '') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('t', p || '0000000-0000-4000-8000-000000000001',
                              'v', p || '0000000-0000-4000-8000-0000000000d1',
                              'st', st, 'ag', ag, 'start', '1764480000000',
                              'lm', '1764480005000', 'page', '{"url": "https://www.example/"}',
                              'pre', '{"name": "Vera", "email": "vera@example.com"}')
$$;
CREATE FUNCTION pg_temp.persist(b jsonb) RETURNS text
LANGUAGE sql AS $$
    SELECT format('SELECT api.chat_persist(%L, %L)', hdtest.key('hdp_provider'), b)
$$;

-- a new conversation in acme (started, joined, two messages, the agent's
-- among them) and a message in globex's seeded one, in one batch
CREATE TEMP TABLE batch AS SELECT jsonb_build_array(
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000c9', '1764480001000-0',
              '{"type": "message", "cid": "c1", "from": {"kind": "visitor", "name": "Vera"}, "text": "hi"}',
              pg_temp.state('a', 'queued')),
    pg_temp.e('b', '0000000-0000-4000-8000-0000000000d2', '1764480001500-0',
              '{"type": "message", "from": {"kind": "visitor"}, "text": "globex here"}',
              pg_temp.state('b', 'queued')),
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000c9', '1764480002000-0',
              '{"type": "joined", "agent": {"name": "Ana"}}',
              pg_temp.state('a', 'active', 'a0000000-0000-4000-8000-0000000000e1')),
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000c9', '1764480003000-0',
              '{"type": "message", "from": {"kind": "agent", "name": "Ana"}, "text": "hello"}',
              pg_temp.state('a', 'active', 'a0000000-0000-4000-8000-0000000000e1'))) AS b;

SELECT is(hdtest.as_role(pg_temp.persist(b)), '4', 'a batch: its four events written')
FROM batch;
SELECT is((SELECT status || ' ' || agent_id || ' ' || page_url FROM helpdesk.chat_conversations
           WHERE conversation_id = 'a0000000-0000-4000-8000-0000000000c9'),
          'active a0000000-0000-4000-8000-0000000000e1 https://www.example/',
          '... the new conversation from its latest state in the batch');
SELECT is((SELECT string_agg(message_id || ' ' || kind || ' ' || author_type || ' '
                             || coalesce(author_id::text, '-') || ' ' || body, ', ' ORDER BY message_id)
           FROM helpdesk.chat_messages WHERE conversation_id = 'a0000000-0000-4000-8000-0000000000c9'),
          '1764480001000-0 message visitor - hi, 1764480002000-0 event system - , '
          || '1764480003000-0 message agent a0000000-0000-4000-8000-0000000000e1 hello',
          '... its events, the agent''s message by the conversation''s agent');
SELECT is((SELECT client_id || ' ' || (data = '{"type": "message"}') FROM helpdesk.chat_messages
           WHERE message_id = '1764480001000-0'), 'c1 true', '... the client''s id kept, text and author out of data');
SELECT is((SELECT tenant_id::text FROM helpdesk.chat_messages WHERE message_id = '1764480001500-0'),
          'b0000000-0000-4000-8000-000000000001', '... globex''s message as globex''s');
SELECT is((SELECT name || ' ' || email FROM helpdesk.chat_visitors
           WHERE visitor_id = 'a0000000-0000-4000-8000-0000000000d1'),
          'Vera vera@example.com', '... the visitor named from the pre-chat answers');
SELECT is((SELECT string_agg(action || ' ' || actor_type || ' ' || coalesce(actor_id::text, '-'), ', ' ORDER BY action)
           FROM helpdesk.audit_log WHERE object_id = 'a0000000-0000-4000-8000-0000000000c9'),
          'chat.joined user a0000000-0000-4000-8000-0000000000e1, chat.start system -',
          '... its start and the agent joining audited');

-- the same batch again (taken over while it was written): nothing changes
SELECT is(hdtest.as_role(pg_temp.persist(b)), '4', 'the same batch again: the same answer')
FROM batch;
SELECT is((SELECT count(*)::int FROM helpdesk.chat_messages
           WHERE conversation_id IN ('a0000000-0000-4000-8000-0000000000c9',
                                     'b0000000-0000-4000-8000-0000000000d2')), 5,
          '... no event twice (globex had one already)');
SELECT is((SELECT count(*)::int FROM helpdesk.audit_log
           WHERE object_id = 'a0000000-0000-4000-8000-0000000000c9'), 2, '... nothing audited twice');

-- a later state: the conversation ended; a converted one stays converted
SELECT hdtest.as_role(pg_temp.persist(jsonb_build_array(
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000c9', '1764480009000-0',
              '{"type": "ended", "by": "visitor"}',
              pg_temp.state('a', 'ended', 'a0000000-0000-4000-8000-0000000000e1')
              || '{"end": "1764480009000", "eb": "visitor"}'))));
SELECT is((SELECT status || ' ' || ended_by FROM helpdesk.chat_conversations
           WHERE conversation_id = 'a0000000-0000-4000-8000-0000000000c9'),
          'ended visitor', 'a later batch: the row follows the state');
SELECT is((SELECT actor_type FROM helpdesk.audit_log
           WHERE object_id = 'a0000000-0000-4000-8000-0000000000c9' AND action = 'chat.ended'),
          'visitor', '... ended by the visitor, audited as the visitor''s');

-- a transfer and the next agent in one batch: each message by the agent
-- of its own moment, the transfer audited as the agent who made it
INSERT INTO helpdesk.users (tenant_id, user_id, email, name, role, email_verified_at)
VALUES ('a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-0000000000e2',
        'bruno@acme.example', 'Bruno', 'agent', now());
SELECT is(hdtest.as_role(pg_temp.persist(jsonb_build_array(
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000c9', '1764480009100-0',
              '{"type": "message", "from": {"kind": "agent", "name": "Alice"}, "text": "passing you on"}',
              pg_temp.state('a', 'active', 'a0000000-0000-4000-8000-0000000000e1')),
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000c9', '1764480009200-0',
              '{"type": "transferred", "to": {"agent": "a0000000-0000-4000-8000-0000000000e2"}, "by": {"name": "Alice"}}',
              pg_temp.state('a', 'queued') || '{"act": "a0000000-0000-4000-8000-0000000000e1"}'),
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000c9', '1764480009300-0',
              '{"type": "joined", "agent": {"name": "Bruno"}}',
              pg_temp.state('a', 'active', 'a0000000-0000-4000-8000-0000000000e2')),
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000c9', '1764480009400-0',
              '{"type": "message", "from": {"kind": "agent", "name": "Bruno"}, "text": "Bruno here"}',
              pg_temp.state('a', 'active', 'a0000000-0000-4000-8000-0000000000e2'))))), '4',
          'a batch with a transfer in it');
SELECT is((SELECT string_agg(body || ' ' || author_id, ', ' ORDER BY message_id) FROM helpdesk.chat_messages
           WHERE message_id IN ('1764480009100-0', '1764480009400-0')),
          'passing you on a0000000-0000-4000-8000-0000000000e1, Bruno here a0000000-0000-4000-8000-0000000000e2',
          '... each agent''s message by that agent');
SELECT is((SELECT string_agg(action || ' ' || actor_type || ' ' || coalesce(actor_id::text, '-'), ', ' ORDER BY action)
           FROM helpdesk.audit_log WHERE object_id = 'a0000000-0000-4000-8000-0000000000c9'
             AND action IN ('chat.transferred') OR (action = 'chat.joined' AND object_id = 'a0000000-0000-4000-8000-0000000000c9'
             AND actor_id = 'a0000000-0000-4000-8000-0000000000e2')),
          'chat.joined user a0000000-0000-4000-8000-0000000000e2, chat.transferred user a0000000-0000-4000-8000-0000000000e1',
          '... the transfer audited as Alice''s, the join as Bruno''s');

-- a conversation whose visitor the record does not know: skipped
SELECT is(hdtest.as_role(pg_temp.persist(jsonb_build_array(
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000ca', '1764480010000-0',
              '{"type": "message", "from": {"kind": "visitor"}, "text": "lost"}',
              pg_temp.state('a', 'queued') || '{"v": "a0000000-0000-4000-8000-0000000000ff"}'),
    jsonb_build_object('t', 'not a tenant', 'c', 'x', 'i', '1-1', 'j', '{}', 'h', '{}'),
    '"not an object"'::jsonb))), '0',
          'entries of an unknown visitor, and entries that are not the record''s, are skipped');

-- an entry labelled as acme's carrying globex's conversation (its id and
-- its state, whose visitor is globex's): nothing written under acme, and
-- globex's conversation untouched
SELECT is(hdtest.as_role(pg_temp.persist(jsonb_build_array(
    jsonb_build_object('t', 'a0000000-0000-4000-8000-000000000001',
                       'c', 'b0000000-0000-4000-8000-0000000000d2', 'i', '1764480010500-0',
                       'j', '{"type": "message", "from": {"kind": "visitor"}, "text": "cross"}',
                       'u', '*', 'h', pg_temp.state('b', 'ended')::text)))), '0',
          'an entry of one tenant''s conversation labelled as another''s is skipped');
SELECT is((SELECT count(*)::int FROM helpdesk.chat_messages m
           WHERE m.conversation_id = 'b0000000-0000-4000-8000-0000000000d2'
             AND (m.tenant_id = 'a0000000-0000-4000-8000-000000000001' OR m.body = 'cross'))
          + (SELECT count(*)::int FROM helpdesk.chat_conversations c
             WHERE c.conversation_id = 'b0000000-0000-4000-8000-0000000000d2'
               AND (c.tenant_id = 'a0000000-0000-4000-8000-000000000001' OR c.status = 'ended')),
          0, '... no row under acme, and globex''s conversation and messages as they were');

-- refused for what it holds: a data exception (class 22), as the job expects
SELECT is(hdtest.error_of(pg_temp.persist(jsonb_build_array(
    pg_temp.e('a', '0000000-0000-4000-8000-0000000000d2', '1764480011000-0',
              '{"type": "message"}', NULL) || '{"h": "not json"}'))) ->> 'sqlstate',
          '22P02', 'a state that is not JSON refuses the batch with a data exception');
SELECT is(hdtest.error_of(pg_temp.persist('{"not": "a batch"}')) ->> 'sqlstate', 'HDINV',
          'a batch that is not an array is refused');
SELECT is(hdtest.error_of(format('SELECT api.chat_persist(%L, %L)', sha256('x'::bytea), '[]'::jsonb)) ->> 'sqlstate',
          'HDUNA', 'a wrong proof writes nothing');

SELECT * FROM finish();
ROLLBACK;
