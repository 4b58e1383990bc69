-- nginx-helpdesk: the console's customer directory.
--
-- Agents find a customer (by name, email, phone or WhatsApp number), see
-- everything they asked on every channel, and correct their details (a
-- caller's email learnt later, a name typed wrong).  Every listing and
-- every profile opened is an audited read, like a ticket.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION console.console_customer_json(c helpdesk.users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.user_id, 'name', c.name, 'email', c.email, 'phone', c.phone,
        'status', c.status, 'portal_account', c.password_hash IS NOT NULL,
        'created_at', c.created_at,
        'whatsapp', (SELECT coalesce(jsonb_agg(DISTINCT '+' || k.wa_id), '[]')
                     FROM helpdesk.whatsapp_contacts k
                     WHERE k.tenant_id = c.tenant_id AND k.user_id = c.user_id
                       AND k.wa_id IS NOT NULL),
        'tickets', (SELECT jsonb_build_object(
                               'open', count(*) FILTER (WHERE x.status NOT IN ('resolved', 'closed')),
                               'total', count(*),
                               'last_at', max(x.created_at))
                    FROM helpdesk.tickets x
                    WHERE x.tenant_id = c.tenant_id AND x.requester_id = c.user_id))
$$;

-- The directory: customers matching q (name, email, phone or WhatsApp
-- number), those with the latest tickets first.
CREATE OR REPLACE FUNCTION console.console_customers(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    q      text := nullif(btrim(coalesce(args->>'q', '')), '');
    digits text := nullif(regexp_replace(coalesce(args->>'q', ''), '[^0-9]', '', 'g'), '');
    lim    int := CASE WHEN args->>'limit' ~ '^[0-9]{1,3}$'
                       THEN least(greatest((args->>'limit')::int, 1), 200) ELSE 50 END;
    off    int := CASE WHEN args->>'offset' ~ '^[0-9]{1,6}$' THEN (args->>'offset')::int ELSE 0 END;
    total  bigint;
    r      jsonb;
BEGIN
    PERFORM tickets.read_only_audit();

    IF length(q) > 200 THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid',
            portal.err('q', 'too_long', '200 characters at most'));
    END IF;

    WITH m AS (
        SELECT c AS who, c.name, c.user_id,
               (SELECT max(x.created_at) FROM helpdesk.tickets x
                WHERE x.tenant_id = c.tenant_id AND x.requester_id = c.user_id) AS last_at
        FROM helpdesk.users c
        WHERE c.tenant_id = u.tenant_id AND c.role = 'customer' AND c.merged_into IS NULL
          AND (q IS NULL
               OR c.name ILIKE '%' || q || '%'
               OR c.email ILIKE '%' || q || '%'
               OR (length(digits) >= 4 AND (
                       regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g') LIKE '%' || digits || '%'
                       OR EXISTS (SELECT 1 FROM helpdesk.whatsapp_contacts k
                                  WHERE k.tenant_id = c.tenant_id AND k.user_id = c.user_id
                                    AND k.wa_id LIKE '%' || digits || '%')))))
    SELECT (SELECT count(*) FROM m),
           coalesce(jsonb_agg(console.console_customer_json(p.who) ORDER BY p.last_at DESC NULLS LAST,
                              p.name, p.user_id), '[]')
    INTO total, r
    FROM (SELECT * FROM m ORDER BY m.last_at DESC NULLS LAST, m.name, m.user_id
          LIMIT lim OFFSET off) p;

    PERFORM tickets.audit(ctx, 'console.customers.list', 'user', NULL,
                           jsonb_build_object('q', q));

    RETURN jsonb_build_object('body', jsonb_build_object('data', r, 'total', total));
END
$$;

CREATE OR REPLACE FUNCTION console.console_customer_find(u helpdesk.users, ref text)
RETURNS helpdesk.users LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.users;
BEGIN
    IF tickets.is_uuid(ref) THEN
        SELECT * INTO c FROM helpdesk.users x
        WHERE x.tenant_id = u.tenant_id AND x.user_id = ref::uuid AND x.role = 'customer';
    END IF;

    IF c.user_id IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such customer');
    END IF;

    IF c.merged_into IS NOT NULL THEN
        PERFORM tickets.fail('HDNFD', 'merged', 'this customer was merged into another one',
            jsonb_build_object('merged_into', c.merged_into));
    END IF;

    RETURN c;
END
$$;

-- One customer: their details and every ticket of theirs, on every channel.
CREATE OR REPLACE FUNCTION console.console_customer_get(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c helpdesk.users := console.console_customer_find(u, args->>'id');
BEGIN
    PERFORM tickets.read_only_audit();
    PERFORM tickets.audit(ctx, 'console.customer.read', 'user', c.user_id::text);

    RETURN jsonb_build_object('body', console.console_customer_json(c)
        || jsonb_build_object('ticket_list',
               (SELECT coalesce(jsonb_agg(console.console_ticket_json(x) ORDER BY x.number DESC), '[]')
                FROM helpdesk.tickets x
                WHERE x.tenant_id = c.tenant_id AND x.requester_id = c.user_id)));
END
$$;

-- Corrected details: name, email (unique in the tenant) and phone.
CREATE OR REPLACE FUNCTION console.console_customer_update(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c       helpdesk.users := console.console_customer_find(u, args->>'id');
    v_email text := lower(btrim(coalesce(args->>'email', '')));
    v_name  text := btrim(coalesce(args->>'name', ''));
    v_phone text := btrim(coalesce(args->>'phone', ''));
    errs    jsonb := '[]';
    changed jsonb := '[]';
BEGIN
    IF args ? 'name' AND length(v_name) > 200 THEN
        errs := errs || portal.err('name', 'too_long', '200 characters at most');
    END IF;

    IF args ? 'email' AND v_email <> '' AND v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
        errs := errs || portal.err('email', 'invalid', 'a valid email address');
    END IF;

    -- a customer who logs in to the portal keeps an email
    IF args ? 'email' AND v_email = '' AND c.password_hash IS NOT NULL THEN
        errs := errs || portal.err('email', 'required', 'this customer logs in to the portal with it');
    END IF;

    IF args ? 'phone' AND (length(v_phone) > 40 OR v_phone !~ '^[0-9+() .-]*$') THEN
        errs := errs || portal.err('phone', 'invalid', 'digits, spaces and + ( ) - . only');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    IF args ? 'email' AND v_email <> '' AND EXISTS (
           SELECT 1 FROM helpdesk.users x
           WHERE x.tenant_id = c.tenant_id AND x.email = v_email AND x.user_id <> c.user_id) THEN
        PERFORM tickets.fail('HDCNF', 'conflict', 'another person already has this email',
            portal.err('email', 'taken', 'another person already has this email'));
    END IF;

    changed := (SELECT coalesce(jsonb_agg(k), '[]') FROM (VALUES
        ('name', args ? 'name' AND nullif(v_name, '') IS DISTINCT FROM c.name),
        ('email', args ? 'email' AND nullif(v_email, '') IS DISTINCT FROM c.email),
        ('phone', args ? 'phone' AND nullif(v_phone, '') IS DISTINCT FROM c.phone)) f(k, yes)
        WHERE yes);

    UPDATE helpdesk.users x SET
        name = CASE WHEN args ? 'name' THEN nullif(v_name, '') ELSE x.name END,
        email = CASE WHEN args ? 'email' THEN nullif(v_email, '') ELSE x.email END,
        phone = CASE WHEN args ? 'phone' THEN nullif(v_phone, '') ELSE x.phone END,
        -- a new address is proven again by its owner; a number an agent
        -- enters finds the caller's tickets
        email_verified_at = CASE WHEN changed ? 'email' THEN NULL ELSE x.email_verified_at END,
        phone_verified_at = CASE WHEN changed ? 'phone' AND nullif(v_phone, '') IS NOT NULL
                                 THEN now() WHEN changed ? 'phone' THEN NULL
                                 ELSE x.phone_verified_at END,
        updated_at = now()
    WHERE x.tenant_id = c.tenant_id AND x.user_id = c.user_id
    RETURNING * INTO c;

    -- the links sent to the old address die with it
    IF changed ? 'email' THEN
        UPDATE helpdesk.password_resets SET used_at = now()
        WHERE tenant_id = c.tenant_id AND user_id = c.user_id AND used_at IS NULL;
    END IF;

    PERFORM tickets.audit(ctx, 'customer.update', 'user', c.user_id::text,
                           jsonb_build_object('changed', changed));

    RETURN console.console_customer_get(ctx, u, jsonb_build_object('id', c.user_id));
END
$$;

RESET ROLE;
