-- Mail received (api.email_inbound, called as nginx calls it): the tenant
-- is the token's and nothing in the mail can choose another, no one of
-- the staff becomes a requester, threading stays in the tenant (a
-- Message-ID is anybody's string: another tenant's must not thread), the
-- ticket number in the subject only for the requester and the CCs, a
-- Message-ID once per mailbox, the per-sender limit, and the pieces of a
-- large mail staged per tenant and mailbox; a fetched mail's pieces
-- staged only by the run holding its mailbox and taken by the same ingest.
BEGIN;
SELECT plan(53);

SELECT hdtest.fixtures();
SELECT hdtest.seed_all();

-- the seeded mailboxes' tokens (hashes, as nginx sends them)
CREATE FUNCTION pg_temp.tok(p text) RETURNS text LANGUAGE sql AS $$
    SELECT 'sha256:' || repeat(p, 64)
$$;

CREATE FUNCTION pg_temp.meta(mid text, sender text, subject text,
    extra jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('message_id', mid,
        'from', jsonb_build_object('address', sender, 'name', 'Someone'),
        'to', jsonb_build_array(jsonb_build_object('address', 'support@a.test')),
        'cc', '[]'::jsonb, 'recipients', '[]'::jsonb, 'references', '[]'::jsonb,
        'subject', subject, 'text', 'hello', 'attachments', '[]'::jsonb,
        'refused', '[]'::jsonb, 'raw', jsonb_build_object('offset', 0, 'size', 3)) || extra
$$;

-- a mail as nginx stores it: the answer's jsonb
CREATE FUNCTION pg_temp.push(p text, meta jsonb, upload uuid DEFAULT NULL,
    tail bytea DEFAULT '\x616263') RETURNS jsonb LANGUAGE sql AS $$
    SELECT hdtest.as_role(format('SELECT api.email_inbound(%L, %L, %L::jsonb, %L::bytea, %L::uuid)',
                                 pg_temp.tok(p), '192.0.2.7', meta, tail, upload))::jsonb
$$;

CREATE FUNCTION pg_temp.ticket_of(answer jsonb) RETURNS uuid LANGUAGE sql AS $$
    SELECT (answer->'ticket'->>'id')::uuid
$$;

-- a new mail: a ticket of the token's tenant, on the channel email
CREATE TEMP TABLE r AS SELECT pg_temp.push('a', pg_temp.meta('<n1@x.example>', 'newbie@x.example', 'Help')) AS a;
SELECT is((SELECT a->>'outcome' FROM r), 'created', 'a new mail opens a ticket');
SELECT is((SELECT tenant_id FROM helpdesk.tickets WHERE ticket_id = pg_temp.ticket_of(a)) , 'a0000000-0000-4000-8000-000000000001'::uuid,
          'in the tenant of the token') FROM r;
SELECT is((SELECT channel FROM helpdesk.tickets WHERE ticket_id = pg_temp.ticket_of(a)), 'email', 'on the channel email') FROM r;
SELECT is((SELECT u.email || ' ' || u.role FROM helpdesk.tickets t JOIN helpdesk.users u
           ON u.tenant_id = t.tenant_id AND u.user_id = t.requester_id WHERE t.ticket_id = pg_temp.ticket_of(a)),
          'newbie@x.example customer', 'the sender, a customer of that tenant, is the requester') FROM r;
SELECT is((SELECT count(*)::int FROM helpdesk.attachments WHERE ticket_id = pg_temp.ticket_of(a) AND filename = 'original.eml'
             AND data = '\x616263'), 1, 'the original kept') FROM r;

-- the same mail through globex's token: globex's own ticket
SELECT pg_temp.push('b', pg_temp.meta('<n1@x.example>', 'newbie@x.example', 'Help')) AS a INTO TEMP rb;
SELECT is((SELECT tenant_id FROM helpdesk.tickets WHERE ticket_id = pg_temp.ticket_of(a))::text,
          'b0000000-0000-4000-8000-000000000001', 'the same Message-ID to another tenant: its own ticket')
FROM rb;

-- an unknown token
SELECT is(hdtest.error_of(format('SELECT api.email_inbound(%L, NULL, %L::jsonb, %L::bytea, NULL)',
              'sha256:' || repeat('c', 64), pg_temp.meta('<u@x>', 'u@x.example', 'x'), '\x00'))->>'message',
          'unknown mailbox', 'an unknown token: not found');

-- the staff's address is nobody's here: no agent becomes a requester
SELECT pg_temp.push('a', pg_temp.meta('<st1@acme>', 'Alice@Acme.Example', 'from an agent')) AS a INTO TEMP st;
SELECT is((SELECT a->>'outcome' FROM st), 'created', 'a mail from an agent''s address still opens a ticket');
SELECT ok((SELECT t.requester_id IS DISTINCT FROM 'a0000000-0000-4000-8000-0000000000e1'::uuid
              AND NOT EXISTS (SELECT 1 FROM helpdesk.users u WHERE u.tenant_id = t.tenant_id
                              AND u.user_id = t.requester_id AND u.role <> 'customer')
           FROM helpdesk.tickets t, st WHERE t.ticket_id = pg_temp.ticket_of(st.a)),
          'but its requester is no one of the staff');

-- threading by references: the tenant's own Message-IDs only
SELECT is(pg_temp.push('a', pg_temp.meta('<r1@x>', 'carla@acme.example', 'Re: printer',
              '{"in_reply_to": "a@seed"}'))->'ticket'->>'id',
          'a0000000-0000-4000-8000-0000000000f1', 'In-Reply-To of a mail of the tenant: joins its ticket');
SELECT is(pg_temp.push('a', pg_temp.meta('<r2@x>', 'mallory@evil.example', 'Re: plans',
              '{"in_reply_to": "b@seed"}'))->>'outcome',
          'created', 'In-Reply-To of another tenant''s mail: a new ticket, not theirs');
SELECT is(pg_temp.push('a', pg_temp.meta('<r3@x>', 'mallory@evil.example', 'Re: plans',
              '{"references": ["b@seed", "nothing@here"]}'))->>'outcome',
          'created', 'nor by References');
SELECT is((SELECT count(*)::int FROM helpdesk.ticket_events WHERE ticket_id = 'b0000000-0000-4000-8000-0000000000f1'),
          1, 'globex''s ticket untouched');
-- a Message-ID that another tenant's mail also had: threads to this
-- tenant's only (the globex copy of <n1@x.example> above is globex's)
SELECT is((SELECT t.tenant_id FROM helpdesk.tickets t WHERE t.ticket_id = pg_temp.ticket_of(
              pg_temp.push('a', pg_temp.meta('<r4@x>', 'newbie@x.example', 'Re: Help',
                           '{"references": ["<n1@x.example>"]}'))))::text,
          'a0000000-0000-4000-8000-000000000001', 'a Message-ID both tenants hold: the tenant''s own ticket');

