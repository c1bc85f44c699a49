package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
)

// The statements of Write. Each takes one array per column and turns them
// into rows with unnest, so a batch of thousands of transfers is one
// statement per table, not one per row; all of them travel to the server
// in one pgx.Batch (one round trip).
const (
	insertAccounts = `INSERT INTO accounts (id, kind, currency, owner_id, overdraft_limit, posted, pending_out,
			pending_in, entry_count, metadata, created_at)
		SELECT u.id, u.kind, u.currency, u.owner_id, u.overdraft_limit, u.posted, u.pending_out,
			u.pending_in, u.entry_count, u.metadata::jsonb, u.created_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
			$8::bigint[], $9::bigint[], $10::text[], $11::timestamptz[])
			AS u(id, kind, currency, owner_id, overdraft_limit, posted, pending_out, pending_in, entry_count,
				metadata, created_at)`
	insertTransfers = `INSERT INTO transfers (id, kind, from_account, to_account, amount, currency, description,
			metadata, hold_id, refund_of, request_key, created_at)
		SELECT u.id, u.kind, u.from_account, u.to_account, u.amount, u.currency, u.description,
			u.metadata::jsonb, u.hold_id, u.refund_of, u.request_key, u.created_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::bytea[], $12::timestamptz[])
			AS u(id, kind, from_account, to_account, amount, currency, description, metadata, hold_id,
				refund_of, request_key, created_at)`
	insertEntries = `INSERT INTO entries (account_id, seq, transfer_id, amount, posted_balance_after, description,
			created_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
			$7::timestamptz[])`
	insertHolds = `INSERT INTO holds (id, from_account, to_account, amount, currency, status, description,
			metadata, expires_at, captured_amount, capture_transfer_id, request_key, created_at, updated_at)
		SELECT u.id, u.from_account, u.to_account, u.amount, u.currency, u.status, u.description,
			u.metadata::jsonb, u.expires_at, u.captured_amount, u.capture_transfer_id, u.request_key,
			u.created_at, u.updated_at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::timestamptz[], $10::bigint[], $11::text[], $12::bytea[], $13::timestamptz[],
			$14::timestamptz[])
			AS u(id, from_account, to_account, amount, currency, status, description, metadata, expires_at,
				captured_amount, capture_transfer_id, request_key, created_at, updated_at)`
	updateBalances = `UPDATE accounts AS a
		SET posted = u.posted, pending_out = u.pending_out, pending_in = u.pending_in, entry_count = u.entry_count
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
			AS u(id, posted, pending_out, pending_in, entry_count)
		WHERE a.id = u.id`
	updateHolds = `UPDATE holds AS h
		SET status = u.status, captured_amount = u.captured_amount,
			capture_transfer_id = u.capture_transfer_id, updated_at = u.updated_at
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[])
			AS u(id, status, captured_amount, capture_transfer_id, updated_at)
		WHERE h.id = u.id`
	// Only a lease still held by its token is marked done: the ledger locked
	// these rows (LockIdempotency) and checked the tokens first, so a miss
	// here is a bug or a race, and the batch must not commit.
	updateIdempotency = `UPDATE idempotency AS i
		SET state = 'done', status = u.status, body = u.body
		FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bytea[])
			AS u(principal, key, token, status, body)
		WHERE i.principal = u.principal AND i.key = u.key AND i.token = u.token AND i.state = 'in_flight'`
)

// statement is one queued statement of Write and what it must affect.
type statement struct {
	what string // for errors: "insert transfers"
	rows int    // rows it must affect (0: a SET, which affects none)
	code string // error code when it affects another number of rows
}

