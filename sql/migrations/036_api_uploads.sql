-- nginx-helpdesk: files uploaded through the REST API.
--
--   uploads.api_key_id   the tenant API key that uploaded the file (POST
--                        /v1/uploads), for a client that has no user;
--                        an upload is owned by exactly one user or one
--                        key, and only its owner attaches it (to a
--                        comment or a new ticket, which deletes the row).
--                        Row-level security is unchanged: tenant-scoped.
--   attachments.ordinal  a file's place among its event's files, as the
--                        caller listed them ("attachments": 1, 2, ...; 0
--                        for the other ways in): the files of one event
--                        share their created_at, and go out in this order.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.uploads
    ALTER COLUMN user_id DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS api_key_id uuid;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'helpdesk.uploads'::regclass
                     AND conname = 'uploads_api_key_fkey') THEN
        ALTER TABLE helpdesk.uploads
            ADD CONSTRAINT uploads_api_key_fkey FOREIGN KEY (tenant_id, api_key_id)
                REFERENCES helpdesk.api_keys ON DELETE CASCADE;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'helpdesk.uploads'::regclass
                     AND conname = 'uploads_one_owner') THEN
        ALTER TABLE helpdesk.uploads
            ADD CONSTRAINT uploads_one_owner CHECK (num_nonnulls(user_id, api_key_id) = 1);
    END IF;
END
$$;

ALTER TABLE helpdesk.attachments
    ADD COLUMN IF NOT EXISTS ordinal smallint NOT NULL DEFAULT 0;

-- a key's pending files, found by their age (expiry) and counted (quota)
CREATE INDEX IF NOT EXISTS uploads_api_key ON helpdesk.uploads (tenant_id, api_key_id, created_at)
    WHERE api_key_id IS NOT NULL;

RESET ROLE;
