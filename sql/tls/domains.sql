-- nginx-helpdesk: tenants' own domains (migration 040 tells the states).
--
-- A tenant adds a name; the answer shows the records that prove it (a
-- CNAME to the tenant's target under the provider's zone, or a TXT
-- record for an apex).  The module's DNS check job claims the names that
-- are due (domain_check_claim) and reports what it found
-- (domain_check_result); every change of state goes through domain_set,
-- which checks the transition, audits it and queues the
-- "domain.status_changed" webhook.  A name serves the portal while
-- tls.serving(status) holds.

SET ROLE helpdesk_owner;

-- Whether a name in this state serves the portal (and counts among the
-- chat's origins): the one definition every reader uses.
CREATE OR REPLACE FUNCTION tls.serving(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_status IN ('active', 'dns_broken')
$$;

-- The states in which a name belongs to one tenant.
CREATE OR REPLACE FUNCTION tls.owned(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_status IN ('verified', 'issuing', 'active', 'dns_broken')
$$;

-- A host name as sent, in the form it is stored: lower case, without the
-- blanks around it and one trailing dot.  The module's own normaliser
-- (IDN names to their A-label) runs before this, in the API.
CREATE OR REPLACE FUNCTION tls.host_normal(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(lower(btrim(coalesce(p, ''), E' \t\r\n')), '\.$', '')
$$;

-- What is wrong with a normalised name, in a few words for the API's
-- problem document; NULL when it may be added.
CREATE OR REPLACE FUNCTION tls.host_problem(h text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF h IS NULL OR h = '' THEN
        RETURN 'a host name like help.example.com';
    ELSIF length(h) > 253 THEN
        RETURN 'a host name has 253 characters at most';
    ELSIF h ~ '[^\x20-\x7e]' THEN
        RETURN 'an international name is sent in its ASCII form (xn--...)';
    ELSIF position('*' IN h) > 0 THEN
        RETURN 'a wildcard is not accepted: add each name';
    ELSIF h ~ '^\[' OR position(':' IN h) > 0 OR h ~ '^[0-9.]+$'
          OR h ~ '\.[0-9]+$' THEN
        RETURN 'an IP address is not a host name';
    ELSIF position('.' IN h) = 0 THEN
        RETURN 'a full name with a dot, like help.example.com';
    ELSIF EXISTS (SELECT 1 FROM unnest(string_to_array(h, '.')) l WHERE length(l) > 63) THEN
        RETURN 'a label (between dots) has 63 characters at most';
    ELSIF h !~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
        RETURN 'letters, digits and hyphens only, between dots, no hyphen at either end of a label';
    END IF;
    RETURN NULL;
END
$$;

-- The name a tenant's domains point to: "t-<tenant id in hex>.<zone>".
CREATE OR REPLACE FUNCTION tls.cname_target(p_tenant uuid, p_zone text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN nullif(p_zone, '') IS NOT NULL
                THEN 't-' || replace(p_tenant::text, '-', '') || '.' || lower(p_zone) END
$$;

-- Whether another tenant proved this name: looks across tenants, hence
-- the owner's rights; says yes or no and nothing else.
CREATE OR REPLACE FUNCTION tls.host_taken(p_tenant uuid, p_host text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM helpdesk.portal_domains d
                   WHERE d.hostname = p_host AND tls.owned(d.status)
                     AND d.tenant_id <> p_tenant)
$$;

-- The certificate a name serves with, as a summary (generation, dates,
-- source) of its newest certificate neither revoked nor replaced, or NULL.
CREATE OR REPLACE FUNCTION tls.domain_certificate(p_tenant uuid, p_host text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('generation', c.generation, 'source', c.source,
                              'not_before', c.not_before, 'not_after', c.not_after,
                              'renew_after', c.renew_after)
    FROM helpdesk.tls_certificates c
    WHERE c.tenant_id = p_tenant AND c.hostname = p_host
      AND c.revoked_at IS NULL AND c.replaced_at IS NULL
    ORDER BY c.generation DESC
    LIMIT 1
$$;

-- When the next DNS check of a domain is due, from now: every minute for
-- its first 10 minutes in the state, every 10 minutes up to a day, then
-- hourly (pending_dns from status_at, dns_broken from broken_since);
-- daily for an active one; NULL for the states that are not checked.
CREATE OR REPLACE FUNCTION tls.next_check(d helpdesk.portal_domains) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    age interval;
BEGIN
    IF d.status = 'active' THEN
        RETURN now() + interval '1 day';
    ELSIF d.status NOT IN ('pending_dns', 'dns_broken') THEN
        RETURN NULL;
    END IF;

    age := now() - CASE WHEN d.status = 'dns_broken'
                        THEN coalesce(d.broken_since, d.status_at) ELSE d.status_at END;

    RETURN now() + CASE WHEN age < interval '10 minutes' THEN interval '1 minute'
                        WHEN age < interval '24 hours' THEN interval '10 minutes'
                        ELSE interval '1 hour' END;
END
$$;

-- Whether a domain waited past its limit in its state: 7 days unproven,
-- 30 days broken.  The reason it is released with, or NULL.
CREATE OR REPLACE FUNCTION tls.expired(d helpdesk.portal_domains) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN d.status = 'pending_dns' AND d.status_at <= now() - interval '7 days'
            THEN 'not verified in 7 days'
        WHEN d.status = 'dns_broken'
             AND coalesce(d.broken_since, d.status_at) <= now() - interval '30 days'
            THEN 'DNS records broken for 30 days'
    END
$$;

-- The transitions a domain may make (anything else is refused):
--   pending_dns -> verified (proven), active (the provider's word),
--                  failed, released
--   verified    -> issuing, active, dns_broken, failed, released
--   issuing     -> active, verified (the order starts again), dns_broken,
--                  failed, released
--   active      -> dns_broken, failed, released
--   dns_broken  -> verified, active (proven again), failed, released
--   failed      -> pending_dns ("check now"), active, released
--   released    -> pending_dns (added again), active
CREATE OR REPLACE FUNCTION tls.transition_ok(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_from, p_to) IN (
        ('pending_dns', 'verified'), ('pending_dns', 'active'), ('pending_dns', 'failed'),
        ('pending_dns', 'released'),
        ('verified', 'issuing'), ('verified', 'active'), ('verified', 'dns_broken'),
        ('verified', 'failed'), ('verified', 'released'),
        ('issuing', 'active'), ('issuing', 'verified'), ('issuing', 'dns_broken'),
        ('issuing', 'failed'), ('issuing', 'released'),
        ('active', 'dns_broken'), ('active', 'failed'), ('active', 'released'),
        ('dns_broken', 'verified'), ('dns_broken', 'active'), ('dns_broken', 'failed'),
        ('dns_broken', 'released'),
        ('failed', 'pending_dns'), ('failed', 'active'), ('failed', 'released'),
        ('released', 'pending_dns'), ('released', 'active'))
$$;

-- A reason as it is kept: the outside world writes some (a CA's problem
-- detail, up to 2000 characters; DNS text), so control characters become
-- blanks and the text is cut to the 500 characters the column holds
-- rather than refused (a refusal would roll back the caller's result).
CREATE OR REPLACE FUNCTION tls.reason_text(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT nullif(btrim(left(regexp_replace(p, '[[:cntrl:]\u0080-\u009f\u2028\u2029]+', ' ', 'g'),
                             500)), '')
$$;

-- The one way a domain's status changes.  The same status again only
-- updates the reason (no event); a transition not in the table above is
-- refused.  A change is audited (as p_ctx's actor, or the system) and
-- sent to the tenant's webhooks as "domain.status_changed".
CREATE OR REPLACE FUNCTION tls.domain_set(p_tenant uuid, p_host text, p_status text,
    p_reason text, p_ctx jsonb DEFAULT NULL)
RETURNS helpdesk.portal_domains LANGUAGE plpgsql AS $$
DECLARE
    d    helpdesk.portal_domains;
    old  text;
    ctx  jsonb := coalesce(p_ctx, jsonb_build_object('actor_type', 'system'))
                  || jsonb_build_object('tenant_id', p_tenant);
BEGIN
    p_reason := tls.reason_text(p_reason);

    SELECT * INTO d FROM helpdesk.portal_domains x
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host
    FOR UPDATE;

    IF d.hostname IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such domain');
    END IF;

    old := d.status;

    IF old = p_status THEN
        IF d.reason IS DISTINCT FROM p_reason THEN
            UPDATE helpdesk.portal_domains x SET reason = p_reason
            WHERE x.tenant_id = p_tenant AND x.hostname = p_host
            RETURNING * INTO d;
        END IF;
        RETURN d;
    END IF;

    IF NOT tls.transition_ok(old, p_status) THEN
        PERFORM tickets.fail('HDCNF', 'invalid-transition',
            format('a domain cannot go from %s to %s', old, coalesce(p_status, 'nothing')));
    END IF;

    IF tls.owned(p_status) AND NOT tls.owned(old) AND tls.host_taken(p_tenant, p_host) THEN
        PERFORM tickets.fail('HDCNF', 'conflict', 'another helpdesk proved this name first',
            portal.err('hostname', 'taken', 'another helpdesk proved this name first'));
    END IF;

    -- two helpdesks proving one name at the same moment: the index keeps
    -- one owner, the other is told so
    BEGIN
        UPDATE helpdesk.portal_domains x SET
            status = p_status,
            reason = p_reason,
            status_at = now(),
            verified_at = CASE WHEN tls.owned(p_status) THEN coalesce(x.verified_at, now())
                               WHEN p_status IN ('pending_dns', 'released') THEN NULL
                               ELSE x.verified_at END,
            broken_since = CASE WHEN p_status = 'dns_broken' THEN coalesce(x.broken_since, now()) END,
            checks = CASE WHEN p_status = 'pending_dns' THEN 0 ELSE x.checks END,
            lease_token = NULL, lease_until = NULL
        WHERE x.tenant_id = p_tenant AND x.hostname = p_host
        RETURNING * INTO d;
    EXCEPTION WHEN unique_violation THEN
        PERFORM tickets.fail('HDCNF', 'conflict', 'another helpdesk proved this name first',
            portal.err('hostname', 'taken', 'another helpdesk proved this name first'));
    END;

    UPDATE helpdesk.portal_domains x SET next_check_at = tls.next_check(d)
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host
    RETURNING * INTO d;

    PERFORM tickets.audit(ctx, 'domain.status', 'domain', p_host,
        jsonb_build_object('from', old, 'to', p_status, 'reason', p_reason));

    PERFORM outbox.emit(ctx, 'domain.status_changed',
        jsonb_build_object('hostname', p_host, 'old_status', old, 'status', p_status,
                           'reason', p_reason, 'status_at', d.status_at));

    RETURN d;
END
$$;

-- What the API shows of a domain: its state and why, the records the
-- tenant creates (a CNAME to its target, or the TXT proof for an apex),
-- the checks, and the certificate it serves with.
CREATE OR REPLACE FUNCTION tls.domain_json(d helpdesk.portal_domains) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    txt jsonb := jsonb_build_object('type', 'TXT', 'name', '_helpdesk-verify.' || d.hostname,
                                    'value', 'helpdesk-verify=' || d.verify_token);
BEGIN
    RETURN jsonb_build_object(
        'hostname', d.hostname, 'status', d.status, 'reason', d.reason,
        'serving', tls.serving(d.status),
        'created_at', d.created_at, 'status_at', d.status_at, 'verified_at', d.verified_at,
        'checked_at', d.checked_at, 'next_check_at', d.next_check_at, 'checks', d.checks,
        'records', CASE WHEN d.cname_target IS NOT NULL
                        THEN jsonb_build_array(jsonb_build_object('type', 'CNAME',
                                 'name', d.hostname, 'value', d.cname_target), txt)
                        ELSE jsonb_build_array(txt) END,
        'dns', txt,
        'certificate', tls.domain_certificate(d.tenant_id, d.hostname));
END
$$;

-- Adds a name to a tenant (or gives back the one it has).  p_mode:
-- 'claim' (the tenant's: pending until its DNS proves it) or 'verified'
-- (the provider checked it: active at once).  p_zone: the provider's zone
-- for CNAME targets (NULL: the TXT proof only); p_reserved: the
-- provider's own zones, which no tenant may add a name under.
CREATE OR REPLACE FUNCTION tls.domain_add(p_tenant uuid, p_host text, p_zone text,
    p_mode text, p_reserved text[] DEFAULT '{}', p_ctx jsonb DEFAULT NULL)
RETURNS helpdesk.portal_domains LANGUAGE plpgsql AS $$
DECLARE
    h    text := tls.host_normal(p_host);
    why  text := tls.host_problem(tls.host_normal(p_host));
    d    helpdesk.portal_domains;
    z    text;
BEGIN
    IF why IS NOT NULL THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'not a host name that can be added: ' || why,
            portal.err('hostname', 'invalid', why));
    END IF;

    FOREACH z IN ARRAY array_remove(coalesce(p_reserved, '{}') || p_zone, NULL) LOOP
        z := tls.host_normal(z);
        IF z <> '' AND (h = z OR right(h, length(z) + 1) = '.' || z) THEN
            PERFORM tickets.fail('HDINV', 'validation-error', 'a name of the provider''s own',
                portal.err('hostname', 'reserved',
                           format('names under %s are the provider''s own', z)));
        END IF;
    END LOOP;

    IF tls.host_taken(p_tenant, h) THEN
        PERFORM tickets.fail('HDCNF', 'conflict', 'this name serves another helpdesk',
            portal.err('hostname', 'taken', 'this name serves another helpdesk'));
    END IF;

    -- one add per tenant at a time: adds sent at once would each count
    -- the others' rows (or miss the same name) before any was committed
    PERFORM pg_advisory_xact_lock(hashtextextended('tls_domain_add:' || p_tenant, 0));

    SELECT * INTO d FROM helpdesk.portal_domains x
    WHERE x.tenant_id = p_tenant AND x.hostname = h
    FOR UPDATE;

    IF d.hostname IS NULL OR d.status = 'released' THEN
        IF (SELECT count(*) FROM helpdesk.portal_domains x
            WHERE x.tenant_id = p_tenant AND x.status <> 'released') >= 50 THEN
            PERFORM tickets.fail('HDCNF', 'domain-limit', 'a helpdesk has 50 domains at most',
                portal.err('hostname', 'limit', 'a helpdesk has 50 domains at most'));
        END IF;
    END IF;

    IF d.hostname IS NULL THEN
        INSERT INTO helpdesk.portal_domains (tenant_id, hostname, status, cname_target,
                                             next_check_at)
        VALUES (p_tenant, h, 'pending_dns', tls.cname_target(p_tenant, p_zone), now())
        RETURNING * INTO d;

        PERFORM tickets.audit(coalesce(p_ctx, jsonb_build_object('actor_type', 'system'))
                                  || jsonb_build_object('tenant_id', p_tenant),
                              'domain.create', 'domain', h);
    ELSIF d.status = 'released' THEN
        UPDATE helpdesk.portal_domains x SET
            cname_target = tls.cname_target(p_tenant, p_zone),
            verify_token = replace(gen_random_uuid()::text, '-', ''),
            manual_check_at = NULL, checked_at = NULL
        WHERE x.tenant_id = p_tenant AND x.hostname = h;

        IF p_mode <> 'verified' THEN
            d := tls.domain_set(p_tenant, h, 'pending_dns', NULL, p_ctx);
        END IF;
    ELSIF p_zone IS NOT NULL AND d.cname_target IS DISTINCT FROM tls.cname_target(p_tenant, p_zone) THEN
        UPDATE helpdesk.portal_domains x SET cname_target = tls.cname_target(p_tenant, p_zone)
        WHERE x.tenant_id = p_tenant AND x.hostname = h
        RETURNING * INTO d;
    END IF;

    IF p_mode = 'verified' AND NOT tls.serving(d.status) THEN
        d := tls.domain_set(p_tenant, h, 'active', 'verified by the provider', p_ctx);
    END IF;

    RETURN d;
END
$$;

-- A tenant's domain by the name in the request, or 404.
CREATE OR REPLACE FUNCTION tls.domain_find(ctx jsonb, p_host text) RETURNS helpdesk.portal_domains
LANGUAGE plpgsql STABLE AS $$
DECLARE
    d helpdesk.portal_domains;
BEGIN
    SELECT * INTO d FROM helpdesk.portal_domains x
    WHERE x.tenant_id = (ctx->>'tenant_id')::uuid AND x.hostname = tls.host_normal(p_host);

    IF d.hostname IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such domain');
    END IF;

    RETURN d;
END
$$;

-- Released by its tenant: the row stays for history (reason "removed"),
-- out of the list.  One released by the schedule is listed, with its
-- reason, until it is removed.
CREATE OR REPLACE FUNCTION tls.domain_remove(ctx jsonb, p_host text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d helpdesk.portal_domains := tls.domain_find(ctx, p_host);
BEGIN
    IF d.status = 'released' AND d.reason = 'removed' THEN
        PERFORM tickets.fail('HDNFD', 'not-found', 'there is no such domain');
    END IF;

    PERFORM tls.domain_set(d.tenant_id, d.hostname, 'released', 'removed', ctx);
    PERFORM tickets.audit(ctx, 'domain.delete', 'domain', d.hostname);
END
$$;

CREATE OR REPLACE FUNCTION tls.domain_listed(d helpdesk.portal_domains) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT d.status <> 'released' OR d.reason IS DISTINCT FROM 'removed'
$$;

-- "Check now": the domain is due at once, once a minute at most; a
-- failed one starts over as pending_dns.
CREATE OR REPLACE FUNCTION tls.domain_check_now(ctx jsonb, p_host text)
RETURNS helpdesk.portal_domains LANGUAGE plpgsql AS $$
DECLARE
    d     helpdesk.portal_domains := tls.domain_find(ctx, p_host);
    wait  int;
BEGIN
    IF d.status = 'released' THEN
        PERFORM tickets.fail('HDCNF', 'released',
            'this domain was released: add it again to check it');
    END IF;

    IF d.manual_check_at > now() - interval '1 minute' THEN
        wait := greatest(1, ceil(extract(epoch FROM
                    d.manual_check_at + interval '1 minute' - now()))::int);
        PERFORM tickets.fail('HDLIM', 'rate-limited',
            format('this domain was checked less than a minute ago: try again in %s s', wait),
            jsonb_build_object('retry_after', wait));
    END IF;

    IF d.status = 'failed' THEN
        d := tls.domain_set(d.tenant_id, d.hostname, 'pending_dns', NULL, ctx);
    END IF;

    UPDATE helpdesk.portal_domains x SET manual_check_at = now(),
        next_check_at = CASE WHEN x.status IN ('pending_dns', 'dns_broken', 'active')
                             THEN now() ELSE x.next_check_at END
    WHERE x.tenant_id = d.tenant_id AND x.hostname = d.hostname
    RETURNING * INTO d;

    PERFORM tickets.audit(ctx, 'domain.check', 'domain', d.hostname);
    RETURN d;
END
$$;

-- The check job's claim: the domains due, across tenants, each leased to
-- this claim for p_lease_seconds (a result without the lease's token is
-- dropped).  A domain past its limit is released here rather than
-- checked again.
CREATE OR REPLACE FUNCTION tls.domain_check_claim(p_limit int, p_lease_seconds int)
RETURNS TABLE (tenant_id uuid, hostname text, status text, cname_target text,
               txt_name text, txt_value text, lease_token uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
#variable_conflict use_column
DECLARE
    d helpdesk.portal_domains;
BEGIN
    FOR d IN
        SELECT * FROM helpdesk.portal_domains x
        WHERE x.status IN ('pending_dns', 'dns_broken') AND x.next_check_at <= now()
          AND tls.expired(x) IS NOT NULL
          AND (x.lease_until IS NULL OR x.lease_until < now())
        ORDER BY x.next_check_at
        LIMIT greatest(p_limit, 1)
        FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM tls.domain_set(d.tenant_id, d.hostname, 'released', tls.expired(d));
    END LOOP;

    RETURN QUERY
    WITH due AS (
        SELECT x.tenant_id, x.hostname FROM helpdesk.portal_domains x
        WHERE x.status IN ('pending_dns', 'dns_broken', 'active')
          AND x.next_check_at <= now()
          AND (x.lease_until IS NULL OR x.lease_until < now())
        ORDER BY x.next_check_at
        LIMIT least(greatest(p_limit, 1), 1000)
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE helpdesk.portal_domains x
        SET lease_token = gen_random_uuid(),
            lease_until = now() + make_interval(secs => least(greatest(p_lease_seconds, 1), 3600))
        FROM due
        WHERE x.tenant_id = due.tenant_id AND x.hostname = due.hostname
        RETURNING x.*
    )
    SELECT c.tenant_id, c.hostname, c.status, c.cname_target,
           '_helpdesk-verify.' || c.hostname, 'helpdesk-verify=' || c.verify_token,
           c.lease_token
    FROM claimed c;
END
$$;

-- What the check job found for a domain it leased: {"ok": true} or
-- {"ok": false, "reason": "proof-missing" | "points-elsewhere: ..." |
-- "caa-forbids: ..." | "dns-error: ..."}.  Proven: pending_dns and
-- dns_broken become verified (a broken one with a live certificate
-- active again); not: an active one becomes dns_broken, the others keep
-- their state with the reason, and one past its limit is released.
-- Returns the status after, or NULL when the lease was lost (nothing is
-- written).
CREATE OR REPLACE FUNCTION tls.domain_check_result(p_tenant uuid, p_host text, p_lease uuid,
    p_outcome jsonb)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    d      helpdesk.portal_domains;
    ok     boolean;
    why    text;
    cert   jsonb;
BEGIN
    IF jsonb_typeof(p_outcome) IS DISTINCT FROM 'object'
       OR jsonb_typeof(p_outcome->'ok') IS DISTINCT FROM 'boolean' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'outcome: {"ok": true|false, "reason": text}');
    END IF;

    SELECT * INTO d FROM helpdesk.portal_domains x
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host
    FOR UPDATE;

    IF d.hostname IS NULL OR p_lease IS NULL OR d.lease_token IS DISTINCT FROM p_lease
       OR d.status NOT IN ('pending_dns', 'dns_broken', 'active') THEN
        RETURN NULL;
    END IF;

    ok := (p_outcome->>'ok')::boolean;
    why := CASE WHEN ok THEN NULL
                ELSE coalesce(outbox.excerpt(p_outcome->>'reason'), 'dns-error: no reason given') END;

    UPDATE helpdesk.portal_domains x SET checks = x.checks + 1, checked_at = now(),
        lease_token = NULL, lease_until = NULL
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host
    RETURNING * INTO d;

    IF ok THEN
        IF d.status = 'active' THEN
            d := tls.domain_set(p_tenant, p_host, 'active', NULL);
        ELSIF tls.host_taken(p_tenant, p_host) THEN
            d := tls.domain_set(p_tenant, p_host, 'failed', 'another helpdesk proved this name first');
        ELSE
            cert := tls.domain_certificate(p_tenant, p_host);
            d := tls.domain_set(p_tenant, p_host,
                     CASE WHEN d.status = 'dns_broken' AND cert IS NOT NULL
                               AND coalesce((cert->>'not_after')::timestamptz > now(), true)
                          THEN 'active' ELSE 'verified' END, NULL);
        END IF;
    ELSIF d.status = 'active' THEN
        d := tls.domain_set(p_tenant, p_host, 'dns_broken', why);
    ELSIF tls.expired(d) IS NOT NULL THEN
        d := tls.domain_set(p_tenant, p_host, 'released', tls.expired(d));
    ELSE
        d := tls.domain_set(p_tenant, p_host, d.status, why);
    END IF;

    UPDATE helpdesk.portal_domains x SET next_check_at = tls.next_check(d)
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host
    RETURNING * INTO d;

    RETURN d.status;
END
$$;

-- The REST API's operations (rest.api_call) ----------------------------------

CREATE OR REPLACE FUNCTION tls.domain_list(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    items jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(tls.domain_json(d) ORDER BY d.hostname), '[]')
    INTO items FROM helpdesk.portal_domains d
    WHERE d.tenant_id = (ctx->>'tenant_id')::uuid AND tls.domain_listed(d);

    PERFORM tickets.audit_read(ctx, 'domain.list', 'domain', NULL,
                                jsonb_build_object('count', jsonb_array_length(items)));

    RETURN jsonb_build_object('body', jsonb_build_object('data', items));
END
$$;

CREATE OR REPLACE FUNCTION tls.domain_get(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    d helpdesk.portal_domains := tls.domain_find(ctx, args->>'hostname');
BEGIN
    PERFORM tickets.audit_read(ctx, 'domain.read', 'domain', d.hostname);
    RETURN jsonb_build_object('body', tls.domain_json(d));
END
$$;

-- args: hostname (as sent), zone and reserved (the module's configuration)
CREATE OR REPLACE FUNCTION tls.domain_create(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    d helpdesk.portal_domains;
BEGIN
    IF jsonb_typeof(args->'hostname') IS DISTINCT FROM 'string' THEN
        PERFORM tickets.fail('HDINV', 'validation-error', 'hostname: a host name',
            portal.err('hostname', 'required', 'a host name like help.example.com'));
    END IF;

    d := tls.domain_add((ctx->>'tenant_id')::uuid, args->>'hostname', args->>'zone',
                        CASE WHEN ctx->>'actor_type' = 'provider'
                                  AND coalesce(args->>'verified', 'true') <> 'false'
                             THEN 'verified' ELSE 'claim' END,
                        ARRAY(SELECT jsonb_array_elements_text(
                                  CASE WHEN jsonb_typeof(args->'reserved') = 'array'
                                       THEN args->'reserved' ELSE '[]' END)),
                        ctx);

    RETURN jsonb_build_object('body', tls.domain_json(d),
                              'location', '/v1/domains/' || d.hostname);
END
$$;

CREATE OR REPLACE FUNCTION tls.domain_delete(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tls.domain_remove(ctx, args->>'hostname');
    RETURN jsonb_build_object('body', NULL);
END
$$;

CREATE OR REPLACE FUNCTION tls.domain_check(ctx jsonb, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('body', tls.domain_json(tls.domain_check_now(ctx, args->>'hostname')));
END
$$;

RESET ROLE;

-- The DNS check job's entry points: across tenants, the module's proof
-- first (rest.module_proof).
SET ROLE helpdesk_service;

CREATE OR REPLACE FUNCTION api.domain_check_claim(p_proof bytea, p_limit int,
    p_lease_seconds int)
RETURNS TABLE (tenant_id uuid, hostname text, status text, cname_target text,
               txt_name text, txt_value text, lease_token uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT r.tenant_id, r.hostname, r.status, r.cname_target, r.txt_name,
                        r.txt_value, r.lease_token
                 FROM tls.domain_check_claim(p_limit, p_lease_seconds) r;
END
$$;

CREATE OR REPLACE FUNCTION api.domain_check_result(p_proof bytea, p_tenant uuid,
    p_host text, p_lease uuid, p_outcome jsonb)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN tls.domain_check_result(p_tenant, p_host, p_lease, p_outcome);
END
$$;

RESET ROLE;
