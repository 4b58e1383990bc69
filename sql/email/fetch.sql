-- nginx-helpdesk: mailboxes fetched by IMAP (the module's fetch job,
-- src/jobs/ngx_helpdesk_email_fetch.c).
--
-- A run of the job on one mailbox:
--   claim    the mailbox is due and nobody holds it: a lease (its token
--            and an end) taken with SKIP LOCKED, so one node at a time
--            fetches a mailbox, whatever the number of nodes;
--   begin    the folder's UIDVALIDITY as the server says it now: the
--            first run records the folder's UIDNEXT, below which every
--            run leaves the messages already \Seen (read before the
--            mailbox was connected); a changed UIDVALIDITY starts from the
--            first UID (the Message-IDs already stored are recognised,
--            nothing is taken twice);
--   chunk    a piece of the message's blob (the raw message, then its
--            attachments), staged as a pushed mail's are;
--   store    one message, parsed by the module: email.ingest(), the same
--            path as a pushed mail, and the mailbox's last UID advanced in
--            the same transaction, only while the run still holds the
--            lease: a crash refetches at most the message being stored,
--            which is then a duplicate of its Message-ID;
--   refuse   a message not taken (over the size limit, not a message): the
--            reason recorded, the last UID advanced past it;
--   done     the health (ok, auth_failed, unreachable, error, with the
--            reason), the next run (the poll interval, or after failures
--            1, 5, 15, then 60 minutes), the lease given back.
--
-- Every function but the claim runs as the mailbox's tenant.

SET ROLE helpdesk_owner;

DROP FUNCTION IF EXISTS email.fetch_claim(int, int);
-- A provider's mailbox (microsoft365, gmail) comes with its OAuth client
-- and tokens (sealed), the seconds its access token has left, and a code
-- to exchange first when the admin has just authorised it (with the
-- state it is sealed to, the PKCE verifier and the redirect URI); it is
-- due only while authorised or about to be.
CREATE OR REPLACE FUNCTION email.fetch_claim(p_limit int, p_lease_ms int)
RETURNS TABLE (tenant_id uuid, mailbox_id uuid, url text, username text,
               password text, move_to text, lease_token uuid, kind text,
               client_id text, client_secret text, refresh_token text,
               access_token text, access_ttl int, code text, verifier text,
               state_hash text, redirect_uri text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT m.tenant_id, m.mailbox_id
        FROM helpdesk.email_mailboxes m
        JOIN helpdesk.tenants t ON t.tenant_id = m.tenant_id AND t.status = 'active'
        WHERE m.kind IN ('imap', 'microsoft365', 'gmail') AND m.enabled AND m.deleted_at IS NULL
          AND m.url IS NOT NULL
          AND (m.kind = 'imap'
               OR (m.oauth_client_secret IS NOT NULL
                   AND (m.oauth_refresh_token IS NOT NULL
                        OR EXISTS (SELECT 1 FROM helpdesk.email_oauth_states s
                                   WHERE s.tenant_id = m.tenant_id AND s.mailbox_id = m.mailbox_id
                                     AND s.code IS NOT NULL AND s.exchanged_at IS NULL))))
          AND (m.next_fetch_at IS NULL OR m.next_fetch_at <= now()
               -- a mailbox the tenant's mail leaves through: its access
               -- token refreshed in time, however seldom it is read
               -- (at most every 15 seconds, should the refresh fail)
               OR (m.oauth_refresh_token IS NOT NULL
                   AND coalesce(m.oauth_expires_at, '-infinity') < now() + interval '5 minutes'
                   AND coalesce(m.health_checked_at, '-infinity') < now() - interval '15 seconds'
                   AND EXISTS (SELECT 1 FROM helpdesk.email_settings e
                               WHERE e.tenant_id = m.tenant_id
                                 AND e.smtp_mailbox_id = m.mailbox_id)))
          AND (m.lease_until IS NULL OR m.lease_until < now())
        ORDER BY m.next_fetch_at NULLS FIRST
        LIMIT p_limit
        FOR UPDATE OF m SKIP LOCKED
    ), held AS (
        UPDATE helpdesk.email_mailboxes m
        SET lease_token = gen_random_uuid(),
            lease_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        FROM due
        WHERE m.tenant_id = due.tenant_id AND m.mailbox_id = due.mailbox_id
        RETURNING m.*
    )
    SELECT h.tenant_id, h.mailbox_id, h.url, h.username, h.password, h.move_to,
           h.lease_token, h.kind, h.oauth_client_id, h.oauth_client_secret,
           h.oauth_refresh_token, h.oauth_access_token,
           CASE WHEN h.oauth_access_token IS NOT NULL AND h.oauth_expires_at IS NOT NULL
                THEN greatest(extract(epoch FROM h.oauth_expires_at - now()), 0)::int END,
           s.code, s.verifier, s.state_hash, s.redirect_uri
    FROM held h
    LEFT JOIN LATERAL (
        SELECT x.code, x.verifier, x.state_hash, x.redirect_uri
        FROM helpdesk.email_oauth_states x
        WHERE x.tenant_id = h.tenant_id AND x.mailbox_id = h.mailbox_id
          AND x.code IS NOT NULL AND x.exchanged_at IS NULL
        ORDER BY x.used_at DESC LIMIT 1) s ON email.oauth_kind(h.kind);
