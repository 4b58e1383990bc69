-- nginx-helpdesk: the wording of the mails the helpdesk sends.
--
-- Each kind of mail has a subject, a plain-text body and an HTML body per
-- language (pt-BR, es, en).  The defaults are shipped here; a tenant may
-- replace any of them (helpdesk.email_templates).  A template names what
-- it shows with placeholders, {{name}}, from a fixed list per kind; a
-- template with any other placeholder is refused when it is saved, so
-- that a mail never goes out with a placeholder nobody fills.  Values are
-- inserted as they are into the subject and the text, and HTML-escaped
-- into the HTML: a customer named "<script>" is shown that name, and runs
-- nothing.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION email.kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['password_reset', 'invitation', 'verification', 'chat_transcript',
                 'ticket_received', 'agent_reply', 'status_changed', 'resolved']
$$;

CREATE OR REPLACE FUNCTION email.languages() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['pt-BR', 'es', 'en']
$$;

-- what a kind's templates may name
CREATE OR REPLACE FUNCTION email.placeholders(p_kind text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['tenant.name', 'customer.name', 'customer.email']
           || CASE p_kind
              WHEN 'chat_transcript' THEN ARRAY['transcript', 'ticket.number']
              WHEN 'agent_reply' THEN ARRAY['ticket.number', 'ticket.subject', 'link',
                                            'reply', 'agent.name']
              WHEN 'status_changed' THEN ARRAY['ticket.number', 'ticket.subject', 'link',
                                               'status']
              WHEN 'ticket_received' THEN ARRAY['ticket.number', 'ticket.subject', 'link']
              WHEN 'resolved' THEN ARRAY['ticket.number', 'ticket.subject', 'link']
              ELSE ARRAY['link'] END
$$;

-- the placeholders a text names, in order, each once
CREATE OR REPLACE FUNCTION email.named(p text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(DISTINCT m[1]), '{}')
    FROM regexp_matches(p, '\{\{\s*([^{}]*?)\s*\}\}', 'g') m
$$;

CREATE OR REPLACE FUNCTION email.html_escape(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT replace(replace(replace(replace(replace(p, '&', '&amp;'), '<', '&lt;'),
                                   '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

-- A template's text with its placeholders filled from vars (a JSON object
-- of strings); in HTML each value is escaped, and its line breaks shown.
CREATE OR REPLACE FUNCTION email.render(p text, vars jsonb, p_html boolean)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    out   text := '';
    rest  text := p;
    m     text[];
    pos   int;
    v     text;
BEGIN
    LOOP
        m := regexp_match(rest, '^(.*?)\{\{\s*([^{}]*?)\s*\}\}(.*)$', 's');
        EXIT WHEN m IS NULL;
        v := coalesce(vars->>m[2], '');
        IF p_html THEN
            v := replace(email.html_escape(v), E'\n', '<br>');
        END IF;
        out := out || m[1] || v;
        rest := m[3];
    END LOOP;
    RETURN out || rest;
END
$$;

-- The shipped wording: (subject, text, html) of a kind in a language.
CREATE OR REPLACE FUNCTION email.default_template(p_kind text, p_lang text,
    OUT subject text, OUT body_text text, OUT body_html text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    lang  text := CASE WHEN p_lang IN ('es', 'en') THEN p_lang ELSE 'pt-BR' END;
    hello text;
    lead  text;
    after text;
BEGIN
    hello := CASE lang WHEN 'es' THEN 'Hola {{customer.name}}:'
                       WHEN 'en' THEN 'Hello {{customer.name}},'
                       ELSE 'Olá {{customer.name}},' END;

    IF p_kind = 'password_reset' THEN
        subject := CASE lang WHEN 'es' THEN 'Restablecer su contraseña — {{tenant.name}}'
                             WHEN 'en' THEN 'Reset your password — {{tenant.name}}'
                             ELSE 'Redefinir sua senha — {{tenant.name}}' END;
        lead := CASE lang
            WHEN 'es' THEN 'Para elegir una nueva contraseña, abra este enlace (vale por una hora y una sola vez):'
            WHEN 'en' THEN 'To choose a new password, open this link (it works once, for one hour):'
            ELSE 'Para escolher uma nova senha, abra este link (vale uma vez, por uma hora):' END;
        after := CASE lang
            WHEN 'es' THEN 'Si usted no lo pidió, ignore este mensaje: su contraseña no cambia.'
            WHEN 'en' THEN 'If you did not ask for this, ignore this message: your password stays as it is.'
            ELSE 'Se você não pediu, ignore esta mensagem: sua senha continua a mesma.' END;

    ELSIF p_kind = 'invitation' THEN
        subject := CASE lang WHEN 'es' THEN 'Invitación al soporte de {{tenant.name}}'
                             WHEN 'en' THEN 'You are invited to the helpdesk of {{tenant.name}}'
                             ELSE 'Convite para o atendimento da {{tenant.name}}' END;
        lead := CASE lang
            WHEN 'es' THEN 'Para entrar, elija su contraseña en este enlace (vale una semana):'
            WHEN 'en' THEN 'To join, choose your password at this link (it works for a week):'
            ELSE 'Para entrar, escolha sua senha neste link (vale por uma semana):' END;
        after := '';

    ELSIF p_kind = 'verification' THEN
        subject := CASE lang WHEN 'es' THEN 'Confirme su correo — {{tenant.name}}'
                             WHEN 'en' THEN 'Confirm your email — {{tenant.name}}'
                             ELSE 'Confirme seu email — {{tenant.name}}' END;
        lead := CASE lang
            WHEN 'es' THEN 'Para confirmar que esta dirección es suya, entre en su cuenta y abra este enlace (vale dos días):'
            WHEN 'en' THEN 'To confirm this address is yours, log in to your account and open this link (it works for two days):'
            ELSE 'Para confirmar que este endereço é seu, entre na sua conta e abra este link (vale por dois dias):' END;
        after := CASE lang
            WHEN 'es' THEN 'Si usted no creó esta cuenta, no abra el enlace: elija una contraseña nueva con «¿Olvidó su contraseña?» y la cuenta será suya.'
            WHEN 'en' THEN 'If you did not create this account, do not open the link: choose a new password with "Forgot your password?" and the account is yours.'
            ELSE 'Se você não criou esta conta, não abra o link: escolha uma senha nova em “Esqueceu a senha?” e a conta passa a ser sua.' END;

    ELSIF p_kind = 'chat_transcript' THEN
        subject := CASE lang WHEN 'es' THEN 'Su conversación con {{tenant.name}}'
                             WHEN 'en' THEN 'Your chat with {{tenant.name}}'
                             ELSE 'Sua conversa com {{tenant.name}}' END;
        lead := CASE lang
            WHEN 'es' THEN 'Esta es la conversación que tuvo con nosotros:'
            WHEN 'en' THEN 'Here is the conversation you had with us:'
            ELSE 'Esta é a conversa que você teve conosco:' END;
        body_text := hello || E'\n\n' || lead || E'\n\n{{transcript}}\n';
        body_html := '<p>' || hello || '</p><p>' || lead || '</p>'
                     || '<pre style="white-space:pre-wrap;font-family:inherit">{{transcript}}</pre>';
        RETURN;

    ELSIF p_kind = ANY (email.ticket_kinds()) THEN
        SELECT d.subject, d.body_text, d.body_html INTO subject, body_text, body_html
        FROM email.ticket_template(p_kind, lang, hello) d;
        RETURN;

    ELSE
        RETURN;
    END IF;

    body_text := hello || E'\n\n' || lead || E'\n{{link}}\n'
                 || CASE WHEN after <> '' THEN E'\n' || after || E'\n' ELSE '' END;
    body_html := '<p>' || hello || '</p><p>' || lead || '<br><a href="{{link}}">{{link}}</a></p>'
                 || CASE WHEN after <> '' THEN '<p>' || email.html_escape(after) || '</p>' ELSE '' END;
END
$$;

-- A tenant's template of a kind and language, its own or the default.
CREATE OR REPLACE FUNCTION email.template(p_tenant uuid, p_kind text, p_lang text,
    OUT subject text, OUT body_text text, OUT body_html text, OUT custom boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT x.subject, x.body_text, x.body_html, true
    INTO subject, body_text, body_html, custom
    FROM helpdesk.email_templates x
    WHERE x.tenant_id = p_tenant AND x.kind = p_kind AND x.language = p_lang;

    IF NOT FOUND THEN
        SELECT d.subject, d.body_text, d.body_html, false
        INTO subject, body_text, body_html, custom
        FROM email.default_template(p_kind, p_lang) d;
    END IF;
END
$$;

-- The kind and language of a path, or a 404.
CREATE OR REPLACE FUNCTION email.template_ref(args jsonb, OUT kind text, OUT lang text)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    kind := args->>'kind';
    lang := args->>'lang';
    IF NOT (kind = ANY (email.kinds())) OR NOT (lang = ANY (email.languages())) THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
            'there is no such template: the kinds are password_reset, invitation, '
            'verification, chat_transcript, ticket_received, agent_reply, '
            'status_changed and resolved; the languages pt-BR, es and en');
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION email.template_json(p_kind text, p_lang text,
    subject text, body_text text, body_html text, custom boolean)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('kind', p_kind, 'language', p_lang,
                              'subject', subject, 'text', body_text,
                              'html', body_html, 'custom', custom,
                              'placeholders', to_jsonb(email.placeholders(p_kind)))
$$;

CREATE OR REPLACE FUNCTION email.template_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r  record := email.template_ref(args);
    t  record;
BEGIN
    t := email.template((ctx->>'tenant_id')::uuid, r.kind, r.lang);
    PERFORM tickets.audit_read(ctx, 'email.template.read', 'email_template',
                               r.kind || '/' || r.lang);
    RETURN jsonb_build_object('body', email.template_json(r.kind, r.lang,
        t.subject, t.body_text, t.body_html, t.custom));
END
$$;

-- What is wrong with a template's fields, as the API's errors.
CREATE OR REPLACE FUNCTION email.template_errors(p_kind text, args jsonb)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    errors  jsonb := '[]';
    f       text;
    bad     text[];
BEGIN
    FOREACH f IN ARRAY ARRAY['subject', 'text', 'html'] LOOP
        IF args->>f IS NULL OR btrim(args->>f) = '' THEN
            errors := errors || jsonb_build_object('field', f, 'message', 'is required');
            CONTINUE;
        END IF;
        SELECT array_agg(n ORDER BY n) INTO bad
        FROM unnest(email.named(args->>f)) n
        WHERE NOT n = ANY (email.placeholders(p_kind));
        IF bad IS NOT NULL THEN
            errors := errors || jsonb_build_object('field', f, 'message',
                format('names unknown placeholders: %s (known: %s)',
                       array_to_string(bad, ', '),
                       array_to_string(email.placeholders(p_kind), ', ')));
        END IF;
    END LOOP;
    IF args->>'subject' ~ '[\x01-\x1f\x7f]' THEN
        errors := errors || jsonb_build_object('field', 'subject',
            'message', 'must be one line, without control characters');
    END IF;
    RETURN errors;
END
$$;

CREATE OR REPLACE FUNCTION email.template_put(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r       record := email.template_ref(args);
    errors  jsonb;
    t       helpdesk.email_templates;
BEGIN
    errors := email.template_errors(r.kind, args);
    IF jsonb_array_length(errors) > 0 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             errors);
    END IF;

    INSERT INTO helpdesk.email_templates AS x (tenant_id, kind, language, subject,
                                               body_text, body_html)
    VALUES ((ctx->>'tenant_id')::uuid, r.kind, r.lang, args->>'subject',
            args->>'text', args->>'html')
    ON CONFLICT (tenant_id, kind, language) DO UPDATE
    SET subject = excluded.subject, body_text = excluded.body_text,
        body_html = excluded.body_html, updated_at = now()
    RETURNING * INTO t;

    PERFORM tickets.audit(ctx, 'email.template.update', 'email_template',
                          r.kind || '/' || r.lang);

    RETURN jsonb_build_object('body', email.template_json(r.kind, r.lang,
        t.subject, t.body_text, t.body_html, true));
END
$$;

-- Back to the shipped wording.
CREATE OR REPLACE FUNCTION email.template_delete(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r  record := email.template_ref(args);
BEGIN
    DELETE FROM helpdesk.email_templates
    WHERE tenant_id = (ctx->>'tenant_id')::uuid AND kind = r.kind AND language = r.lang;
    PERFORM tickets.audit(ctx, 'email.template.reset', 'email_template',
                          r.kind || '/' || r.lang);
    RETURN jsonb_build_object('body', NULL);
END
$$;

-- Sample values a preview fills the placeholders with.
CREATE OR REPLACE FUNCTION email.sample_vars(p_tenant uuid, p_lang text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'tenant.name', (SELECT name FROM helpdesk.tenants WHERE tenant_id = p_tenant),
        'customer.name', CASE p_lang WHEN 'en' THEN 'Alex Example'
                                     WHEN 'es' THEN 'Lucía Ejemplo'
                                     ELSE 'Joana Exemplo' END,
        'customer.email', 'customer@example.com',
        'link', 'https://support.example.com/reset/0123456789abcdef',
        'ticket.number', 'TKT-000123',
        'ticket.subject', CASE p_lang WHEN 'en' THEN 'My order has not arrived'
                                      WHEN 'es' THEN 'Mi pedido no llegó'
                                      ELSE 'Meu pedido não chegou' END,
        'agent.name', CASE p_lang WHEN 'en' THEN 'Sam Support'
                                  WHEN 'es' THEN 'Sofía Soporte'
                                  ELSE 'Paula Suporte' END,
        'reply', CASE p_lang
            WHEN 'en' THEN E'Thank you for writing. Your order left our warehouse today.\nIt should arrive within two days.'
            WHEN 'es' THEN E'Gracias por escribirnos. Su pedido salió hoy de nuestro depósito.\nDebería llegar en dos días.'
            ELSE E'Obrigada por escrever. Seu pedido saiu hoje do nosso depósito.\nDeve chegar em dois dias.' END,
        'status', email.status_name('pending', p_lang),
        'transcript', E'2026-01-01 10:00 You: Hello\n2026-01-01 10:01 Support: How can we help?')
$$;

-- The mail a template makes, without saving: the fields given (a draft)
-- or the stored template, filled with sample values, with the tenant's
-- signature.
CREATE OR REPLACE FUNCTION email.template_preview(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r       record := email.template_ref(args);
    t       record;
    draft   jsonb;
    errors  jsonb;
    tenant  uuid := (ctx->>'tenant_id')::uuid;
    m       record;
BEGIN
    t := email.template(tenant, r.kind, r.lang);
    draft := jsonb_build_object('subject', coalesce(args->>'subject', t.subject),
                                'text', coalesce(args->>'text', t.body_text),
                                'html', coalesce(args->>'html', t.body_html));
    errors := email.template_errors(r.kind, draft);
    IF jsonb_array_length(errors) > 0 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             errors);
    END IF;

    m := email.compose(tenant, draft->>'subject', draft->>'text', draft->>'html',
                       email.sample_vars(tenant, r.lang));

    PERFORM tickets.audit_read(ctx, 'email.template.preview', 'email_template',
                               r.kind || '/' || r.lang);

    RETURN jsonb_build_object('body', jsonb_build_object(
        'subject', m.subject, 'text', m.body_text, 'html', m.body_html));
END
$$;

-- A mail's subject and bodies: the template filled, the signatures added
-- (the agent's own, for a reply, above the tenant's).
DROP FUNCTION IF EXISTS email.compose(uuid, text, text, text, jsonb);
CREATE OR REPLACE FUNCTION email.compose(p_tenant uuid, p_subject text, p_text text,
    p_html text, vars jsonb, p_agent_sig text DEFAULT NULL,
    OUT subject text, OUT body_text text, OUT body_html text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    sig text;
BEGIN
    SELECT s.signature INTO sig FROM helpdesk.email_settings s WHERE s.tenant_id = p_tenant;
    sig := nullif(concat_ws(E'\n\n', nullif(p_agent_sig, ''), nullif(sig, '')), '');

    -- one line: a value with a line break cannot add a header
    subject := left(regexp_replace(email.render(p_subject, vars, false),
                                   '[\x01-\x1f\x7f]+', ' ', 'g'), 500);
    body_text := email.render(p_text, vars, false);
    body_html := email.render(p_html, vars, true);

    IF coalesce(sig, '') <> '' THEN
        body_text := rtrim(body_text, E'\n') || E'\n\n-- \n' || sig || E'\n';
        body_html := body_html || '<p style="color:#555">'
                     || replace(email.html_escape(sig), E'\n', '<br>') || '</p>';
    END IF;

    body_html := '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
                 || body_html || '</body></html>';
END
$$;

RESET ROLE;
