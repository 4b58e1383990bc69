-- nginx-helpdesk: what goes back to the customer of an email ticket.
--
-- An agent's public reply (console or API) on a ticket whose channel is
-- email is queued as an outbox mail of kind agent_reply to the ticket's
-- requester and the people copied on its mails; the notifications
-- (ticket_received, status_changed, resolved) go to the requester only,
-- each where the tenant enabled it.  Nothing goes to a member of the
-- staff (the requester of a mail sent by the staff is nobody), nothing
-- in answer to automatic mail (mail in drops it before any ticket), and
-- an internal note never leaves.  The row names the ticket and the event;
-- the runner's claim renders it (email.email_claim) with the threading
-- headers, the attachments and the sender of the ticket's mailbox.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION email.ticket_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['ticket_received', 'agent_reply', 'status_changed', 'resolved']
$$;

-- whether the tenant sends this notification (an agent's reply always goes)
CREATE OR REPLACE FUNCTION email.notify_on(p_tenant uuid, p_kind text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_kind = 'agent_reply'
           OR coalesce((SELECT (s.notify->>p_kind)::boolean FROM helpdesk.email_settings s
                        WHERE s.tenant_id = p_tenant),
                       ('{"ticket_received": true, "status_changed": false, "resolved": true}'::jsonb
                        ->>p_kind)::boolean, false)
$$;

-- The address an email ticket answers to: its requester's, if the
-- requester is a customer with one; NULL otherwise (a ticket opened by
-- a member of the staff writing in has no customer to write to).
CREATE OR REPLACE FUNCTION email.ticket_rcpt(t helpdesk.tickets) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT u.email FROM helpdesk.users u
    WHERE u.tenant_id = t.tenant_id AND u.user_id = t.requester_id
      AND u.role = 'customer' AND u.status = 'active'
      AND u.email ~ '^[^@\s<>",;\\]+@[^@\s<>",;\\]+$'
$$;

-- The people copied on the ticket's mails, but the staff's addresses.
CREATE OR REPLACE FUNCTION email.ticket_ccs(t helpdesk.tickets, rcpt text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(c.address ORDER BY c.added_at, c.address), '{}')
    FROM helpdesk.email_ticket_ccs c
    WHERE c.tenant_id = t.tenant_id AND c.ticket_id = t.ticket_id
      AND c.address IS DISTINCT FROM rcpt
      AND c.address ~ '^[^@\s<>",;\\]+@[^@\s<>",;\\]+$'
      AND NOT EXISTS (SELECT 1 FROM helpdesk.users u
                      WHERE u.tenant_id = t.tenant_id AND u.email = c.address
                        AND u.role IN ('agent', 'admin'))
      AND NOT EXISTS (SELECT 1 FROM helpdesk.email_mailboxes m
                      WHERE m.tenant_id = t.tenant_id AND m.deleted_at IS NULL
                        AND (m.address = c.address
                             OR c.address LIKE split_part(m.address, '@', 1) || '+%@'
                                               || split_part(m.address, '@', 2)))
$$;

-- Queues one mail about an email ticket.
CREATE OR REPLACE FUNCTION email.ticket_mail(p_kind text, t helpdesk.tickets,
    p_event bigint, p_extra jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rcpt text;
BEGIN
    IF t.channel <> 'email' OR NOT email.notify_on(t.tenant_id, p_kind) THEN
        RETURN;
    END IF;

    rcpt := email.ticket_rcpt(t);
    IF rcpt IS NULL THEN
        RETURN;
    END IF;

    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id, event_type, payload)
    VALUES (t.tenant_id, 'email', t.ticket_id, gen_random_uuid(), 'email.' || p_kind,
            jsonb_build_object('to', rcpt, 'ticket_id', t.ticket_id, 'event_id', p_event,
                               'cc', CASE WHEN p_kind = 'agent_reply'
                                          THEN to_jsonb(email.ticket_ccs(t, rcpt))
                                          ELSE '[]' END,
                               -- the transaction that queued it (see email.status_changed)
                               'xact', CASE WHEN p_kind = 'agent_reply'
                                            THEN txid_current()::text END)
            || coalesce(p_extra, '{}'));
END
$$;

-- ticket_comment: a public reply from the helpdesk's side
CREATE OR REPLACE FUNCTION email.deliver_reply(ctx jsonb, t helpdesk.tickets,
    e helpdesk.ticket_events)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF e.visibility = 'public' AND t.channel = 'email' THEN
        PERFORM email.ticket_mail('agent_reply', t, e.event_id, '{}');
    END IF;
END
$$;

-- ticket_update: a status the staff changed (resolved has its own mail);
-- the customer's own doing (their mail reopening it, the portal) is not
-- told back to them
CREATE OR REPLACE FUNCTION email.status_changed(ctx jsonb, t helpdesk.tickets,
    p_old text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF t.channel <> 'email' OR t.status = p_old
       OR coalesce(ctx->>'actor_role', 'agent') = 'customer'
       OR ctx->>'actor_type' NOT IN ('user', 'api_key') THEN
        RETURN;
    END IF;

    -- a reply and the resolve in one action (the console's "reply and
    -- resolve"): one mail, the reply queued by this transaction to the same
    -- customer, which says the ticket is resolved
    IF t.status = 'resolved' AND email.notify_on(t.tenant_id, 'resolved') THEN
        UPDATE helpdesk.outbox x SET payload = x.payload || '{"resolved": true}'
        WHERE x.tenant_id = t.tenant_id AND x.target_id = t.ticket_id
          AND x.kind = 'email' AND x.event_type = 'email.agent_reply'
          AND x.status = 'pending' AND x.attempts = 0
          AND x.payload->>'xact' = txid_current()::text
          AND x.payload->>'to' = email.ticket_rcpt(t);
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;

    PERFORM email.ticket_mail(CASE WHEN t.status = 'resolved' THEN 'resolved'
                                   ELSE 'status_changed' END,
                              t, NULL, jsonb_build_object('status', t.status, 'previous', p_old));
END
$$;

-- The line a reply that also resolved its ticket ends with.
CREATE OR REPLACE FUNCTION email.resolved_note(p_lang text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT E'\n\n' || CASE p_lang
        WHEN 'es' THEN 'Dimos por resuelta esta solicitud. Si algo sigue pendiente, responda a este correo y la reabrimos.'
        WHEN 'en' THEN 'We consider this ticket resolved. If anything is still wrong, reply to this email and we reopen it.'
        ELSE 'Consideramos este chamado resolvido. Se algo ainda estiver pendente, responda a este email e nós o reabrimos.'
    END
$$;

-- mail in: a ticket it opened
CREATE OR REPLACE FUNCTION email.ticket_received(t helpdesk.tickets, p_event bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM email.ticket_mail('ticket_received', t, p_event, '{}');
END
$$;

-- Where the tenant's portal starts, as a request or the fetch job names
-- it (link: the module's scheme, base domain and port), or NULL; without
-- a link, the tenant's verified domain (https) if it has one.
CREATE OR REPLACE FUNCTION email.portal_base(p_tenant uuid, link jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t     helpdesk.tenants;
    base  text;
BEGIN
    IF link IS NULL OR jsonb_typeof(link) <> 'object' THEN
        link := '{}';
    END IF;
    SELECT * INTO t FROM helpdesk.tenants x WHERE x.tenant_id = p_tenant;
    base := portal.tenant_origin(t, link - 'path');
    IF base IS NULL OR base !~ '^https?://[^\s<>"]+$' OR length(base) > 500 THEN
        RETURN NULL;
    END IF;
    RETURN base;
END
$$;

-- The threading of the next mail of a ticket: In-Reply-To the last mail
-- the customer sent (or, without one, the last we sent), References the
-- ticket's mails in order (the last 20), each as "<id>".
CREATE OR REPLACE FUNCTION email.thread_headers(p_tenant uuid, p_ticket uuid,
    OUT in_reply_to text, OUT refs text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT '<' || x.message_id_header || '>' INTO in_reply_to
    FROM helpdesk.email_messages x
    WHERE x.tenant_id = p_tenant AND x.ticket_id = p_ticket
      AND x.outcome IS DISTINCT FROM 'dropped'
      AND x.message_id_header ~ '^[!-;=?-~]+$' AND length(x.message_id_header) <= 500
    ORDER BY (x.direction = 'in') DESC, x.created_at DESC LIMIT 1;

    SELECT string_agg('<' || y.message_id_header || '>', ' ' ORDER BY y.created_at)
    INTO refs
    FROM (SELECT x.message_id_header, x.created_at FROM helpdesk.email_messages x
          WHERE x.tenant_id = p_tenant AND x.ticket_id = p_ticket
            AND x.outcome IS DISTINCT FROM 'dropped'
            AND x.message_id_header ~ '^[!-;=?-~]+$' AND length(x.message_id_header) <= 500
          ORDER BY x.created_at DESC LIMIT 20) y;
END
$$;

-- "Re: <subject> [TKT-000123]": the ticket's number always in it, so
-- that a reply whose client drops the headers still threads.
CREATE OR REPLACE FUNCTION email.ticket_subject(p_subject text, p_number text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN position('[' || p_number || ']' IN p_subject) > 0 THEN p_subject
                ELSE left(p_subject, 480) || ' [' || p_number || ']' END
$$;

-- The files of a reply, for the runner: the ones that fit in one mail
-- (p_limit bytes in all), each as three lines (its type, its name in
-- base64, its bytes in base64), and a line of text for each one that
-- does not, with a link to download it from the portal.
CREATE OR REPLACE FUNCTION email.reply_files(p_tenant uuid, p_ticket uuid, p_event bigint,
    p_number text, p_base text, p_limit bigint,
    OUT files text, OUT too_big text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a     record;
    used  bigint := 0;
BEGIN
    files := '';
    too_big := '{}';
    FOR a IN
        SELECT x.attachment_id, x.filename, x.content_type, x.size
        FROM helpdesk.attachments x
        WHERE x.tenant_id = p_tenant AND x.ticket_id = p_ticket AND x.event_id = p_event
        ORDER BY x.created_at, x.ordinal, x.attachment_id
    LOOP
        IF used + a.size <= p_limit THEN
            used := used + a.size;
            files := files
                || CASE WHEN a.content_type ~ '^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$'
                        THEN a.content_type ELSE 'application/octet-stream' END || E'\n'
                || translate(encode(convert_to(a.filename, 'UTF8'), 'base64'), E'\n', '') || E'\n'
                || (SELECT translate(encode(x.data, 'base64'), E'\n', '')
                    FROM helpdesk.attachments x
                    WHERE x.tenant_id = p_tenant AND x.attachment_id = a.attachment_id) || E'\n';
        ELSE
            too_big := too_big || (a.filename || ' (' || pg_size_pretty(a.size) || ')'
                || CASE WHEN p_base IS NOT NULL
                        THEN ': ' || p_base || '/_/api/tickets/' || p_number
                             || '/attachments/' || a.attachment_id
                        ELSE '' END);
        END IF;
    END LOOP;
END
$$;

-- A status as the customer reads it.
CREATE OR REPLACE FUNCTION email.status_name(p_status text, p_lang text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_lang
        WHEN 'en' THEN CASE p_status WHEN 'open' THEN 'open' WHEN 'pending' THEN 'waiting for your answer'
                           WHEN 'on_hold' THEN 'on hold' WHEN 'resolved' THEN 'resolved'
                           WHEN 'closed' THEN 'closed' ELSE p_status END
        WHEN 'es' THEN CASE p_status WHEN 'open' THEN 'abierto' WHEN 'pending' THEN 'esperando su respuesta'
                           WHEN 'on_hold' THEN 'en espera' WHEN 'resolved' THEN 'resuelto'
                           WHEN 'closed' THEN 'cerrado' ELSE p_status END
        ELSE CASE p_status WHEN 'open' THEN 'aberto' WHEN 'pending' THEN 'aguardando sua resposta'
                 WHEN 'on_hold' THEN 'em espera' WHEN 'resolved' THEN 'resolvido'
                 WHEN 'closed' THEN 'fechado' ELSE p_status END
    END
$$;

-- The shipped wording of the ticket's mails (email.default_template()).
CREATE OR REPLACE FUNCTION email.ticket_template(p_kind text, lang text, hello text,
    OUT subject text, OUT body_text text, OUT body_html text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    lead   text;
    follow text := CASE lang
        WHEN 'es' THEN 'Puede seguirlo en nuestro portal:'
        WHEN 'en' THEN 'You can follow it on our portal:'
        ELSE 'Você pode acompanhá-lo no nosso portal:' END;
    answer text := CASE lang
        WHEN 'es' THEN 'Para agregar algo, responda a este correo.'
        WHEN 'en' THEN 'To add anything, reply to this email.'
        ELSE 'Para acrescentar algo, responda a este email.' END;
BEGIN
    IF p_kind = 'agent_reply' THEN
        subject := 'Re: {{ticket.subject}} [{{ticket.number}}]';
        body_text := E'{{reply}}\n\n{{agent.name}}\n';
        body_html := '<div>{{reply}}</div><p>{{agent.name}}</p>';
        RETURN;
    END IF;

    IF p_kind = 'ticket_received' THEN
        subject := CASE lang WHEN 'es' THEN 'Recibimos su mensaje [{{ticket.number}}]'
                             WHEN 'en' THEN 'We received your message [{{ticket.number}}]'
                             ELSE 'Recebemos sua mensagem [{{ticket.number}}]' END;
        lead := CASE lang
            WHEN 'es' THEN 'Recibimos su mensaje «{{ticket.subject}}» y abrimos la solicitud {{ticket.number}}. Le responderemos pronto.'
            WHEN 'en' THEN 'We received your message "{{ticket.subject}}" and opened ticket {{ticket.number}}. We will answer soon.'
            ELSE 'Recebemos sua mensagem “{{ticket.subject}}” e abrimos o chamado {{ticket.number}}. Responderemos em breve.' END;
    ELSIF p_kind = 'status_changed' THEN
        subject := CASE lang WHEN 'es' THEN 'Su solicitud está {{status}} [{{ticket.number}}]'
                             WHEN 'en' THEN 'Your ticket is {{status}} [{{ticket.number}}]'
                             ELSE 'Seu chamado está {{status}} [{{ticket.number}}]' END;
        lead := CASE lang
            WHEN 'es' THEN 'Su solicitud {{ticket.number}} («{{ticket.subject}}») ahora está: {{status}}.'
            WHEN 'en' THEN 'Your ticket {{ticket.number}} ("{{ticket.subject}}") is now: {{status}}.'
            ELSE 'Seu chamado {{ticket.number}} (“{{ticket.subject}}”) agora está: {{status}}.' END;
    ELSE
        subject := CASE lang WHEN 'es' THEN 'Su solicitud fue resuelta [{{ticket.number}}]'
                             WHEN 'en' THEN 'Your ticket is resolved [{{ticket.number}}]'
                             ELSE 'Seu chamado foi resolvido [{{ticket.number}}]' END;
        lead := CASE lang
            WHEN 'es' THEN 'Dimos por resuelta su solicitud {{ticket.number}} («{{ticket.subject}}»). Si algo sigue pendiente, responda a este correo y la reabrimos.'
            WHEN 'en' THEN 'We consider your ticket {{ticket.number}} ("{{ticket.subject}}") resolved. If anything is still wrong, reply to this email and we reopen it.'
            ELSE 'Consideramos resolvido o seu chamado {{ticket.number}} (“{{ticket.subject}}”). Se algo ainda estiver pendente, responda a este email e nós o reabrimos.' END;
        answer := '';
    END IF;

    body_text := hello || E'\n\n' || lead || E'\n\n' || follow || E'\n{{link}}\n'
                 || CASE WHEN answer <> '' THEN E'\n' || answer || E'\n' ELSE '' END;
    body_html := '<p>' || hello || '</p><p>' || email.html_escape(lead) || '</p><p>'
                 || follow || '<br><a href="{{link}}">{{link}}</a></p>'
                 || CASE WHEN answer <> '' THEN '<p>' || answer || '</p>' ELSE '' END;
END
$$;

-- The bytes of files one reply carries, in all (a mail grows by a third
-- in base64; relays commonly take 25 MB): past it, links instead.
CREATE OR REPLACE FUNCTION email.attach_limit() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT 10485760::bigint
$$;

-- The lines that name the files left out of a reply, with their links.
CREATE OR REPLACE FUNCTION email.files_note(p_files text[], p_lang text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT E'\n\n' || CASE p_lang
               WHEN 'es' THEN 'Archivos demasiado grandes para este correo (descárguelos del portal):'
               WHEN 'en' THEN 'Files too large for this email (download them from the portal):'
               ELSE 'Arquivos grandes demais para este email (baixe-os no portal):' END
           || E'\n' || array_to_string(ARRAY(SELECT '- ' || x FROM unnest(p_files) x), E'\n')
$$;

RESET ROLE;