-- the number in the subject: the requester and the CCs only
SELECT is(pg_temp.push('a', pg_temp.meta('<s1@x>', 'stranger@x.example', 'Re: [TKT-000001] printer'))->>'outcome',
          'created', '[TKT-000001] from a stranger: a new ticket');
SELECT is(pg_temp.push('a', pg_temp.meta('<s2@x>', 'gina@globex.example', 'Re: [TKT-000001] plans'))->>'outcome',
          'created', 'nor from the requester of #1 of another tenant');
SELECT is(pg_temp.push('a', pg_temp.meta('<s3@x>', 'carla@acme.example', 'Re: [TKT-000001] printer'))->'ticket'->>'id',
          'a0000000-0000-4000-8000-0000000000f1', 'from the requester: joins it');
SELECT is(pg_temp.push('a', pg_temp.meta('<s4@x>', 'cc@a.test', '[TKT-1] more'))->'ticket'->>'id',
          'a0000000-0000-4000-8000-0000000000f1', 'from a CC: joins it');

-- X-Helpdesk-Loop: dropped only when it names a mail this tenant sent
INSERT INTO helpdesk.email_messages (tenant_id, direction, message_id_header)
VALUES ('a0000000-0000-4000-8000-000000000001', 'out', 'sent-by-a@a.test');
SELECT is(pg_temp.push('a', pg_temp.meta('<l1@x>', 'l@x.example', 'loop',
              '{"loop": "sent-by-a@a.test"}'))->>'reason',
          'our own mail', 'a loop header naming a mail the tenant sent: dropped');
SELECT is(pg_temp.push('a', pg_temp.meta('<l2@x>', 'l@x.example', 'loop',
              '{"loop": " <sent-by-a@a.test>"}'))->>'reason',
          'our own mail', 'in angle brackets too');
