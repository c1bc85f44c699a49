-- The ledger's tables. Times are unix microseconds (UTC); amounts are int64
-- minor units; metadata is a JSON object or NULL.
CREATE TABLE accounts (
	id              TEXT PRIMARY KEY,
	kind            TEXT NOT NULL CHECK (kind IN ('user', 'merchant', 'system')),
	currency        TEXT NOT NULL,
	owner_id        TEXT NOT NULL DEFAULT '',
	overdraft_limit INTEGER NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
	posted          INTEGER NOT NULL DEFAULT 0,
	pending_out     INTEGER NOT NULL DEFAULT 0 CHECK (pending_out >= 0),
	pending_in      INTEGER NOT NULL DEFAULT 0 CHECK (pending_in >= 0),
	entry_count     INTEGER NOT NULL DEFAULT 0,
	metadata        TEXT,
	created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX accounts_owner ON accounts (owner_id) WHERE owner_id <> '';

CREATE TABLE transfers (
	id           TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,
	from_account TEXT NOT NULL REFERENCES accounts (id),
	to_account   TEXT NOT NULL REFERENCES accounts (id),
	amount       INTEGER NOT NULL CHECK (amount > 0),
	currency     TEXT NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	metadata     TEXT,
	hold_id      TEXT,
	refund_of    TEXT,
	request_key  TEXT UNIQUE,
	created_at   INTEGER NOT NULL
) STRICT;
-- No (from_account, id) / (to_account, id) indexes: an account's transfers are
-- listed through its entries, and every index here is paid on each insert.
CREATE INDEX transfers_refund_of ON transfers (refund_of) WHERE refund_of IS NOT NULL;

CREATE TABLE entries (
	account_id           TEXT NOT NULL,
	seq                  INTEGER NOT NULL,
	transfer_id          TEXT NOT NULL,
	amount               INTEGER NOT NULL,
	posted_balance_after INTEGER NOT NULL,
	description          TEXT NOT NULL DEFAULT '',
	created_at           INTEGER NOT NULL,
	PRIMARY KEY (account_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE holds (
	id                  TEXT PRIMARY KEY,
	from_account        TEXT NOT NULL REFERENCES accounts (id),
	to_account          TEXT NOT NULL REFERENCES accounts (id),
	amount              INTEGER NOT NULL CHECK (amount > 0),
	currency            TEXT NOT NULL,
	status              TEXT NOT NULL,
	description         TEXT NOT NULL DEFAULT '',
	metadata            TEXT,
	expires_at          INTEGER NOT NULL,
	captured_amount     INTEGER NOT NULL DEFAULT 0,
	capture_transfer_id TEXT,
	request_key         TEXT UNIQUE,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX holds_pending_due ON holds (expires_at) WHERE status = 'pending';
CREATE INDEX holds_pending_from ON holds (from_account) WHERE status = 'pending';
CREATE INDEX holds_pending_to ON holds (to_account) WHERE status = 'pending';

CREATE TABLE idempotency (
	principal   TEXT NOT NULL,
	key         TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	token       TEXT NOT NULL,
	state       TEXT NOT NULL,
	status      INTEGER NOT NULL DEFAULT 0,
	body        BLOB,
	created_at  INTEGER NOT NULL,
	locked_at   INTEGER NOT NULL,
	PRIMARY KEY (principal, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency (created_at);
