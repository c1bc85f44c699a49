package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
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
	if err := s.owner.alive(ctx, s); err != nil {
		return nil, mapError(ctx, op, err)
	}
	// A new key (nearly every request) is claimed in a group commit with
	// the others arriving meanwhile; a key that exists already goes on
	// below, one statement at a time, from the takeover (the group commit
	// was its insert).
	done := s.claims.open(rec.Token)
	inserted, err := s.claimQ.Do(ctx, rec)
	if !errors.Is(err, groupcommit.ErrLeft) {
		done() // else once its batch is written (claimQ.Left)
	}
	if err != nil {
		return nil, mapError(ctx, op, err)
	} else if inserted {
		return nil, nil
	}
	for attempt := range ClaimAttemptsMax {
		if err := s.owner.alive(ctx, s); err != nil {
			return nil, mapError(ctx, op, err)
		}
		if attempt > 0 {
			tag, err := s.leaseExec(ctx, `INSERT INTO idempotency
					(principal, key, fingerprint, token, state, status, body, created_at, locked_at, owner)
				VALUES ($1, $2, $3, $4, 'in_flight', 0, NULL, $5, $6, $7)
				ON CONFLICT (principal, key) DO NOTHING`,
				rec.Principal, rec.Key, rec.Fingerprint, rec.Token, rec.CreatedAt, rec.LockedAt, s.owner.id)
			if err != nil {
				return nil, mapError(ctx, op, err)
			}
			if tag.RowsAffected() == 1 {
				return nil, nil
			}
		}
		// The owner of a stale lease died before committing (a commit would
		// have marked the key done in the same transaction), so its request
		// moved nothing and may run again, but only as the same request
		// (same fingerprint): a different body is a reused key (storetest
		// IdempotencyStaleLease), which the ledger tells from the record.
		// A lease is stale when it is older than the lease, or at once when
		// its owner has stopped beating (a process killed or cut off): after
		// a crash, a retry need not wait the lease's minute. Taking over
		// from an owner that is in fact alive is safe too: its batch checks
		// its token under the row's lock and posts nothing once it changed.
		tag, err := s.leaseExec(ctx, `UPDATE idempotency SET token = $3, locked_at = $4, owner = $7
			WHERE principal = $1 AND key = $2 AND fingerprint = $5 AND state = 'in_flight'
				AND (locked_at < $6 OR (owner <> '' AND NOT EXISTS (SELECT 1 FROM lease_owners o
					WHERE o.id = idempotency.owner AND o.seen_at > now() - make_interval(secs => $8))))`,
			rec.Principal, rec.Key, rec.Token, rec.LockedAt, rec.Fingerprint, staleBefore, s.owner.id,
			LeaseOwnerTimeout.Seconds())
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

// Claims of new keys in group commits (ClaimIdempotency).
const (
	// ClaimBatchMax bounds the claims of one group commit.
	ClaimBatchMax = 512
	// ClaimBatchTimeout bounds its transaction.
	ClaimBatchTimeout = 5 * time.Second
)

// newClaimQueue: a claim's caller leaves its group commit at its
// deadline (LeaveAtDeadline), its claim stored or not: the ledger gives
// back the claim of every claim that failed, in the background until the
// store answers (ledger.BeginIdempotent). A batch runs until the latest of
// its callers' deadlines, and until 2026-11-29 a payment that joined it
// with an earlier one waited for it: on a stalled database, up to 1.1 s
// past its own 1.8 s, and its client, which had given up, heard nothing
// (TestAStalledClaimHoldsNoCallerPastItsDeadline).
//
// The ledger's release of a claim whose caller left must not be made
// while the batch is still open: it would find no row (the batch's insert
// not committed yet), count as made, and the batch would then commit the
// claim, in_flight for the whole lease (TestALeftClaimStoredLaterIsGivenBack).
// So ReleaseIdempotency waits for such a claim's batch (s.claims), and
// fails if it cannot, to be tried again.
func (s *Store) newClaimQueue() *groupcommit.Queue[*pw.IdempotencyRecord, bool] {
	return &groupcommit.Queue[*pw.IdempotencyRecord, bool]{Max: ClaimBatchMax, Timeout: ClaimBatchTimeout,
		Write: s.writeClaimBatch, LeaveAtDeadline: true,
		Left: func(rec *pw.IdempotencyRecord, _ groupcommit.Result[bool]) { s.claims.close(rec.Token) }}
}

// openClaims are the tokens of claims in the group commit, each with a
// channel closed once its outcome is known.
type openClaims struct {
	mu      sync.Mutex
	byToken map[string]chan struct{}
}

// open notes a claim entering the group commit, and returns what notes
// its outcome known.
func (c *openClaims) open(token string) (done func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byToken == nil {
		c.byToken = map[string]chan struct{}{}
	}
	c.byToken[token] = make(chan struct{})
	return func() { c.close(token) }
}

func (c *openClaims) close(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.byToken[token]; ok {
		close(ch)
		delete(c.byToken, token)
	}
}

// wait waits until the claim under token, if in the group commit, has its
// outcome, or ctx ends.
func (c *openClaims) wait(ctx context.Context, token string) error {
	c.mu.Lock()
	ch := c.byToken[token]
	c.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeClaimBatch inserts a batch of claims as in flight, in one
// statement of one transaction without a wait for the WAL (see leaseExec),
// skipping the keys that exist already. Each claim's result says whether
// it was inserted: of two claims of one key in the batch, only the first.
// A payment used to claim its key in a transaction of its own, three round
// trips for each; a surge's claims now share them.
func (s *Store) writeClaimBatch(ctx context.Context, batch []*pw.IdempotencyRecord) ([]groupcommit.Result[bool], error) {
	n := len(batch)
	principals, keys, fingerprints, tokens := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, locked := make([]time.Time, n), make([]time.Time, n)
	for i, r := range batch {
		principals[i], keys[i], fingerprints[i], tokens[i] = r.Principal, r.Key, r.Fingerprint, r.Token
		created[i], locked[i] = r.CreatedAt, r.LockedAt
	}
	won := make(map[string]bool, n)
	err := s.leaseStatement(ctx, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var token string
			if err := rows.Scan(&token); err != nil {
				return err
			}
			won[token] = true
		}
		return rows.Err()
	}, `INSERT INTO idempotency
			(principal, key, fingerprint, token, state, status, body, created_at, locked_at, owner)
		SELECT u.principal, u.key, u.fingerprint, u.token, 'in_flight', 0, NULL, u.created_at, u.locked_at, $7
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
			WITH ORDINALITY AS u(principal, key, fingerprint, token, created_at, locked_at, n)
		ORDER BY u.n
		ON CONFLICT (principal, key) DO NOTHING
		RETURNING token`, principals, keys, fingerprints, tokens, created, locked, s.owner.id)
	if err != nil {
		return nil, err
	}
	out := make([]groupcommit.Result[bool], n)
	for i, r := range batch {
		out[i].Value = won[r.Token]
	}
	return out, nil
}

