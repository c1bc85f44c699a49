package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

var _ pw.IntentStore = (*Store)(nil)

const intentColumns = "id, principal, key, fingerprint, body, status, transfer_id, error_code, error_message, created_at, updated_at, authorized, credential"

// intentReadColumns are the columns an intent is read from: cancelled_by is
// written only by CancelIntent, never at insertion.
const intentReadColumns = intentColumns + ", cancelled_by"

// intentsLockKey serializes the creation of intents across processes, so
// that the count of pending intents cannot be raced past its bound. It is
// an arbitrary constant, unique among the store's advisory locks.
const intentsLockKey = 0x5057_494e_54 // "PWINT"

// CreateIntent implements peakwallet.IntentStore. Intents are written in
// group commits (internal/groupcommit): concurrent calls share one
// transaction, one advisory lock and one pool connection. One transaction
// each, a surge of payments that allowed respond-async took the pool's
// connections and the lock from the ledger, which paid 5 % of its payments
// (docs/overload-journal.md, "Evening").
func (s *Store) CreateIntent(ctx context.Context, in *pw.Intent) (*pw.Intent, error) {
	existing, err := s.intentQ.Do(ctx, in)
	if replayed := (*pw.Replayed)(nil); errors.As(err, &replayed) {
		return nil, replayed
	}
	return existing, mapError(ctx, "postgres.CreateIntent", err)
}

func (s *Store) newIntentQueue() *groupcommit.Queue[*pw.Intent, *pw.Intent] {
	return &groupcommit.Queue[*pw.Intent, *pw.Intent]{Max: pw.IntentBatchWritesMax, Timeout: pw.IntentBatchTimeout, Write: s.writeIntentBatch}
}

// writeIntentBatch writes a batch in one transaction. Each intent's
// outcome: nil, the intent its key already has (in the store or earlier in
// the batch), or busy past IntentsPendingMax; or the transaction's error
// for all.
func (s *Store) writeIntentBatch(ctx context.Context, batch []*pw.Intent) ([]groupcommit.Result[*pw.Intent], error) {
	results := make([]groupcommit.Result[*pw.Intent], len(batch))
	// A cut COMMIT is "outcome unknown", not "busy": the intents may be
	// stored, and the settler would then pay what the client was told
	// had not been taken (TestAnIntentCutAtCOMMITIsNotRefusedBusy).
	err := s.inTx(ctx, "postgres.CreateIntent", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(intentsLockKey)); err != nil {
			return err
		}
		var pending int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM intents WHERE status = 'pending'").Scan(&pending); err != nil {
			return err
		}
		// One query for the keys already used and one insert for the new
		// intents (as the ledger's batches), not two round trips an intent.
		principals, keys := make([]string, len(batch)), make([]string, len(batch))
		for i, in := range batch {
			principals[i], keys[i] = in.Principal, in.IdempotencyKey
		}
		rows, err := tx.Query(ctx, "SELECT "+intentReadColumns+" FROM intents WHERE (principal, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
			principals, keys)
		if err != nil {
			return err
		}
		var stored []*pw.Intent
		for rows.Next() {
			in, err := scanIntent(rows)
			if err != nil {
				rows.Close()
				return err
			}
			stored = append(stored, in)
		}
		if rows.Close(); rows.Err() != nil {
			return rows.Err()
		}
		// The ledger's records of the same keys (finished, or in flight in
		// any process), so that a key already paid is answered as paid, and
		// one held with other content as reused, not queued again.
		rows, err = tx.Query(ctx, "SELECT "+idempotencyColumns+" FROM idempotency i "+
			"WHERE (i.principal, i.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
			principals, keys)
		if err != nil {
			return err
		}
		recorded, err := pgx.CollectRows(rows, scanIdempotency)
		if err != nil {
			return err
		}
		fresh := pw.PlanIntents(batch, pending, stored, recorded,
			func(i int, ex *pw.Intent) { results[i].Value = ex },
			func(i int, err error) { results[i].Err = err })
		if len(fresh) == 0 {
			return nil
		}
		n := len(fresh)
		ids, ps, ks, fps := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		bodies, created, updated, authorized, credentials := make([][]byte, n), make([]time.Time, n), make([]time.Time, n), make([]bool, n), make([]string, n)
		for i, in := range fresh {
			ids[i], ps[i], ks[i], fps[i] = in.ID, in.Principal, in.IdempotencyKey, in.Fingerprint
			bodies[i], created[i], updated[i], authorized[i], credentials[i] = in.Body, in.CreatedAt, in.UpdatedAt, in.Authorized, in.Credential
		}
		_, err = tx.Exec(ctx, "INSERT INTO intents ("+intentColumns+") "+
			"SELECT u.id, u.principal, u.key, u.fingerprint, u.body, 'pending', NULL, NULL, NULL, u.created_at, u.updated_at, u.authorized, u.credential "+
			"FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::timestamptz[], $7::timestamptz[], $8::boolean[], $9::text[]) "+
			"AS u(id, principal, key, fingerprint, body, created_at, updated_at, authorized, credential)",
			ids, ps, ks, fps, bodies, created, updated, authorized, credentials)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// Intent implements peakwallet.IntentStore.
