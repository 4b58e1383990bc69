-- nginx-helpdesk: accounts that prove what they claim.
--
-- An email address typed at sign-up is a claim: until a link sent to it
-- comes back (or an invitation or reset link, which went to the same
-- address, is used), the portal account sees only what it opened itself.
-- A phone number typed into a profile is a claim too: only a number that
-- an agent entered, or that WhatsApp delivered, finds a caller's tickets.
-- A second factor's code is accepted once: the last accepted time step is
-- remembered per user.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.users ADD COLUMN IF NOT EXISTS email_verified_at timestamptz;
ALTER TABLE helpdesk.users ADD COLUMN IF NOT EXISTS phone_verified_at timestamptz;
ALTER TABLE helpdesk.users ADD COLUMN IF NOT EXISTS totp_last_step bigint;

-- the links of one table: a reset, an invitation, an address to confirm
-- (bound to the address it was sent to)
ALTER TABLE helpdesk.password_resets ADD COLUMN IF NOT EXISTS purpose text NOT NULL
    DEFAULT 'reset' CHECK (purpose IN ('reset', 'invite', 'verify'));
ALTER TABLE helpdesk.password_resets ADD COLUMN IF NOT EXISTS email text;

-- what is known already: agents came in through an invitation, and a
-- customer who used a reset link received it at their address
UPDATE helpdesk.users SET email_verified_at = updated_at
WHERE email_verified_at IS NULL AND role IN ('agent', 'admin')
  AND password_hash IS NOT NULL;

UPDATE helpdesk.users u SET email_verified_at = r.used_at
FROM (SELECT tenant_id, user_id, min(used_at) AS used_at
      FROM helpdesk.password_resets WHERE used_at IS NOT NULL
      GROUP BY tenant_id, user_id) r
WHERE u.email_verified_at IS NULL AND r.tenant_id = u.tenant_id
  AND r.user_id = u.user_id;

-- numbers that came from agents, the API or WhatsApp; a portal account's
-- own number was typed by whoever holds the account
UPDATE helpdesk.users SET phone_verified_at = created_at
WHERE phone IS NOT NULL AND phone_verified_at IS NULL
  AND NOT (role = 'customer' AND password_hash IS NOT NULL);

RESET ROLE;
