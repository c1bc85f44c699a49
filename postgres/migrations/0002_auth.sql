-- Identity and security (auth/), mirroring sqlite/migrations/0002_auth.sql.
-- Times are unix microseconds (UTC) as BIGINT, as in SQLite, so that both
-- stores share one shape of row; 0 means
-- "never" (not revoked, not used). Tokens, keys and codes are stored only
-- as hex SHA-256 hashes; passwords as argon2id PHC strings.
CREATE TABLE users (
	id                TEXT COLLATE "C" PRIMARY KEY,
	handle            TEXT NOT NULL UNIQUE,
	password_hash     TEXT NOT NULL,
	step_up_threshold BIGINT NOT NULL,
	failed_logins     BIGINT NOT NULL DEFAULT 0,
	locked_until      BIGINT NOT NULL DEFAULT 0,
	created_at        BIGINT NOT NULL
);

CREATE TABLE sessions (
	id         TEXT COLLATE "C" PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	token_hash TEXT NOT NULL UNIQUE,
	address    TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions (user_id, id);

CREATE TABLE mfa (
	user_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id),
	secret       TEXT NOT NULL,
	confirmed_at BIGINT NOT NULL DEFAULT 0,
	last_step    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
	user_id TEXT NOT NULL REFERENCES users (id),
	hash    TEXT NOT NULL,
	used_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, hash)
);

CREATE TABLE otps (
	id         TEXT COLLATE "C" PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	purpose    TEXT NOT NULL,
	code_hash  TEXT NOT NULL,
	attempts   BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX otps_user ON otps (user_id, purpose, id);

CREATE TABLE reset_tokens (
	hash       TEXT COLLATE "C" PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE merchants (
	id         TEXT COLLATE "C" PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
	id          TEXT COLLATE "C" PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants (id),
	prefix      TEXT NOT NULL,
	hash        TEXT NOT NULL UNIQUE,
	scope       TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	revoked_at  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE operators (
	id         TEXT COLLATE "C" PRIMARY KEY,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL CHECK (role IN ('admin', 'support', 'risk')),
	key_hash   TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0
);

-- The audit log is append-only and hash-chained (auth/audit.go); its head
-- row is locked by every append so that two appends never share a parent.
CREATE TABLE audit (
	seq       BIGINT PRIMARY KEY,
	at        BIGINT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	target    TEXT NOT NULL DEFAULT '',
	address   TEXT NOT NULL DEFAULT '',
	detail    TEXT,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);
CREATE TABLE audit_head (
	id  BIGINT PRIMARY KEY CHECK (id = 1),
	seq BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq) VALUES (1, 0);

CREATE TABLE outbox (
	id         TEXT COLLATE "C" PRIMARY KEY,
	recipient  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	sent_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at = 0;
