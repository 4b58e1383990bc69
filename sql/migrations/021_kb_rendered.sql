-- nginx-helpdesk: an article's HTML is served only when the module's
-- renderer wrote it.  body_html was once stored as the API client sent it
-- when the request carried no Markdown, so a row written before this
-- migration may hold HTML that did not come from cmark's safe mode: none
-- of those is trusted.  The portal renders such an article from its
-- Markdown when it is read, until it is saved again.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.kb_articles
    ADD COLUMN IF NOT EXISTS html_rendered boolean NOT NULL DEFAULT false;

RESET ROLE;
