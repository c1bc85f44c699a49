// Package sqlite is peakwallet's embedded store: one SQLite database file in
// WAL mode, written by one connection, read by a pool. A commit is fsync'd
// (synchronous=FULL) before Update returns, so a 2xx means durable.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure the store.
type Options struct {
	// ReadConns bounds the pool of read connections; default 2×GOMAXPROCS.
	ReadConns int
	// WALFramesMax is the WAL length (pages) past which the checkpointer
	// restarts it; default WALFramesMax.
	WALFramesMax int
	// CheckpointEveryCommits wakes the checkpointer after this many
	// commits; default CheckpointEveryCommits.
	CheckpointEveryCommits int
	// ShareWait bounds Open's wait for another process serving reads from
	// its cache to give way (share.go); default ShareWaitMax.
	ShareWait time.Duration
	// WriteStallMax is how long writes may wait with none ending before
	// the readiness check says the writer is stalled; default
	// WriteStallMax (ready.go).
	WriteStallMax time.Duration
}

// Store is a peakwallet.Store on SQLite.
type Store struct {
	path  string
	write *sql.DB // exactly one connection: SQLite has one writer
	read  *sql.DB
	ckpt  *checkpointer
	stmts *stmtCache // the writer's prepared statements
	share *sharing   // other processes using the file (a handover)
	// doneStmt is the claim's look-up of a finished request, prepared once
	// for the read pool (database/sql prepares it on each connection as it
	// is first used there), not parsed and planned again for every claim.
	doneStmt *sql.Stmt
	cache    accountCache
	writes   writeHealth                                // what writes met, for Ping
	leases   leases                                     // idempotency claims in flight
	intentQ  *groupcommit.Queue[*pw.Intent, *pw.Intent] // intents waiting for their group commit
	finishQ  *groupcommit.Queue[intentFinish, struct{}] // settled intents waiting for theirs

	closeOnce sync.Once
	closeErr  error
}

var _ pw.Store = (*Store)(nil)

// FileName is the database file inside a data directory.
const FileName = "peakwallet.db"

// OpenDir opens (creating it if needed) the store in data directory dir.
func OpenDir(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &pw.Error{Code: pw.EUNAVAILABLE, Op: "sqlite.OpenDir", Message: "cannot create the data directory", Err: err}
	}
	return Open(filepath.Join(dir, FileName), opts)
}

// Open opens (creating it if needed) the database at path and applies any
// pending migrations.
func Open(path string, opts Options) (_ *Store, err error) {
	s := &Store{path: path}
	s.writes.stallMax = opts.WriteStallMax
	if s.writes.stallMax <= 0 {
		s.writes.stallMax = WriteStallMax
	}
	s.intentQ = s.newIntentQueue()
	s.finishQ = s.newFinishQueue()
	if opts.ShareWait <= 0 {
		opts.ShareWait = ShareWaitMax
	}
	// What is open so far, closed in reverse if Open fails before the
	// checkpointer is made (after that, Close closes it all).
	var opened []func() error
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				opened[i]()
			}
		}
	}()
	// First the locks beside the file: nothing is written (migrations
	// included) before another process's cache has stopped serving reads
	// (share.go).
	if s.share, err = openSharing(path, opts.ShareWait); err != nil {
		return nil, &pw.Error{Code: pw.EUNAVAILABLE, Op: "sqlite.Open", Message: "cannot take the database's lock files", Err: err}
	}
	opened = append(opened, s.share.close)
	if s.write, err = openDB(path, roleWriter); err != nil {
		return nil, err
	}
	opened = append(opened, s.write.Close)
	s.write.SetMaxOpenConns(1)
	s.write.SetMaxIdleConns(1)
	s.write.SetConnMaxLifetime(0)
	if s.read, err = openDB(path, roleReader); err != nil {
		return nil, err
	}
	opened = append(opened, s.read.Close)
	n := opts.ReadConns
	if n <= 0 {
		n = 2 * runtime.GOMAXPROCS(0)
	}
	s.read.SetMaxOpenConns(n)
	s.read.SetMaxIdleConns(n)
	if err := s.Migrate(context.Background()); err != nil {
		return nil, err
	}
	ckdb, err := openDB(path, roleCheckpointer)
	if err != nil {
		return nil, err
	}
	opened = append(opened, ckdb.Close)
	ckdb.SetMaxOpenConns(1)
	ckdb.SetMaxIdleConns(1)
	ckdb.SetConnMaxLifetime(0)
	if _, err := ckdb.Exec(fmt.Sprintf("PRAGMA busy_timeout = %d", restartWaitMillis)); err != nil {
		return nil, err
	}
	if opts.WALFramesMax <= 0 {
		opts.WALFramesMax = WALFramesMax
	}
	if opts.CheckpointEveryCommits <= 0 {
		opts.CheckpointEveryCommits = CheckpointEveryCommits
	}
	s.ckpt = newCheckpointer(ckdb, opts.WALFramesMax, opts.CheckpointEveryCommits)
	s.stmts = &stmtCache{db: s.write}
	opened = []func() error{s.Close}
	if err := s.write.QueryRow("PRAGMA data_version").Scan(&s.share.version); err != nil {
		return nil, mapError("sqlite.Open", err)
	}
	s.share.watch(s.checkCache)
	if s.doneStmt, err = s.read.Prepare("SELECT " + idempotencyColumns + " FROM idempotency WHERE principal = ? AND key = ?"); err != nil {
		return nil, mapError("sqlite.Open", err)
	}
	return s, nil
}

