-- nginx-helpdesk: a tenant's sender settings (GET/PUT /v1/email/settings).
--
-- Who the mail is from (name, address, Reply-To), the signature every
-- mail ends with, and optionally a relay of the tenant's own; without
-- one, mail leaves through the provider's relay (helpdesk_smtp).  A
-- tenant may instead send through one of its Microsoft 365 or Gmail
-- mailboxes (smtp_mailbox_id: the provider's SMTP with XOAUTH2, from the
-- mailbox's address); once that mailbox is deleted or disabled, the
-- relay (the tenant's, else the provider's) sends again.  The
-- SMTP password arrives sealed by the module and never leaves.  Once the
-- tenant names an address of its own, the module generates a DKIM key for
-- it; its DNS record is shown here, to publish at
-- <selector>._domainkey.<domain>.  Through the provider's relay, mail
-- goes From the tenant's address only once the tenant proved it (a link
-- mailed to it, sql/email/sender.sql); setting or changing the address
-- sends that link, and a change forgets the old address's proof.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION email.settings_json(t helpdesk.tenants,
    s helpdesk.email_settings)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'from_name', coalesce(s.from_name, t.name),
        'from_address', s.from_address,
        -- proven (a link mailed to it came back): only then does the
        -- provider's relay send From it
        'from_address_verified', email.sender_verified_at(t.tenant_id, s.from_address) IS NOT NULL,
        'from_address_verified_at', email.sender_verified_at(t.tenant_id, s.from_address),
        'reply_to', s.reply_to,
        'signature', coalesce(s.signature, ''),
        -- the notices to the customers of email tickets the tenant sends
        'notify', jsonb_build_object(
            'ticket_received', email.notify_on(t.tenant_id, 'ticket_received'),
            'status_changed', email.notify_on(t.tenant_id, 'status_changed'),
            'resolved', email.notify_on(t.tenant_id, 'resolved')),
        -- the mailbox the mail leaves through (SMTP with XOAUTH2), when
        -- one is chosen: while it is disabled or not authorised, "active"
        -- is false (disabled: the relay below sends; not authorised: mail
        -- fails until it is authorised again)
        'smtp_mailbox', (SELECT jsonb_build_object('id', m.mailbox_id, 'address', m.address,
                                    'kind', m.kind, 'enabled', m.enabled,
                                    'authorized', m.oauth_refresh_token IS NOT NULL,
                                    'active', m.enabled AND m.oauth_refresh_token IS NOT NULL)
                         FROM helpdesk.email_mailboxes m
                         WHERE m.tenant_id = s.tenant_id AND m.mailbox_id = s.smtp_mailbox_id
                           AND m.deleted_at IS NULL),
        'relay', CASE WHEN s.smtp_url IS NULL
                      THEN jsonb_build_object('kind', 'provider')
                      ELSE jsonb_build_object('kind', 'tenant', 'url', s.smtp_url,
                                              'user', s.smtp_user,
                                              'password_set', s.smtp_password IS NOT NULL)
                 END,
        'dkim', CASE
            WHEN s.from_address IS NULL THEN jsonb_build_object('status', 'no-domain')
            WHEN s.dkim_public IS NULL THEN jsonb_build_object('status', 'pending',
                'domain', split_part(s.from_address, '@', 2))
            ELSE jsonb_build_object(
                'status', CASE WHEN s.dkim_domain = split_part(s.from_address, '@', 2)
                               THEN 'ready' ELSE 'pending' END,
                'selector', s.dkim_selector,
                'domain', split_part(s.from_address, '@', 2),
                'record_name', s.dkim_selector || '._domainkey.'
                               || split_part(s.from_address, '@', 2),
                'record_type', 'TXT',
                'record_value', 'v=DKIM1; k=rsa; p=' || s.dkim_public)
            END,
        'updated_at', s.updated_at)
$$;

-- Who mail through the provider's relay goes From now: the provider's
-- own sender (helpdesk_smtp from=) while the tenant's address is not
-- proven; and whether this answer's change sent a link.
CREATE OR REPLACE FUNCTION email.settings_sender(t helpdesk.tenants,
    s helpdesk.email_settings, args jsonb, p_sent boolean)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('provider_from', args->>'provider_from',
        'sends_from', CASE WHEN s.from_address IS NOT NULL
                            AND email.sender_verified_at(t.tenant_id, s.from_address) IS NOT NULL
                           THEN s.from_address ELSE args->>'provider_from' END)
        || CASE WHEN p_sent IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('verification_sent', p_sent) END
$$;

