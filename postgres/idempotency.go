package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	pw "github.com/peakwallet/peakwallet"
)

// ClaimAttemptsMax bounds ClaimIdempotency's insert → take over → read
// cycle, which starts again only when the record vanished between its
// steps (released or cleaned up by another process).
const ClaimAttemptsMax = 3

// ClaimIdempotency inserts rec as in flight, takes over a stale lease of
// the same request, or returns the existing record. Each step is one atomic statement, so two
// processes claiming one key at once cannot both win: the insert has a
// primary key, and the takeover's WHERE is re-checked on the locked row
// (READ COMMITTED re-evaluates it after waiting), so only the first
// takeover still sees a stale locked_at.
func (s *Store) ClaimIdempotency(ctx context.Context, rec *pw.IdempotencyRecord,
	staleBefore time.Time) (*pw.IdempotencyRecord, error) {
	const op = "postgres.ClaimIdempotency"
	for range ClaimAttemptsMax {
		tag, err := s.leaseExec(ctx, `INSERT INTO idempotency
				(principal, key, fingerprint, token, state, status, body, created_at, locked_at)
			VALUES ($1, $2, $3, $4, 'in_flight', 0, NULL, $5, $6)
			ON CONFLICT (principal, key) DO NOTHING`,
			rec.Principal, rec.Key, rec.Fingerprint, rec.Token, rec.CreatedAt, rec.LockedAt)
		if err != nil {
			return nil, mapError(ctx, op, err)
		}
		if tag.RowsAffected() == 1 {
			return nil, nil
		}
		// The owner of a stale lease died before committing (a commit would
		// have marked the key done in the same transaction), so its request
		// moved nothing and may run again, but only as the same request
		// (same fingerprint): a different body is a reused key (storetest
		// IdempotencyStaleLease), which the ledger tells from the record.
		tag, err = s.leaseExec(ctx, `UPDATE idempotency SET token = $3, locked_at = $4
			WHERE principal = $1 AND key = $2 AND fingerprint = $5 AND state = 'in_flight' AND locked_at < $6`,
			rec.Principal, rec.Key, rec.Token, rec.LockedAt, rec.Fingerprint, staleBefore)
		if err != nil {
			return nil, mapError(ctx, op, err)
		}
		if tag.RowsAffected() == 1 {
			return nil, nil
		}
		existing, err := getOne(ctx, s.pool, scanIdempotency, `SELECT `+idempotencyColumns+` FROM idempotency i
			WHERE i.principal = $1 AND i.key = $2`, rec.Principal, rec.Key)
		if errNoRows(err) {
			continue
		}
		if err != nil {
			return nil, mapError(ctx, op, err)
		}
		return existing, nil
	}
	return nil, &pw.Error{Code: pw.EIDEMINUSE, Op: op,
		Message: "this idempotency key is changing hands; retry the request"}
}

// ReleaseIdempotency forgets a key still in flight under token. A key that
// was taken over or completed meanwhile is left alone.
func (s *Store) ReleaseIdempotency(ctx context.Context, key pw.IdempotencyKey, token string) error {
	_, err := s.leaseExec(ctx, `DELETE FROM idempotency
		WHERE principal = $1 AND key = $2 AND token = $3 AND state = 'in_flight'`,
		key.Principal, key.Key, token)
	return mapError(ctx, "postgres.ReleaseIdempotency", err)
}

// DeleteIdempotencyBefore forgets keys first seen before t, and says how
// many. It deletes in-flight keys too: t is far older than any lease.
func (s *Store) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency WHERE created_at < $1`, t)
	if err != nil {
		return 0, mapError(ctx, "postgres.DeleteIdempotencyBefore", err)
	}
	return tag.RowsAffected(), nil
}

// leaseExec runs one statement that takes, takes over or gives up a lease,
// in a transaction that does not wait for its WAL to reach the disk
// (synchronous_commit off): it is visible to every other session at once,
// which is all a lease is for. Durability is not: a lease lost in a
// database crash belonged to a request whose batch had not committed
// either (a batch commits synchronously, and its WAL comes after the
// lease's, so flushing it makes the lease durable too), and the batch
// that would finish it finds no lease and posts nothing. So a payment waits
// for one flush, its batch's, instead of two.
func (s *Store) leaseExec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue("SET LOCAL synchronous_commit TO OFF")
		b.Queue(sql, args...)
		br := tx.SendBatch(ctx, &b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		t, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		tag = t
		return br.Close()
	})
	return tag, err
}
