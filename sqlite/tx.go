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
	wrote   bool          // a statement changed rows: the commit writes pages (readiness)
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

// LockIdempotency returns the records of keys: the leases in flight, from
// memory (see idempotency.go), and, where a claim's own look-up may have
// missed it, the finished request from the table. The write lock that this
// transaction holds keeps both from changing meanwhile; a lease taken over
// since the ledger read its token makes the batch's done record fail to
// match. A claim looked for its key's finished request after taking its
// lease, so within one process nothing can have finished it since. Another
// process can (a handover, share.go): so the table is asked for the keys
// claimed before the writer last noticed another process's commit, and for
// every key while another process has the file open.
func (t *tx) LockIdempotency(ctx context.Context, keys []pw.IdempotencyKey) (map[pw.IdempotencyKey]*pw.IdempotencyRecord, error) {
	out := make(map[pw.IdempotencyKey]*pw.IdempotencyRecord, len(keys))
	alone, foreign := t.store.share.alone.Load(), t.store.share.foreign.Load()
	var ask []pw.IdempotencyKey
	mine := t.store.leasesOf(keys)
	for _, k := range keys {
		l, ok := mine[k]
		if ok {
			out[k] = &pw.IdempotencyRecord{IdempotencyKey: k, Token: l.Token, State: pw.IdempotencyInFlight}
		}
		if !ok || !alone || l.foreign != foreign {
			ask = append(ask, k)
		}
	}
	done, err := queryByKeys(ctx, t, idempotencyByKeyHead, idempotencyByKeyTail, len(ask),
		func(i int) (string, string) { return ask[i].Principal, ask[i].Key }, scanIdempotency)
	if err != nil {
		return nil, mapError("sqlite.Tx.LockIdempotency", err)
	}
	for _, r := range done {
		out[r.IdempotencyKey] = r // a finished request outranks a lease
	}
	return out, nil
}

// The look-up of a batch's idempotency keys, through the table's primary
// key (TestIntentLookUpSearchesTheKeyIndex checks this one too).
const (
	idempotencyColumns                         = "principal, key, fingerprint, token, state, status, body, created_at, locked_at"
	idempotencyByKeyHead, idempotencyByKeyTail = "SELECT " + idempotencyColumns + " FROM idempotency WHERE (principal, key) IN (VALUES ", ")"
)

func scanIdempotency(row interface{ Scan(...any) error }) (*pw.IdempotencyRecord, error) {
	var r pw.IdempotencyRecord
	var created, locked int64
	if err := row.Scan(&r.Principal, &r.Key, &r.Fingerprint, &r.Token, &r.State, &r.Status, &r.Body, &created, &locked); err != nil {
		return nil, err
	}
	r.CreatedAt, r.LockedAt = fromMicros(created), fromMicros(locked)
	return &r, nil
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
