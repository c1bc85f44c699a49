package status_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/status"
)

// TestAStoreThatCannotBeWrittenIsStillRead: when the readiness check says
// the store can be read but not written (a full disk, a stalled writer),
// the status page says so, and still shows what the store holds (here a
// maintenance window), instead of "cannot be reached" and what it last
// read. Until 2026-11-27 every readiness failure was "cannot be reached".
// openSnapshots opens a store and a status service on it at t0.
func openSnapshots(t *testing.T) (*sqlite.Store, *status.Service) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, status.New(status.Config{Store: st, Now: func() time.Time { return t0 }})
}

// diskFull is the readiness error of a SQLite store whose last write met a
// full disk: it can be read, not written.
var diskFull = &pw.Error{Code: pw.EUNAVAILABLE, Message: "the last write failed 1s ago: the disk is full",
	Err: fmt.Errorf("%w: %w", pw.ErrWritesFailing, fmt.Errorf("database or disk is full"))}

func TestAStoreThatCannotBeWrittenIsStillRead(t *testing.T) {
	st, svc := openSnapshots(t)
	ctx := context.Background()
	if err := svc.PutDemoWindow(ctx, status.Window{ID: "mw_1", Title: "Database upgrade", Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	full := diskFull
	down := &pw.Error{Code: pw.EUNAVAILABLE, Message: "the database cannot be reached"}
	for _, tt := range []struct {
		name      string
		ready     error
		detail    string
		maintains int
	}{
		{"cannot be written", full, "can be read but not written", 1},
		{"cannot be reached", down, "cannot be reached", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := status.New(status.Config{Store: st, Now: func() time.Time { return t0 }}) // nothing cached
			snap, err := svc.Snapshot(ctx, status.Live{ReadyErr: tt.ready})
			if err != nil {
				t.Fatal(err)
			}
			var ledger status.Component
			for _, c := range snap.Components {
				if c.Name == status.ComponentLedger {
					ledger = c
				}
			}
			if ledger.State != status.StateDegraded || !strings.Contains(ledger.Detail, tt.detail) {
				t.Errorf("the ledger reads %+v; want degraded, %q", ledger, tt.detail)
			}
			if len(snap.Maintenance) != tt.maintains {
				t.Errorf("%d windows shown, want %d", len(snap.Maintenance), tt.maintains)
			}
		})
	}
}

// TestTheSurgeQueueIsNotNormalWhileTheStoreCannotBeWritten: the surge
// queue accepts a busy payment by writing it, so while the store can be
// read but not written (a full disk, a read-only PostgreSQL) it queues
// nothing, and what it accepted earlier cannot settle. Its component must
// not read normal then, whatever its pending intents say. Until the review
// of 2026-11-28 a readiness error wrapping ErrWritesFailing counted as a
// reachable store, the queue's own look (pending intents: none) was shown,
// and the page read "normal" beside a degraded ledger store.
func TestTheSurgeQueueIsNotNormalWhileTheStoreCannotBeWritten(t *testing.T) {
	_, svc := openSnapshots(t)
	full := diskFull
	queue := func(context.Context) status.Component {
		return status.Component{Name: status.ComponentSurgeQueue, State: status.StateNormal}
	}
	snap, err := svc.Snapshot(context.Background(), status.Live{ReadyErr: full, SurgeQueue: queue})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range snap.Components {
		if c.Name == status.ComponentSurgeQueue {
			if c.State != status.StateDegraded || !strings.Contains(c.Detail, "cannot be queued") {
				t.Fatalf("the surge queue reads %+v while the store cannot be written; want degraded, payments cannot be queued", c)
			}
			return
		}
	}
	t.Fatal("no surge queue component")
}
