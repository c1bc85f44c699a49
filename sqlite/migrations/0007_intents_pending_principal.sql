-- One principal's pending intents in ID order (GET /v1/intents,
-- PendingIntentsOf): without it SQLite read them through the (principal,
-- key) index, every intent the principal ever queued (intents are never
-- deleted), and sorted them, at each page
-- (TestOnesPendingIntentsAreReadThroughThePendingIntentsAlone).
CREATE INDEX intents_pending_principal ON intents (principal, id) WHERE status = 'pending';
