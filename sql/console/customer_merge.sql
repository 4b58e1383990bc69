-- nginx-helpdesk: one customer, however many ways they reached us.
--
-- The same person often arrives twice: on WhatsApp (a number, no email)
-- and on the portal (an email), or as a caller typed in by an agent.  An
-- agent merges the duplicate into the customer who stays: every ticket,
-- WhatsApp contact and pending upload moves over, the history reads as one
-- person's (it is not rewritten), and what the one who stays lacked (email with the
-- portal login, phone, name) comes from the other.  The duplicate stays as
-- a disabled record that points to the one who stays, so that their email
-- still finds the right customer.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION console.console_customer_merge(ctx jsonb, u helpdesk.users, args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    gone  helpdesk.users := console.console_customer_find(u, args->>'id');
    keep  helpdesk.users;
    moved int;
BEGIN
    IF args->>'into' IS NULL OR NOT tickets.is_uuid(args->>'into') THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid',
            portal.err('into', 'required', 'the customer who stays'));
    END IF;

    keep := console.console_customer_find(u, args->>'into');

    IF keep.user_id = gone.user_id THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'some fields are not valid',
            portal.err('into', 'same', 'a customer cannot be merged into themselves'));
    END IF;

    -- both, in one order: two agents merging the same pair queue
    PERFORM 1 FROM helpdesk.users x
    WHERE x.tenant_id = u.tenant_id AND x.user_id IN (gone.user_id, keep.user_id)
    ORDER BY x.user_id FOR UPDATE;

    UPDATE helpdesk.tickets SET requester_id = keep.user_id, updated_at = now()
    WHERE tenant_id = u.tenant_id AND requester_id = gone.user_id;
    GET DIAGNOSTICS moved = ROW_COUNT;

    UPDATE helpdesk.whatsapp_contacts SET user_id = keep.user_id
    WHERE tenant_id = u.tenant_id AND user_id = gone.user_id;

    UPDATE helpdesk.uploads SET user_id = keep.user_id
    WHERE tenant_id = u.tenant_id AND user_id = gone.user_id;

    DELETE FROM helpdesk.password_resets
    WHERE tenant_id = u.tenant_id AND user_id = gone.user_id;

    -- earlier merges into the duplicate now point to the one who stays
    -- (the history itself is never rewritten: the portal reads what the
    -- merged records wrote as "you", through merged_into)
    UPDATE helpdesk.users SET merged_into = keep.user_id
    WHERE tenant_id = u.tenant_id AND merged_into = gone.user_id;

    -- the duplicate gives its email (and the portal login that goes with
    -- it) to a customer without one; otherwise keeps it, pointing over
    UPDATE helpdesk.users SET status = 'disabled', merged_into = keep.user_id,
        password_hash = NULL,
        email = CASE WHEN keep.email IS NULL THEN NULL ELSE email END,
        updated_at = now()
    WHERE tenant_id = u.tenant_id AND user_id = gone.user_id;

    UPDATE helpdesk.users SET
        name = coalesce(name, gone.name),
        phone = coalesce(phone, gone.phone),
        phone_verified_at = CASE WHEN phone IS NULL THEN gone.phone_verified_at
                                 ELSE phone_verified_at END,
        email = coalesce(email, gone.email),
        email_verified_at = CASE WHEN email IS NULL THEN gone.email_verified_at
                                 ELSE email_verified_at END,
        password_hash = CASE WHEN email IS NULL THEN gone.password_hash ELSE password_hash END,
        updated_at = now()
    WHERE tenant_id = u.tenant_id AND user_id = keep.user_id;

    PERFORM tickets.audit(ctx, 'customer.merge', 'user', keep.user_id::text,
        jsonb_build_object('merged', gone.user_id, 'merged_name', gone.name,
                           'merged_email', gone.email, 'tickets', moved));

    RETURN console.console_customer_get(ctx, u, jsonb_build_object('id', keep.user_id));
END
$$;

RESET ROLE;
