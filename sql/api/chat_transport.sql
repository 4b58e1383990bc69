-- nginx-helpdesk: the entry points of the chat's transports (see
-- sql/chat/transport.sql and src/chat/ngx_http_helpdesk_chat_http.c).

SET ROLE helpdesk_service;

DROP FUNCTION IF EXISTS api.chat_widget_public(text);
CREATE OR REPLACE FUNCTION api.chat_widget_public(p_slug text, p_link jsonb,
    OUT tenant_id uuid, OUT slug text, OUT settings jsonb,
    OUT allowed_origins text[], OUT max_message_bytes integer,
    OUT enabled boolean)
RETURNS SETOF record
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT * FROM chat.widget_public(p_slug, p_link)
$$;

CREATE OR REPLACE FUNCTION api.chat_agent(p_host text, p_base text, p_user uuid,
    OUT tenant_id uuid, OUT slug text, OUT user_id uuid, OUT name text,
    OUT role text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, helpdesk, pg_temp AS $$
    SELECT * FROM chat.chat_agent(p_host, p_base, p_user)
$$;

RESET ROLE;
