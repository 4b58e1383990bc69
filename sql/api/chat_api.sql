-- nginx-helpdesk: the entry points of the website chat's record: its
-- settings and conversations through the REST API, and the offline form
-- (see sql/api/entry_points.sql for what an entry point is).

SET ROLE helpdesk_service;

-- a tenant's request under /v1/chat/, authenticated by its key's SHA-256
-- (or the console's session) like api.api_call; the body comes as text,
-- which the module reads as it is in either result format
CREATE OR REPLACE FUNCTION api.chat_call(p_key_hash bytea, p_scope text,
    p_ip inet, p_op text, p_args jsonb, OUT body text, OUT location text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    SELECT r.body::text, r.location INTO body, location
    FROM chat.api_call(p_key_hash, p_scope, p_ip, p_op, p_args) r;
END
$$;

-- the offline form: the widget's tenant (data-tenant), the page's Origin,
-- the client's address and the form; answers {"ticket": {"number"}}
CREATE OR REPLACE FUNCTION api.chat_offline(p_slug text, p_origin text,
    p_ip text, p_body jsonb, OUT body jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
BEGIN
    body := chat.offline(p_slug, p_origin, p_ip, p_body);
END
$$;

RESET ROLE;