SELECT is(pg_temp.push('b', pg_temp.meta('<l3@x>', 'l@x.example', 'loop',
              '{"loop": "sent-by-a@a.test"}'))->>'outcome',
          'created', 'another tenant''s loop header (its notice forwarded here): a ticket');
SELECT is(pg_temp.push('a', pg_temp.meta('<l4@x>', 'l@x.example', 'loop',
              '{"loop": "acme"}'))->>'outcome',
          'created', 'a loop header naming nothing sent: a ticket');
SELECT is(pg_temp.push('a', pg_temp.meta('<l5@x>', 'l@x.example', 'loop',
              '{"loop": "rewritten", "in_reply_to": "sent-by-a@a.test"}'))->>'reason',
          'our own mail', 'a loop header with In-Reply-To of a mail the tenant sent: dropped');

-- the number in the subject is the weakest proof (a From anybody can
-- write): such a mail joins its ticket, but the people it copies are not
-- added to the ticket's CCs (they would receive every later reply)
SELECT is(pg_temp.push('a', pg_temp.meta('<s5@x>', 'carla@acme.example', 'Re: [TKT-000001] printer',
              '{"cc": [{"address": "thief@evil.example"}]}'))->'ticket'->>'id',
          'a0000000-0000-4000-8000-0000000000f1', 'a forged requester by the subject: joins the ticket');
SELECT is((SELECT count(*)::int FROM helpdesk.email_ticket_ccs
           WHERE ticket_id = 'a0000000-0000-4000-8000-0000000000f1' AND address = 'thief@evil.example'),
          0, 'but copies no one onto it');
-- a reply proven by References still adds the people it copies
SELECT pg_temp.push('a', pg_temp.meta('<s6@x>', 'carla@acme.example', 'Re: printer',
           '{"in_reply_to": "a@seed", "cc": [{"address": "colleague@acme.example"}]}'));
SELECT is((SELECT count(*)::int FROM helpdesk.email_ticket_ccs
           WHERE ticket_id = 'a0000000-0000-4000-8000-0000000000f1' AND address = 'colleague@acme.example'),
          1, 'a reply by References copies its CCs onto the ticket');

-- a ticket copies 50 people at most: each mail adds up to what is left,
-- in the order it names them; the event says who was left out
SELECT pg_temp.push('a', pg_temp.meta('<cap1@x>', 'boss@cap.example', 'Copying many',
           jsonb_build_object('cc', (SELECT jsonb_agg(jsonb_build_object('address', format('p%s@cap.example', i))
                                                      ORDER BY i) FROM generate_series(1, 45) i)))) AS a INTO TEMP cap;
SELECT is((SELECT count(*)::int FROM helpdesk.email_ticket_ccs c, cap WHERE c.ticket_id = pg_temp.ticket_of(cap.a)),
          45, 'a new mail copying 45 people: all 45 on its ticket');
SELECT is((SELECT e.data->'email' ? 'ccs_not_added' FROM helpdesk.ticket_events e, cap WHERE e.ticket_id = pg_temp.ticket_of(cap.a)),
          false, 'and its event leaves no one out');
SELECT is(pg_temp.ticket_of(pg_temp.push('a', pg_temp.meta('<cap2@x>', 'boss@cap.example', 'Re: Copying many',
              jsonb_build_object('in_reply_to', '<cap1@x>',
                                 'cc', (SELECT jsonb_agg(jsonb_build_object('address', format('p%s@cap.example', i))
                                                         ORDER BY i) FROM generate_series(40, 240) i))))),
          (SELECT pg_temp.ticket_of(a) FROM cap), 'a reply copying 200 more (5 of them copied already)');
SELECT is((SELECT count(*)::int FROM helpdesk.email_ticket_ccs c, cap WHERE c.ticket_id = pg_temp.ticket_of(cap.a)),
          50, 'the ticket copies 50 in all');
SELECT ok((SELECT bool_and(EXISTS (SELECT 1 FROM helpdesk.email_ticket_ccs c
                                   WHERE c.ticket_id = pg_temp.ticket_of(cap.a) AND c.address = format('p%s@cap.example', i)))
           FROM generate_series(1, 50) i, cap), 'the first named: p1 to p50');
