package sqlite

import (
	"context"
	"database/sql"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// tx is a write transaction. BEGIN IMMEDIATE already holds SQLite's one
// write lock, so LockAccounts needs no row locks.
type tx struct {
	tx      *sql.Tx
	store   *Store
	written []*pw.Changes // applied to the account cache once committed
}

func (t *tx) LockAccounts(ctx context.Context, ids []string) (map[string]*pw.Account, error) {
	found, missing := t.store.cache.get(ids)
	if len(missing) == 0 {
		return found, nil
	}
	list, err := queryIn(ctx, t.tx, scanAccount, "SELECT "+accountCols+" FROM accounts WHERE id IN (%s)", missing)
	if err != nil {
		return nil, err
	}
	t.store.cache.put(list)
	for _, a := range list {
		found[a.ID] = a
	}
	return found, nil
}

func (t *tx) Holds(ctx context.Context, ids []string) (map[string]*pw.Hold, error) {
	list, err := queryIn(ctx, t.tx, scanHold, "SELECT "+holdCols+" FROM holds WHERE id IN (%s)", ids)
	return byID(list, err, func(h *pw.Hold) string { return h.ID })
}

func (t *tx) Transfers(ctx context.Context, ids []string) (map[string]*pw.Transfer, error) {
	list, err := queryIn(ctx, t.tx, scanTransfer, "SELECT "+transferCols+" FROM transfers t WHERE t.id IN (%s)", ids)
	return byID(list, err, func(tr *pw.Transfer) string { return tr.ID })
}

func (t *tx) DueHolds(ctx context.Context, accounts []string, now time.Time) ([]*pw.Hold, error) {
	var out []*pw.Hold
	for len(accounts) > 0 {
		n := min(len(accounts), inChunkMax)
		args := make([]any, 0, 2*n+1)
		args = append(args, micros(now))
		for _, id := range accounts[:n] {
			args = append(args, id)
		}
		for _, id := range accounts[:n] {
			args = append(args, id)
		}
		ph := placeholders(n)
		list, err := queryAll(ctx, t.tx, scanHold, "SELECT "+holdCols+" FROM holds WHERE status = 'pending' AND expires_at <= ?1 AND "+
			"(from_account IN ("+ph+") OR to_account IN ("+ph+"))", args...)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
		accounts = accounts[n:]
	}
	return out, nil
}

// LockIdempotency returns the leases in flight among keys. They are in
// memory (see idempotency.go); the write lock that this transaction holds
// keeps them from finishing meanwhile, and a lease taken over meanwhile
// makes the batch's done record fail to match, below.
func (t *tx) LockIdempotency(_ context.Context, keys []pw.IdempotencyKey) (map[pw.IdempotencyKey]string, error) {
	return t.store.tokens(keys), nil
}

func byID[T any](list []T, err error, id func(T) string) (map[string]T, error) {
	if err != nil {
		return nil, err
	}
	m := make(map[string]T, len(list))
	for _, v := range list {
		m[id(v)] = v
	}
	return m, nil
}
