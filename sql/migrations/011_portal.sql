-- nginx-helpdesk: the customer portal's data and service functions.
--
-- A portal request arrives with the Host it was sent to; portal_site()
-- maps that name to a tenant (a "<slug>.<base domain>" name, or a verified
-- custom domain), and portal_call() runs one operation for the customer of
-- the session, tenant-scoped by row-level security like everything else.
-- Passwords are hashed and checked by the module, in a thread pool: the
-- database only stores and hands out the hash.

SET ROLE helpdesk_owner;

-- custom hostnames of a tenant's portal
CREATE TABLE IF NOT EXISTS helpdesk.portal_domains (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    hostname      text NOT NULL
                  CHECK (length(hostname) <= 253 AND hostname ~
                         '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$'),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified')),
    verify_token  text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    created_at    timestamptz NOT NULL DEFAULT now(),
    verified_at   timestamptz,
    PRIMARY KEY (tenant_id, hostname)
);

-- a name serves one tenant, once it is verified
CREATE UNIQUE INDEX IF NOT EXISTS portal_domains_verified
    ON helpdesk.portal_domains (hostname) WHERE status = 'verified';

-- logo and favicon
CREATE TABLE IF NOT EXISTS helpdesk.portal_assets (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    name          text NOT NULL CHECK (name IN ('logo', 'favicon')),
    content_type  text NOT NULL,
    data          bytea NOT NULL,
    sha256        text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- files uploaded from the portal before the ticket or comment they go with
CREATE TABLE IF NOT EXISTS helpdesk.uploads (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    upload_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size          bigint NOT NULL,
    sha256        text NOT NULL,
    data          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, upload_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES helpdesk.users
);

CREATE TABLE IF NOT EXISTS helpdesk.password_resets (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    token_hash    bytea NOT NULL,
    user_id       uuid NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES helpdesk.users
);

-- knowledge base
CREATE TABLE IF NOT EXISTS helpdesk.kb_categories (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    category_id   uuid NOT NULL DEFAULT gen_random_uuid(),
    slug          text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,78}[a-z0-9])?$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '',
    position      int NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, category_id),
    UNIQUE (tenant_id, slug)
);

-- the text search configuration of an article's language; defined here
-- because the articles' search column is generated with it (a change is a
-- new migration that regenerates the column)
CREATE OR REPLACE FUNCTION helpdesk.kb_config(lang text) RETURNS regconfig
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE lang WHEN 'pt-BR' THEN 'pg_catalog.portuguese'::regconfig
                     WHEN 'es' THEN 'pg_catalog.spanish'::regconfig
                     ELSE 'pg_catalog.english'::regconfig END
$$;

CREATE TABLE IF NOT EXISTS helpdesk.kb_articles (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    article_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    category_id   uuid,
    slug          text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,118}[a-z0-9])?$'),
    language      text NOT NULL DEFAULT 'pt-BR' CHECK (language IN ('pt-BR', 'es', 'en')),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    body_md       text NOT NULL DEFAULT '',
    body_html     text NOT NULL DEFAULT '',
    visibility    text NOT NULL DEFAULT 'public'
                  CHECK (visibility IN ('public', 'customers', 'draft')),
    helpful       int NOT NULL DEFAULT 0,
    not_helpful   int NOT NULL DEFAULT 0,
    views         bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    search        tsvector GENERATED ALWAYS AS (
                      setweight(to_tsvector(helpdesk.kb_config(language), title), 'A')
                      || setweight(to_tsvector(helpdesk.kb_config(language), body_md), 'B')
                  ) STORED,
    PRIMARY KEY (tenant_id, article_id),
    UNIQUE (tenant_id, slug),
    FOREIGN KEY (tenant_id, category_id) REFERENCES helpdesk.kb_categories
);

CREATE INDEX IF NOT EXISTS kb_articles_search ON helpdesk.kb_articles USING gin (search);

-- one vote per reader and article (a reader is a customer, or a browser)
CREATE TABLE IF NOT EXISTS helpdesk.kb_votes (
    tenant_id     uuid NOT NULL REFERENCES helpdesk.tenants,
    article_id    uuid NOT NULL,
    voter         text NOT NULL,
    helpful       boolean NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, article_id, voter),
    FOREIGN KEY (tenant_id, article_id) REFERENCES helpdesk.kb_articles ON DELETE CASCADE
);

SELECT helpdesk.tenant_rls(t::regclass)
FROM unnest(ARRAY['helpdesk.portal_domains', 'helpdesk.portal_assets', 'helpdesk.uploads',
                  'helpdesk.password_resets', 'helpdesk.kb_categories',
                  'helpdesk.kb_articles', 'helpdesk.kb_votes']) t;

ALTER TABLE helpdesk.outbox DROP CONSTRAINT IF EXISTS outbox_kind_check;
ALTER TABLE helpdesk.outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('webhook', 'whatsapp', 'email'));

RESET ROLE;

GRANT SELECT, INSERT, UPDATE, DELETE ON helpdesk.portal_domains, helpdesk.portal_assets,
    helpdesk.uploads, helpdesk.password_resets, helpdesk.kb_categories,
    helpdesk.kb_articles, helpdesk.kb_votes TO helpdesk_service;
GRANT INSERT ON helpdesk.attachments TO helpdesk_service;
