-- Identity and security (auth/). Times are unix microseconds (UTC); 0 means
-- "never" (not revoked, not used). Tokens, keys and codes are stored only
-- as hex SHA-256 hashes; passwords as argon2id PHC strings.
CREATE TABLE users (
	id                TEXT PRIMARY KEY,
	handle            TEXT NOT NULL UNIQUE,
	password_hash     TEXT NOT NULL,
	step_up_threshold INTEGER NOT NULL,
	failed_logins     INTEGER NOT NULL DEFAULT 0,
	locked_until      INTEGER NOT NULL DEFAULT 0,
	created_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	token_hash TEXT NOT NULL UNIQUE,
	address    TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id, id);

CREATE TABLE mfa (
	user_id      TEXT PRIMARY KEY REFERENCES users (id),
	secret       TEXT NOT NULL,
	confirmed_at INTEGER NOT NULL DEFAULT 0,
	last_step    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE recovery_codes (
	user_id TEXT NOT NULL REFERENCES users (id),
	hash    TEXT NOT NULL,
	used_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;

CREATE TABLE otps (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	purpose    TEXT NOT NULL,
	code_hash  TEXT NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX otps_user ON otps (user_id, purpose, id);

CREATE TABLE reset_tokens (
	hash       TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	expires_at INTEGER NOT NULL,
	used_at    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE merchants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	prefix      TEXT NOT NULL,
	hash        TEXT NOT NULL UNIQUE,
	scope       TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE operators (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL CHECK (role IN ('admin', 'support', 'risk')),
	key_hash   TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The audit log is append-only and hash-chained (auth/audit.go); its head
-- row is locked by every append so that two appends never share a parent.
CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY,
	at        INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	target    TEXT NOT NULL DEFAULT '',
	address   TEXT NOT NULL DEFAULT '',
	detail    TEXT,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
) STRICT;
CREATE TABLE audit_head (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq) VALUES (1, 0);

CREATE TABLE outbox (
	id         TEXT PRIMARY KEY,
	recipient  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	sent_at    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at = 0;
