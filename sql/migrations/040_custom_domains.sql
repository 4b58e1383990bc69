-- nginx-helpdesk: tenants' own domains, checked and certified by the
-- module itself.
--
-- A domain goes through these states (helpdesk.portal_domains.status):
--
--   pending_dns  added; waits for its DNS records (a CNAME to the tenant's
--                target, or the TXT proof), checked on a schedule that
--                slows down over time, released after 7 days unproven
--   verified     proven; waits for its certificate
--   issuing      a certificate is being ordered
--   active       serves the portal
--   dns_broken   proven once, its records no longer hold: still serves
--                while its certificate lasts, released after 30 days
--   failed       a gate refused for good (until "check now")
--   released     removed or expired; the row stays for history, and the
--                name may be added again by anyone
--
-- The domains that were pending become pending_dns; the verified ones
-- serve today and become active.  A name belongs to one tenant once it is
-- proven (verified, issuing, active, dns_broken); any number of tenants
-- may claim it before that.
--
--   reason           why the domain is in its state (a gate's words)
--   cname_target     the name the tenant points its domain to
--   status_at        when the status last changed
--   checks           DNS checks run so far
--   checked_at       the last one
--   next_check_at    when the next one is due (NULL: none)
--   manual_check_at  the last "check now" (once a minute)
--   broken_since     when the records stopped holding
--   lease_token,     the check job's claim on the row (a result written
--   lease_until      without the token is dropped)

CREATE SCHEMA IF NOT EXISTS tls AUTHORIZATION helpdesk_owner;
REVOKE ALL ON SCHEMA tls FROM PUBLIC;
GRANT USAGE ON SCHEMA tls TO helpdesk_service;

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.portal_domains
    ADD COLUMN IF NOT EXISTS reason text CHECK (length(reason) <= 500),
    ADD COLUMN IF NOT EXISTS cname_target text CHECK (length(cname_target) <= 253),
    ADD COLUMN IF NOT EXISTS status_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS checks int NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS checked_at timestamptz,
    ADD COLUMN IF NOT EXISTS next_check_at timestamptz,
    ADD COLUMN IF NOT EXISTS manual_check_at timestamptz,
    ADD COLUMN IF NOT EXISTS broken_since timestamptz,
    ADD COLUMN IF NOT EXISTS lease_token uuid,
    ADD COLUMN IF NOT EXISTS lease_until timestamptz;

ALTER TABLE helpdesk.portal_domains DROP CONSTRAINT IF EXISTS portal_domains_status_check;
DROP INDEX IF EXISTS helpdesk.portal_domains_verified;

UPDATE helpdesk.portal_domains
SET status = CASE status WHEN 'pending' THEN 'pending_dns' ELSE 'active' END,
    status_at = coalesce(verified_at, created_at),
    next_check_at = now()
WHERE status IN ('pending', 'verified');

ALTER TABLE helpdesk.portal_domains ALTER COLUMN status SET DEFAULT 'pending_dns';
ALTER TABLE helpdesk.portal_domains ADD CONSTRAINT portal_domains_status_check
    CHECK (status IN ('pending_dns', 'verified', 'issuing', 'active', 'dns_broken',
                      'failed', 'released'));

-- one owner for a name once it is proven
CREATE UNIQUE INDEX IF NOT EXISTS portal_domains_owner
    ON helpdesk.portal_domains (hostname)
    WHERE status IN ('verified', 'issuing', 'active', 'dns_broken');

-- the check job's schedule
CREATE INDEX IF NOT EXISTS portal_domains_next_check
    ON helpdesk.portal_domains (next_check_at)
    WHERE status IN ('pending_dns', 'dns_broken', 'active');

RESET ROLE;
