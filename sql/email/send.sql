-- nginx-helpdesk: the email runner's side of the database.
--
-- The module's email runner claims due outbox rows of kind 'email' (FOR
-- UPDATE SKIP LOCKED with a lease, as the outbox runner does), and
-- receives each one ready to build: the recipient, the subject and both
-- bodies rendered from the tenant's template in the mail's language, the
-- sender (through the provider's relay, an address the tenant proved, or
-- the provider's own: sql/email/sender.sql), and the tenant's relay and
-- DKIM key still sealed.  It reports
-- every attempt with email_result(): delivered; retried with exponential
-- backoff and jitter after a temporary failure (a relay down, a 4xx);
-- dead at once after a permanent one (a 5xx refusal, nothing to send) or
-- after the last attempt, with the reason kept in the row's last_error.

SET ROLE helpdesk_owner;

-- what a queued mail shows: its kind's placeholders filled from the row
CREATE OR REPLACE FUNCTION email.vars(o helpdesk.outbox, t helpdesk.tenants)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    name    text;
    number  bigint;
    tk      helpdesk.tickets;
    e       helpdesk.ticket_events;
    base    text;
BEGIN
    IF o.event_type = 'email.chat_transcript' THEN
        SELECT nullif(c.prechat->>'name', ''), k.number INTO name, number
        FROM helpdesk.chat_conversations c
        LEFT JOIN helpdesk.tickets k ON k.tenant_id = c.tenant_id AND k.ticket_id = c.ticket_id
        WHERE c.tenant_id = o.tenant_id AND c.conversation_id = o.target_id;
    ELSIF substr(o.event_type, 7) = ANY (email.ticket_kinds()) THEN
        SELECT * INTO tk FROM helpdesk.tickets x
        WHERE x.tenant_id = o.tenant_id AND x.ticket_id = (o.payload->>'ticket_id')::uuid;
        SELECT * INTO e FROM helpdesk.ticket_events x
        WHERE x.tenant_id = o.tenant_id AND x.event_id = (o.payload->>'event_id')::bigint
          AND x.ticket_id = tk.ticket_id;
        SELECT nullif(u.name, '') INTO name FROM helpdesk.users u
        WHERE u.tenant_id = o.tenant_id AND u.user_id = tk.requester_id;
        SELECT b.portal_base INTO base FROM helpdesk.email_ticket_tokens b
        WHERE b.tenant_id = o.tenant_id AND b.ticket_id = tk.ticket_id;
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'tenant.name', t.name,
            'customer.name', coalesce(name, split_part(o.payload->>'to', '@', 1)),
            'customer.email', o.payload->>'to',
            'ticket.number', tickets.ticket_number(tk.number),
            'ticket.subject', regexp_replace(tk.subject, '^\s*((re|res|aw|fw|fwd|enc|rv)\s*:\s*)+', '', 'i'),
            'link', CASE WHEN base IS NOT NULL
                         THEN base || '/tickets/' || tickets.ticket_number(tk.number) END,
            'reply', CASE WHEN o.event_type = 'email.agent_reply' THEN e.body END,
            -- an API key's name is the tenant's own label, never shown
            -- to a customer: a reply through the API is signed by the tenant
            'agent.name', CASE WHEN o.event_type = 'email.agent_reply'
                               THEN CASE WHEN e.actor_type = 'user'
                                         THEN coalesce(nullif(e.actor_name, ''), t.name)
                                         ELSE t.name END END,
            'status', email.status_name(o.payload->>'status', o.payload->>'language')));
    ELSE
        SELECT nullif(u.name, '') INTO name FROM helpdesk.users u
        WHERE u.tenant_id = o.tenant_id AND u.user_id = o.target_id;
    END IF;

    RETURN jsonb_strip_nulls(jsonb_build_object(
        'tenant.name', t.name,
        'customer.name', coalesce(name, split_part(o.payload->>'to', '@', 1)),
        'customer.email', o.payload->>'to',
        'link', o.payload->>'link',
        'transcript', CASE WHEN o.event_type = 'email.chat_transcript'
                           THEN o.payload->>'text' END,
        'ticket.number', CASE WHEN number IS NOT NULL THEN tickets.ticket_number(number) END));