// ReleaseIdempotency forgets a key still in flight under token. A key that
// was taken over or completed meanwhile is left alone.
func (s *Store) ReleaseIdempotency(ctx context.Context, key pw.IdempotencyKey, token string) error {
	if err := s.claims.wait(ctx, token); err != nil {
		return mapError(ctx, "postgres.ReleaseIdempotency", err) // its claim may still be stored: again later
	}
	_, err := s.leaseExec(ctx, `DELETE FROM idempotency
		WHERE principal = $1 AND key = $2 AND token = $3 AND state = 'in_flight'`,
		key.Principal, key.Key, token)
	return mapError(ctx, "postgres.ReleaseIdempotency", err)
}

// DeleteIdempotencyBefore forgets keys first seen before t, and says how
// many. It deletes in-flight keys too: t is far older than any lease. It
// keeps the key of a pending intent: the settler pays an intent under its
// key and then marks it posted, in two writes, and a settler that stopped
// between them and came back after the retention could have found the key
// free and paid again (until 2026-11-29; storetest "IntentsKeepTheirKeys").
func (s *Store) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency i WHERE i.created_at < $1
		AND NOT EXISTS (SELECT 1 FROM intents n WHERE n.principal = i.principal AND n.key = i.key AND n.status = 'pending')`, t)
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
	err := s.leaseStatement(ctx, func(br pgx.BatchResults) error {
		var err error
		tag, err = br.Exec()
		return err
	}, sql, args...)
	return tag, err
}

// leaseStatement runs one statement as leaseExec does, and read takes its
// result.
func (s *Store) leaseStatement(ctx context.Context, read func(pgx.BatchResults) error, sql string, args ...any) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue("SET LOCAL synchronous_commit TO OFF")
		b.Queue(sql, args...)
		br := tx.SendBatch(ctx, &b)
		_, err := br.Exec()
		if err == nil {
			err = read(br)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// A process that holds idempotency leases beats: it stamps its row in
// lease_owners every LeaseOwnerBeat, and a process silent for
// LeaseOwnerTimeout is taken for dead, its leases free for the next claim
// of their keys (times are the database's own clock, so the processes'
// clocks do not matter).
const (
	LeaseOwnerBeat    = time.Second
	LeaseOwnerTimeout = 5 * time.Second
	// leaseOwnersKept is how long a silent process's row is kept; a lease
	// whose owner has no row is free all the same.
	leaseOwnersKept = 24 * time.Hour
)

// leaseOwner is this store's identity as a lease owner.
type leaseOwner struct {
	id      string
	running atomic.Bool // the beat has been written once and runs
	// mu, a lock its holder may stop waiting for (a one-slot semaphore),
	// guards starting and stopping. alive's first beat holds it for as
	// long as the store takes, which on a stalled database is the
	// caller's whole deadline, and a claim waiting behind it must be able
	// to leave at its own: a sync.Mutex kept a claim with 1.2 s waiting for
	// another's 4 s (TestAClaimOnAStoreStalledFromItsStartHoldsNoCallerPastItsDeadline).
	mu      chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

func newLeaseOwner() *leaseOwner {
	return &leaseOwner{id: pw.NewID("own", time.Now()), mu: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
}

func (o *leaseOwner) lock()   { o.mu <- struct{}{} }
func (o *leaseOwner) unlock() { <-o.mu }

// alive makes sure the owner's row exists before its first lease (a lease
// whose owner has no row is free at once) and starts the beat. Until the
// first beat is written, every claim tries it again.
func (o *leaseOwner) alive(ctx context.Context, s *Store) error {
	if o.running.Load() {
		return nil
	}
	select {
	case o.mu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer o.unlock()
	if o.running.Load() {
		return nil
	}
	select {
	case <-o.stop:
		return pw.Errorf(pw.EUNAVAILABLE, "the store is closed")
	default:
	}
	if err := o.beat(ctx, s); err != nil {
		return err
	}
	o.running.Store(true)
	go o.run(s)
	return nil
}

func (o *leaseOwner) beat(ctx context.Context, s *Store) error {
	_, err := s.leaseExec(ctx, `INSERT INTO lease_owners (id, seen_at) VALUES ($1, now())
		ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, o.id)
	return err
}

func (o *leaseOwner) run(s *Store) {
	defer close(o.stopped)
	t := time.NewTicker(LeaseOwnerBeat)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), LeaseOwnerBeat)
		_ = o.beat(ctx, s) // a missed beat only lets others take over this process's leases sooner
		if n%600 == 0 {
			_, _ = s.pool.Exec(ctx, `DELETE FROM lease_owners WHERE seen_at < now() - make_interval(secs => $1)`,
				leaseOwnersKept.Seconds())
		}
		cancel()
	}
}

// close stops the beat and removes the owner's row: what leases it still
// holds (requests that could not give their keys back) are free at once.
func (o *leaseOwner) close(s *Store) {
	o.lock()
	select {
	case <-o.stop:
		o.unlock()
		return
	default:
		close(o.stop)
	}
	running := o.running.Load()
	o.unlock()
	if running {
		<-o.stopped
		ctx, cancel := context.WithTimeout(context.Background(), LeaseOwnerBeat)
		_, _ = s.pool.Exec(ctx, `DELETE FROM lease_owners WHERE id = $1`, o.id)
		cancel()
	}
}