END
$$;

-- The mailbox while the run holds it (as its tenant), or the run is over.
CREATE OR REPLACE FUNCTION email.fetch_held(p_tenant uuid, p_mailbox uuid,
    p_token uuid, p_lease_ms int)
RETURNS helpdesk.email_mailboxes LANGUAGE plpgsql AS $$
DECLARE
    m helpdesk.email_mailboxes;
BEGIN
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    SELECT * INTO m FROM helpdesk.email_mailboxes x
    WHERE x.tenant_id = p_tenant AND x.mailbox_id = p_mailbox
      AND x.lease_token = p_token AND x.deleted_at IS NULL
    FOR UPDATE;

    IF m.mailbox_id IS NULL THEN
        PERFORM tickets.fail('HDCNF', 'conflict',
            'the run no longer holds the mailbox (deleted, or its lease taken over)');
    END IF;

    IF p_lease_ms IS NOT NULL THEN
        UPDATE helpdesk.email_mailboxes x
        SET lease_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        WHERE x.tenant_id = p_tenant AND x.mailbox_id = p_mailbox;
    END IF;

    RETURN m;
END
$$;

-- The folder's UIDVALIDITY now: where the run starts.  "after" is the
-- last UID stored (the run lists the UIDs above it); "seen_below" the
-- UID below which a message flagged \Seen is left (0: none is).  The
-- mailbox's first run records the folder's UIDNEXT as that boundary:
-- what the folder held before it was connected and had been read is
-- left on every run, however many runs its backlog takes; what came
-- since is taken, read or not.  A changed UIDVALIDITY starts over from
-- the first UID with no boundary (the Message-IDs already stored are
-- recognised, nothing is taken twice).
DROP FUNCTION IF EXISTS email.fetch_begin(uuid, uuid, uuid, int, bigint);
CREATE OR REPLACE FUNCTION email.fetch_begin(p_tenant uuid, p_mailbox uuid,
    p_token uuid, p_lease_ms int, p_validity bigint, p_uidnext bigint,
    OUT after bigint, OUT seen_below bigint, OUT reset boolean)
LANGUAGE plpgsql AS $$
DECLARE
    m      helpdesk.email_mailboxes := email.fetch_held(p_tenant, p_mailbox, p_token, p_lease_ms);
    first  boolean;
