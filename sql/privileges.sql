-- nginx-helpdesk: who may execute what.  Applied last on every migrate,
-- after the migrations and the functions, so that it covers every function
-- that exists, and re-checked each time.
--
--   helpdesk_app      USAGE on schema "api", EXECUTE on its functions;
--                     nothing in schema "helpdesk" nor in the concerns'
--                     schemas: no table, no function.
--   helpdesk_service  privileges on the tables (granted by the migrations)
--                     and EXECUTE on the internal functions; owns "api".
--   PUBLIC            nothing.

-- internal functions: the service role only (their owner keeps its own)
DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['helpdesk', 'tickets', 'rest', 'outbox',
                             'whatsapp', 'portal', 'console', 'chat', 'email', 'tls']
    LOOP
        EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %I FROM PUBLIC, helpdesk_app', s);
        EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO helpdesk_service', s);
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC, helpdesk_app', s);
    END LOOP;
END
$$;

-- the entry points: the app role
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO helpdesk_app;

-- no direct access to data for the app role, whatever an older layout
-- granted it
REVOKE ALL ON ALL TABLES IN SCHEMA helpdesk FROM PUBLIC, helpdesk_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA helpdesk FROM PUBLIC, helpdesk_app;
REVOKE ALL ON SCHEMA helpdesk FROM PUBLIC, helpdesk_app;
REVOKE CREATE ON SCHEMA api FROM PUBLIC, helpdesk_app;

-- Refuse a layout that breaks the rules above, rather than run with it.
DO $$
DECLARE
    bad text;
BEGIN
    -- every entry point: owned by the service role, SECURITY DEFINER,
    -- with a fixed search_path
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO bad
    FROM pg_proc p
    WHERE p.pronamespace = 'api'::regnamespace
      AND (p.proowner <> 'helpdesk_service'::regrole OR NOT p.prosecdef
           OR NOT coalesce(p.proconfig, '{}') && ARRAY['search_path=pg_catalog, helpdesk, pg_temp']);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'entry points that are not SECURITY DEFINER functions of helpdesk_service with a fixed search_path: %', bad;
    END IF;

    -- every SECURITY DEFINER function fixes its search_path with pg_temp
    -- last (a temporary object of the caller's session must never shadow
    -- a table or a function), and none belongs to a superuser
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO bad
    FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
    WHERE p.pronamespace::regnamespace::text IN ('api', 'helpdesk', 'tickets',
              'rest', 'outbox', 'whatsapp', 'portal', 'console', 'chat', 'email', 'tls')
      AND p.prosecdef
      AND (o.rolsuper OR NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
                                     WHERE c ~ '^search_path=(.*, *)?pg_temp$'
                                       AND c !~ 'pg_temp.*,'));
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'SECURITY DEFINER functions without a fixed search_path ending in pg_temp, or owned by a superuser: %', bad;
    END IF;

    -- the SECURITY DEFINER functions behind the entry points (key lookup,
    -- ticket numbers, routing, the outbox) are the service role's only
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO bad
    FROM pg_proc p
    WHERE p.pronamespace::regnamespace::text IN ('helpdesk', 'tickets',
              'rest', 'outbox', 'whatsapp', 'portal', 'console', 'chat', 'email', 'tls')
      AND p.prosecdef
      AND (has_function_privilege('helpdesk_app', p.oid, 'EXECUTE')
           OR EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl,
                          acldefault('f', p.proowner))) a WHERE a.grantee = 0));
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'internal SECURITY DEFINER functions executable by PUBLIC or the app role: %', bad;
    END IF;

    -- the roles are what the design says they are
    SELECT string_agg(rolname, ', ') INTO bad
    FROM pg_roles
    WHERE rolname IN ('helpdesk_app', 'helpdesk_service')
      AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'roles with more power than they should have: %', bad;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'helpdesk_service' AND rolcanlogin) THEN
        RAISE EXCEPTION 'helpdesk_service must not log in';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'helpdesk'
               AND tableowner IN ('helpdesk_app', 'helpdesk_service')) THEN
        RAISE EXCEPTION 'a table of schema helpdesk belongs to the app or the service role';
    END IF;
    -- the concerns' schemas belong to the owner role, whoever made them
    SELECT string_agg(nspname, ', ') INTO bad FROM pg_namespace
    WHERE nspname IN ('helpdesk', 'tickets', 'rest', 'outbox', 'whatsapp',
                      'portal', 'console', 'chat', 'email', 'tls')
      AND nspowner <> 'helpdesk_owner'::regrole;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'schemas not owned by helpdesk_owner: %', bad;
    END IF;

    -- a function in a schema that is neither "api", "helpdesk" nor a
    -- concern's: a file of sql/ nobody listed here
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO bad
    FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
    WHERE o.rolname IN ('helpdesk_owner', 'helpdesk_service')
      AND p.pronamespace::regnamespace::text NOT IN ('api', 'helpdesk',
              'tickets', 'rest', 'outbox', 'whatsapp', 'portal', 'console', 'chat', 'email', 'tls');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'functions outside the known schemas (add the schema to sql/privileges.sql): %', bad;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_auth_members m
               WHERE m.member IN ('helpdesk_app'::regrole, 'helpdesk_service'::regrole)) THEN
        RAISE EXCEPTION 'helpdesk_app and helpdesk_service must not be members of other roles';
    END IF;
END
$$;