func (s *Store) Intent(ctx context.Context, id string) (*pw.Intent, error) {
	in, err := scanIntent(s.pool.QueryRow(ctx, "SELECT "+intentReadColumns+" FROM intents WHERE id = $1", id))
	return in, mapError(ctx, "postgres.Intent", err)
}

// IntentByKey implements peakwallet.IntentStore.
func (s *Store) IntentByKey(ctx context.Context, principal, key string) (*pw.Intent, error) {
	in, err := scanIntent(s.pool.QueryRow(ctx, "SELECT "+intentReadColumns+" FROM intents WHERE principal = $1 AND key = $2", principal, key))
	return in, mapError(ctx, "postgres.IntentByKey", err)
}

// PendingIntents implements peakwallet.IntentStore.
func (s *Store) PendingIntents(ctx context.Context, after string, limit int) ([]*pw.Intent, error) {
	return s.readIntents(ctx, "postgres.PendingIntents", "SELECT "+intentReadColumns+" FROM intents WHERE status = 'pending' AND id > $1 ORDER BY id LIMIT $2", after, limit)
}

// Intents implements peakwallet.IntentStore: a range of the primary key.
func (s *Store) Intents(ctx context.Context, after string, limit int) ([]*pw.Intent, error) {
	return s.readIntents(ctx, "postgres.Intents", "SELECT "+intentReadColumns+" FROM intents WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
}

// PendingIntentsOf implements peakwallet.IntentStore, through the partial
// index of pending intents by principal (migration 0008).
func (s *Store) PendingIntentsOf(ctx context.Context, principal, after string, limit int) ([]*pw.Intent, error) {
	return s.readIntents(ctx, "postgres.PendingIntentsOf", "SELECT "+intentReadColumns+" FROM intents "+pendingOfWhere, after, principal, limit)
}

const pendingOfWhere = "WHERE status = 'pending' AND id > $1 AND principal = $2 ORDER BY id LIMIT $3"

func (s *Store) readIntents(ctx context.Context, op, query string, args ...any) ([]*pw.Intent, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	defer rows.Close()
	var out []*pw.Intent
	for rows.Next() {
		in, err := scanIntent(rows)
		if err != nil {
			return nil, mapError(ctx, op, err)
		}
		out = append(out, in)
	}
	return out, mapError(ctx, op, rows.Err())
}

// PendingIntentIDs implements peakwallet.IntentStore: one range of the
// pending intents' partial index (intents_pending), in its order.
func (s *Store) PendingIntentIDs(ctx context.Context, limit int) ([]string, error) {
	const op = "postgres.PendingIntentIDs"
	rows, err := s.pool.Query(ctx, "SELECT id FROM intents WHERE status = 'pending' ORDER BY id LIMIT $1", limit)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapError(ctx, op, err)
}

// FinishIntent implements peakwallet.IntentStore.
func (s *Store) FinishIntent(ctx context.Context, id, status, transferID string, e *pw.IntentError, at time.Time) error {
	var code, msg *string
	if e != nil {
		code, msg = &e.Code, &e.Message
	}
	var tr *string
	if transferID != "" {
		tr = &transferID
	}
	_, err := s.pool.Exec(ctx, "UPDATE intents SET status = $1, transfer_id = $2, error_code = $3, error_message = $4, updated_at = $5 "+
		"WHERE id = $6 AND status = 'pending'", status, tr, code, msg, at, id)
	return mapError(ctx, "postgres.FinishIntent", err)
}

func scanIntent(row pgx.Row) (*pw.Intent, error) {
	var in pw.Intent
	var transfer, code, msg *string
	var cancelledBy string
	err := row.Scan(&in.ID, &in.Principal, &in.IdempotencyKey, &in.Fingerprint, &in.Body, &in.Status,
		&transfer, &code, &msg, &in.CreatedAt, &in.UpdatedAt, &in.Authorized, &in.Credential, &cancelledBy)
	if errNoRows(err) {
		return nil, pw.Errorf(pw.ENOTFOUND, "intent not found")
	}
	if err != nil {
		return nil, err
	}
	if transfer != nil {
		in.TransferID = *transfer
	}
	if code != nil {
		// A message the row lacks (it never should) reads as none, not a
		// panic: verify reports such an intent.
		in.Error = &pw.IntentError{Code: *code, CancelledBy: cancelledBy}
		if msg != nil {
			in.Error.Message = *msg
		}
	}
	in.CreatedAt, in.UpdatedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC()
	return &in, nil
}

// CancelIntent implements peakwallet.IntentStore. The intent's row and its
// key's record are locked in that order (the settler's batch locks only
// the record, and marks the intent afterwards in a transaction of its
// own), so the cancellation and the batch that would pay the key are
// ordered by the record's lock: whichever commits first, the other finds
// the key done.
//
// rec (an operator's cancellation's audit record) is written last, in the
// same transaction (through the ledger transaction type, as a ledger
// batch's records are): the audit head's row is the last lock taken, as in
// every transaction that appends, so the intent's and the key's locks
// never wait on it in the other order.
func (s *Store) CancelIntent(ctx context.Context, id string, claim *pw.IdempotencyRecord, e *pw.IntentError, at time.Time, rec *pw.CommitRecord) (*pw.Intent, *pw.IdempotencyRecord, error) {
	const op = "postgres.CancelIntent"
	var in *pw.Intent
	var done *pw.IdempotencyRecord
	err := s.inTx(ctx, op, func(ptx pgx.Tx) error {
		in, done = nil, nil
		var err error
		in, err = scanIntent(ptx.QueryRow(ctx, "SELECT "+intentReadColumns+" FROM intents WHERE id = $1 FOR UPDATE", id))
		if err != nil || in.Status != pw.IntentPending {
			return err
		}
		if in.Principal != claim.Principal || in.IdempotencyKey != claim.Key {
			return pw.Errorf(pw.EINVALID, "the claim is not for intent %s's key", id)
		}
		key, err := getOne(ctx, ptx, scanIdempotency, "SELECT "+idempotencyColumns+" FROM idempotency i WHERE i.principal = $1 AND i.key = $2 FOR UPDATE",
			claim.Principal, claim.Key)
		switch {
		case errNoRows(err):
			return pw.Errorf(pw.EIDEMINUSE, "the claim of the intent's Idempotency-Key was lost")
		case err != nil:
			return err
		case key.State == pw.IdempotencyDone:
			done = key
			return nil
		case key.Token != claim.Token:
			return pw.Errorf(pw.EIDEMINUSE, "another request with the intent's Idempotency-Key is in flight")
		}
		if _, err := ptx.Exec(ctx, "UPDATE idempotency SET state = 'done', status = $1, body = $2 WHERE principal = $3 AND key = $4 AND token = $5",
			claim.Status, claim.Body, claim.Principal, claim.Key, claim.Token); err != nil {
			return err
		}
		if _, err := ptx.Exec(ctx, "UPDATE intents SET status = 'failed', error_code = $1, error_message = $2, cancelled_by = $3, updated_at = $4 WHERE id = $5",
			e.Code, e.Message, e.CancelledBy, at, id); err != nil {
			return err
		}
		if rec != nil {
			if err := rec.Writer.WriteInCommit(ctx, &tx{tx: ptx}, []any{rec.Record}); err != nil {
				return err
			}
		}
		in.Status, in.Error, in.UpdatedAt = pw.IntentFailed, e, at.UTC()
		return nil
	})
	if err != nil {
		return nil, nil, mapError(ctx, op, err)
	}
	return in, done, nil
}
