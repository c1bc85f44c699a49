package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Idempotency on SQLite. One process owns the database, so the leases of
// requests in flight live in memory (leases), and only finished requests
// are rows: the batch that moves a request's money inserts its done record
// in the same transaction. A claim therefore costs no write transaction,
// and a crash loses only leases of requests that had not committed, which
// is what a lease ending means anyway.

// leases are the in-flight idempotency claims.
type leases struct {
	mu sync.Mutex
	m  map[pw.IdempotencyKey]*pw.IdempotencyRecord
}

// ClaimIdempotency takes key for rec, or takes over a stale lease of the
// same request, or returns the existing record (in flight or done).
func (s *Store) ClaimIdempotency(ctx context.Context, rec *pw.IdempotencyRecord, staleBefore time.Time) (*pw.IdempotencyRecord, error) {
	s.leases.mu.Lock()
	if cur, ok := s.leases.m[rec.IdempotencyKey]; ok {
		if cur.Fingerprint != rec.Fingerprint || !cur.LockedAt.Before(staleBefore) {
			s.leases.mu.Unlock()
			c := *cur
			return &c, nil
		}
		// The owner died before committing (or is stuck past its lease):
		// the same request takes the key over; the owner's token no longer
		// matches, so it can never post.
	}
	if s.leases.m == nil {
		s.leases.m = map[pw.IdempotencyKey]*pw.IdempotencyRecord{}
	}
	mine := *rec
	s.leases.m[rec.IdempotencyKey] = &mine
	s.leases.mu.Unlock()

	// A finished request is a row. Look after taking the lease: a batch
	// inserts the row before it drops the lease (see finished), so either
	// the lease above was still there or the row is visible now.
	done, err := s.doneRecord(ctx, rec.IdempotencyKey)
	if err != nil || done != nil {
		s.dropLease(rec.IdempotencyKey, rec.Token)
		return done, err
	}
	return nil, nil
}

func (s *Store) doneRecord(ctx context.Context, key pw.IdempotencyKey) (*pw.IdempotencyRecord, error) {
	var r pw.IdempotencyRecord
	var created, locked int64
	err := s.read.QueryRowContext(uncancellable(ctx), "SELECT principal, key, fingerprint, token, state, status, body, created_at, locked_at FROM idempotency WHERE principal = ? AND key = ?",
		key.Principal, key.Key).Scan(&r.Principal, &r.Key, &r.Fingerprint, &r.Token, &r.State, &r.Status, &r.Body, &created, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapError("sqlite.ClaimIdempotency", err)
	}
	r.CreatedAt, r.LockedAt = fromMicros(created), fromMicros(locked)
	return &r, nil
}

// dropLease forgets key's lease if token still owns it.
func (s *Store) dropLease(key pw.IdempotencyKey, token string) {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	if cur, ok := s.leases.m[key]; ok && cur.Token == token {
		delete(s.leases.m, key)
	}
}

// tokens returns the lease token of each key in flight.
func (s *Store) tokens(keys []pw.IdempotencyKey) map[pw.IdempotencyKey]string {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	out := make(map[pw.IdempotencyKey]string, len(keys))
	for _, k := range keys {
		if cur, ok := s.leases.m[k]; ok {
			out[k] = cur.Token
		}
	}
	return out
}

// ReleaseIdempotency forgets an in-flight key still owned by token.
func (s *Store) ReleaseIdempotency(_ context.Context, key pw.IdempotencyKey, token string) error {
	s.dropLease(key, token)
	return nil
}

// DeleteIdempotencyBefore forgets finished keys first seen before t.
func (s *Store) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.write.ExecContext(uncancellable(ctx), "DELETE FROM idempotency WHERE created_at < ?", micros(t))
	if err != nil {
		return 0, mapError("sqlite.DeleteIdempotencyBefore", err)
	}
	n, _ := res.RowsAffected()
	// In-flight leases that old are abandoned.
	s.leases.mu.Lock()
	for k, r := range s.leases.m {
		if r.CreatedAt.Before(t) {
			delete(s.leases.m, k)
			n++
		}
	}
	s.leases.mu.Unlock()
	return n, nil
}
