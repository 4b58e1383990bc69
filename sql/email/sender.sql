-- nginx-helpdesk: a tenant's sender addresses, proven before the
-- provider's relay sends from them (migration 038).
--
-- Anyone may type any address as a tenant's sender; the provider's relay
-- (helpdesk_smtp) must not send From it on that word alone, or any tenant
-- could write as somebody else's domain under the provider's reputation.
-- An address is proven by a link mailed to it, always through the
-- provider's relay (never the tenant's own relay or mailbox, whose server
-- would see the link), which came back to an admin of the tenant, logged
-- in to its console: the mail's reader alone can not prove it for a tenant
-- (a scanner that follows links, or a curious owner, would), nor the
-- tenant alone.  The link works once, for two days, for the tenant it was
-- made for, while the address is still the tenant's sender or one of its
-- mailboxes.  Until then the provider's relay sends From the provider's
-- own sender with the tenant's name, its address as the Reply-To.

SET ROLE helpdesk_owner;

-- when the tenant proved the address (NULL: not proven)
CREATE OR REPLACE FUNCTION email.sender_verified_at(p_tenant uuid, p_address text)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT v.verified_at FROM helpdesk.email_senders v
    WHERE v.tenant_id = p_tenant AND v.address = lower(p_address)
$$;

-- where the console is, for the link: the console's own path when the
-- request came through it, else the path of the console_url given (the
-- name is the tenant's); NULL: nowhere known, no link
CREATE OR REPLACE FUNCTION email.sender_link_base(args jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN coalesce((args->>'console')::boolean, false) THEN args->'link'
        WHEN args->>'console_url' IS NOT NULL
        THEN coalesce(args->'link', '{}') || jsonb_build_object('path',
                 rtrim(coalesce(substring(args->>'console_url'
                     FROM '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(/[^?#]*)'), ''), '/'))
    END
$$;

-- Whether one more link may go to the address today: five a day for an
-- address, twenty for a tenant (changing the sender or adding mailboxes
-- again and again mails nobody, and no crowd, more than that).
CREATE OR REPLACE FUNCTION email.sender_link_allowed(p_tenant uuid, p_address text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT count(*) FILTER (WHERE l.address = p_address) < 5 AND count(*) < 20
    FROM helpdesk.email_sender_links l
    WHERE l.tenant_id = p_tenant AND l.created_at > now() - interval '1 day'
$$;

-- A link to the address, queued through the provider's relay (see
-- email.email_claim()).  Not the tenant's 'verification' template: the
-- tenant may reword that one, and the owner of the address must read
-- plainly who asks what.  Returns false when there is nowhere to link to.
CREATE OR REPLACE FUNCTION email.sender_link_send(ctx jsonb, t helpdesk.tenants,
    p_address text, args jsonb)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    token text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    base  jsonb := email.sender_link_base(args);
    link  text;
    lang  text := coalesce(t.settings->'portal'->>'default_language', 'pt-BR');
BEGIN
    IF base IS NULL OR portal.tenant_origin(t, base) IS NULL THEN
        RETURN false;
    END IF;
    link := portal.app_link(t, base, '/sender/' || token);
    IF NOT lang = ANY (email.languages()) THEN
        lang := 'pt-BR';
    END IF;

    INSERT INTO helpdesk.email_sender_links (tenant_id, token_hash, address, expires_at)
    VALUES (t.tenant_id, sha256(convert_to(token, 'UTF8')), p_address, now() + interval '2 days');

    INSERT INTO helpdesk.outbox (tenant_id, kind, target_id, delivery_id, event_type, payload)
    VALUES (t.tenant_id, 'email', t.tenant_id, gen_random_uuid(), 'email.sender_verification',
            jsonb_build_object(
                'to', p_address, 'language', lang, 'link', link,
                'subject', CASE lang WHEN 'es' THEN 'Confirme la dirección de envío — '
                                     WHEN 'en' THEN 'Confirm the sender address — '
                                     ELSE 'Confirme o endereço de envio — ' END || t.name,
                'text', CASE lang
                    WHEN 'es' THEN format('El helpdesk «%s» quiere enviar correo en nombre de %s. Si esta dirección es suya y administra ese helpdesk, entre en su consola y abra este enlace (vale dos días, una vez): ', t.name, p_address)
                    WHEN 'en' THEN format('The helpdesk "%s" wants to send mail as %s. If this address is yours and you administer that helpdesk, log in to its console and open this link (it works once, for two days): ', t.name, p_address)
                    ELSE format('O helpdesk “%s” quer enviar emails em nome de %s. Se este endereço é seu e você administra esse helpdesk, entre no console dele e abra este link (vale uma vez, por dois dias): ', t.name, p_address)
                    END || link || E'\n\n' || CASE lang
                    WHEN 'es' THEN 'Si no lo reconoce, ignore este mensaje: sin el enlace, nadie envía en nombre de esta dirección.'
                    WHEN 'en' THEN 'If you do not recognise this, ignore this message: without the link nobody sends as this address.'
                    ELSE 'Se você não reconhece este pedido, ignore esta mensagem: sem o link, ninguém envia em nome deste endereço.'
                    END));

    PERFORM tickets.audit(ctx, 'email.sender.link_sent', 'email_settings', NULL,
                          jsonb_build_object('address', p_address));
    RETURN true;
END
$$;

-- POST /v1/email/settings/verification {"address"?}: a link again, to the
-- sender's address or to one of the tenant's mailboxes (see
-- email.sender_link_allowed()).
CREATE OR REPLACE FUNCTION email.sender_send(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t     helpdesk.tenants;
    s     helpdesk.email_settings;
    addr  text;
BEGIN
    SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = (ctx->>'tenant_id')::uuid;
    SELECT * INTO s FROM helpdesk.email_settings WHERE tenant_id = t.tenant_id;
    addr := lower(btrim(coalesce(args->>'address', s.from_address)));

    -- (a tenant without settings has no sender: coalesce, or the test is
    -- NULL and any address would pass)
    IF addr IS NULL OR NOT (addr = coalesce(s.from_address, '') OR EXISTS (
            SELECT 1 FROM helpdesk.email_mailboxes m
            WHERE m.tenant_id = t.tenant_id AND m.deleted_at IS NULL AND m.address = addr)) THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
            jsonb_build_array(jsonb_build_object('field', 'address',
                'message', 'must be the sender address (from_address) or one of your mailboxes')));
    END IF;
    IF email.sender_verified_at(t.tenant_id, addr) IS NOT NULL THEN
        PERFORM tickets.fail('HDCNF', 'already-verified', 'this address is confirmed already');
    END IF;
    IF NOT email.sender_link_allowed(t.tenant_id, addr) THEN
        PERFORM tickets.fail('HDCNF', 'too-many-links',
            'several links were sent to this address today already: use the last one, or try again tomorrow');
    END IF;
    IF NOT email.sender_link_send(ctx, t, addr, args) THEN
        PERFORM tickets.fail('HDCNF', 'no-link',
            'the link has nowhere to lead: ask from the console, or name its address (console_url)');
    END IF;

    RETURN jsonb_build_object('body', jsonb_build_object('address', addr, 'status', 'queued'));
END
$$;

-- POST /v1/email/settings/verify {"token"}: the link came back, to an
-- admin of the tenant it was made for.
CREATE OR REPLACE FUNCTION email.sender_verify(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t  helpdesk.tenants;
    s  helpdesk.email_settings;
    l  helpdesk.email_sender_links;
BEGIN
    SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = (ctx->>'tenant_id')::uuid;
    SELECT * INTO s FROM helpdesk.email_settings WHERE tenant_id = t.tenant_id;

    SELECT * INTO l FROM helpdesk.email_sender_links x
    WHERE x.tenant_id = t.tenant_id
      AND x.token_hash = sha256(convert_to(coalesce(args->>'token', ''), 'UTF8'))
    FOR UPDATE;

    -- a link to an address that is no longer the tenant's is dead too
    IF l.address IS NULL OR l.used_at IS NOT NULL OR l.expires_at < now()
       OR NOT (l.address = coalesce(s.from_address, '') OR EXISTS (
               SELECT 1 FROM helpdesk.email_mailboxes m
               WHERE m.tenant_id = t.tenant_id AND m.deleted_at IS NULL
                 AND m.address = l.address)) THEN
        PERFORM tickets.fail('HDNFD', 'verify-link-invalid',
            'this link is not valid: links work once, for two days, while the address is still '
            'your sender or one of your mailboxes; send a new one from the E-mail settings');
    END IF;

    -- every link to the address dies with this one
    UPDATE helpdesk.email_sender_links SET used_at = now()
    WHERE tenant_id = t.tenant_id AND address = l.address AND used_at IS NULL;

    INSERT INTO helpdesk.email_senders (tenant_id, address) VALUES (t.tenant_id, l.address)
    ON CONFLICT (tenant_id, address) DO NOTHING;

    PERFORM tickets.audit(ctx, 'email.sender.verified', 'email_settings', NULL,
                          jsonb_build_object('address', l.address));

    RETURN jsonb_build_object('body', jsonb_build_object(
        'address', l.address, 'verified', true,
        'verified_at', email.sender_verified_at(t.tenant_id, l.address)));
END
$$;

RESET ROLE;