BEGIN
    IF p_validity IS NULL OR p_validity < 0 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'no UIDVALIDITY');
    END IF;

    reset := m.uid_validity IS NOT NULL AND m.uid_validity <> p_validity;
    first := m.uid_validity IS NULL AND m.last_uid IS NULL;

    IF first AND (p_uidnext IS NULL OR p_uidnext < 1) THEN
        PERFORM tickets.fail('HDINV', 'validation-error',
            'the server did not say the folder''s UIDNEXT, which the first run needs '
            'to know what the folder held before');
    END IF;

    IF first OR reset OR m.uid_validity IS DISTINCT FROM p_validity THEN
        UPDATE helpdesk.email_mailboxes x
        SET uid_validity = p_validity,
            last_uid = CASE WHEN reset THEN 0 ELSE x.last_uid END,
            seen_skip_below = CASE WHEN first THEN p_uidnext
                                   WHEN reset THEN NULL
                                   ELSE x.seen_skip_below END
        WHERE x.tenant_id = p_tenant AND x.mailbox_id = p_mailbox
        RETURNING x.seen_skip_below INTO m.seen_skip_below;

        IF reset THEN
            PERFORM tickets.audit(jsonb_build_object('tenant_id', p_tenant,
                                                     'actor_type', 'system'),
                'email.mailbox.uidvalidity', 'email_mailbox', p_mailbox::text,
                jsonb_build_object('from', m.uid_validity, 'to', p_validity));
        END IF;
    END IF;

    after := CASE WHEN reset THEN 0 ELSE coalesce(m.last_uid, 0) END;
    seen_below := coalesce(m.seen_skip_below, 0);
END
$$;

-- the last UID, advanced past "uid" (never back)
CREATE OR REPLACE FUNCTION email.fetch_advance(m helpdesk.email_mailboxes,
    p_uid bigint, p_stored int)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE helpdesk.email_mailboxes x
    SET last_uid = greatest(coalesce(x.last_uid, 0), p_uid),
        fetched_count = x.fetched_count + p_stored
    WHERE x.tenant_id = m.tenant_id AND x.mailbox_id = m.mailbox_id;
END
$$;

