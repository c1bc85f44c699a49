-- Which process holds an idempotency lease, and which processes are alive
-- (ADR 0004, amended 2026-11-26): a claim may take over at once the lease
-- of a process that has stopped beating, instead of waiting for the
-- lease's minute after a crash. '' is an owner written before this
-- migration (or by an older binary during a handover): only the lease's
-- age frees it.
ALTER TABLE idempotency ADD COLUMN owner TEXT NOT NULL DEFAULT '';

CREATE TABLE lease_owners (
	id      TEXT PRIMARY KEY,
	seen_at TIMESTAMPTZ NOT NULL
);
