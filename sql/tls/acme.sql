-- nginx-helpdesk: the ACME client's state (migration 042), driven by the
-- module's order job (src/jobs/ngx_helpdesk_acme_job.c).
--
-- An order's life:
--   claim    orders are made here for what needs one (a verified name: issue;
--            an active name whose certificate is due for renewal and whose
--            DNS was checked within a day: renew; a released name with a
--            live certificate: revoke), then due orders are handed out with
--            a lease (FOR UPDATE SKIP LOCKED): one node works an order at a
--            time, whatever the number of nodes; an issue order moves its
--            domain verified -> issuing;
--   step     the step reached and the URLs the CA gave, written after each
--            request, only while the lease is held (any node resumes from
--            there after a crash); entering "ordered" spends a token of the
--            account's new-order bucket, or waits for one (and first for
--            the tenant's cap of new orders per hour); due orders are
--            handed out round robin by tenant;
--   result   a failure: its problem document maps to the domain's state,
--            or the order waits (Retry-After, or 1 min, 10 min, 100 min,
--            then daily);
--   store    the certificate (tls.cert_store), the order done.
--
-- Every function here runs as the owner, across tenants; the entry points
-- (sql/api/acme.sql) want the module's proof.

SET ROLE helpdesk_owner;

-- The problem types (RFC 8555 section 6.7, without the URN prefix) that
-- say the name does not lead here or the CA may not issue for it yet:
-- the domain is dns_broken, with the CA's words.
CREATE OR REPLACE FUNCTION tls.acme_problem_class(p_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE regexp_replace(coalesce(p_type, ''), '^urn:ietf:params:acme:error:', '')
        WHEN 'connection' THEN 'dns_broken'
        WHEN 'dns' THEN 'dns_broken'
        WHEN 'unauthorized' THEN 'dns_broken'
        WHEN 'incorrectResponse' THEN 'dns_broken'
        WHEN 'caa' THEN 'dns_broken'
        WHEN 'tls' THEN 'dns_broken'
        WHEN 'rejectedIdentifier' THEN 'failed'
        WHEN 'unsupportedIdentifier' THEN 'failed'
        WHEN 'rateLimited' THEN 'paused'
        WHEN 'accountDoesNotExist' THEN 'restart'
        WHEN 'orderNotFound' THEN 'restart'
        ELSE 'backoff' END
$$;

-- The wait after the n-th failure in a row: 1 min, 10 min, 100 min, daily.
CREATE OR REPLACE FUNCTION tls.acme_backoff(p_attempts int) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_attempts <= 1 THEN interval '1 minute'
                WHEN p_attempts = 2 THEN interval '10 minutes'
                WHEN p_attempts = 3 THEN interval '100 minutes'
                ELSE interval '1 day' END
$$;

-- The new orders one tenant may send to the CA in an hour (whatever its
-- number of names): the provider's new-order bucket is shared, and a
-- tenant whose names keep failing validation must not use it up for all
-- (docs/operations.md).  ARI renewals are not counted (the CA does not).
-- 10, unless the database sets helpdesk.acme_tenant_orders_per_hour.
CREATE OR REPLACE FUNCTION tls.acme_tenant_orders_per_hour() RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN v ~ '^[0-9]{1,6}$' AND v::int > 0 THEN v::int ELSE 10 END
    FROM coalesce(current_setting('helpdesk.acme_tenant_orders_per_hour', true), '') v
$$;

-- The account of a directory: its row (made at the first call), with a
-- lease when it has no key or no URL at the CA yet and nobody else holds
-- it (then the caller makes it: key sealed and stored first, newAccount
-- after).  Neither key nor lease: another node is making it; ask again.
-- p_held: the lease the caller was given before and still holds (its
-- newAccount failed: a refused nonce, the CA away): given back, renewed,
-- so that the holder tries again at once rather than everyone waiting for
-- the lease to lapse.
DROP FUNCTION IF EXISTS tls.acme_account(text, int, int, int);
CREATE OR REPLACE FUNCTION tls.acme_account(p_directory text, p_lease_seconds int,
    p_orders int, p_orders_seconds int, p_held uuid DEFAULT NULL)
RETURNS TABLE (account_id uuid, key_sealed text, kid_url text, thumbprint text,
               lease_token uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
DECLARE
    a helpdesk_meta.acme_accounts;
BEGIN
    IF p_directory IS NULL OR p_directory !~ '^https?://' THEN
        PERFORM tickets.fail('HDVAL', 'invalid-directory', 'the ACME directory is not an http(s) URL');
    END IF;

    INSERT INTO helpdesk_meta.acme_accounts (directory_url) VALUES (p_directory)
    ON CONFLICT (directory_url) DO NOTHING;

    SELECT * INTO a FROM helpdesk_meta.acme_accounts x
    WHERE x.directory_url = p_directory FOR UPDATE;

    -- the bucket follows the configuration (orders=N/period)
    INSERT INTO helpdesk_meta.acme_limits AS l (account_id, bucket, tokens, capacity, per_sec)
    VALUES (a.account_id, 'new_orders', greatest(p_orders, 1), greatest(p_orders, 1),
            greatest(p_orders, 1)::numeric / greatest(p_orders_seconds, 1))
    ON CONFLICT (account_id, bucket) DO UPDATE
    SET capacity = excluded.capacity, per_sec = excluded.per_sec,
        tokens = least(l.tokens, excluded.capacity)
    WHERE l.capacity <> excluded.capacity OR l.per_sec <> excluded.per_sec;

    IF a.kid_url IS NULL AND (a.lease_until IS NULL OR a.lease_until < now()
                              OR a.lease_token = p_held) THEN
        UPDATE helpdesk_meta.acme_accounts x
        SET lease_token = CASE WHEN x.lease_token = p_held AND x.lease_until >= now()
                               THEN x.lease_token ELSE gen_random_uuid() END,
            lease_until = now() + make_interval(secs => greatest(p_lease_seconds, 1))
        WHERE x.account_id = a.account_id
        RETURNING * INTO a;

        RETURN QUERY SELECT a.account_id, a.key_sealed, a.kid_url, a.thumbprint, a.lease_token;
        RETURN;
    END IF;

    RETURN QUERY SELECT a.account_id,
                        CASE WHEN a.kid_url IS NOT NULL THEN a.key_sealed END,
                        a.kid_url, a.thumbprint, NULL::uuid;
END
$$;

-- What the node making the account learnt: the key (sealed) and its
-- thumbprint, stored before newAccount; the account's URL after.  A key is
-- never replaced once stored: a node that resumes uses it (the CA answers
-- newAccount with the same account for the same key).  p_caa alone (no
-- lease): the directory's CAA identities, from any node.
CREATE OR REPLACE FUNCTION tls.acme_account_store(p_account uuid, p_lease uuid,
    p_key_sealed text, p_thumbprint text, p_kid text, p_caa text[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    a helpdesk_meta.acme_accounts;
BEGIN
    SELECT * INTO a FROM helpdesk_meta.acme_accounts x
    WHERE x.account_id = p_account FOR UPDATE;

    IF a.account_id IS NULL THEN
        PERFORM tickets.fail('HDNOF', 'not-found', 'no such ACME account');
    END IF;

    IF p_caa IS NOT NULL THEN
        UPDATE helpdesk_meta.acme_accounts x
        SET caa_identities = p_caa[1:16], updated_at = now()
        WHERE x.account_id = p_account AND x.caa_identities IS DISTINCT FROM p_caa[1:16];
    END IF;

    IF p_key_sealed IS NULL AND p_kid IS NULL THEN
        RETURN;
    END IF;

    -- a lost account (the CA forgot it) is made again with the same key
    -- by whoever holds its lease
    IF p_lease IS NULL OR a.lease_token IS DISTINCT FROM p_lease THEN
        PERFORM tickets.fail('HDCNF', 'conflict',
            'the ACME account''s lease is not held (another node is making it)');
    END IF;

    IF p_key_sealed IS NOT NULL AND a.key_sealed IS NOT NULL
       AND a.key_sealed <> p_key_sealed
    THEN
        PERFORM tickets.fail('HDCNF', 'conflict', 'the ACME account already has a key');
    END IF;

    UPDATE helpdesk_meta.acme_accounts x
    SET key_sealed = coalesce(x.key_sealed, p_key_sealed),
        thumbprint = coalesce(p_thumbprint, x.thumbprint),
        kid_url = coalesce(p_kid, x.kid_url),
        lease_token = CASE WHEN p_kid IS NOT NULL THEN NULL ELSE x.lease_token END,
        lease_until = CASE WHEN p_kid IS NOT NULL THEN NULL ELSE x.lease_until END,
        updated_at = now()
    WHERE x.account_id = p_account;
END
$$;

-- The CA forgot the account (accountDoesNotExist: a test CA restarted):
-- its URL dropped, its key kept, so that the next claim makes it again.
CREATE OR REPLACE FUNCTION tls.acme_account_lost(p_account uuid, p_kid text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    UPDATE helpdesk_meta.acme_accounts x
    SET kid_url = NULL, updated_at = now()
    WHERE x.account_id = p_account AND x.kid_url = p_kid
$$;

-- A name released: its live certificate from the CA is revoked whatever
-- the name does next (taken up again at once, the revocation still runs:
-- the order keeps the generation it revokes).  Queued here, when the
-- status changes; the claim's own pass catches names released before.
CREATE OR REPLACE FUNCTION tls.acme_released() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    INSERT INTO helpdesk.acme_orders AS x (tenant_id, hostname, kind, generation)
    SELECT NEW.tenant_id, NEW.hostname, 'revoke', c.generation
    FROM helpdesk.tls_certificates c
    WHERE c.tenant_id = NEW.tenant_id AND c.hostname = NEW.hostname
      AND c.revoked_at IS NULL AND c.not_after > now() AND c.source = 'acme'
    ORDER BY c.generation DESC LIMIT 1
    ON CONFLICT ON CONSTRAINT acme_orders_pkey DO UPDATE
    SET kind = 'revoke', step = 'new', due_at = now(), attempts = 0,
        lease_token = NULL, lease_until = NULL, order_url = NULL, authz_urls = NULL,
        challenge_url = NULL, token = NULL, finalize_url = NULL, cert_url = NULL,
        key_sealed = NULL, replaces = NULL, generation = excluded.generation,
        last_problem = NULL, updated_at = now()
    WHERE x.kind <> 'revoke' OR x.step IN ('done', 'failed');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER portal_domains_acme_released AFTER UPDATE OF status
    ON helpdesk.portal_domains FOR EACH ROW
    WHEN (NEW.status = 'released' AND OLD.status IS DISTINCT FROM 'released')
    EXECUTE FUNCTION tls.acme_released();

-- The orders that are due now, made first for the names that need one.
-- p_checks: whether the DNS check job runs (helpdesk_custom_domains
-- edge=); with it, a renewal waits for a check passed within a day;
-- without it, renew_after alone makes it due.
DROP FUNCTION IF EXISTS tls.acme_claim(uuid, int, int, int, int);
CREATE OR REPLACE FUNCTION tls.acme_claim(p_account uuid, p_limit int,
    p_lease_seconds int, p_name_failures int, p_failure_seconds int,
    p_checks boolean DEFAULT true)
RETURNS TABLE (tenant_id uuid, hostname text, kind text, step text, lease_token uuid,
               attempts int, order_url text, authz_urls text[], challenge_url text,
               token text, finalize_url text, cert_url text, key_sealed text,
               replaces text, cert_der bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
DECLARE
    o record;
BEGIN
    IF EXISTS (SELECT 1 FROM helpdesk_meta.acme_limits l
               WHERE l.account_id = p_account AND l.paused_until > now())
    THEN
        RETURN;
    END IF;

    -- a verified name: a certificate to issue
    INSERT INTO helpdesk.acme_orders AS x (tenant_id, hostname, kind, account_id)
    SELECT d.tenant_id, d.hostname, 'issue', p_account
    FROM helpdesk.portal_domains d
    JOIN helpdesk.tenants t ON t.tenant_id = d.tenant_id AND t.status = 'active'
    WHERE d.status = 'verified'
    ON CONFLICT ON CONSTRAINT acme_orders_pkey DO UPDATE
    SET kind = 'issue', step = 'new', due_at = now(), attempts = 0, account_id = p_account,
        lease_token = NULL, lease_until = NULL, order_url = NULL, authz_urls = NULL,
        challenge_url = NULL, token = NULL, finalize_url = NULL, cert_url = NULL,
        key_sealed = NULL, replaces = NULL, generation = NULL, last_problem = NULL,
        updated_at = now()
    WHERE x.step IN ('done', 'failed');

    -- an active name whose certificate is due for renewal (its
    -- renew_after), whose DNS was seen right within a day when the DNS
    -- checks run
    -- (with ARI, "replaces" names the certificate it renews)
    INSERT INTO helpdesk.acme_orders AS x (tenant_id, hostname, kind, account_id, replaces)
    SELECT d.tenant_id, d.hostname, 'renew', p_account, c.ari_cert_id
    FROM helpdesk.portal_domains d
    JOIN helpdesk.tenants t ON t.tenant_id = d.tenant_id AND t.status = 'active'
    JOIN LATERAL (
        SELECT z.renew_after, z.ari_cert_id FROM helpdesk.tls_certificates z
        WHERE z.tenant_id = d.tenant_id AND z.hostname = d.hostname
          AND z.revoked_at IS NULL AND z.not_after > now()
        ORDER BY z.generation DESC LIMIT 1) c ON true
    WHERE d.status = 'active' AND c.renew_after <= now()
      AND (p_checks IS NOT TRUE AND p_checks IS NOT NULL
           OR d.checked_at > now() - interval '1 day')
    ON CONFLICT ON CONSTRAINT acme_orders_pkey DO UPDATE
    SET kind = 'renew', step = 'new', due_at = now(), attempts = 0, account_id = p_account,
        lease_token = NULL, lease_until = NULL, order_url = NULL, authz_urls = NULL,
        challenge_url = NULL, token = NULL, finalize_url = NULL, cert_url = NULL,
        key_sealed = NULL, replaces = excluded.replaces, generation = NULL,
        last_problem = NULL, updated_at = now()
    WHERE x.step IN ('done', 'failed');

    -- a released name whose certificate is still live: revoked (whatever
    -- order was running for it stops)
    INSERT INTO helpdesk.acme_orders AS x (tenant_id, hostname, kind, account_id, generation)
    SELECT d.tenant_id, d.hostname, 'revoke', p_account, c.generation
    FROM helpdesk.portal_domains d
    JOIN LATERAL (
        SELECT z.generation FROM helpdesk.tls_certificates z
        WHERE z.tenant_id = d.tenant_id AND z.hostname = d.hostname
          AND z.revoked_at IS NULL AND z.not_after > now()
          AND z.source = 'acme'
        ORDER BY z.generation DESC LIMIT 1) c ON true
    WHERE d.status = 'released'
    ON CONFLICT ON CONSTRAINT acme_orders_pkey DO UPDATE
    SET kind = 'revoke', step = 'new', due_at = now(), attempts = 0, account_id = p_account,
        lease_token = NULL, lease_until = NULL, order_url = NULL, authz_urls = NULL,
        challenge_url = NULL, token = NULL, finalize_url = NULL, cert_url = NULL,
        key_sealed = NULL, replaces = NULL, generation = excluded.generation,
        last_problem = NULL, updated_at = now()
    WHERE x.kind <> 'revoke' OR x.step IN ('done', 'failed');

    -- an issue or renewal for a name that no longer waits for one (released,
    -- failed, back to its DNS checks): stopped
    UPDATE helpdesk.acme_orders x
    SET step = 'failed', lease_token = NULL, lease_until = NULL, key_sealed = NULL,
        last_problem = jsonb_build_object('detail', 'the name no longer waits for a certificate'),
        updated_at = now()
    WHERE x.kind IN ('issue', 'renew') AND x.step NOT IN ('done', 'failed')
      AND (x.lease_until IS NULL OR x.lease_until < now())
      AND NOT EXISTS (SELECT 1 FROM helpdesk.portal_domains d
                      WHERE d.tenant_id = x.tenant_id AND d.hostname = x.hostname
                        AND d.status IN ('verified', 'issuing', 'active', 'dns_broken'));

    FOR o IN
        WITH due AS (
            SELECT x.tenant_id, x.hostname
            FROM helpdesk.acme_orders x
            JOIN helpdesk.tenants t ON t.tenant_id = x.tenant_id
            WHERE x.step NOT IN ('done', 'failed') AND x.due_at <= now()
              AND (x.lease_until IS NULL OR x.lease_until < now())
              AND (x.kind = 'revoke'
                   OR (SELECT count(*) FROM helpdesk.acme_attempts a
                       WHERE a.tenant_id = x.tenant_id AND a.hostname = x.hostname
                         AND a.outcome = 'authz_failed'
                         AND a.at > now() - make_interval(secs => p_failure_seconds))
                      < p_name_failures)
            -- round robin by tenant: every tenant's oldest due order
            -- first, then every tenant's second, ...: one tenant's backlog
            -- never goes before the others
            ORDER BY (SELECT count(*) FROM helpdesk.acme_orders y
                      WHERE y.tenant_id = x.tenant_id
                        AND y.step NOT IN ('done', 'failed')
                        AND (y.due_at, y.hostname) < (x.due_at, x.hostname)
                        AND y.due_at <= now()
                        AND (y.lease_until IS NULL OR y.lease_until < now())),
                     x.due_at, x.tenant_id, x.hostname
            LIMIT p_limit
            FOR UPDATE OF x SKIP LOCKED
        )
        UPDATE helpdesk.acme_orders x
        SET lease_token = gen_random_uuid(),
            lease_until = now() + make_interval(secs => greatest(p_lease_seconds, 1)),
            account_id = p_account
        FROM due
        WHERE x.tenant_id = due.tenant_id AND x.hostname = due.hostname
        RETURNING x.*
    LOOP
        IF o.kind = 'issue' AND EXISTS (
            SELECT 1 FROM helpdesk.portal_domains d
            WHERE d.tenant_id = o.tenant_id AND d.hostname = o.hostname AND d.status = 'verified')
        THEN
            PERFORM tls.domain_set(o.tenant_id, o.hostname, 'issuing', NULL);
        END IF;

        RETURN QUERY
        SELECT o.tenant_id, o.hostname, o.kind, o.step, o.lease_token, o.attempts,
               o.order_url, o.authz_urls, o.challenge_url, o.token, o.finalize_url,
               o.cert_url, o.key_sealed, o.replaces,
               CASE WHEN o.kind = 'revoke' THEN
                   (SELECT z.chain_der[1] FROM helpdesk.tls_certificates z
                    WHERE z.tenant_id = o.tenant_id AND z.hostname = o.hostname
                      AND z.generation = o.generation) END;
    END LOOP;
END
$$;

-- The order while the lease is held, locked; else a conflict (another
-- node took it over, or it was replaced).
CREATE OR REPLACE FUNCTION tls.acme_held(p_tenant uuid, p_host text, p_lease uuid)
RETURNS helpdesk.acme_orders
LANGUAGE plpgsql AS $$
DECLARE
    o helpdesk.acme_orders;
BEGIN
    SELECT * INTO o FROM helpdesk.acme_orders x
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host
      AND x.lease_token = p_lease AND p_lease IS NOT NULL
    FOR UPDATE;

    IF o.hostname IS NULL THEN
        PERFORM tickets.fail('HDCNF', 'conflict',
            'the order''s lease is no longer held (taken over, or the order was replaced)');
    END IF;

    RETURN o;
END
$$;

-- A token of a bucket, or how many seconds until there is one.
CREATE OR REPLACE FUNCTION tls.acme_take(p_account uuid, p_bucket text)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    l   helpdesk_meta.acme_limits;
    now_tokens numeric;
BEGIN
    SELECT * INTO l FROM helpdesk_meta.acme_limits x
    WHERE x.account_id = p_account AND x.bucket = p_bucket FOR UPDATE;

    IF l.account_id IS NULL THEN
        RETURN 0;
    END IF;

    now_tokens := least(l.capacity,
                        l.tokens + l.per_sec * extract(epoch FROM now() - l.updated_at));

    IF now_tokens < 1 THEN
        UPDATE helpdesk_meta.acme_limits x SET tokens = now_tokens, updated_at = now()
        WHERE x.account_id = p_account AND x.bucket = p_bucket;
        RETURN greatest(ceil((1 - now_tokens) / l.per_sec), 1)::int;
    END IF;

    UPDATE helpdesk_meta.acme_limits x SET tokens = now_tokens - 1, updated_at = now()
    WHERE x.account_id = p_account AND x.bucket = p_bucket;
    RETURN 0;
END
$$;

-- The step the order reached, with what the CA said (p_patch: order_url,
-- authz_urls, challenge_url, token, finalize_url, cert_url, key_sealed),
-- its lease renewed, due again in p_due_in seconds (0: at once).
-- Entering "ordered" spends a new-order token: without one, the order
-- waits and the answer is the seconds it waits (the lease given back);
-- otherwise 0.  An ARI renewal ("replaces" set) spends none (the CA does
-- not count it); one the CA would not take as a replacement, sent again
-- without "replaces" (patch {"replaces": null}), spends one then, or goes
-- back to "new" to wait for it.
CREATE OR REPLACE FUNCTION tls.acme_step(p_tenant uuid, p_host text, p_lease uuid,
    p_step text, p_patch jsonb, p_due_in int, p_lease_seconds int)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    o     helpdesk.acme_orders := tls.acme_held(p_tenant, p_host, p_lease);
    patch jsonb := coalesce(p_patch, '{}');
    wait  int;
    repl  text;
BEGIN
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    IF p_step IS NULL OR p_step NOT IN ('new', 'ordered', 'authorizing', 'validating',
                                        'finalizing', 'downloading') THEN
        PERFORM tickets.fail('HDVAL', 'invalid-step', 'not a step of an order');
    END IF;

    IF jsonb_typeof(patch) <> 'object' OR EXISTS (
        SELECT 1 FROM jsonb_object_keys(patch) k
        WHERE k NOT IN ('order_url', 'authz_urls', 'challenge_url', 'token',
                        'finalize_url', 'cert_url', 'key_sealed', 'replaces'))
       OR (patch ? 'replaces' AND jsonb_typeof(patch->'replaces') <> 'null')
    THEN
        PERFORM tickets.fail('HDVAL', 'invalid-patch', 'an order has no such field');
    END IF;

    repl := CASE WHEN patch ? 'replaces' THEN NULL ELSE o.replaces END;

    IF p_step = 'ordered' AND o.kind <> 'revoke' AND repl IS NULL
       AND (o.step = 'new' OR o.replaces IS NOT NULL)
    THEN
        -- the tenant's own cap first (one node counts at a time), then
        -- the account's bucket; a new order at the CA is recorded
        PERFORM pg_advisory_xact_lock(hashtextextended('acme_tenant_orders:' || p_tenant, 0));

        SELECT ceil(extract(epoch FROM min(a.at) + interval '1 hour' - now()))::int
        INTO wait
        FROM (SELECT a.at FROM helpdesk.acme_attempts a
              WHERE a.tenant_id = p_tenant AND a.outcome = 'ordered'
                AND a.at > now() - interval '1 hour'
              ORDER BY a.at DESC
              LIMIT tls.acme_tenant_orders_per_hour()) a
        HAVING count(*) >= tls.acme_tenant_orders_per_hour();

        IF coalesce(wait, 0) <= 0 THEN
            wait := tls.acme_take(o.account_id, 'new_orders');
        ELSE
            wait := greatest(wait, 1);
        END IF;

        IF wait = 0 THEN
            INSERT INTO helpdesk.acme_attempts (tenant_id, hostname, kind, outcome)
            VALUES (p_tenant, p_host, o.kind, 'ordered');
        END IF;

        IF wait > 0 THEN
            UPDATE helpdesk.acme_orders x
            SET due_at = now() + make_interval(secs => wait), step = 'new', replaces = repl,
                lease_token = NULL, lease_until = NULL, updated_at = now()
            WHERE x.tenant_id = p_tenant AND x.hostname = p_host;
            RETURN wait;
        END IF;
    END IF;

    UPDATE helpdesk.acme_orders x
    SET step = p_step, replaces = repl,
        order_url = CASE WHEN patch ? 'order_url' THEN patch->>'order_url' ELSE x.order_url END,
        authz_urls = CASE WHEN patch ? 'authz_urls'
                          THEN ARRAY(SELECT jsonb_array_elements_text(patch->'authz_urls'))
                          ELSE x.authz_urls END,
        challenge_url = CASE WHEN patch ? 'challenge_url' THEN patch->>'challenge_url'
                             ELSE x.challenge_url END,
        token = CASE WHEN patch ? 'token' THEN patch->>'token' ELSE x.token END,
        finalize_url = CASE WHEN patch ? 'finalize_url' THEN patch->>'finalize_url'
                            ELSE x.finalize_url END,
        cert_url = CASE WHEN patch ? 'cert_url' THEN patch->>'cert_url' ELSE x.cert_url END,
        key_sealed = CASE WHEN patch ? 'key_sealed' THEN patch->>'key_sealed' ELSE x.key_sealed END,
        due_at = now() + make_interval(secs => greatest(coalesce(p_due_in, 0), 0)),
        lease_until = now() + make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 1)),
        updated_at = now()
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

    RETURN 0;
END
$$;

-- An order that failed at the CA or on the way: what its problem means
-- (tls.acme_problem_class) for the domain and the order, recorded in the
-- attempts.  p_problem: {"type", "detail", "status"} from the CA, or
-- {"detail"} for a transfer that failed; p_retry_after: seconds the CA
-- asked to wait (NULL: none).  The answer says what was done: dns_broken,
-- failed, paused, restart or backoff.
CREATE OR REPLACE FUNCTION tls.acme_result(p_tenant uuid, p_host text, p_lease uuid,
    p_problem jsonb, p_retry_after int)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    o       helpdesk.acme_orders := tls.acme_held(p_tenant, p_host, p_lease);
    ptype   text := left(p_problem->>'type', 200);
    detail  text := left(coalesce(p_problem->>'detail', 'the CA gave no detail'), 2000);
    class   text := tls.acme_problem_class(ptype);
    d       helpdesk.portal_domains;
    retry   interval := make_interval(secs => least(greatest(coalesce(p_retry_after, 0), 0), 86400));
    wait    interval;
    stale   boolean := false;
BEGIN
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    SELECT * INTO d FROM helpdesk.portal_domains x
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

    -- a revocation changes no state: it is tried again, then given up
    IF o.kind = 'revoke' AND class IN ('dns_broken', 'failed', 'restart') THEN
        class := CASE WHEN class = 'restart' THEN 'restart' ELSE 'backoff' END;
    END IF;

    INSERT INTO helpdesk.acme_attempts (tenant_id, hostname, kind, outcome, problem_type, detail)
    VALUES (p_tenant, p_host, o.kind,
            CASE class WHEN 'dns_broken' THEN 'authz_failed' WHEN 'failed' THEN 'rejected'
                       WHEN 'paused' THEN 'rate_limited' ELSE 'error' END,
            ptype, detail);

    IF class IN ('dns_broken', 'failed') THEN
        UPDATE helpdesk.acme_orders x
        SET step = 'failed', attempts = x.attempts + 1, lease_token = NULL, lease_until = NULL,
            last_problem = p_problem, key_sealed = NULL, updated_at = now()
        WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

        IF d.status IN ('issuing', 'active', 'verified') THEN
            PERFORM tls.domain_set(p_tenant, p_host, class, detail);
        END IF;

        RETURN class;
    END IF;

    IF class = 'paused' THEN
        IF retry = interval '0' THEN
            retry := interval '1 hour';
        END IF;

        UPDATE helpdesk_meta.acme_limits l
        SET paused_until = greatest(coalesce(l.paused_until, now()), now() + retry)
        WHERE l.account_id = o.account_id;

        UPDATE helpdesk.acme_orders x
        SET due_at = now() + retry, lease_token = NULL, lease_until = NULL,
            last_problem = p_problem, updated_at = now()
        WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

        RETURN class;
    END IF;

    IF class = 'restart' THEN
        -- the CA forgot the order or the account: from the start, the
        -- account made again first
        -- (the URL the caller used: another node may have made it again)
        -- A worker that still used an account URL another one already
        -- replaced learns nothing new: that costs the name no attempt (each
        -- worker finds a lost account once, and attempts past 3 back off).
        IF ptype ~ 'accountDoesNotExist$' THEN
            UPDATE helpdesk_meta.acme_accounts a SET kid_url = NULL, updated_at = now()
            WHERE a.account_id = o.account_id AND a.kid_url = p_problem->>'kid';
            IF NOT FOUND THEN
                stale := true;
            END IF;
        END IF;

        UPDATE helpdesk.acme_orders x
        SET step = CASE WHEN x.step = 'new' THEN 'new' ELSE 'ordered' END,
            attempts = x.attempts + CASE WHEN stale THEN 0 ELSE 1 END,
            due_at = now() + CASE WHEN NOT stale AND x.attempts >= 3 THEN tls.acme_backoff(x.attempts + 1)
                                  ELSE interval '0' END,
            lease_token = NULL, lease_until = NULL, order_url = NULL, authz_urls = NULL,
            challenge_url = NULL, token = NULL, finalize_url = NULL, cert_url = NULL,
            key_sealed = NULL, last_problem = p_problem, updated_at = now()
        WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

        RETURN class;
    END IF;

    -- nonces refused more than the client retries in a row: soon again,
    -- unless it keeps happening (then the usual backoff)
    IF ptype ~ 'badNonce$' AND (SELECT count(*) FROM helpdesk.acme_attempts a
                                WHERE a.tenant_id = p_tenant AND a.hostname = p_host
                                  AND a.problem_type ~ 'badNonce$'
                                  AND a.at > now() - interval '1 hour') <= 10
    THEN
        UPDATE helpdesk.acme_orders x
        SET due_at = now() + greatest(interval '5 seconds', retry),
            lease_token = NULL, lease_until = NULL, last_problem = p_problem, updated_at = now()
        WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

        RETURN 'backoff';
    END IF;

    wait := greatest(tls.acme_backoff(o.attempts + 1), retry);

    UPDATE helpdesk.acme_orders x
    SET attempts = x.attempts + 1, due_at = now() + wait,
        step = CASE WHEN x.kind = 'revoke' AND x.attempts + 1 >= 7 THEN 'failed' ELSE x.step END,
        lease_token = NULL, lease_until = NULL, last_problem = p_problem, updated_at = now()
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

    RETURN 'backoff';
END
$$;

-- The certificate the order brought (DER, leaf first; its key sealed as
-- "tls_key:<host>"): stored as the name's next generation, the order done.
-- p_ari_cert_id: its ARI certID when the CA has renewal information (NULL:
-- none); the CA is asked about it at once.
DROP FUNCTION IF EXISTS tls.acme_store(uuid, text, uuid, bytea[], text, timestamptz, timestamptz);
CREATE OR REPLACE FUNCTION tls.acme_store(p_tenant uuid, p_host text, p_lease uuid,
    p_chain bytea[], p_key_sealed text, p_not_before timestamptz, p_not_after timestamptz,
    p_ari_cert_id text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    o   helpdesk.acme_orders := tls.acme_held(p_tenant, p_host, p_lease);
    gen int;
BEGIN
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    IF o.kind = 'revoke' THEN
        PERFORM tickets.fail('HDVAL', 'invalid-step', 'a revocation stores no certificate');
    END IF;

    gen := tls.cert_store(p_tenant, p_host, p_chain, p_key_sealed, p_not_before,
                          p_not_after, 'acme');

    IF p_ari_cert_id IS NOT NULL THEN
        UPDATE helpdesk.tls_certificates c
        SET ari_cert_id = p_ari_cert_id, ari_next_at = now()
        WHERE c.tenant_id = p_tenant AND c.hostname = p_host AND c.generation = gen;
    END IF;

    UPDATE helpdesk.acme_orders x
    SET step = 'done', attempts = 0, lease_token = NULL, lease_until = NULL,
        key_sealed = NULL, token = NULL, last_problem = NULL, updated_at = now()
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

    INSERT INTO helpdesk.acme_attempts (tenant_id, hostname, kind, outcome)
    VALUES (p_tenant, p_host, o.kind, 'issued');

    RETURN gen;
END
$$;

-- A released name's certificate revoked at the CA (or already revoked
-- there): never served again.
CREATE OR REPLACE FUNCTION tls.acme_revoked(p_tenant uuid, p_host text, p_lease uuid)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    o helpdesk.acme_orders := tls.acme_held(p_tenant, p_host, p_lease);
BEGIN
    PERFORM set_config('helpdesk.tenant_id', p_tenant::text, true);

    PERFORM tls.cert_revoke(p_tenant, p_host, o.generation);

    UPDATE helpdesk.acme_orders x
    SET step = 'done', attempts = 0, lease_token = NULL, lease_until = NULL,
        last_problem = NULL, updated_at = now()
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

    INSERT INTO helpdesk.acme_attempts (tenant_id, hostname, kind, outcome)
    VALUES (p_tenant, p_host, 'revoke', 'revoked');
END
$$;

-- ARI (RFC 9773): live certificates of serving names whose renewal
-- information is due, handed out once (the next ask pushed ten minutes
-- on, so that one node asks at a time; tls.acme_ari_set sets the real one).
CREATE OR REPLACE FUNCTION tls.acme_ari_due(p_limit int)
RETURNS TABLE (tenant_id uuid, hostname text, generation int, ari_cert_id text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT c.tenant_id, c.hostname, c.generation
        FROM helpdesk.tls_certificates c
        JOIN helpdesk.portal_domains d ON d.tenant_id = c.tenant_id AND d.hostname = c.hostname
        WHERE c.ari_cert_id IS NOT NULL AND c.revoked_at IS NULL AND c.replaced_at IS NULL
          AND c.not_after > now() AND coalesce(c.ari_next_at, '-infinity') <= now()
          AND tls.serving(d.status)
        ORDER BY c.ari_next_at NULLS FIRST
        LIMIT greatest(p_limit, 0)
        FOR UPDATE OF c SKIP LOCKED
    )
    UPDATE helpdesk.tls_certificates c
    SET ari_next_at = now() + interval '10 minutes'
    FROM due
    WHERE c.tenant_id = due.tenant_id AND c.hostname = due.hostname
      AND c.generation = due.generation
    RETURNING c.tenant_id, c.hostname, c.generation, c.ari_cert_id;
END
$$;

-- What the CA said about a certificate's renewal: its suggestedWindow
-- (RFC 3339 texts; NULL or unreadable: no answer) and Retry-After in
-- seconds (NULL: none).  renew_after becomes a random point in the window
-- (a window already past: now); the next ask is after Retry-After (at
-- least a minute, at most a day), else in six hours, or in an hour when
-- the CA gave no window.  The domain's DNS check is brought forward to
-- the renewal (a renewal waits for a check within a day).
CREATE OR REPLACE FUNCTION tls.acme_ari_set(p_tenant uuid, p_host text, p_generation int,
    p_start text, p_end text, p_retry_after int)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    s     timestamptz;
    e     timestamptz;
    at    timestamptz;
    next  interval;
BEGIN
    BEGIN
        s := p_start::timestamptz;
        e := p_end::timestamptz;
    EXCEPTION WHEN others THEN
        s := NULL;
        e := NULL;
    END;

    IF s IS NULL OR e IS NULL OR e < s THEN
        s := NULL;
        e := NULL;
    END IF;

    next := CASE WHEN p_retry_after IS NOT NULL
                 THEN make_interval(secs => least(greatest(p_retry_after, 60), 86400))
                 WHEN s IS NULL THEN interval '1 hour'
                 ELSE interval '6 hours' END;

    IF s IS NOT NULL THEN
        at := greatest(s + (e - s) * random(), least(now(), e));
        IF e <= now() THEN
            at := now();
        END IF;
    END IF;

    UPDATE helpdesk.tls_certificates c
    SET ari_next_at = now() + next,
        ari_window_start = coalesce(s, c.ari_window_start),
        ari_window_end = coalesce(e, c.ari_window_end),
        renew_after = coalesce(at, c.renew_after)
    WHERE c.tenant_id = p_tenant AND c.hostname = p_host AND c.generation = p_generation
      AND c.ari_cert_id IS NOT NULL
    RETURNING c.renew_after INTO at;

    IF at IS NOT NULL THEN
        UPDATE helpdesk.portal_domains d
        SET next_check_at = least(d.next_check_at, at)
        WHERE d.tenant_id = p_tenant AND d.hostname = p_host AND d.status = 'active'
          AND d.next_check_at > at;
    END IF;

    RETURN at;
END
$$;

-- The HTTP-01 answer "<token>.<thumbprint>" for an order waiting on that
-- token; NULL for any other.
CREATE OR REPLACE FUNCTION tls.acme_http01(p_token text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT o.token || '.' || a.thumbprint
    FROM helpdesk.acme_orders o
    JOIN helpdesk_meta.acme_accounts a ON a.account_id = o.account_id
    WHERE p_token ~ '^[A-Za-z0-9_-]{16,128}$'
      AND o.token = p_token AND o.step IN ('authorizing', 'validating')
      AND a.thumbprint IS NOT NULL
    LIMIT 1
$$;

-- The CA identities the DNS check's CAA gate accepts when the
-- configuration names none: those the directories in use publish
-- (meta.caaIdentities, stored with their accounts), empty when none does.
CREATE OR REPLACE FUNCTION tls.acme_caa_identities() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT coalesce(array_agg(DISTINCT lower(i) ORDER BY lower(i)), '{}')
    FROM helpdesk_meta.acme_accounts a, unnest(a.caa_identities) i
    WHERE a.kid_url IS NOT NULL AND i ~ '^[A-Za-z0-9.-]{1,253}$'
$$;

RESET ROLE;
