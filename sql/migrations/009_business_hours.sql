-- nginx-helpdesk: business hours per tenant and channel, and the automatic
-- reply sent outside them (once per conversation window, not once per
-- message).
--
-- settings->'business_hours'->'<channel>' =
--   {"timezone": "America/Sao_Paulo",
--    "days": {"mon": [["08:00", "18:00"]], ..., "sat": [], "sun": []},
--    "holidays": ["2026-12-25"],
--    "auto_reply": {"enabled": true, "text": "..."}}
-- A channel without business hours is always open.

SET ROLE helpdesk_owner;

ALTER TABLE helpdesk.whatsapp_contacts ADD COLUMN IF NOT EXISTS auto_reply_at timestamptz;

RESET ROLE;