CREATE OR REPLACE FUNCTION email.settings_get(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t helpdesk.tenants;
    s helpdesk.email_settings;
BEGIN
    SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = (ctx->>'tenant_id')::uuid;
    SELECT * INTO s FROM helpdesk.email_settings WHERE tenant_id = t.tenant_id;
    PERFORM tickets.audit_read(ctx, 'email.settings.read', 'email_settings', NULL);
    RETURN jsonb_build_object('body', email.settings_json(t, s)
                              || email.settings_sender(t, s, args, NULL));
END
$$;

-- The fields given replace the stored ones; null clears one.  The module
-- checked the relay's URL against the outbound policy and sealed the
-- password to this tenant's row.
CREATE OR REPLACE FUNCTION email.settings_put(ctx jsonb, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t       helpdesk.tenants;
    s       helpdesk.email_settings;
    old     helpdesk.email_settings;
    sent    boolean;
    errors  jsonb := '[]';
    f       text;
    addr    text := '^[^@\s<>",;:()\[\]\\]+@[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.[a-z0-9-]+$';
BEGIN
    SELECT * INTO t FROM helpdesk.tenants WHERE tenant_id = (ctx->>'tenant_id')::uuid;

    FOREACH f IN ARRAY ARRAY['from_address', 'reply_to'] LOOP
        IF args->>f IS NOT NULL AND lower(args->>f) !~ addr THEN
            errors := errors || jsonb_build_object('field', f,
                'message', 'must be an email address (name@domain)');
        END IF;
    END LOOP;
    IF args ? 'notify' AND (jsonb_typeof(args->'notify') <> 'object'
        OR EXISTS (SELECT 1 FROM jsonb_each(args->'notify') x
                   WHERE x.key NOT IN ('ticket_received', 'status_changed', 'resolved')
                      OR jsonb_typeof(x.value) <> 'boolean')) THEN
        errors := errors || jsonb_build_object('field', 'notify',
            'message', 'an object of ticket_received, status_changed, resolved: true or false');
    END IF;
    IF args->>'from_name' ~ '[\x01-\x1f\x7f]' THEN
        errors := errors || jsonb_build_object('field', 'from_name',
            'message', 'must be one line, without control characters');
    END IF;
    IF args ? 'smtp_url' AND args->>'smtp_url' IS NULL
       AND (args->>'smtp_user' IS NOT NULL OR args->>'smtp_password' IS NOT NULL) THEN
        errors := errors || jsonb_build_object('field', 'smtp_url',
            'message', 'a user or password needs the relay''s URL');
    END IF;
    -- the mailbox to send through: one of this tenant's Microsoft 365 or
    -- Gmail mailboxes, not deleted (null: a relay again)
    IF args->>'smtp_mailbox_id' IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM helpdesk.email_mailboxes m
        WHERE m.tenant_id = t.tenant_id AND m.deleted_at IS NULL
          AND email.oauth_kind(m.kind)
          AND args->>'smtp_mailbox_id' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          AND m.mailbox_id = (args->>'smtp_mailbox_id')::uuid) THEN
        errors := errors || jsonb_build_object('field', 'smtp_mailbox_id',
            'message', 'must be the id of one of your Microsoft 365 or Gmail mailboxes');
    END IF;
    IF jsonb_array_length(errors) > 0 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'the request has invalid fields',
                             errors);
    END IF;

    INSERT INTO helpdesk.email_settings (tenant_id) VALUES (t.tenant_id)
    ON CONFLICT (tenant_id) DO NOTHING;
    SELECT * INTO old FROM helpdesk.email_settings x WHERE x.tenant_id = t.tenant_id FOR UPDATE;

    UPDATE helpdesk.email_settings x SET
        from_name = CASE WHEN args ? 'from_name' THEN nullif(btrim(args->>'from_name'), '')
                         ELSE x.from_name END,
        from_address = CASE WHEN args ? 'from_address' THEN lower(args->>'from_address')
                            ELSE x.from_address END,
        reply_to = CASE WHEN args ? 'reply_to' THEN lower(args->>'reply_to')
                        ELSE x.reply_to END,
        signature = CASE WHEN args ? 'signature' THEN coalesce(args->>'signature', '')
                         ELSE x.signature END,
        notify = CASE WHEN args ? 'notify' THEN x.notify || (args->'notify') ELSE x.notify END,
        smtp_url = CASE WHEN args ? 'smtp_url' THEN args->>'smtp_url' ELSE x.smtp_url END,
        smtp_user = CASE WHEN args ? 'smtp_url' AND args->>'smtp_url' IS NULL THEN NULL
                         WHEN args ? 'smtp_user' THEN args->>'smtp_user'
                         ELSE x.smtp_user END,
        smtp_password = CASE WHEN args ? 'smtp_url' AND args->>'smtp_url' IS NULL THEN NULL
                             WHEN args ? 'smtp_password' THEN args->>'smtp_password'
                             ELSE x.smtp_password END,
        smtp_secret_id = CASE WHEN args ? 'smtp_url' AND args->>'smtp_url' IS NULL THEN NULL
                              WHEN args ? 'smtp_password' THEN (args->>'smtp_secret_id')::uuid
                              ELSE x.smtp_secret_id END,
        smtp_mailbox_id = CASE WHEN args ? 'smtp_mailbox_id'
                               THEN (args->>'smtp_mailbox_id')::uuid
                               ELSE x.smtp_mailbox_id END,
        updated_at = now()
    WHERE x.tenant_id = t.tenant_id
    RETURNING * INTO s;

    PERFORM tickets.audit(ctx, 'email.settings.update', 'email_settings', NULL,
                          (args - 'smtp_password' - 'link' - 'console' - 'provider_from')
                          || CASE WHEN args ? 'smtp_password'
                                  THEN '{"smtp_password": "(changed)"}'::jsonb
                                  ELSE '{}' END);

    -- a new sender: the old one's proof is forgotten (proven again if it
    -- comes back), and a link goes to the new one unless it is proven
    -- already and the day's links allow it (email.sender_link_allowed())
    IF old.from_address IS DISTINCT FROM s.from_address THEN
        DELETE FROM helpdesk.email_senders v
        WHERE v.tenant_id = t.tenant_id AND v.address = old.from_address;
        IF s.from_address IS NOT NULL
           AND email.sender_verified_at(t.tenant_id, s.from_address) IS NULL THEN
            sent := false;
            IF email.sender_link_allowed(t.tenant_id, s.from_address) THEN
                sent := email.sender_link_send(ctx, t, s.from_address, args);
            END IF;
        END IF;
    END IF;

    RETURN jsonb_build_object('body', email.settings_json(t, s)
                              || email.settings_sender(t, s, args, sent));
END
$$;

RESET ROLE;