// checkCache runs an empty write transaction: its look at data_version
// empties the account cache if another process has committed since the
// writer last looked. A store alone again runs it before its cache serves
// reads (share.go).
func (s *Store) checkCache() error {
	ctx, cancel := context.WithTimeout(context.Background(), shareValidateTimeout)
	defer cancel()
	return s.Update(ctx, func(context.Context, pw.Tx) error { return nil })
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database after folding the WAL into it, unless
// another process has the file open (checkpointer.close). Closing again
// does nothing and returns the first Close's error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		shared := true // when it cannot tell, it assumes company, as share.go does
		if s.share != nil && s.share.lock != nil {
			other, err := lockedByOther(s.share.lock)
			shared = err != nil || other
		}
		err := s.ckpt.close(shared)
		if s.doneStmt != nil {
			err = errors.Join(err, s.doneStmt.Close())
		}
		if s.share != nil {
			err = errors.Join(err, s.share.close())
		}
		s.closeErr = errors.Join(err, s.stmts.close(), s.ckpt.db.Close(), s.read.Close(), s.write.Close())
	})
	return s.closeErr
}

// Ping is the readiness check (/readyz): it returns nil when the database
// can be read and written. Reading is tried (one query on the read pool);
// writing is judged from what the store's writes met (ready.go), without
// a write of its own while writes work: it fails while the writer is
// stalled (writes wait and none has ended for WriteStallMax) and after a
// write failed on a storage error (a full disk, an I/O error) until a
// write begun after it commits rows, its own at most every
// WriteRecheckInterval.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return mapError("sqlite.Ping", err)
	}
	return s.writes.ready(ctx, s.checkWrite)
}

// Migrate applies the embedded migrations not yet applied, each in its own
// transaction, and returns the versions it applied.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.MigrateVersions(ctx)
	return err
}

