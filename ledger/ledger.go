// Package ledger holds the rules of money over a peakwallet.Store: double
// entry, holds, refunds, atomic batches and idempotency, and the sequencer
// that commits many concurrent requests in one store transaction. It has no
// SQL and no HTTP.
package ledger

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
)

// Options configure a Ledger. Zero values are sensible defaults.
type Options struct {
	Now        func() time.Time // clock; time.Now by default
	Logger     *slog.Logger
	Registerer prometheus.Registerer // where the ledger's metrics go; none if nil
	// MaxBatch bounds the transfers one store transaction carries;
	// BatchUnitsMax by default. 1 gives the naive baseline that the bench
	// compares against: one store transaction per request.
	MaxBatch int
	// ConcurrentBatches is how many batches may commit at once: 1 (the
	// default) for a store with one writer (SQLite); more for a store with
	// row locks (PostgreSQL), where a batch's round trips and fsync then
	// overlap the next batch's work.
	ConcurrentBatches int
	// WritesPaused, when set, returns the error that writes answer while
	// the ledger must not be written (a read-only maintenance window: 503
	// maintenance, with Retry-After at its end), nil otherwise. Run's hold
	// expiry skips its passes while it says so, and a batch about to
	// commit answers its commands with it instead: a command that waited
	// in the queue while the window began is not committed in it (until
	// 2026-11-29 this was a bool, and only the hold expiry looked). A
	// hold past its expiry is released by the first pass after, and a
	// capture or void of it in between reads hold_expired all the same
	// (every batch expires the due holds it loads).
	WritesPaused func() error
}

// Ledger implements peakwallet.LedgerService over a Store.
type Ledger struct {
	store             pw.Store
	now               func() time.Time
	log               *slog.Logger
	metrics           *metrics
	maxBatch          int
	concurrentBatches int
	writesPaused      func() error

	queue   chan *command
	quit    chan struct{}
	stopped chan struct{}

	batchTime  atomic.Int64   // the usual time of a committed batch, in ns (an average; see commit)
	rel        releases       // idempotency releases to try again
	background sync.WaitGroup // goroutines that Close waits for besides the sequencer
}

var _ pw.LedgerService = (*Ledger)(nil)

// New returns a ledger over store and starts its sequencer; Close stops it.
func New(store pw.Store, opts Options) *Ledger {
	l := &Ledger{
		store: store, now: opts.Now, log: opts.Logger, metrics: newMetrics(opts.Registerer),
		queue: make(chan *command, QueueCommandsMax), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.writesPaused = opts.WritesPaused
	l.concurrentBatches = min(max(opts.ConcurrentBatches, 1), ConcurrentBatchesMax)
	l.maxBatch = opts.MaxBatch
	if l.maxBatch <= 0 || l.maxBatch > BatchUnitsMax {
		l.maxBatch = BatchUnitsMax
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	go l.loop()
	return l
}

// Close stops the sequencer after the batch in progress; commands still
// queued are answered "unavailable" and never run. It does not close the store.
func (l *Ledger) Close() error {
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	<-l.stopped
	l.background.Wait()
	return nil
}

// Store returns the ledger's store.
func (l *Ledger) Store() pw.Store { return l.store }

// clock returns the current time in UTC, truncated to microseconds so that
// every store keeps it exactly.
func (l *Ledger) clock() time.Time { return l.now().UTC().Truncate(time.Microsecond) }

// CreateAccount opens an account.
func (l *Ledger) CreateAccount(ctx context.Context, req pw.AccountCreate) (*pw.Account, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	c := newCommand(opAccount, pw.ClaimFromContext(ctx))
	c.account = &req
	return result[*pw.Account](l.submit(ctx, c))
}

// CreateTransfer moves money between two accounts of one currency.
func (l *Ledger) CreateTransfer(ctx context.Context, req pw.TransferCreate) (*pw.Transfer, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	c := newCommand(opTransfer, pw.ClaimFromContext(ctx))
	c.transfer = &req
	return result[*pw.Transfer](l.submit(ctx, c))
}

// CreateBatch posts many transfers in one commit.
func (l *Ledger) CreateBatch(ctx context.Context, req pw.BatchCreate) ([]pw.BatchResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	c := newCommand(opBatch, pw.ClaimFromContext(ctx))
	c.batch = &req
	return result[[]pw.BatchResult](l.submit(ctx, c))
}

// Refund returns money against an earlier transfer.
func (l *Ledger) Refund(ctx context.Context, transferID string, req pw.RefundCreate) (*pw.Transfer, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	c := newCommand(opRefund, pw.ClaimFromContext(ctx))
	c.targetID, c.refund = transferID, &req
	return result[*pw.Transfer](l.submit(ctx, c))
}

// CreateHold reserves funds.
func (l *Ledger) CreateHold(ctx context.Context, req pw.HoldCreate) (*pw.Hold, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	c := newCommand(opHold, pw.ClaimFromContext(ctx))
	c.hold = &req
	return result[*pw.Hold](l.submit(ctx, c))
}

// CaptureHold posts a pending hold, in full or in part, releasing the rest.
func (l *Ledger) CaptureHold(ctx context.Context, id string, req pw.HoldCapture) (*pw.Transfer, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	c := newCommand(opCapture, pw.ClaimFromContext(ctx))
	c.targetID, c.capture = id, &req
	return result[*pw.Transfer](l.submit(ctx, c))
}

// VoidHold releases a pending hold.
func (l *Ledger) VoidHold(ctx context.Context, id string) (*pw.Hold, error) {
	c := newCommand(opVoid, pw.ClaimFromContext(ctx))
	c.targetID = id
	return result[*pw.Hold](l.submit(ctx, c))
}

// result converts a command's outcome to its type.
func result[T any](v any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	return v.(T), nil
}
