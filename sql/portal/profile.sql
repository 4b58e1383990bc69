-- nginx-helpdesk: what a customer controls of their own data on the portal.
--
-- Their name and phone number, and a copy of everything the helpdesk keeps
-- that they may see (their details, their tickets and the public history
-- of each, the names of their files): the right of access that data
-- protection laws (LGPD, GDPR) give them, one click away.  Both are
-- audited.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION portal.portal_profile_update(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_name  text := btrim(coalesce(args->>'name', ''));
    v_phone text := btrim(coalesce(args->>'phone', ''));
    errs    jsonb := '[]';
BEGIN
    IF args ? 'name' AND length(v_name) NOT BETWEEN 1 AND 200 THEN
        errs := errs || portal.err('name', 'invalid', 'between 1 and 200 characters');
    END IF;

    IF args ? 'phone' AND (length(v_phone) > 40 OR v_phone !~ '^[0-9+() .-]*$') THEN
        errs := errs || portal.err('phone', 'invalid', 'digits, spaces and + ( ) - . only');
    END IF;

    IF errs <> '[]' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid', errs);
    END IF;

    UPDATE helpdesk.users x SET
        name = CASE WHEN args ? 'name' THEN v_name ELSE x.name END,
        phone = CASE WHEN args ? 'phone' THEN nullif(v_phone, '') ELSE x.phone END,
        -- typed here, a number proves nothing: it finds no one's calls
        phone_verified_at = CASE WHEN args ? 'phone' AND nullif(v_phone, '') IS DISTINCT FROM x.phone
                                 THEN NULL ELSE x.phone_verified_at END,
        updated_at = now()
    WHERE x.tenant_id = u.tenant_id AND x.user_id = u.user_id
    RETURNING * INTO u;

    PERFORM tickets.audit(ctx, 'portal.profile.update', 'user', u.user_id::text,
        jsonb_build_object('changed', (SELECT coalesce(jsonb_agg(k), '[]') FROM jsonb_object_keys(args) k
                                       WHERE k IN ('name', 'phone'))));

    RETURN jsonb_build_object('body', portal.portal_user_json(u));
END
$$;

-- Everything of theirs a customer may see, in one document.
CREATE OR REPLACE FUNCTION portal.portal_export(ctx jsonb, t helpdesk.tenants, u helpdesk.users)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    doc jsonb;
BEGIN
    PERFORM tickets.read_only_audit();

    doc := jsonb_build_object(
        'helpdesk', t.name,
        'exported_at', now(),
        'you', portal.portal_user_json(u) || jsonb_build_object('created_at', u.created_at),
        'tickets', (SELECT coalesce(jsonb_agg(portal.portal_ticket_json(x) || jsonb_build_object(
                        'history', (SELECT coalesce(jsonb_agg(portal.portal_event_json(e, u.user_id)
                                                              ORDER BY e.event_id), '[]')
                                    FROM helpdesk.ticket_events e
                                    WHERE e.tenant_id = x.tenant_id AND e.ticket_id = x.ticket_id
                                      AND e.visibility = 'public'))
                        ORDER BY x.number), '[]')
                    FROM helpdesk.tickets x
                    WHERE x.tenant_id = u.tenant_id AND x.requester_id = u.user_id
                      AND portal.portal_ticket_visible(u, x)));

    PERFORM tickets.audit(ctx, 'portal.export', 'user', u.user_id::text,
                           jsonb_build_object('tickets', jsonb_array_length(doc->'tickets')));

    RETURN jsonb_build_object('body', doc);
END
$$;

RESET ROLE;