// MigrateVersions is Migrate, reporting what it applied.
func (s *Store) MigrateVersions(ctx context.Context) ([]int, error) {
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch())) STRICT`); err != nil {
		return nil, mapError("sqlite.Migrate", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var applied []int
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", name)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		done, err := s.applyMigration(ctx, version, string(body))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		if done {
			applied = append(applied, version)
		}
	}
	return applied, nil
}

func (s *Store) applyMigration(ctx context.Context, version int, body string) (bool, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, mapError("sqlite.Migrate", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
		return false, mapError("sqlite.Migrate", err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return false, mapError("sqlite.Migrate", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES (?)", version); err != nil {
		return false, mapError("sqlite.Migrate", err)
	}
	return true, mapError("sqlite.Migrate", tx.Commit())
}

// Update runs fn in one immediate (write-locked) transaction and commits it.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx pw.Tx) error) (err error) {
	since := s.writes.begin()
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		s.writes.end(false, err)
		return mapError("sqlite.Update", err)
	}
	defer func() { s.writes.end(true, err) }()      // runs last, once the writer is free
	defer s.stmts.prepareWanted(uncancellable(ctx)) // runs after the rollback below frees the connection
	defer sqlTx.Rollback()
	// The statements run without ctx's cancellation (the transaction itself
	// still ends with ctx): see uncancellable.
	changed, err := s.share.notice(uncancellable(ctx), sqlTx)
	if err != nil {
		return mapError("sqlite.Update", outOfTime(ctx, err))
	}
	if changed {
		s.cache.clear()
	}
	epoch := s.cache.epochNow()
	t := &tx{tx: sqlTx, store: s}
	if err := fn(uncancellable(ctx), t); err != nil {
		return outOfTime(ctx, err)
	}
	if err := sqlTx.Commit(); err != nil {
		return mapError("sqlite.Update", outOfTime(ctx, err))
	}
	if t.wrote {
		s.writes.cleared(since) // rows committed: the disk takes writes again
	}
	for _, ch := range t.written {
		s.cache.committed(ch, epoch)
		for _, r := range ch.Idempotency {
			s.dropLease(r.IdempotencyKey, r.Token)
		}
	}
	s.ckpt.committed()
	return nil
}

// Sharing reports what the store knows of other processes using its file
// (a binary handover, ADR 0036): the commits of other connections its
// writer has noticed since it was opened, and whether another store has
// the file open now.
func (s *Store) Sharing() (othersCommitsNoticed int64, shared bool) {
	return s.share.foreign.Load(), !s.share.alone.Load()
}

// WALRestarts counts the checkpointer's RESTART checkpoints since the
// store was opened: those that restarted the WAL, and those that could not.
func (s *Store) WALRestarts() (done, failed int64) {
	return s.ckpt.restarts.Load(), s.ckpt.restartsFailed.Load()
}

// outOfTime returns err, unless database/sql rolled the transaction back
// when ctx ended and err is what a statement or the commit found then:
// sql.ErrTxDone, or, for a query whose rows it closed, "sql: Rows are
// closed" (unexported), or whatever else a statement cut short reported.
// Once ctx has ended, nothing of the transaction was written, and the
// failure is unavailable, out of time. Not internal, which the ledger
// would take for one bad command and retry the batch's commands one by
// one, and which a client hears as a 500 (a handover test met it: a batch
// that waited for the other process's write lock began with too little
// time left; TestATransactionOutOfTimeIsNotInternal). A domain error keeps
// its code.
func outOfTime(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	var pe *pw.Error
	if errors.As(err, &pe) && pe.Code != pw.EINTERNAL && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return &pw.Error{Code: pw.EUNAVAILABLE, Op: "sqlite.Update",
		Message: "the transaction ran out of time and was rolled back; nothing was written", Err: errors.Join(ctx.Err(), err)}
}

// uncancellable strips ctx of its cancellation for the driver. With a
// cancellable context, go-sqlite3 runs every statement on a new goroutine
// and waits for it on a channel, so that it can interrupt it: under load
// the writer then queues for the scheduler behind every caller, once per
// statement. SQLite statements here are short and bounded (busy_timeout),
// so they run inline; deadlines are enforced around them (the ledger's
// CommitTimeout, the request's deadline before a command is taken).
func uncancellable(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// mapError turns driver errors into domain errors by their SQLite result
// codes, never by message text.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pw.Error
	if errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the store did not answer in time", Err: err}
	}
	if code, extended, ok := resultCode(err); ok {
		switch code {
		case codeConstraint:
			if extended == codeConstraintUnique || extended == codeConstraintPrimaryKey {
				return &pw.Error{Code: pw.EIDEMINUSE, Op: op, Message: "this request was already applied", Err: err}
			}
		case codeBusy, codeLocked:
			return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the database is locked by another writer", Err: err}
		case codeFull:
			// The store still answers reads: ErrWritesFailing says so, as a
			// read-only PostgreSQL's refusal does, and admission's breaker
			// does not turn the reads away (admission.storeFailed).
			return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the disk is full; nothing was written", Err: fmt.Errorf("%w: %w", pw.ErrWritesFailing, err)}
		case codeIOErr, codeCantOpen, codeReadonly:
			return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Message: "the database file cannot be written; nothing was written", Err: err}
		}
	}
	return &pw.Error{Code: pw.EINTERNAL, Op: op, Err: err}
}

// SQLite result codes (https://sqlite.org/rescode.html), the same for
// every driver.
const (
	codeReadonly             = 8
	codeBusy                 = 5
	codeLocked               = 6
	codeInterrupt            = 9
	codeIOErr                = 10
	codeFull                 = 13
	codeCantOpen             = 14
	codeConstraint           = 19
	codeConstraintPrimaryKey = 1555
	codeConstraintUnique     = 2067
)

// Roles of the store's connection pools.
type dbRole int

const (
	roleWriter dbRole = iota
	roleReader
	roleCheckpointer
)
