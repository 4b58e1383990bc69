-- nginx-helpdesk: refused requests (401 and 403 of the API, the portal and
-- the console), recorded after the request's own transaction rolled back.
--
-- The module calls api.audit_refusal() with what it knows of the request:
-- its surface, Host, address, method and route, the credential's hash and
-- visible prefix (the API), and the problem's slug.  The tenant is found
-- here, never taken from the caller: by the key's hash (revoked keys
-- included: a refused revoked key is worth knowing) or by the Host.  The
-- table (helpdesk.auth_refusals, migration 023) keeps one row per tenant,
-- minute, address and key prefix and counts the rest; past
-- refusal_rows_per_minute rows in a minute for one tenant, the rest count
-- into one catch-all row (address and prefix "*"), so a flood of refusals
-- from many addresses costs a bounded number of rows.

SET ROLE helpdesk_owner;

CREATE OR REPLACE FUNCTION tickets.refusal_rows_per_minute() RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT 200 $$;

CREATE OR REPLACE FUNCTION tickets.refusal_record(p_surface text, p_host text,
    p_base text, p_key_hash bytea, p_key_prefix text, p_ip inet,
    p_method text, p_route text, p_status int, p_reason text, p_count int)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    tenant  uuid;
    v_minute  timestamptz := date_trunc('minute', now());
    v_address text := coalesce(host(p_ip), '');
    prefix  text := left(coalesce(p_key_prefix, ''), 16);
    rows    int;
    n       int := least(greatest(coalesce(p_count, 1), 1), 1000000);
BEGIN
    IF p_status NOT IN (401, 403)
       OR p_surface NOT IN ('api', 'portal', 'console') THEN
        RETURN;
    END IF;

    IF p_key_hash IS NOT NULL AND length(p_key_hash) = 32 THEN
        SELECT k.tenant_id INTO tenant FROM helpdesk.api_keys k
        WHERE k.key_hash = p_key_hash;
    END IF;

    IF tenant IS NULL AND p_host IS NOT NULL THEN
        tenant := (portal.portal_site(left(p_host, 255), left(p_base, 255))).tenant_id;
    END IF;

    tenant := coalesce(tenant, '00000000-0000-0000-0000-000000000000');

    -- an IPv6 client picks any address of its /64: one row for them all
    IF family(p_ip) = 6 THEN
        v_address := network(set_masklen(p_ip, 64))::text;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM helpdesk.auth_refusals r
                   WHERE r.tenant_id = tenant AND r.minute = v_minute
                     AND r.address = v_address
                     AND r.key_prefix = prefix)
    THEN
        SELECT count(*) INTO rows FROM (
            SELECT 1 FROM helpdesk.auth_refusals r
            WHERE r.tenant_id = tenant AND r.minute = v_minute
            LIMIT tickets.refusal_rows_per_minute()) x;

        IF rows >= tickets.refusal_rows_per_minute() THEN
            v_address := '*';
            prefix := '*';
        END IF;
    END IF;

    INSERT INTO helpdesk.auth_refusals AS r (tenant_id, minute, address,
        key_prefix, surface, method, route, status, reason, count)
    VALUES (tenant, v_minute, v_address, prefix, p_surface,
            left(coalesce(p_method, ''), 16), left(coalesce(p_route, ''), 256),
            p_status, left(coalesce(p_reason, ''), 64), n)
    ON CONFLICT (tenant_id, minute, address, key_prefix)
    DO UPDATE SET count = least(r.count::bigint + n, 2147483647)::int,
                  last_at = now();
END
$$;

RESET ROLE;
