-- An intent is settled for its principal only if the server checked, when
-- it accepted it, that the principal may make the payment (ADR 0004,
-- amended 2026-11-26; docs/overload.md). Intents accepted before (by a
-- server that did not check) are 0 and are failed, not paid.
ALTER TABLE intents ADD COLUMN authorized INTEGER NOT NULL DEFAULT 0;
