package ledger

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCommitRunsAtHigherPriority: a batch commits on a thread at
// CommitNice, and the thread goes back to the pool at its old priority.
func TestCommitRunsAtHigherPriority(t *testing.T) {
	if os.Geteuid() != 0 {
		// Raising a priority needs CAP_SYS_NICE; CI runs as root.
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run as root: this test raises a thread's priority")
		}
		t.Skip("raising a thread's priority needs root (CAP_SYS_NICE)")
	}
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
