-- The email runner's claim (email.email_claim, as the module calls it
-- through api.email_claim): the files of the replies it takes in one
-- claim stay within the bytes the runner says it may still hold; a reply
-- that does not fit goes back to wait, its attempt not counted, and is
-- taken by a later claim; without a bound, everything due is taken.
BEGIN;
SELECT plan(8);
SELECT hdtest.fixtures();

-- four public replies on acme's ticket, each with a file of 6 MB (8 MB
-- in base64), and one without a file
CREATE TEMP TABLE ev (i int, event_id bigint);
WITH e AS (
    INSERT INTO helpdesk.ticket_events (tenant_id, ticket_id, type, visibility, channel,
                                        actor_type, body)
    SELECT 'a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-0000000000f1',
           'comment', 'public', 'api', 'system', 'reply ' || i
    FROM generate_series(1, 5) i
    RETURNING event_id, body)
INSERT INTO ev SELECT substr(body, 7)::int, event_id FROM e;

INSERT INTO helpdesk.attachments (tenant_id, ticket_id, event_id, filename, content_type, size,
                                  sha256, data, source)
SELECT 'a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-0000000000f1', event_id,
       'big' || i || '.bin', 'application/octet-stream', 6000000, repeat('0', 64),
       convert_to(repeat('x', 6000000), 'UTF8'), 'upload'
FROM ev WHERE i <= 4;

INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id, event_type, payload)
SELECT 'a0000000-0000-4000-8000-000000000001', 'email', 'a0000000-0000-4000-8000-0000000000f1',
       gen_random_uuid(), 'email.agent_reply',
       jsonb_build_object('to', 'carla@acme.example', 'ticket_id', 'a0000000-0000-4000-8000-0000000000f1',
                          'event_id', event_id, 'cc', '[]'::jsonb)
FROM ev;

-- room for 17 MB of files: two of the four replies with files, and the one without
CREATE TEMP TABLE c1 AS SELECT * FROM email.email_claim(32, 60000, true, 17000000);
SELECT is((SELECT count(*)::int FROM c1 WHERE files IS NOT NULL), 2, 'two replies with files fit in the claim');
SELECT is((SELECT count(*)::int FROM c1 WHERE files IS NULL), 1, 'the reply without a file is taken too');
SELECT cmp_ok((SELECT sum(length(files)) FROM c1), '<=', 17000000::bigint, 'within the bytes given');
SELECT is((SELECT count(*)::int FROM helpdesk.outbox
           WHERE kind = 'email' AND status = 'pending' AND attempts = 0), 2,
          'the two that do not fit wait, their attempt not counted');
SELECT is((SELECT count(*)::int FROM helpdesk.outbox WHERE kind = 'email' AND status = 'sending'), 3,
          'the three taken are being sent');

-- a later claim takes the rest
CREATE TEMP TABLE c2 AS SELECT * FROM email.email_claim(32, 60000, true, 17000000);
SELECT is((SELECT count(*)::int FROM c2 WHERE files IS NOT NULL), 2, 'a later claim takes the two left');

-- nothing given: no bound (a single large reply always goes)
UPDATE helpdesk.outbox SET status = 'pending', locked_until = NULL WHERE kind = 'email';
CREATE TEMP TABLE c3 AS SELECT * FROM email.email_claim(32, 60000, true);
SELECT is((SELECT count(*)::int FROM c3 WHERE files IS NOT NULL), 4, 'without a bound, every reply is taken');
SELECT is((SELECT length(files) FROM c3 WHERE files IS NOT NULL LIMIT 1) > 8000000, true,
          'each with its file whole');

SELECT * FROM finish();
ROLLBACK;
