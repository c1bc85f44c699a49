// Package postgres is peakwallet's production store, on PostgreSQL through
// pgx. It translates between rows and the root package's types and maps
// driver error codes to *peakwallet.Error; every rule of money lives in
// ledger/, above the peakwallet.Store interface.
//
// Several `peakwallet serve` processes may share one database: every
// mutable row is changed only under the row locks that Tx.LockAccounts
// takes (in ID order), so READ COMMITTED is enough and the processes
// serialize on the accounts they touch, not on the whole database.
package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

// Limits on retrying a write transaction. Serialization failures and
// deadlocks are expected under contention (and routine on distributed SQL
// engines), so Update retries them, but a bounded number of times: past
// that the store is overloaded and says so (unavailable → busy) instead of
// spinning.
const (
	UpdateAttemptsMax  = 5
	UpdateBackoffFirst = 2 * time.Millisecond
	UpdateBackoffMax   = 50 * time.Millisecond
)

// rollbackTimeout bounds a rollback, which runs on a context detached from
// the caller's (a cancelled caller must still release its locks).
const rollbackTimeout = 5 * time.Second

// Options configure a Store. Zero values are sensible defaults.
type Options struct {
	// MaxConns is the pool size; 0 keeps the DSN's pool_max_conns or
	// pgxpool's default (the larger of 4 and the number of CPUs).
	MaxConns int32
	// MinConns connections are kept open even when idle.
	MinConns int32
	// Schema, when set, holds all of the store's tables: it is created if
	// missing and set as the search_path of every pooled connection. Tests
	// use it to get an isolated schema each inside one database.
	Schema string
	// ApplicationName is reported in pg_stat_activity; "peakwallet" by
	// default, unless the DSN sets application_name.
	ApplicationName string
}

// Store implements peakwallet.Store on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	schema  string
	intentQ *groupcommit.Queue[*pw.Intent, *pw.Intent]      // intents waiting for their group commit
	claimQ  *groupcommit.Queue[*pw.IdempotencyRecord, bool] // new keys' claims waiting for theirs
	claims  openClaims                                      // claims in claimQ, until their outcome is known
	owner   *leaseOwner                                     // this store's identity as a holder of idempotency leases
	// readOnlyReset is when Ping last emptied the pool of sessions that
	// said read-only (unix ns; Ping).
	readOnlyReset atomic.Int64
	// customPlans: the store set plan_cache_mode = force_custom_plan for
	// its sessions (ADR 0034).
	customPlans bool
}

var _ pw.Store = (*Store)(nil)

