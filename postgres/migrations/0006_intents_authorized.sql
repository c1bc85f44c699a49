-- An intent is settled for its principal only if the server checked, when
-- it accepted it, that the principal may make the payment (docs/overload.md,
-- "The surge queue"). Intents accepted before (by a server that did not
-- check) are false and are failed, not paid.
ALTER TABLE intents ADD COLUMN authorized BOOLEAN NOT NULL DEFAULT false;