// Write applies c in one round trip of at most seven statements (and two
// SETs of the plan cache mode around the inserts), in an order that
// satisfies the foreign keys (accounts before the transfers and holds that
// name them). Every statement must affect exactly one row per item: fewer
// means the ledger wrote something it had not locked or read.
func (t *tx) Write(ctx context.Context, c *pw.Changes) error {
	const op = "postgres.Tx.Write"
	var b pgx.Batch
	var stmts []statement
	queue := func(what string, rows int, code, sql string, args []any) {
		if rows == 0 {
			return
		}
		b.Queue(sql, args...)
		stmts = append(stmts, statement{what: what, rows: rows, code: code})
	}
	accounts, err := accountArgs(c.NewAccounts)
	if err != nil {
		return &pw.Error{Code: pw.EINTERNAL, Op: op, Err: err}
	}
	transfers, err := transferArgs(c.Transfers)
	if err != nil {
		return &pw.Error{Code: pw.EINTERNAL, Op: op, Err: err}
	}
	holds, err := holdArgs(c.NewHolds)
	if err != nil {
		return &pw.Error{Code: pw.EINTERNAL, Op: op, Err: err}
	}
	// Where the store plans every statement for its values (ADR 0034), the
	// inserts run with PostgreSQL's default instead: each row they insert
	// is checked against its foreign keys by a statement of PostgreSQL's
	// own (an index lookup of one key), and with custom plans every one of
	// those checks (one for each account a transfer or hold names) was
	// planned again: 30-40 % of the in-process throughput
	// (docs/performance.md). With the default they keep one generic plan,
	// an index lookup at any size of the table. The updates after them are
	// planned for their values again.
	inserts := len(c.NewAccounts) + len(c.Transfers) + len(c.Entries) + len(c.NewHolds)
	if t.customPlans && inserts > 0 {
		b.Queue("SET LOCAL plan_cache_mode = auto")
		stmts = append(stmts, statement{what: "plan the foreign-key checks once"})
	}
	queue("insert accounts", len(c.NewAccounts), pw.EINTERNAL, insertAccounts, accounts)
	queue("insert transfers", len(c.Transfers), pw.EINTERNAL, insertTransfers, transfers)
	queue("insert entries", len(c.Entries), pw.EINTERNAL, insertEntries, entryArgs(c.Entries))
	queue("insert holds", len(c.NewHolds), pw.EINTERNAL, insertHolds, holds)
	if t.customPlans && inserts > 0 {
		b.Queue("SET LOCAL plan_cache_mode = force_custom_plan")
		stmts = append(stmts, statement{what: "plan each statement for its values again"})
	}
	queue("update balances", len(c.Balances), pw.EINTERNAL, updateBalances, balanceArgs(c.Balances))
	queue("update holds", len(c.HoldUpdates), pw.EINTERNAL, updateHolds, holdUpdateArgs(c.HoldUpdates))
	queue("mark idempotency keys done", len(c.Idempotency), pw.EIDEMINUSE, updateIdempotency,
		idempotencyArgs(c.Idempotency))
	if len(stmts) == 0 {
		return nil
	}
	br := t.tx.SendBatch(ctx, &b)
	for _, st := range stmts {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return mapError(ctx, op+" "+st.what, err)
		}
		if n := tag.RowsAffected(); st.rows > 0 && n != int64(st.rows) { // rows 0: a SET
			br.Close()
			e := &pw.Error{Code: st.code, Op: op, Err: fmt.Errorf("%s affected %d rows, not %d", st.what, n, st.rows)}
			if st.code == pw.EIDEMINUSE {
				e.Message = "a request with this Idempotency-Key lost its lease before it could commit"
			}
			return e
		}
	}
	return mapError(ctx, op, br.Close())
}

// The …Args functions turn rows into one array per column, in the order of
// the statement's parameters.

func accountArgs(as []*pw.Account) ([]any, error) {
	metadata, err := metadataColumn(as, func(a *pw.Account) (string, map[string]string) { return a.ID, a.Metadata })
	if err != nil {
		return nil, err
	}
	return []any{
		col(as, func(a *pw.Account) string { return a.ID }),
		col(as, func(a *pw.Account) string { return string(a.Kind) }),
		col(as, func(a *pw.Account) string { return string(a.Currency) }),
		col(as, func(a *pw.Account) string { return a.OwnerID }),
		col(as, func(a *pw.Account) int64 { return a.OverdraftLimit }),
		col(as, func(a *pw.Account) int64 { return a.Balance.Posted }),
		col(as, func(a *pw.Account) int64 { return a.Balance.PendingOut }),
		col(as, func(a *pw.Account) int64 { return a.Balance.PendingIn }),
		col(as, func(a *pw.Account) int64 { return a.EntryCount }),
		metadata,
		col(as, func(a *pw.Account) time.Time { return a.CreatedAt }),
	}, nil
}

func transferArgs(ts []*pw.Transfer) ([]any, error) {
	metadata, err := metadataColumn(ts, func(t *pw.Transfer) (string, map[string]string) { return t.ID, t.Metadata })
	if err != nil {
		return nil, err
	}
	return []any{
		col(ts, func(t *pw.Transfer) string { return t.ID }),
		col(ts, func(t *pw.Transfer) string { return string(t.Kind) }),
		col(ts, func(t *pw.Transfer) string { return t.FromAccount }),
		col(ts, func(t *pw.Transfer) string { return t.ToAccount }),
		col(ts, func(t *pw.Transfer) int64 { return t.Amount }),
		col(ts, func(t *pw.Transfer) string { return string(t.Currency) }),
		col(ts, func(t *pw.Transfer) string { return t.Description }),
		metadata,
		col(ts, func(t *pw.Transfer) *string { return nullText(t.HoldID) }),
		col(ts, func(t *pw.Transfer) *string { return nullText(t.RefundOf) }),
		col(ts, func(t *pw.Transfer) []byte { return nullBytes(t.RequestKey) }),
		col(ts, func(t *pw.Transfer) time.Time { return t.CreatedAt }),
	}, nil
}

