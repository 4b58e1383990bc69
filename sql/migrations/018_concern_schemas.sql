-- nginx-helpdesk: one schema per concern for the functions.
--
-- Schema "helpdesk" keeps the data: the tables and the few functions the
-- tables themselves need (current_tenant for row-level security, the audit
-- log's trigger, tenant_rls, kb_config for the search index).  The
-- functions of each concern live in a schema named after its directory in
-- sql/ (sql/tickets/ -> schema "tickets", ...), re-created by the
-- repeatable files after every migrate; "api" stays the only schema the
-- app role may use.  The functions the earlier layout kept in "helpdesk"
-- are dropped here, before the concern files create them again in their
-- own schemas.

DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['tickets', 'rest', 'outbox', 'whatsapp',
                             'portal', 'console']
    LOOP
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION helpdesk_owner', s);
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO helpdesk_service', s);
    END LOOP;
END
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'helpdesk'::regnamespace
          AND p.proname NOT IN ('current_tenant', 'audit_log_immutable',
                                'tenant_rls', 'kb_config')
    LOOP
        -- no CASCADE: a function something still depends on stops the
        -- migration rather than take that thing with it
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END
$$;
