-- The ledger's tables, mirroring sqlite/migrations/0001_ledger.sql. Amounts
-- are int64 minor units; times are timestamptz (the ledger truncates them to
-- microseconds, which timestamptz keeps exactly); metadata is a JSON object
-- or NULL.
--
-- Identifiers and keys use COLLATE "C" so that ORDER BY, range conditions
-- and the lock order follow byte order, as in SQLite and in Go, whatever
-- the database's default collation.
--
-- request_key is BYTEA, not TEXT: it joins principal and key with NUL bytes
-- ("principal\x00key\x00i"), and PostgreSQL TEXT cannot hold NUL.
CREATE TABLE accounts (
	id              TEXT COLLATE "C" PRIMARY KEY,
	kind            TEXT NOT NULL CHECK (kind IN ('user', 'merchant', 'system')),
	currency        TEXT NOT NULL,
	owner_id        TEXT COLLATE "C" NOT NULL DEFAULT '',
	overdraft_limit BIGINT NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
	posted          BIGINT NOT NULL DEFAULT 0,
	pending_out     BIGINT NOT NULL DEFAULT 0 CHECK (pending_out >= 0),
	pending_in      BIGINT NOT NULL DEFAULT 0 CHECK (pending_in >= 0),
	entry_count     BIGINT NOT NULL DEFAULT 0,
	metadata        JSONB,
	created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_owner ON accounts (owner_id) WHERE owner_id <> '';

CREATE TABLE transfers (
	id           TEXT COLLATE "C" PRIMARY KEY,
	kind         TEXT NOT NULL,
	from_account TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
	to_account   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
	amount       BIGINT NOT NULL CHECK (amount > 0),
	currency     TEXT NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	metadata     JSONB,
	hold_id      TEXT COLLATE "C",
	refund_of    TEXT COLLATE "C",
	request_key  BYTEA,
	created_at   TIMESTAMPTZ NOT NULL,
	-- Named, so that a duplicate maps to idempotency_key_in_use by
	-- constraint name rather than by message text.
	CONSTRAINT transfers_request_key UNIQUE (request_key)
);
-- No (from_account, id) / (to_account, id) indexes: an account's transfers are
-- listed through its entries, and every index here is paid on each insert.
CREATE INDEX transfers_refund_of ON transfers (refund_of) WHERE refund_of IS NOT NULL;

CREATE TABLE entries (
	account_id           TEXT COLLATE "C" NOT NULL,
	seq                  BIGINT NOT NULL,
	transfer_id          TEXT COLLATE "C" NOT NULL,
	amount               BIGINT NOT NULL,
	posted_balance_after BIGINT NOT NULL,
	description          TEXT NOT NULL DEFAULT '',
	created_at           TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (account_id, seq)
);

CREATE TABLE holds (
	id                  TEXT COLLATE "C" PRIMARY KEY,
	from_account        TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
	to_account          TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
	amount              BIGINT NOT NULL CHECK (amount > 0),
	currency            TEXT NOT NULL,
	status              TEXT NOT NULL,
	description         TEXT NOT NULL DEFAULT '',
	metadata            JSONB,
	expires_at          TIMESTAMPTZ NOT NULL,
	captured_amount     BIGINT NOT NULL DEFAULT 0,
	capture_transfer_id TEXT COLLATE "C",
	request_key         BYTEA,
	created_at          TIMESTAMPTZ NOT NULL,
	updated_at          TIMESTAMPTZ NOT NULL,
	CONSTRAINT holds_request_key UNIQUE (request_key)
);
CREATE INDEX holds_pending_due ON holds (expires_at) WHERE status = 'pending';
CREATE INDEX holds_pending_from ON holds (from_account) WHERE status = 'pending';
CREATE INDEX holds_pending_to ON holds (to_account) WHERE status = 'pending';

CREATE TABLE idempotency (
	principal   TEXT COLLATE "C" NOT NULL,
	key         TEXT COLLATE "C" NOT NULL,
	fingerprint TEXT NOT NULL,
	token       TEXT NOT NULL,
	state       TEXT NOT NULL,
	status      INTEGER NOT NULL DEFAULT 0,
	body        BYTEA,
	created_at  TIMESTAMPTZ NOT NULL,
	locked_at   TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