func entryArgs(es []*pw.Entry) []any {
	return []any{
		col(es, func(e *pw.Entry) string { return e.AccountID }),
		col(es, func(e *pw.Entry) int64 { return e.Seq }),
		col(es, func(e *pw.Entry) string { return e.TransferID }),
		col(es, func(e *pw.Entry) int64 { return e.Amount }),
		col(es, func(e *pw.Entry) int64 { return e.PostedBalanceAfter }),
		col(es, func(e *pw.Entry) string { return e.Description }),
		col(es, func(e *pw.Entry) time.Time { return e.CreatedAt }),
	}
}

func holdArgs(hs []*pw.Hold) ([]any, error) {
	metadata, err := metadataColumn(hs, func(h *pw.Hold) (string, map[string]string) { return h.ID, h.Metadata })
	if err != nil {
		return nil, err
	}
	return []any{
		col(hs, func(h *pw.Hold) string { return h.ID }),
		col(hs, func(h *pw.Hold) string { return h.FromAccount }),
		col(hs, func(h *pw.Hold) string { return h.ToAccount }),
		col(hs, func(h *pw.Hold) int64 { return h.Amount }),
		col(hs, func(h *pw.Hold) string { return string(h.Currency) }),
		col(hs, func(h *pw.Hold) string { return h.Status }),
		col(hs, func(h *pw.Hold) string { return h.Description }),
		metadata,
		col(hs, func(h *pw.Hold) time.Time { return h.ExpiresAt }),
		col(hs, func(h *pw.Hold) int64 { return h.CapturedAmount }),
		col(hs, func(h *pw.Hold) *string { return nullText(h.CaptureTransferID) }),
		col(hs, func(h *pw.Hold) []byte { return nullBytes(h.RequestKey) }),
		col(hs, func(h *pw.Hold) time.Time { return h.CreatedAt }),
		col(hs, func(h *pw.Hold) time.Time { return h.UpdatedAt }),
	}, nil
}

func balanceArgs(as []*pw.Account) []any {
	return []any{
		col(as, func(a *pw.Account) string { return a.ID }),
		col(as, func(a *pw.Account) int64 { return a.Balance.Posted }),
		col(as, func(a *pw.Account) int64 { return a.Balance.PendingOut }),
		col(as, func(a *pw.Account) int64 { return a.Balance.PendingIn }),
		col(as, func(a *pw.Account) int64 { return a.EntryCount }),
	}
}

func holdUpdateArgs(hs []*pw.Hold) []any {
	return []any{
		col(hs, func(h *pw.Hold) string { return h.ID }),
		col(hs, func(h *pw.Hold) string { return h.Status }),
		col(hs, func(h *pw.Hold) int64 { return h.CapturedAmount }),
		col(hs, func(h *pw.Hold) *string { return nullText(h.CaptureTransferID) }),
		col(hs, func(h *pw.Hold) time.Time { return h.UpdatedAt }),
	}
}

func idempotencyArgs(rs []*pw.IdempotencyRecord) []any {
	return []any{
		col(rs, func(r *pw.IdempotencyRecord) string { return r.Principal }),
		col(rs, func(r *pw.IdempotencyRecord) string { return r.Key }),
		col(rs, func(r *pw.IdempotencyRecord) string { return r.Token }),
		col(rs, func(r *pw.IdempotencyRecord) int32 { return int32(r.Status) }),
		col(rs, func(r *pw.IdempotencyRecord) []byte { return r.Body }),
	}
}

// col returns one column of rows.
func col[R, V any](rows []R, field func(R) V) []V {
	out := make([]V, len(rows))
	for i, r := range rows {
		out[i] = field(r)
	}
	return out
}

// metadataColumn returns the rows' metadata as JSON text (NULL when empty).
func metadataColumn[R any](rows []R, field func(R) (id string, m map[string]string)) ([]*string, error) {
	out := make([]*string, len(rows))
	for i, r := range rows {
		id, m := field(r)
		md, err := encodeMetadata(m)
		if err != nil {
			return nil, fmt.Errorf("metadata of %s: %w", id, err)
		}
		out[i] = md
	}
	return out, nil
}
