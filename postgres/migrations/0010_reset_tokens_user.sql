-- A password change (and a reset) deletes the user's unused reset tokens
-- in its transaction (auth: a token must not outlive a new password); by
-- user_id, which had no index, so each change scanned the table. Built
-- concurrently: writes to reset_tokens go on meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS reset_tokens_user ON reset_tokens (user_id);
