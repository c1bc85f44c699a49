-- The durable surge queue: payments accepted (202) and settled later, in
-- id order, with the request's own idempotency key.
CREATE TABLE intents (
	id            text PRIMARY KEY,
	principal     text NOT NULL,
	key           text NOT NULL,
	fingerprint   text NOT NULL,
	body          bytea NOT NULL,
	status        text NOT NULL CHECK (status IN ('pending', 'posted', 'failed')),
	transfer_id   text,
	error_code    text,
	error_message text,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	CONSTRAINT intents_principal_key UNIQUE (principal, key)
);
CREATE INDEX intents_pending ON intents (id) WHERE status = 'pending';
