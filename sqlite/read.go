package sqlite

import (
	"context"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

func (s *Store) Account(ctx context.Context, id string) (*pw.Account, error) {
	if s.share.alone.Load() { // else another process may have written since (share.go)
		if a, ok := s.cache.one(id); ok {
			return a, nil
		}
	}
	list, err := queryAll(uncancellable(ctx), s.read, scanAccount, "SELECT "+accountCols+" FROM accounts WHERE id = ?", id)
	return one(list, err, pw.EACCOUNTNOTFOUND, "account", id)
}

func (s *Store) Transfer(ctx context.Context, id string) (*pw.Transfer, error) {
	list, err := queryAll(uncancellable(ctx), s.read, scanTransfer, "SELECT "+transferCols+" FROM transfers t WHERE t.id = ?", id)
	return one(list, err, pw.ENOTFOUND, "transfer", id)
}

func (s *Store) Hold(ctx context.Context, id string) (*pw.Hold, error) {
	list, err := queryAll(uncancellable(ctx), s.read, scanHold, "SELECT "+holdCols+" FROM holds WHERE id = ?", id)
	return one(list, err, pw.ENOTFOUND, "hold", id)
}

func one[T any](list []T, err error, code, noun, id string) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if len(list) == 0 {
		return zero, pw.Errorf(code, "%s %s not found", noun, id)
	}
	return list[0], nil
}

func (s *Store) Accounts(ctx context.Context, after string, limit int) ([]*pw.Account, error) {
	return queryAll(uncancellable(ctx), s.read, scanAccount, "SELECT "+accountCols+" FROM accounts WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

func (s *Store) Transfers(ctx context.Context, before string, limit int) ([]*pw.Transfer, error) {
	if before == "" {
		before = "\U0010FFFF" // above every id
	}
	return queryAll(uncancellable(ctx), s.read, scanTransfer, "SELECT "+transferCols+" FROM transfers t WHERE t.id < ? ORDER BY t.id DESC LIMIT ?", before, limit)
}

func (s *Store) TransfersByID(ctx context.Context, ids []string) (map[string]*pw.Transfer, error) {
	list, err := queryIn(uncancellable(ctx), s.read, scanTransfer, "SELECT "+transferCols+" FROM transfers t WHERE t.id IN (%s)", ids)
	return byID(list, err, func(tr *pw.Transfer) string { return tr.ID })
}

func (s *Store) Entries(ctx context.Context, account string, before int64, limit int) ([]*pw.Entry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return queryAll(uncancellable(ctx), s.read, scanEntry, "SELECT "+entryCols+" FROM entries WHERE account_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?", account, before, limit)
}

func (s *Store) EntriesAscending(ctx context.Context, account string, after int64, limit int) ([]*pw.Entry, error) {
	return queryAll(uncancellable(ctx), s.read, scanEntry, "SELECT "+entryCols+" FROM entries WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?", account, after, limit)
}

func (s *Store) Holds(ctx context.Context, after string, limit int) ([]*pw.Hold, error) {
	return queryAll(uncancellable(ctx), s.read, scanHold, "SELECT "+holdCols+" FROM holds WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

func (s *Store) PendingHolds(ctx context.Context, after string, limit int) ([]*pw.Hold, error) {
	return queryAll(uncancellable(ctx), s.read, scanHold, "SELECT "+holdCols+" FROM holds WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?", after, limit)
}

func (s *Store) DueHolds(ctx context.Context, now time.Time, limit int) ([]*pw.Hold, error) {
	return queryAll(uncancellable(ctx), s.read, scanHold, "SELECT "+holdCols+" FROM holds WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?", micros(now), limit)
}
