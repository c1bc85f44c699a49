-- The durable surge queue: payments accepted (202) and settled later, in
-- id order, with the request's own idempotency key. Times are unix
-- microseconds.
CREATE TABLE intents (
	id            TEXT PRIMARY KEY,
	principal     TEXT NOT NULL,
	key           TEXT NOT NULL,
	fingerprint   TEXT NOT NULL,
	body          BLOB NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'failed')),
	transfer_id   TEXT,
	error_code    TEXT,
	error_message TEXT,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	UNIQUE (principal, key)
) STRICT;
CREATE INDEX intents_pending ON intents (id) WHERE status = 'pending';