// Open connects to the database named by dsn (a URL or key=value string as
// pgx accepts) and applies any missing migrations.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	const op = "postgres.Open"
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &pw.Error{Code: pw.EINVALID, Op: op, Message: "the PostgreSQL DSN is malformed", Err: err}
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	params := cfg.ConnConfig.RuntimeParams
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "peakwallet"
		if opts.ApplicationName != "" {
			params["application_name"] = opts.ApplicationName
		}
	}
	customPlans := false
	if cfg.ConnConfig.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement && cfg.ConnConfig.StatementCacheCapacity > 0 {
		// Only pgx's default mode prepares named statements, and only then
		// are start-up parameters sent: in the other modes every run is
		// planned anyway, and default_query_exec_mode=exec is what runs
		// behind PgBouncer in transaction mode, which refuses start-up
		// parameters it does not know (docs/operations.md says what to set
		// in the database there). A plan_cache_mode the DSN sets itself is
		// left as it is.
		if _, asked := params["plan_cache_mode"]; !asked {
			// pgx prepares every statement once per connection, and
			// PostgreSQL then reuses a generic plan for it: one made while
			// a table was small (a sequential scan of a young idempotency
			// table, say) stays in use after the table has grown, until an
			// ANALYZE invalidates it — never, with autovacuum off. Measured
			// after a 30 s surge (docs/overload-journal.md): locking a
			// batch's idempotency keys took 40-45 ms instead of well under
			// one. A custom plan for each execution costs a little planning
			// and follows the table's size (ADR 0034; Write lets the
			// foreign-key checks keep their generic plans).
			params["plan_cache_mode"] = "force_custom_plan"
			customPlans = true
		}
		// Planned for their values, a batch's lookups of 130 keys among
		// 11,000 accounts were sequential scans with PostgreSQL's default
		// random_page_cost of 4 (5.0 ms, against 1.5 ms by the index): the
		// store's hot rows are in memory, or on SSDs, where a random read
		// costs about what a sequential one does (PostgreSQL's
		// documentation suggests 1.1 for SSDs). ADR 0034. Set once a
		// connection is open, and only where nobody chose a value (the
		// server's configuration, the database's or the role's, or the
		// DSN): a start-up parameter would override theirs.
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, `SELECT set_config('random_page_cost', '1.1', false)
				FROM pg_settings WHERE name = 'random_page_cost' AND source = 'default'`)
			return err
		}
	}
	if opts.Schema != "" {
		// Set at connection start-up, so that every statement on every
		// pooled connection, including those of the migration, resolves
		// table names in the schema.
		params["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	s := &Store{pool: pool, schema: opts.Schema, owner: newLeaseOwner(), customPlans: customPlans}
	s.intentQ = s.newIntentQueue()
	s.claimQ = s.newClaimQueue()
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the store's lease-owner beat (its leases are then free for
// the next claim) and closes every connection of the pool, waiting for
// those in use.
func (s *Store) Close() error {
	s.owner.close(s)
	s.pool.Close()
	return nil
}

// Ping is the readiness check: nil when the database answers and takes
// writes. A standby (in recovery) or a server set read-only answers reads
// and refuses every write, so it is not ready: its error wraps
// peakwallet.ErrWritesFailing (the status page still reads it). Until
// 2026-11-27 Ping only pinged, and /readyz stayed green on a standby.
//
// A session set read-only outside recovery may only be stale: a
// default_transaction_read_only set on the database or the role (ALTER
// DATABASE … SET, the usual switch for maintenance) is read when a session
// starts, and a pooled session keeps it after the setting is lifted. Until
// the review of 2026-11-28 the store so stayed unready, and refused every
// write, until pgxpool retired its connections (MaxConnLifetime, an hour):
// TestReadinessComesBackWhenTheDatabaseTakesWritesAgain. So Ping then
// empties the pool (sessions in use are closed when released) and asks
// again on a new session, at most once every readOnlyResetInterval. A
// standby is not reset: recovery is the server's, not the session's.
func (s *Store) Ping(ctx context.Context) error {
	const op = "postgres.Ping"
	recovery, readOnly, err := s.writable(ctx)
	if err == nil && readOnly && !recovery && s.mayResetPool() {
		s.pool.Reset()
		recovery, readOnly, err = s.writable(ctx)
	}
	if err != nil {
		return mapError(ctx, op, err)
	}
	if recovery || readOnly {
		why := "it is set read-only"
		if recovery {
			why = "it is a standby, in recovery"
		}
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Err: pw.ErrWritesFailing,
			Message: "the database answers but accepts no writes: " + why}
	}
	return nil
}

// readOnlyResetInterval bounds how often Ping empties the pool of sessions
// that say read-only (Ping): while the database stays read-only, each
// reset costs every pooled connection a new session, and the status page
// asks for readiness at every poll.
const readOnlyResetInterval = time.Second

// writable asks a pooled session whether the server is a standby and
// whether its transactions are read-only.
func (s *Store) writable(ctx context.Context) (recovery, readOnly bool, err error) {
	var setting string
	err = s.pool.QueryRow(ctx, "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").Scan(&recovery, &setting)
	return recovery, setting == "on", err
}

// mayResetPool reports whether readOnlyResetInterval has passed since the
// last reset of the pool by Ping, and if so counts this one.
func (s *Store) mayResetPool() bool {
	now := time.Now().UnixNano()
	last := s.readOnlyReset.Load()
	return now-last >= int64(readOnlyResetInterval) && s.readOnlyReset.CompareAndSwap(last, now)
}

// Update runs fn in one READ COMMITTED transaction and commits it. With
// PostgreSQL's default synchronous_commit=on, COMMIT returns only once the
// WAL is flushed, which is the durability the API promises. On a
// serialization failure or deadlock, or when the statement never reached
// the server, the whole of fn runs again, at most UpdateAttemptsMax times.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx pw.Tx) error) error {
	const op = "postgres.Update"
	for attempt := 1; ; attempt++ {
		err := s.updateOnce(ctx, fn)
		if err == nil {
			return nil
		}
		if attempt >= UpdateAttemptsMax || !retryable(err) || ctx.Err() != nil {
			return mapError(ctx, op, err)
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return mapError(ctx, op, ctx.Err())
		case <-t.C:
		}
	}
}

// updateOnce is one attempt of Update. Errors from fn are returned as they
// are, so that the ledger's own errors reach its caller untouched.
func (s *Store) updateOnce(ctx context.Context, fn func(ctx context.Context, tx pw.Tx) error) error {
	return s.inTx(ctx, "postgres.Update", func(ptx pgx.Tx) error { return fn(ctx, &tx{tx: ptx, customPlans: s.customPlans}) })
}

// inTx runs fn in a READ COMMITTED transaction and commits it. Errors from
// fn are returned as they are; an error of COMMIT without the server's
// answer is "outcome unknown" (commitError).
func (s *Store) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	ptx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer func() {
		// Runs on every path, panics included; after a successful Commit,
		// pgx makes it a no-op that never reaches the server.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		_ = ptx.Rollback(rctx)
		cancel()
	}()
	if err := fn(ptx); err != nil {
		return err
	}
	// Who the transaction is, asked before COMMIT: should COMMIT's answer
	// be lost, the database can still say whether it committed.
	var id xactID
	if err := ptx.QueryRow(ctx, "SELECT pg_current_xact_id()::text, pg_postmaster_start_time()").Scan(&id.xid, &id.started); err != nil {
		return err
	}
	err = commitError(op, ptx.Commit(ctx))
	if !errors.Is(err, pw.ErrCommitUnknown) {
		return err
	}
	return s.resolveCommit(ctx, op, id, err)
}