END
$$;

-- the signature of the agent or admin who wrote a reply, or NULL (a reply
-- through the API is signed by the tenant only)
CREATE OR REPLACE FUNCTION email.agent_signature(o helpdesk.outbox) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT nullif(u.signature, '')
    FROM helpdesk.ticket_events e
    JOIN helpdesk.users u ON u.tenant_id = e.tenant_id AND u.user_id = e.actor_id
    WHERE e.tenant_id = o.tenant_id AND e.event_id = (o.payload->>'event_id')::bigint
      AND e.ticket_id = (o.payload->>'ticket_id')::uuid
      AND e.actor_type = 'user' AND u.role IN ('agent', 'admin')
$$;

-- The mailbox a tenant's mail leaves through (SMTP with XOAUTH2), while
-- it is one: chosen, not deleted, enabled, of a provider.
CREATE OR REPLACE FUNCTION email.send_mailbox(p_tenant uuid)
RETURNS helpdesk.email_mailboxes LANGUAGE sql STABLE AS $$
    SELECT m.* FROM helpdesk.email_settings e
    JOIN helpdesk.email_mailboxes m ON m.tenant_id = e.tenant_id
                                   AND m.mailbox_id = e.smtp_mailbox_id
    WHERE e.tenant_id = p_tenant AND m.deleted_at IS NULL AND m.enabled
      AND m.kind IN ('microsoft365', 'gmail') AND m.smtp_url IS NOT NULL
$$;

-- Its access token is about to expire (or was refused): mail waits for
-- the fetch job to refresh it rather than fail on it.  A mailbox not
-- authorised (no refresh token) does not hold mail: each attempt fails,
-- saying so, until the last.
CREATE OR REPLACE FUNCTION email.send_mailbox_stale(m helpdesk.email_mailboxes)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT m.mailbox_id IS NOT NULL AND m.oauth_refresh_token IS NOT NULL
       AND (m.oauth_access_token IS NULL
            OR coalesce(m.oauth_expires_at, '-infinity') < now() + interval '1 minute')
$$;

DROP FUNCTION IF EXISTS email.email_claim(int, int, boolean);
DROP FUNCTION IF EXISTS email.email_claim(int, int, boolean, bigint);
-- p_relay: the provider has a relay; without one, only the mail of
-- tenants with a relay of their own is claimed, the rest waits for one.
-- p_files: the bytes of reply files (in base64) the runner may still
-- take in (NULL: any): a mail whose files do not fit goes back to wait
-- for a later claim, so that a worker never holds more mail than that
-- (32 replies of 10 MB each were one answer of 430 MB, then copied
-- several times over while they were built and sent)
CREATE OR REPLACE FUNCTION email.email_claim(p_limit int, p_lease_ms int, p_relay boolean,
    p_files bigint DEFAULT NULL)