CREATE OR REPLACE FUNCTION email.fetch_refuse(p_tenant uuid, p_mailbox uuid,
    p_token uuid, p_lease_ms int, p_validity bigint, p_uid bigint,
    p_size bigint, p_reason text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    m helpdesk.email_mailboxes := email.fetch_held(p_tenant, p_mailbox, p_token, p_lease_ms);
    reason text := left(regexp_replace(coalesce(p_reason, 'refused'), '[\x01-\x1f\x7f]+', ' ', 'g'), 500);
BEGIN
    IF m.uid_validity IS DISTINCT FROM p_validity THEN
        PERFORM tickets.fail('HDCNF', 'conflict', 'the folder''s UIDVALIDITY changed during the run');
    END IF;

    INSERT INTO helpdesk.email_fetch_refusals (tenant_id, mailbox_id, uid_validity,
        uid, size, reason)
    VALUES (p_tenant, p_mailbox, p_validity, p_uid, p_size, reason)
    ON CONFLICT DO NOTHING;

    PERFORM tickets.audit(jsonb_build_object('tenant_id', p_tenant, 'actor_type', 'system'),
        'email.refused', 'email_mailbox', p_mailbox::text,
        jsonb_build_object('uid', p_uid, 'size', p_size, 'reason', reason));

    PERFORM email.fetch_advance(m, p_uid, 0);

    RETURN jsonb_build_object('outcome', 'refused', 'reason', reason);
END
$$;

-- A piece of a fetched message's blob, staged as a pushed mail's are
-- (email.stage_chunk()), while the run holds the mailbox (its lease
-- renewed: a large message takes many pieces).
CREATE OR REPLACE FUNCTION email.fetch_chunk(p_tenant uuid, p_mailbox uuid,
    p_token uuid, p_lease_ms int, p_upload uuid, p_seq int, p_data bytea)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m helpdesk.email_mailboxes := email.fetch_held(p_tenant, p_mailbox, p_token, p_lease_ms);
BEGIN
    PERFORM email.stage_chunk(m.tenant_id, m.mailbox_id, p_upload, p_seq, p_data);
END
$$;

-- One message fetched and parsed: stored as a pushed one would be (its
-- blob the pieces staged under p_upload, then p_tail), and the last UID
-- advanced with it.  A message the ingest refuses (a field it cannot
-- take) is recorded as refused rather than fetched forever.
CREATE OR REPLACE FUNCTION email.fetch_store(p_tenant uuid, p_mailbox uuid,
    p_token uuid, p_lease_ms int, p_validity bigint, p_uid bigint,
    p_size bigint, meta jsonb, p_tail bytea, p_upload uuid DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    m      helpdesk.email_mailboxes := email.fetch_held(p_tenant, p_mailbox, p_token, p_lease_ms);
    r      jsonb;
    state  text;
    msg    text;
BEGIN
    IF m.uid_validity IS DISTINCT FROM p_validity THEN
        PERFORM tickets.fail('HDCNF', 'conflict', 'the folder''s UIDVALIDITY changed during the run');
    END IF;

    -- a message without a Message-ID is still a message: it gets one of
    -- its place (the same message fetched again is then the same one)
    IF coalesce(meta->>'message_id', '') = '' THEN
        meta := jsonb_set(meta, '{message_id}', to_jsonb(format('<imap.%s.%s.%s@mailbox.invalid>',
                                                                 p_mailbox, p_validity, p_uid)));
    END IF;

    BEGIN
        r := email.ingest(m, NULL, meta, p_tail, p_upload);
    EXCEPTION
        WHEN SQLSTATE 'HDINV' OR SQLSTATE 'HDNFD' OR data_exception
             OR check_violation OR not_null_violation THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            -- the pieces the ingest would have taken go with the refusal
            DELETE FROM helpdesk.email_inbound_chunks c
            WHERE c.tenant_id = p_tenant AND c.mailbox_id = p_mailbox
              AND c.upload_id = p_upload;
            RETURN email.fetch_refuse(p_tenant, p_mailbox, p_token, NULL, p_validity,
                                      p_uid, p_size, 'not stored: ' || msg);
    END;

    PERFORM email.fetch_advance(m, p_uid,
        CASE WHEN r->>'outcome' = 'duplicate' THEN 0 ELSE 1 END);

    RETURN r;
END
$$;

-- The end of a run: its health, the next one, the lease given back.
-- "listed_to": the highest UID the run listed when it went through the
-- whole list (the messages it left as read before the mailbox was
-- connected included).
CREATE OR REPLACE FUNCTION email.fetch_done(p_tenant uuid, p_mailbox uuid,
    p_token uuid, p_state text, p_reason text, p_listed_to bigint,
    p_more boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    m      helpdesk.email_mailboxes;
    fails  int;
    wait   interval;
BEGIN
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    SELECT * INTO m FROM helpdesk.email_mailboxes x
    WHERE x.tenant_id = p_tenant AND x.mailbox_id = p_mailbox
      AND x.lease_token = p_token
    FOR UPDATE;

    IF m.mailbox_id IS NULL THEN
        RETURN 'stale';
    END IF;

    IF p_state NOT IN ('ok', 'auth_failed', 'unreachable', 'error') THEN
        p_state := 'error';
    END IF;

    fails := CASE WHEN p_state = 'ok' THEN 0 ELSE m.fetch_failures + 1 END;
    wait := CASE
        WHEN p_state = 'ok' AND p_more THEN interval '0'
        WHEN p_state = 'ok' THEN make_interval(secs => m.poll_interval)
        WHEN fails = 1 THEN interval '1 minute'
        WHEN fails = 2 THEN interval '5 minutes'
        WHEN fails = 3 THEN interval '15 minutes'
        ELSE interval '60 minutes' END;

    UPDATE helpdesk.email_mailboxes x
    SET health = p_state,
        health_reason = CASE WHEN p_state = 'ok' THEN NULL
                             ELSE left(regexp_replace(coalesce(p_reason, p_state),
                                                      '[\x01-\x1f\x7f]+', ' ', 'g'), 500) END,
        health_checked_at = now(),
        fetch_failures = fails,
        next_fetch_at = now() + wait,
        last_fetch_at = CASE WHEN p_state = 'ok' THEN now() ELSE x.last_fetch_at END,
        last_uid = CASE WHEN p_listed_to IS NOT NULL AND x.uid_validity IS NOT NULL
                        THEN greatest(coalesce(x.last_uid, 0), p_listed_to)
                        ELSE x.last_uid END,
        lease_token = NULL, lease_until = NULL
    WHERE x.tenant_id = p_tenant AND x.mailbox_id = p_mailbox;

    RETURN p_state;
END
$$;

RESET ROLE;
