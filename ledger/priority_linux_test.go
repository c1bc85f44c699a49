package ledger

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/sqlite"
)

// niceStore notes the nice value of the thread that runs each Update.
type niceStore struct {
	pw.Store
	mu    sync.Mutex
	nices []int
}

func (s *niceStore) Update(ctx context.Context, fn func(context.Context, pw.Tx) error) error {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.nices = append(s.nices, 20-p)
	s.mu.Unlock()
	return s.Store.Update(ctx, fn)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		// Raising a priority needs CAP_SYS_NICE; CI runs as root.
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root: this test raises a thread's priority")
		}
		t.Skip("raising a thread's priority needs root (CAP_SYS_NICE)")
	}
}

// TestLedgerBatchesCommitAtHigherPriority: the sequencer commits every
// batch through withCommitPriority (ADR 0032), on a real store.
func TestLedgerBatchesCommitAtHigherPriority(t *testing.T) {
	needRoot(t)
	st, err := sqlite.OpenDir(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ns := &niceStore{Store: st}
	l := New(ns, Options{})
	defer l.Close()
	ctx := context.Background()
	for range 3 {
		if _, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if len(ns.nices) == 0 {
		t.Fatal("no batch reached the store")
	}
	for i, n := range ns.nices {
		if n != CommitNice {
			t.Fatalf("batch %d committed at nice %d, want %d", i, n, CommitNice)
		}
	}
}

// TestCommitRunsAtHigherPriority: a batch commits on a thread at
// CommitNice, and the thread goes back to the pool at its old priority.
func TestCommitRunsAtHigherPriority(t *testing.T) {
	needRoot(t)
	l := &Ledger{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	nice := func() int {
		p, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
		if err != nil {
			t.Fatal(err)
		}
		return 20 - p
	}
	before := nice() // threads start at the process's nice value
	var during, tid int
	l.withCommitPriority(func() {
		during, tid = nice(), unix.Gettid()
	})
	if during != CommitNice {
		t.Fatalf("the commit ran at nice %d, want %d", during, CommitNice)
	}
	// The thread is back in the pool at its old priority (or, had that
	// failed, ended: then it is gone).
	if p, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && 20-p != before {
		t.Fatalf("thread %d is at nice %d after the commit, want %d again", tid, 20-p, before)
	}
}