SELECT is((SELECT e.data->'email'->'ccs_not_added'->'addresses' FROM helpdesk.ticket_events e, cap
           WHERE e.ticket_id = pg_temp.ticket_of(cap.a) ORDER BY e.event_id DESC LIMIT 1),
          (SELECT jsonb_agg(format('p%s@cap.example', i) ORDER BY i) FROM generate_series(51, 240) i),
          'the reply''s event lists the 190 left out, in the mail''s order');
SELECT is((SELECT (e.data->'email'->'ccs_not_added'->>'max')::int FROM helpdesk.ticket_events e, cap
           WHERE e.ticket_id = pg_temp.ticket_of(cap.a) ORDER BY e.event_id DESC LIMIT 1),
          50, 'with the cap');

-- a Message-ID once per mailbox
SELECT is(pg_temp.push('a', pg_temp.meta('<s3@x>', 'carla@acme.example', 'Re: [TKT-000001] printer'))->>'outcome',
          'duplicate', 'the same Message-ID again: a duplicate');
SELECT is((SELECT count(*)::int FROM helpdesk.email_messages WHERE message_id_header = '<s3@x>'), 1, 'recorded once');

-- the per-sender limit
UPDATE helpdesk.email_mailboxes SET sender_limit = 2 WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(array_agg(pg_temp.push('a', pg_temp.meta('<storm' || i || '@x>', 'storm@x.example', 'storm ' || i))->>'outcome' ORDER BY i),
          ARRAY['created', 'created', 'dropped'], 'past the sender''s limit: dropped')
FROM generate_series(1, 3) i;
SELECT is((SELECT drop_reason FROM helpdesk.email_messages WHERE message_id_header = '<storm3@x>'),
          'rate limited', 'with its reason');
SELECT is(pg_temp.push('a', pg_temp.meta('<calm1@x>', 'calm@x.example', 'calm'))->>'outcome',
          'created', 'another sender is not limited');

-- a large mail's pieces: staged per tenant and mailbox, taken in order
SELECT hdtest.as_role(format('SELECT api.email_inbound_chunk(%L, %L, 1, %L::bytea)',
           pg_temp.tok('a'), 'c0000000-0000-4000-8000-000000000001', '\x6465'));
SELECT hdtest.as_role(format('SELECT api.email_inbound_chunk(%L, %L, 0, %L::bytea)',
           pg_temp.tok('a'), 'c0000000-0000-4000-8000-000000000001', '\x616263'));
-- globex stages under the same upload id: not acme's
SELECT hdtest.as_role(format('SELECT api.email_inbound_chunk(%L, %L, 2, %L::bytea)',
           pg_temp.tok('b'), 'c0000000-0000-4000-8000-000000000001', '\x787878'));
SELECT pg_temp.push('a', pg_temp.meta('<big1@x>', 'big@x.example', 'big',
           '{"raw": {"offset": 0, "size": 6}}'), 'c0000000-0000-4000-8000-000000000001', '\x66') AS a INTO TEMP big;
SELECT is((SELECT data FROM helpdesk.attachments, big WHERE ticket_id = pg_temp.ticket_of(big.a) AND filename = 'original.eml'),
          '\x616263646566'::bytea, 'the pieces in order, then the tail; another tenant''s not among them');
SELECT is((SELECT count(*)::int FROM helpdesk.email_inbound_chunks
           WHERE upload_id = 'c0000000-0000-4000-8000-000000000001'), 1, 'the pieces taken are gone, globex''s left');
SELECT is(hdtest.error_of(format('SELECT api.email_inbound_chunk(%L, %L, 0, %L::bytea)',
              'sha256:' || repeat('c', 64), 'c0000000-0000-4000-8000-000000000002', '\x00'))->>'message',
          'unknown mailbox', 'a piece for an unknown token: not found');
SELECT is(hdtest.error_of(format('SELECT api.email_inbound(%L, NULL, %L::jsonb, %L::bytea, NULL)',
              pg_temp.tok('a'), pg_temp.meta('<short@x>', 'short@x.example', 'x', '{"raw": {"offset": 0, "size": 10}}'), '\x00'))->>'message',
          'the message is incomplete', 'a blob shorter than its message: refused');
-- pieces an upload left behind are gone an hour later
INSERT INTO helpdesk.email_inbound_chunks (tenant_id, mailbox_id, upload_id, seq, data, created_at)
VALUES ('a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-0000000000c1',
        'c0000000-0000-4000-8000-000000000003', 0, '\x00', now() - interval '2 hours');
