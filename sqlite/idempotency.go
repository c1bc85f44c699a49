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
//
// A claim looks for the key's finished request on a read connection, so
// that a repeat is answered with the remembered answer before anything
// else runs (a step-up challenge, say). The batch that would run the
// request looks again under the write lock (tx.LockIdempotency), where a
// key finished by another process is visible too: during a handover two
// processes share the file, each with its own leases, and a request and
// its retry sent to the other process could both pass the claim's look-up
// and, until 2026-11-27, both commit (TestTwoProcessesRunAKeyOnce).

// leases are the in-flight idempotency claims.
type leases struct {
	mu sync.Mutex
	m  map[pw.IdempotencyKey]*lease
}

// lease is a claim in flight.
type lease struct {
	pw.IdempotencyRecord
	// foreign is the count of other processes' commits that the writer
	// had noticed when the claim looked for its finished request; a batch
	// that has noticed more checks the key in the table (share.go).
	foreign int64
}

// ClaimIdempotency takes key for rec, or takes over a stale lease of the
// same request, or returns the existing record (in flight or done).
func (s *Store) ClaimIdempotency(ctx context.Context, rec *pw.IdempotencyRecord, staleBefore time.Time) (*pw.IdempotencyRecord, error) {
	s.leases.mu.Lock()
	if cur, ok := s.leases.m[rec.IdempotencyKey]; ok {
		if cur.Fingerprint != rec.Fingerprint || !cur.LockedAt.Before(staleBefore) {
			s.leases.mu.Unlock()
			c := cur.IdempotencyRecord
			return &c, nil
		}
		// The owner died before committing (or is stuck past its lease):
		// the same request takes the key over; the owner's token no longer
		// matches, so it can never post.
	}
	if s.leases.m == nil {
		s.leases.m = map[pw.IdempotencyKey]*lease{}
	}
	s.leases.m[rec.IdempotencyKey] = &lease{IdempotencyRecord: *rec, foreign: s.share.foreign.Load()}
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
	r, err := scanIdempotency(s.doneStmt.QueryRowContext(uncancellable(ctx), key.Principal, key.Key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapError("sqlite.ClaimIdempotency", err)
	}
	return r, nil
}

// dropLease forgets key's lease if token still owns it.
func (s *Store) dropLease(key pw.IdempotencyKey, token string) {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	if cur, ok := s.leases.m[key]; ok && cur.Token == token {
		delete(s.leases.m, key)
	}
}

// leasesOf returns a copy of the lease of each key in flight.
func (s *Store) leasesOf(keys []pw.IdempotencyKey) map[pw.IdempotencyKey]lease {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	out := make(map[pw.IdempotencyKey]lease, len(keys))
	for _, k := range keys {
		if cur, ok := s.leases.m[k]; ok {
			out[k] = *cur
		}
	}
	return out
}

// ReleaseIdempotency forgets an in-flight key still owned by token.
func (s *Store) ReleaseIdempotency(_ context.Context, key pw.IdempotencyKey, token string) error {
	s.dropLease(key, token)
	return nil
}

// DeleteIdempotencyBefore forgets finished keys first seen before t, but
// not the key of a pending intent: the settler pays an intent under its
// key and then marks it posted, in two writes, and a settler that stopped
// between them and came back after the retention could have found the key
// free and paid again (until 2026-11-29; storetest "IntentsKeepTheirKeys").
func (s *Store) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error) {
	var res sql.Result
	err := s.trackWrite(func() (err error) {
		res, err = s.write.ExecContext(uncancellable(ctx), `DELETE FROM idempotency WHERE created_at < ?
			AND NOT EXISTS (SELECT 1 FROM intents WHERE intents.principal = idempotency.principal
				AND intents.key = idempotency.key AND intents.status = 'pending')`, micros(t))
		return err
	})
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
