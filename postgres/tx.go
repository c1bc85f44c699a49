package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
)

// tx implements peakwallet.Tx on one pgx transaction. Its errors are
// already mapped; Update retries on those that wrap a serialization failure
// or deadlock.
type tx struct {
	tx          pgx.Tx
	customPlans bool // the session plans each statement for its values (ADR 0034)
}

var _ pw.Tx = (*tx)(nil)

// LockAccounts locks the rows of the accounts that exist among ids with
// SELECT ... FOR UPDATE. The rows are locked in the order they are
// returned, which ORDER BY id (byte order, COLLATE "C") makes the same for
// every transaction, so two batches sharing accounts queue on each other
// instead of deadlocking.
func (t *tx) LockAccounts(ctx context.Context, ids []string) (map[string]*pw.Account, error) {
	const op = "postgres.Tx.LockAccounts"
	ids = sortedUnique(ids)
	if len(ids) == 0 {
		return map[string]*pw.Account{}, nil
	}
	as, err := getAll(ctx, t.tx, scanAccount, `SELECT `+accountColumns+` FROM accounts a
		WHERE a.id = ANY($1) ORDER BY a.id FOR UPDATE`, ids)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	m := make(map[string]*pw.Account, len(as))
	for _, a := range as {
		m[a.ID] = a
	}
	return m, nil
}

// Holds returns the holds that exist among ids. No row lock: a hold changes
// only under the locks of its accounts, which the ledger holds already.
func (t *tx) Holds(ctx context.Context, ids []string) (map[string]*pw.Hold, error) {
	const op = "postgres.Tx.Holds"
	if len(ids) == 0 {
		return map[string]*pw.Hold{}, nil
	}
	hs, err := getAll(ctx, t.tx, scanHold, `SELECT `+holdColumns+` FROM holds h WHERE h.id = ANY($1)`, ids)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	m := make(map[string]*pw.Hold, len(hs))
	for _, h := range hs {
		m[h.ID] = h
	}
	return m, nil
}

// Transfers returns the transfers that exist among ids, with RefundedAmount
// filled from the committed refunds (the accounts' locks keep it current).
func (t *tx) Transfers(ctx context.Context, ids []string) (map[string]*pw.Transfer, error) {
	return transfersByID(ctx, t.tx, "postgres.Tx.Transfers", ids)
}

// transfersByID reads the transfers that exist among ids through q (the
// pool or a transaction).
func transfersByID(ctx context.Context, q querier, op string, ids []string) (map[string]*pw.Transfer, error) {
	if len(ids) == 0 {
		return map[string]*pw.Transfer{}, nil
	}
	ts, err := getAll(ctx, q, scanTransfer, `SELECT `+transferColumns+` FROM transfers t WHERE t.id = ANY($1)`, ids)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	m := make(map[string]*pw.Transfer, len(ts))
	for _, tr := range ts {
		m[tr.ID] = tr
	}
	return m, nil
}

// DueHolds returns the pending holds from or to any of accounts that are
// due at now, oldest due first. The OR of two ANY conditions lets the
// planner combine the holds_pending_from and holds_pending_to indexes.
func (t *tx) DueHolds(ctx context.Context, accounts []string, now time.Time) ([]*pw.Hold, error) {
	const op = "postgres.Tx.DueHolds"
	if len(accounts) == 0 {
		return nil, nil
	}
	hs, err := getAll(ctx, t.tx, scanHold, `SELECT `+holdColumns+` FROM holds h
		WHERE h.status = 'pending' AND h.expires_at <= $2
			AND (h.from_account = ANY($1) OR h.to_account = ANY($1))
		ORDER BY h.expires_at, h.id`, accounts, now)
	return hs, mapError(ctx, op, err)
}

// LockIdempotency locks the records of keys (in principal, key order, for
// the same reason as LockAccounts) and returns them. A claim taken over by
// another process after the ledger read its token shows here as a
// different token; a key another request finished, as done.
func (t *tx) LockIdempotency(ctx context.Context, keys []pw.IdempotencyKey) (map[pw.IdempotencyKey]*pw.IdempotencyRecord, error) {
	const op = "postgres.Tx.LockIdempotency"
	m := make(map[pw.IdempotencyKey]*pw.IdempotencyRecord, len(keys))
	if len(keys) == 0 {
		return m, nil
	}
	principals := make([]string, len(keys))
	names := make([]string, len(keys))
	for i, k := range keys {
		principals[i], names[i] = k.Principal, k.Key
	}
	rows, err := t.tx.Query(ctx, `SELECT `+idempotencyColumns+` FROM idempotency i
		WHERE (i.principal, i.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		ORDER BY i.principal, i.key FOR UPDATE`, principals, names)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	recs, err := pgx.CollectRows(rows, scanIdempotency)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	for _, r := range recs {
		m[r.IdempotencyKey] = r
	}
	return m, nil
}

// sortedUnique returns a sorted copy of ids without duplicates, leaving
// the caller's slice as it was.
func sortedUnique(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}