// xactID names a transaction: its ID, and the start of the server that
// gave it (an ID no write-ahead log kept may be given again after a crash).
type xactID struct {
	xid     string
	started time.Time
}

// Resolving a cut COMMIT (resolveCommit).
const (
	// CommitResolveMax bounds the search for a cut COMMIT's outcome when
	// the caller's deadline is further away.
	CommitResolveMax = 5 * time.Second
	// CommitResolveMin is the least time the search is given, even past
	// the caller's deadline: a COMMIT whose answer was cut off by the
	// deadline itself (a server short of CPU sent it late) is usually
	// settled in a millisecond by a database that is there, and its true
	// outcome, a little late, serves the caller better than "unknown". It
	// is the margin a Go client with a 2 s deadline leaves between the
	// deadline it asks for and its own (http.PreferWait), so that such a
	// client usually still hears the answer.
	CommitResolveMin = 200 * time.Millisecond
	// commitResolvePause is the longest pause between two questions.
	commitResolvePause = 100 * time.Millisecond
)

// errNotCommitted is the cause of a cut COMMIT that the database says did
// not happen: nothing was written, and Update runs the transaction again.
var errNotCommitted = errors.New("the connection was cut during COMMIT, and the database says the transaction did not commit")

// resolveCommit learns the outcome of a transaction whose COMMIT got no
// answer, by asking the database on another connection for the status of
// its ID (pg_xact_status), again and again until the caller's deadline (at
// most CommitResolveMax, at least CommitResolveMin):
//   - committed, from the server that gave the ID: success;
//   - aborted or still in progress on a server started since (a crash:
//     the transaction's session is gone), or an ID "in the future" (a
//     crash lost its very assignment): it did not commit, errNotCommitted;
//   - committed on a server started since: unknown, as the ID may have been
//     given again to a transaction after the crash and the status may be
//     that one's;
//   - in progress on the same server (its session has not yet seen the cut
//     or is still committing), or no answer: asked again.
//
// What stays unknown at the deadline is returned as unknown (code
// outcome_unknown): the request's idempotency key settles it.
func (s *Store) resolveCommit(ctx context.Context, op string, id xactID, unknown error) error {
	budget := CommitResolveMax
	if deadline, ok := ctx.Deadline(); ok {
		budget = min(budget, max(time.Until(deadline), CommitResolveMin))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	notCommitted := &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the database was cut off during the commit, which did not happen", Err: errNotCommitted}
	for attempt := 1; ; attempt++ {
		var status *string
		var started time.Time
		err := s.pool.QueryRow(ctx, "SELECT pg_xact_status($1::xid8), pg_postmaster_start_time()", id.xid).Scan(&status, &started)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == codeInvalidParameterValue:
			return notCommitted // "transaction ID … is in the future"
		case err != nil || status == nil:
			// Not asked (the database is away), or an ID too old to know.
		case !started.Equal(id.started):
			if *status != "committed" {
				return notCommitted
			}
			return unknown
		case *status == "committed":
			return nil
		case *status == "aborted":
			return notCommitted
		}
		t := time.NewTimer(min(commitResolvePause, UpdateBackoffFirst<<min(attempt, 6))) // (a shift bounded before it overflows)
		select {
		case <-ctx.Done():
			t.Stop()
			return unknown
		case <-t.C:
		}
	}
}

// commitError classifies an error of COMMIT. Without the server's answer,
// COMMIT may have reached it and committed: the outcome is unknown, and
// never reported as "nothing happened". Even an error pgx calls safe to
// retry: when the connection is cut just after COMMIT is written, pgx can
// report "conn closed", which it marks safe to retry, for a COMMIT the
// server received and carried out (TestACommitCutAtCOMMITIsSettledByTheRetry;
// until 2026-11-26 such a payment was run again, and refused as its key
// was done, or answered 503 as if nothing had moved).
func commitError(op string, err error) error {
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) {
		return err
	}
	return &pw.Error{Code: pw.EOUTCOMEUNKNOWN, Op: op, Message: "the commit's outcome is unknown",
		Err: errors.Join(pw.ErrCommitUnknown, err)}
}

// backoff returns a jittered delay before attempt+1: exponential from
// UpdateBackoffFirst, capped at UpdateBackoffMax, uniformly in [d/2, d) so
// that colliding transactions do not collide again in lock step.
func backoff(attempt int) time.Duration {
	d := UpdateBackoffFirst << (attempt - 1)
	if d > UpdateBackoffMax || d <= 0 {
		d = UpdateBackoffMax
	}
	return d/2 + rand.N(d/2)
}

// errNoRows reports whether err says a single-row query found nothing.
func errNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
