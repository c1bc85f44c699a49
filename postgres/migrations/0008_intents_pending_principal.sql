-- One's pending intents in settlement order (GET /v1/intents): without
-- this index the planner read every pending intent of everyone (the
-- intents_pending index, up to IntentsPendingMax rows) and kept the
-- principal's, about 6 ms a page with 20,000 pending, for a user with
-- ten; or every intent the principal ever queued. Built concurrently
-- (migrate.go): intents keeps every payment ever queued, and a plain
-- CREATE INDEX would refuse the surge queue's writes while it reads them.
CREATE INDEX CONCURRENTLY IF NOT EXISTS intents_pending_principal ON intents (principal, id) WHERE status = 'pending';
