-- Which credential accepted an intent (a user's session, a merchant key,
-- an operator key: Principal.Session), so that an intent is not paid once
-- that credential has been ended (docs/overload.md, "The surge queue").
-- '' is an intent accepted by an older binary (before 2026-11-27, or
-- during a handover): it settles as it did then.
ALTER TABLE intents ADD COLUMN credential TEXT NOT NULL DEFAULT '';

-- Why a session ended: 'logout' (by itself), 'ended' (by another of the
-- user's sessions), 'password_change', 'password_reset'. A payment a
-- session queued is still paid after its own logout, and not after any
-- other end. '' is a session ended before this column: treated as not a
-- logout.
ALTER TABLE sessions ADD COLUMN ended_by TEXT NOT NULL DEFAULT '';
