-- nginx-helpdesk: one tenant may not use up the provider's ACME budget.
--
--   helpdesk.acme_attempts  gains the outcome "ordered": a new order at the
--                           CA, one token of the account's new-order bucket
--                           spent (ARI renewals spend none and are not
--                           recorded).  tls.acme_step counts a tenant's in
--                           the last hour against a per-tenant cap
--                           (tls.acme_tenant_orders_per_hour(), see
--                           docs/operations.md).

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.acme_attempts DROP CONSTRAINT IF EXISTS acme_attempts_outcome_check;
ALTER TABLE helpdesk.acme_attempts ADD CONSTRAINT acme_attempts_outcome_check
    CHECK (outcome IN ('ordered', 'issued', 'revoked', 'authz_failed', 'rejected',
                       'rate_limited', 'error'));

CREATE INDEX IF NOT EXISTS acme_attempts_ordered
    ON helpdesk.acme_attempts (tenant_id, at) WHERE outcome = 'ordered';

RESET ROLE;