SELECT hdtest.as_role(format('SELECT api.email_inbound_chunk(%L, %L, 0, %L::bytea)',
           pg_temp.tok('a'), 'c0000000-0000-4000-8000-000000000004', '\x00'));
SELECT is((SELECT count(*)::int FROM helpdesk.email_inbound_chunks
           WHERE upload_id = 'c0000000-0000-4000-8000-000000000003'), 0, 'an abandoned upload''s pieces: deleted');

-- the app role cannot reach the staged pieces
SELECT throws_ok($$SELECT hdtest.as_role('SELECT count(*) FROM helpdesk.email_inbound_chunks')$$,
                 '42501', NULL, 'the app role cannot read the staged pieces');

-- a fetched mail (the IMAP job's path, called as nginx calls it, with the
-- module's proof): its pieces staged only while the run holds the
-- mailbox, then taken by the one ingest with the tail
UPDATE helpdesk.email_mailboxes SET lease_token = 'a0000000-0000-4000-8000-0000000000f1', uid_validity = 7
WHERE mailbox_id = 'a0000000-0000-4000-8000-0000000000c1';
SELECT lives_ok($$SELECT hdtest.as_role('SELECT api.email_fetch_chunk(sha256(''hdp_provider''::bytea),
                    ''a0000000-0000-4000-8000-000000000001'', ''a0000000-0000-4000-8000-0000000000c1'',
                    ''a0000000-0000-4000-8000-0000000000f1'', 60000, ''a0000000-0000-4000-8000-0000000000f2'',
                    0, ''\x6162'')')$$,
                'a fetched mail''s piece staged by the run holding the mailbox');
SELECT is(hdtest.error_of($$SELECT api.email_fetch_chunk(sha256('hdp_provider'::bytea),
                    'a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-0000000000c1',
                    gen_random_uuid(), 60000, 'a0000000-0000-4000-8000-0000000000f2', 1, '\x00')$$)->>'sqlstate',
          'HDCNF', 'not by a run that lost the lease');
CREATE TEMP TABLE rf AS
SELECT hdtest.as_role(format('SELECT api.email_fetch_store(sha256(%L::bytea), %L, %L, %L, 60000, 7, 41, 5, %L::jsonb, %L::bytea, %L::uuid)',
                             'hdp_provider', 'a0000000-0000-4000-8000-000000000001',
                             'a0000000-0000-4000-8000-0000000000c1', 'a0000000-0000-4000-8000-0000000000f1',
                             pg_temp.meta('<f1@x.example>', 'fetched@x.example', 'By IMAP')
                               || '{"raw": {"offset": 0, "size": 5}}', '\x636465',
                             'a0000000-0000-4000-8000-0000000000f2'))::jsonb AS a;
SELECT is((SELECT a->>'outcome' FROM rf), 'created', 'the fetched mail opens a ticket');
SELECT is((SELECT data FROM helpdesk.attachments WHERE ticket_id = pg_temp.ticket_of(a) AND filename = 'original.eml'),
          '\x6162636465'::bytea, 'its original: the staged piece, then the tail') FROM rf;
SELECT is((SELECT count(*)::int FROM helpdesk.email_inbound_chunks
           WHERE upload_id = 'a0000000-0000-4000-8000-0000000000f2'), 0, 'the piece taken');
SELECT is((SELECT last_uid FROM helpdesk.email_mailboxes WHERE mailbox_id = 'a0000000-0000-4000-8000-0000000000c1'),
          41::bigint, 'the last UID advanced with it');

-- where the portal is for a mail's links: without a link from the module,
-- the tenant's verified domain (the seed's), or nothing
SELECT is(email.portal_base('a0000000-0000-4000-8000-000000000001', NULL), 'https://help.a.example',
          'no link: the tenant''s verified domain');
SELECT is(email.portal_base('a0000000-0000-4000-8000-000000000001',
              '{"scheme": "http", "base": "portal.test", "port": 8080, "domains": false}'),
          'http://acme.portal.test:8080', 'a link: as the module names it');
DELETE FROM helpdesk.portal_domains WHERE tenant_id = 'a0000000-0000-4000-8000-000000000001';
SELECT is(email.portal_base('a0000000-0000-4000-8000-000000000001', NULL), NULL,
          'no link and no verified domain: no portal link');

SELECT * FROM finish();
ROLLBACK;
