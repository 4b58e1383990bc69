-- nginx-helpdesk: the certificates of tenants' own portal names.
--
-- A certificate is stored whole (chain in DER, leaf first; the private key
-- sealed by the module) with the next generation of its name, and every
-- node serves it from memory after its sync reads it (api.tls_sync): the
-- database is never asked during a handshake.  What a node must do for a
-- name changes when a certificate is stored or revoked, or when the
-- domain's status changes (released, deleted): each of those bumps the
-- name's "seq", and the sync returns the names whose seq is past the last
-- one it saw, a name that must not be served as a tombstone.
--
-- The domain's status moves only through tls.domain_set and is read
-- through tls.serving (both with the domains' functions).

SET ROLE helpdesk_owner;

-- Stores a certificate as the next generation of its name: the previous
-- one is marked replaced, the domain becomes active (unless it was
-- released).  Returns the new generation.
CREATE OR REPLACE FUNCTION tls.cert_store(p_tenant uuid, p_host text,
    p_chain bytea[], p_key_sealed text, p_not_before timestamptz,
    p_not_after timestamptz, p_source text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    g       int;
    life    interval;
    d       helpdesk.portal_domains;
BEGIN
    IF p_chain IS NULL OR cardinality(p_chain) NOT BETWEEN 1 AND 10
       OR p_key_sealed IS NULL OR p_not_before IS NULL OR p_not_after IS NULL
       OR p_not_after <= p_not_before THEN
        RAISE EXCEPTION 'tls.cert_store: an incomplete certificate for %', p_host;
    END IF;

    -- one writer per name at a time: generations never collide
    PERFORM pg_advisory_xact_lock(hashtextextended('tls_cert:' || p_tenant || ':' || p_host, 0));

    SELECT coalesce(max(c.generation), 0) + 1 INTO g
    FROM helpdesk.tls_certificates c
    WHERE c.tenant_id = p_tenant AND c.hostname = p_host;

    UPDATE helpdesk.tls_certificates c SET replaced_at = now()
    WHERE c.tenant_id = p_tenant AND c.hostname = p_host AND c.replaced_at IS NULL;

    life := p_not_after - p_not_before;

    INSERT INTO helpdesk.tls_certificates (tenant_id, hostname, generation, chain_der,
        key_sealed, not_before, not_after, renew_after, source)
    VALUES (p_tenant, p_host, g, p_chain, p_key_sealed, p_not_before, p_not_after,
            p_not_before + CASE WHEN life < interval '10 days' THEN life / 2
                                ELSE life * 2 / 3 END,
            p_source);

    SELECT * INTO d FROM helpdesk.portal_domains x
    WHERE x.tenant_id = p_tenant AND x.hostname = p_host;

    IF d.hostname IS NOT NULL AND d.status NOT IN ('released', 'active') THEN
        PERFORM tls.domain_set(p_tenant, p_host, 'active', 'certificate stored');
    END IF;

    RETURN g;
END
$$;

-- Marks a name's certificate revoked (the given generation, or the newest
-- one): it is never served again.  Returns the generation, or NULL.
CREATE OR REPLACE FUNCTION tls.cert_revoke(p_tenant uuid, p_host text,
    p_generation int DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    g int;
BEGIN
    UPDATE helpdesk.tls_certificates c
    SET revoked_at = coalesce(c.revoked_at, now()), seq = nextval('helpdesk.tls_seq')
    WHERE c.tenant_id = p_tenant AND c.hostname = p_host
      AND c.generation = coalesce(p_generation,
              (SELECT max(x.generation) FROM helpdesk.tls_certificates x
               WHERE x.tenant_id = p_tenant AND x.hostname = p_host))
    RETURNING c.generation INTO g;

    -- the newest generation carries the name's state for the sync
    PERFORM tls.cert_touch(p_tenant, p_host);

    RETURN g;
END
$$;

-- What a node must do for a name changed: its newest row gets a new seq.
CREATE OR REPLACE FUNCTION tls.cert_touch(p_tenant uuid, p_host text)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    UPDATE helpdesk.tls_certificates c SET seq = nextval('helpdesk.tls_seq')
    WHERE c.tenant_id = p_tenant AND c.hostname = p_host
      AND c.generation = (SELECT max(x.generation) FROM helpdesk.tls_certificates x
                          WHERE x.tenant_id = p_tenant AND x.hostname = p_host)
$$;

-- a domain's status changed, or the domain went: its name's sync row too
CREATE OR REPLACE FUNCTION tls.domain_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM tls.cert_touch(OLD.tenant_id, OLD.hostname);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER portal_domains_tls AFTER UPDATE OF status OR DELETE
    ON helpdesk.portal_domains FOR EACH ROW EXECUTE FUNCTION tls.domain_changed();

-- The sync of the nodes: for each name changed after p_since, its newest
-- certificate, in seq order.  "serve" is false (a tombstone: chain and key
-- NULL) when the certificate was revoked or has expired, or the domain
-- does not serve (released, deleted).
CREATE OR REPLACE FUNCTION tls.sync(p_since bigint, p_limit int)
RETURNS TABLE (seq bigint, tenant_id uuid, hostname text, generation int,
               serve boolean, not_after timestamptz, chain_der bytea[],
               key_sealed text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT s.seq, s.tenant_id, s.hostname, s.generation, s.serve, s.not_after,
           CASE WHEN s.serve THEN s.chain_der END,
           CASE WHEN s.serve THEN s.key_sealed END
    FROM (SELECT c.seq, c.tenant_id, c.hostname, c.generation, c.not_after, c.chain_der,
                 c.key_sealed,
                 (c.revoked_at IS NULL AND c.not_after > now()
                  AND d.hostname IS NOT NULL AND tls.serving(d.status)) AS serve
          FROM helpdesk.tls_certificates c
          LEFT JOIN helpdesk.portal_domains d
                 ON d.tenant_id = c.tenant_id AND d.hostname = c.hostname
          WHERE c.seq > coalesce(p_since, 0)
            AND c.generation = (SELECT max(x.generation) FROM helpdesk.tls_certificates x
                                WHERE x.tenant_id = c.tenant_id AND x.hostname = c.hostname)
          ORDER BY c.seq
          LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000)) s
    ORDER BY s.seq;
END
$$;

-- PUT /v1/provider/tenants/{id}/domains/{host}/certificate: a certificate
-- the provider brings for a tenant's name, checked and its key sealed by
-- the module (args: hostname, chain (hex DER, leaf first), key_sealed,
-- not_before, not_after, issuer, serial, fingerprint).
CREATE OR REPLACE FUNCTION tls.cert_import(ctx jsonb, t helpdesk.tenants, args jsonb)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
DECLARE
    d  helpdesk.portal_domains;
    g  int;
    c  helpdesk.tls_certificates;
BEGIN
    SELECT * INTO d FROM helpdesk.portal_domains x
    WHERE x.tenant_id = t.tenant_id AND x.hostname = args->>'hostname';

    IF d.hostname IS NULL THEN
        PERFORM tickets.fail('HDNFD', 'not-found',
            format('the tenant has no domain %s', args->>'hostname'));
    END IF;

    IF d.status = 'released' THEN
        PERFORM tickets.fail('HDCNF', 'conflict',
            format('the domain %s was released', d.hostname));
    END IF;

    g := tls.cert_store(t.tenant_id, d.hostname,
             ARRAY(SELECT decode(h, 'hex')
                   FROM jsonb_array_elements_text(args->'chain') WITH ORDINALITY e(h, o)
                   ORDER BY o),
             args->>'key_sealed', (args->>'not_before')::timestamptz,
             (args->>'not_after')::timestamptz, 'provider');

    SELECT * INTO c FROM helpdesk.tls_certificates x
    WHERE x.tenant_id = t.tenant_id AND x.hostname = d.hostname AND x.generation = g;

    PERFORM tickets.audit(ctx || jsonb_build_object('tenant_id', t.tenant_id),
                          'domain.certificate', 'domain', d.hostname,
                          jsonb_build_object('generation', g, 'serial', args->>'serial',
                                             'fingerprint', args->>'fingerprint'));

    RETURN jsonb_build_object('hostname', c.hostname, 'generation', c.generation,
        'source', c.source, 'not_before', c.not_before, 'not_after', c.not_after,
        'renew_after', c.renew_after, 'issuer', args->>'issuer', 'serial', args->>'serial',
        'fingerprint', args->>'fingerprint');
END
$$;

-- GET /v1/provider/tls: the operator's view of serving.  "node" is what
-- the answering node's module put in (its zone, its sync); the database
-- adds its newest seq, the names that serve without a live certificate
-- stored (the rollout waits for none), and the certificates that expire
-- within 14 days (renewal is due before: a name here needs a look).
-- Lists hold the first 100 names; the counts are whole.
CREATE OR REPLACE FUNCTION tls.status(p_args jsonb)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    WITH live AS (
        SELECT c.tenant_id, c.hostname, c.generation, c.not_after
        FROM helpdesk.tls_certificates c
        WHERE c.revoked_at IS NULL AND c.not_after > now()
          AND c.generation = (SELECT max(x.generation) FROM helpdesk.tls_certificates x
                              WHERE x.tenant_id = c.tenant_id AND x.hostname = c.hostname)),
    missing AS (
        SELECT d.tenant_id, d.hostname, d.status
        FROM helpdesk.portal_domains d
        WHERE tls.serving(d.status)
          AND NOT EXISTS (SELECT 1 FROM live l
                          WHERE l.tenant_id = d.tenant_id AND l.hostname = d.hostname)),
    expiring AS (
        SELECT l.* FROM live l
        JOIN helpdesk.portal_domains d ON d.tenant_id = l.tenant_id AND d.hostname = l.hostname
        WHERE tls.serving(d.status) AND l.not_after <= now() + interval '14 days')
    SELECT jsonb_build_object(
        'node', coalesce(p_args->'node', '{}'),
        'database', jsonb_build_object(
            'newest_seq', (SELECT coalesce(max(c.seq), 0) FROM helpdesk.tls_certificates c),
            'serving_names', (SELECT count(*) FROM helpdesk.portal_domains d
                              WHERE tls.serving(d.status)),
            'certificates_live', (SELECT count(*) FROM live)),
        'missing_count', (SELECT count(*) FROM missing),
        'missing', coalesce((SELECT jsonb_agg(jsonb_build_object('tenant_id', m.tenant_id,
                                 'hostname', m.hostname, 'status', m.status)
                                 ORDER BY m.hostname)
                             FROM (SELECT * FROM missing ORDER BY hostname LIMIT 100) m), '[]'),
        'expiring_count', (SELECT count(*) FROM expiring),
        'expiring', coalesce((SELECT jsonb_agg(jsonb_build_object('tenant_id', e.tenant_id,
                                  'hostname', e.hostname, 'generation', e.generation,
                                  'not_after', e.not_after) ORDER BY e.not_after, e.hostname)
                              FROM (SELECT * FROM expiring ORDER BY not_after, hostname LIMIT 100) e),
                             '[]'))
$$;

RESET ROLE;

-- the nodes' sync, with the module's proof (rest.module_proof)
SET ROLE helpdesk_service;

CREATE OR REPLACE FUNCTION api.tls_sync(p_proof bytea, p_since bigint, p_limit int)
RETURNS TABLE (seq bigint, tenant_id uuid, hostname text, generation int,
               serve boolean, not_after timestamptz, chain_der bytea[],
               key_sealed text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    PERFORM rest.module_proof(p_proof);
    RETURN QUERY SELECT * FROM tls.sync(p_since, p_limit);
END
$$;

RESET ROLE;
