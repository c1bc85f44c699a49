-- Who cancelled an intent failed intent_cancelled: 'payer', or 'operator'
-- (support or risk staff stopping it on the payer's behalf; the audit log
-- says who and why), so that the payer's app can tell the two apart
-- (docs/overload.md, "Cancelling a queued payment"). '' for every other
-- intent, and for intents cancelled before this column, when only payers
-- could cancel.
ALTER TABLE intents ADD COLUMN cancelled_by TEXT NOT NULL DEFAULT '';
