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

// TestTheSurgeQueueIsNotNormalWhileTheStoreCannotBeWritten: the surge
// queue accepts a busy payment by writing it, so while the store can be
// read but not written (a full disk, a read-only PostgreSQL) it queues
// nothing, and what it accepted earlier cannot settle. Its component must
// not read normal then, whatever its pending intents say. Until the review
// of 2026-11-28 a readiness error wrapping ErrWritesFailing counted as a
// reachable store, the queue's own look (pending intents: none) was shown,
// and the page read "normal" beside a degraded ledger store.
func TestTheSurgeQueueIsNotNormalWhileTheStoreCannotBeWritten(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := status.New(status.Config{Store: st, Now: func() time.Time { return t0 }})
	full := &pw.Error{Code: pw.EUNAVAILABLE, Message: "the last write failed 1s ago: the disk is full",
		Err: fmt.Errorf("%w: %w", pw.ErrWritesFailing, fmt.Errorf("database or disk is full"))}
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
