-- Failures counted for every process on the database (auth: an unknown
-- handle's failed logins, wrong current passwords at a password change,
-- wrong MFA codes), which each process kept in its own memory before.
-- key names what failed ("ghost:" and a keyed hash of the handle,
-- "password:" or "mfa:" and the user's id); a run whose last failure is
-- older than auth's forget window counts as none, and each new failure
-- deletes some of those (by last_failure_at), so the table holds about one
-- window of keys. A new table: its index is built in the migration's
-- transaction, as there is nothing to read.
CREATE TABLE IF NOT EXISTS failures (
	key             TEXT COLLATE "C" PRIMARY KEY,
	failures        BIGINT NOT NULL,
	last_failure_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_last ON failures (last_failure_at);