RETURNS TABLE (tenant_id uuid, outbox_id bigint, delivery_id uuid, event_type text,
               rcpt text, subject text, body_text text, body_html text,
               from_name text, from_address text, reply_to text,
               dkim_selector text, dkim_key text, dkim_key_aad text,
               smtp_url text, smtp_user text, smtp_password text,
               smtp_password_aad text, cc text, in_reply_to text, refs text,
               human boolean, files text, smtp_bearer boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
DECLARE
    o     helpdesk.outbox;
    t     helpdesk.tenants;
    s     helpdesk.email_settings;
    kind  text;
    lang  text;
    tpl   record;
    m     record;
    k     helpdesk.tickets;
    mb    helpdesk.email_mailboxes;
    tok   helpdesk.email_ticket_tokens;
    th    record;
    f     record;
    v     jsonb;
    sm    helpdesk.email_mailboxes;
    used  bigint := 0;
BEGIN
    FOR o IN
        WITH due AS (
            SELECT x.tenant_id, x.outbox_id
            FROM helpdesk.outbox x
            WHERE x.kind = 'email' AND x.status IN ('pending', 'sending')
              AND ((x.status = 'pending' AND x.next_attempt_at <= now())
                   OR (x.status = 'sending' AND x.locked_until < now()))
              AND (p_relay OR (x.event_type <> 'email.sender_verification'
                   AND (EXISTS (SELECT 1 FROM helpdesk.email_settings e
                                WHERE e.tenant_id = x.tenant_id
                                  AND e.smtp_url IS NOT NULL)
                        OR (email.send_mailbox(x.tenant_id)).mailbox_id IS NOT NULL)))
              AND NOT email.send_mailbox_stale(email.send_mailbox(x.tenant_id))
            ORDER BY x.next_attempt_at
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED
        )
        UPDATE helpdesk.outbox x
        SET status = 'sending', attempts = x.attempts + 1,
            locked_until = now() + make_interval(secs => p_lease_ms / 1000.0)
        FROM due
        WHERE x.tenant_id = due.tenant_id AND x.outbox_id = due.outbox_id
        RETURNING x.*
    LOOP
        SELECT * INTO t FROM helpdesk.tenants x WHERE x.tenant_id = o.tenant_id;
        SELECT * INTO s FROM helpdesk.email_settings x WHERE x.tenant_id = o.tenant_id;

        kind := substr(o.event_type, 7);
        lang := o.payload->>'language';
        IF lang IS NULL OR NOT lang = ANY (email.languages()) THEN
            lang := coalesce(t.settings->'portal'->>'default_language', 'pt-BR');
            IF NOT lang = ANY (email.languages()) THEN
                lang := 'pt-BR';
            END IF;
        END IF;

        tenant_id := o.tenant_id;
        outbox_id := o.outbox_id;
        delivery_id := o.delivery_id;
        event_type := o.event_type;
        rcpt := o.payload->>'to';
        subject := NULL;
        body_text := NULL;
        body_html := NULL;

        cc := NULL;
        in_reply_to := NULL;
        refs := NULL;
        human := false;
        files := NULL;
        k := NULL;
        mb := NULL;
        tok := NULL;
        f := NULL;

        IF kind = ANY (email.ticket_kinds()) THEN
            SELECT * INTO k FROM helpdesk.tickets x
            WHERE x.tenant_id = o.tenant_id AND x.ticket_id = (o.payload->>'ticket_id')::uuid;
            SELECT * INTO tok FROM helpdesk.email_ticket_tokens x
            WHERE x.tenant_id = o.tenant_id AND x.ticket_id = k.ticket_id;
        END IF;

        -- a kind nobody wrote a template for goes out as it was queued
        IF kind = ANY (email.kinds()) THEN
            tpl := email.template(o.tenant_id, kind, lang);
            v := email.vars(o, t);
            IF o.payload ? 'status' THEN
                v := v || jsonb_build_object('status', email.status_name(o.payload->>'status', lang));
            END IF;
            -- a reply's files that do not fit in the mail: links instead
            IF kind = 'agent_reply' AND k.ticket_id IS NOT NULL THEN
                f := email.reply_files(o.tenant_id, k.ticket_id, (o.payload->>'event_id')::bigint,
                                       tickets.ticket_number(k.number), tok.portal_base,
                                       email.attach_limit());
                files := nullif(f.files, '');
                IF files IS NOT NULL AND p_files IS NOT NULL THEN
                    IF used + length(files) > p_files THEN
                        -- not in this claim: back to wait, the attempt not counted
                        UPDATE helpdesk.outbox x
                        SET status = 'pending', attempts = x.attempts - 1, locked_until = NULL
                        WHERE x.tenant_id = o.tenant_id AND x.outbox_id = o.outbox_id;
                        CONTINUE;
                    END IF;
                    used := used + length(files);
                END IF;
                IF cardinality(f.too_big) > 0 THEN
                    v := v || jsonb_build_object('reply', coalesce(v->>'reply', '')
                                                 || email.files_note(f.too_big, lang));
                END IF;
            END IF;
            -- a reply that resolved the ticket too says so (no mail of its own)
            IF kind = 'agent_reply' AND o.payload->>'resolved' = 'true' THEN
                v := v || jsonb_build_object('reply', coalesce(v->>'reply', '')
                                             || email.resolved_note(lang));
            END IF;
            m := email.compose(o.tenant_id, tpl.subject, tpl.body_text, tpl.body_html, v,
                               CASE WHEN kind = 'agent_reply' THEN email.agent_signature(o) END);
            subject := m.subject;
            body_text := m.body_text;
            body_html := m.body_html;
        ELSIF o.payload ? 'subject' AND o.payload ? 'text' THEN
            m := email.compose(o.tenant_id, o.payload->>'subject', o.payload->>'text',
                               replace(email.html_escape(o.payload->>'text'), E'\n', '<br>'),
                               '{}');
            subject := m.subject;
            body_text := m.body_text;
            body_html := m.body_html;
        END IF;

        from_name := coalesce(s.from_name, t.name);
        from_address := s.from_address;
        reply_to := s.reply_to;

        -- a ticket's mail: from the mailbox the customer wrote to, answered
        -- to the ticket's own address, threaded, the number in its subject
        IF kind = ANY (email.ticket_kinds()) THEN
            SELECT * INTO mb FROM helpdesk.email_mailboxes x
            WHERE x.tenant_id = o.tenant_id AND x.deleted_at IS NULL
              AND x.mailbox_id = (SELECT y.mailbox_id FROM helpdesk.email_messages y
                                  WHERE y.tenant_id = o.tenant_id AND y.ticket_id = k.ticket_id
                                    AND y.direction = 'in' AND y.mailbox_id IS NOT NULL
                                  ORDER BY y.created_at DESC LIMIT 1);
            IF mb.address IS NOT NULL THEN
                from_address := mb.address;
                IF tok.token IS NOT NULL THEN
                    reply_to := split_part(mb.address, '@', 1) || '+' || tok.token || '@'
                                || split_part(mb.address, '@', 2);
                END IF;
            END IF;

            IF subject IS NOT NULL AND k.ticket_id IS NOT NULL THEN
                subject := email.ticket_subject(subject, tickets.ticket_number(k.number));
            END IF;

            -- the same headers on every attempt
            IF NOT o.payload ? 'in_reply_to' THEN
                th := email.thread_headers(o.tenant_id, k.ticket_id);
                UPDATE helpdesk.outbox x
                SET payload = x.payload || jsonb_build_object('in_reply_to', th.in_reply_to,
                                                              'references', th.refs)
                WHERE x.tenant_id = o.tenant_id AND x.outbox_id = o.outbox_id;
                in_reply_to := th.in_reply_to;
                refs := th.refs;
            ELSE
                in_reply_to := o.payload->>'in_reply_to';
                refs := o.payload->>'references';
            END IF;

            IF kind = 'agent_reply' THEN
                human := true;
                SELECT string_agg(c, ',') INTO cc
                FROM jsonb_array_elements_text(coalesce(o.payload->'cc', '[]')) c;
            END IF;
        END IF;

        dkim_selector := CASE WHEN s.dkim_domain = split_part(from_address, '@', 2)
                              THEN s.dkim_selector END;
        dkim_key := CASE WHEN dkim_selector IS NOT NULL THEN s.dkim_key END;
        dkim_key_aad := 'email_settings.dkim_key:' || o.tenant_id;
        smtp_url := s.smtp_url;
        smtp_user := s.smtp_user;
        smtp_password := s.smtp_password;
        smtp_password_aad := 'email_settings.smtp_password:' || s.smtp_secret_id;
        smtp_bearer := false;

        -- through a Microsoft 365 or Gmail mailbox: its SMTP, its address
        -- as the sender (the provider refuses another), its access token
        -- (null while it is not authorised: the attempt fails saying so)
        sm := email.send_mailbox(o.tenant_id);
        IF sm.mailbox_id IS NOT NULL THEN
            from_address := sm.address;
            dkim_selector := CASE WHEN s.dkim_domain = split_part(sm.address, '@', 2)
                                  THEN s.dkim_selector END;
            dkim_key := CASE WHEN dkim_selector IS NOT NULL THEN s.dkim_key END;
            smtp_url := sm.smtp_url;
            smtp_user := sm.address;
            smtp_password := sm.oauth_access_token;
            smtp_password_aad := 'email_mailboxes.oauth_access_token:' || sm.mailbox_id;
            smtp_bearer := true;
        END IF;

        -- a sender's confirmation link: through the provider's relay
        -- only (the tenant's own server must not see it), from the
        -- provider's own sender
        IF o.event_type = 'email.sender_verification' THEN
            from_address := NULL;
            reply_to := NULL;
            smtp_url := NULL;
            smtp_user := NULL;
            smtp_password := NULL;
            smtp_bearer := false;
        END IF;

        -- through the provider's relay, From an address the tenant proved
        -- (sql/email/sender.sql) or else the provider's own sender: the
        -- tenant's name shown, its address as the Reply-To, so that
        -- answers still reach it
        IF smtp_url IS NULL AND from_address IS NOT NULL
           AND email.sender_verified_at(o.tenant_id, from_address) IS NULL THEN
            reply_to := coalesce(reply_to, from_address);
            from_address := NULL;
        END IF;
        IF from_address IS NULL THEN
            dkim_selector := NULL;
            dkim_key := NULL;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- One attempt's outcome.  p_permanent: the relay refused the mail for
-- good (5xx) or there was nothing that could be sent; no retry helps.
-- A mail delivered is recorded in email_messages as sent ('out'), under
-- its Message-ID, sender and subject: should it come back to one of the
-- tenant's mailboxes (an autoreply quoting it, a forward loop), the
-- inbound side knows it for our own (email.noise()).
DROP FUNCTION IF EXISTS email.email_result(uuid, bigint, boolean, boolean, int, text,
                                           int, text, text, int, int, int);
CREATE OR REPLACE FUNCTION email.email_result(
    p_tenant uuid, p_outbox bigint, p_ok boolean, p_permanent boolean,
    p_smtp_status int, p_error text, p_duration_ms int, p_relay text,
    p_message_id text, p_max_attempts int, p_backoff_ms int, p_max_backoff_ms int,
    p_from text, p_subject text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    o      helpdesk.outbox;
    delay  double precision;
    why    text := left(coalesce(p_error, 'SMTP ' || p_smtp_status), 500);
BEGIN
    SELECT * INTO o FROM helpdesk.outbox x
    WHERE x.tenant_id = p_tenant AND x.outbox_id = p_outbox AND x.kind = 'email'
    FOR UPDATE;

    IF o.outbox_id IS NULL OR o.status <> 'sending' THEN
        RETURN 'stale';
    END IF;

    INSERT INTO helpdesk.email_attempts (tenant_id, outbox_id, attempt, relay,
                                         smtp_status, error, duration_ms, message_id)
    VALUES (o.tenant_id, o.outbox_id, o.attempts, p_relay, nullif(p_smtp_status, 0),
            CASE WHEN NOT p_ok THEN why END, p_duration_ms, p_message_id);

    IF p_ok THEN
        UPDATE helpdesk.outbox SET status = 'delivered', delivered_at = now(),
               locked_until = NULL, last_error = NULL
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
        IF coalesce(p_message_id, '') <> '' AND length(p_message_id) <= 998 THEN
            INSERT INTO helpdesk.email_messages (tenant_id, ticket_id, event_id, direction,
                message_id_header, in_reply_to, refs, from_address, to_addresses,
                cc_addresses, subject, auto_submitted)
            SELECT o.tenant_id,
                   CASE WHEN o.event_type = 'email.chat_transcript'
                        THEN (SELECT c.ticket_id FROM helpdesk.chat_conversations c
                              WHERE c.tenant_id = o.tenant_id
                                AND c.conversation_id = o.target_id)
                        WHEN o.payload ? 'ticket_id'
                        THEN (SELECT k.ticket_id FROM helpdesk.tickets k
                              WHERE k.tenant_id = o.tenant_id
                                AND k.ticket_id = (o.payload->>'ticket_id')::uuid) END,
                   CASE WHEN o.event_type = 'email.agent_reply'
                        THEN (o.payload->>'event_id')::bigint END,
                   'out', p_message_id,
                   left(substring(o.payload->>'in_reply_to' from '^<(.*)>$'), 998),
                   coalesce((SELECT array_agg(r[1]) FROM regexp_matches(
                                 coalesce(o.payload->>'references', ''), '<([^<> ]+)>', 'g') r),
                            '{}'),
                   lower(p_from),
                   CASE WHEN o.payload ? 'to' THEN ARRAY[lower(o.payload->>'to')] ELSE '{}' END,
                   coalesce((SELECT array_agg(lower(c)) FROM jsonb_array_elements_text(
                                 CASE WHEN jsonb_typeof(o.payload->'cc') = 'array'
                                      THEN o.payload->'cc' ELSE '[]' END) c), '{}'),
                   left(p_subject, 998),
                   CASE WHEN o.event_type = 'email.agent_reply' THEN NULL
                        ELSE 'auto-generated' END
            WHERE NOT EXISTS (SELECT 1 FROM helpdesk.email_messages x
                              WHERE x.tenant_id = o.tenant_id AND x.direction = 'out'
                                AND x.message_id_header = p_message_id);
        END IF;
        RETURN 'delivered';
    END IF;

    -- the mailbox's SMTP refused its access token: refreshed before the
    -- next attempt (a refresh token revoked shows as auth_failed there)
    IF p_relay = 'mailbox' AND p_smtp_status IN (530, 534, 535) THEN
        UPDATE helpdesk.email_mailboxes m
        SET oauth_expires_at = least(m.oauth_expires_at, now()), next_fetch_at = now()
        WHERE m.tenant_id = o.tenant_id AND m.oauth_refresh_token IS NOT NULL
          AND m.mailbox_id = (SELECT e.smtp_mailbox_id FROM helpdesk.email_settings e
                              WHERE e.tenant_id = o.tenant_id);
    END IF;

    IF p_permanent OR o.attempts >= p_max_attempts THEN
        UPDATE helpdesk.outbox SET status = 'dead', locked_until = NULL, last_error = why
        WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;
        RETURN 'dead';
    END IF;

    delay := least(p_backoff_ms * power(2, o.attempts - 1), p_max_backoff_ms)
             * (0.8 + random() * 0.4);

    UPDATE helpdesk.outbox SET status = 'pending', locked_until = NULL,
           next_attempt_at = now() + make_interval(secs => delay / 1000.0),
           last_error = why
    WHERE tenant_id = o.tenant_id AND outbox_id = o.outbox_id;

    RETURN 'retry';
END
$$;

-- Tenants whose sender address has no DKIM key yet (or one made for
-- another domain), a few at a time: the module generates the keys.
CREATE OR REPLACE FUNCTION email.dkim_wanted(p_limit int)
RETURNS TABLE (tenant_id uuid, domain text, key_aad text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT s.tenant_id, split_part(s.from_address, '@', 2),
           'email_settings.dkim_key:' || s.tenant_id
    FROM helpdesk.email_settings s
    WHERE s.from_address IS NOT NULL
      AND (s.dkim_key IS NULL OR s.dkim_domain IS DISTINCT FROM split_part(s.from_address, '@', 2))
    ORDER BY s.updated_at
    LIMIT p_limit;
END
$$;

-- A generated key, stored unless the address changed meanwhile; the
-- selector names the month it was made, so a new key gets a new record.
CREATE OR REPLACE FUNCTION email.dkim_store(p_tenant uuid, p_domain text,
    p_key text, p_public text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    n int;
BEGIN
    UPDATE helpdesk.email_settings s
    SET dkim_key = p_key, dkim_public = p_public, dkim_domain = p_domain,
        dkim_selector = 'hd' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS'),
        dkim_created_at = now()
    WHERE s.tenant_id = p_tenant AND split_part(s.from_address, '@', 2) = p_domain
      AND (s.dkim_key IS NULL OR s.dkim_domain IS DISTINCT FROM p_domain);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END
$$;

RESET ROLE;
