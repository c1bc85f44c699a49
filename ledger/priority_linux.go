package ledger

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// CommitNice is the nice value of the OS thread that commits a batch.
//
// At a peak the committer is what pays: every payment waits for the one
// thread that writes its batch (SQLite has a single writer; the ledger
// commits one batch at a time by default). It competes for the cores with
// every request being parsed, authenticated and refused, and with the
// machine's other work, and the kernel shares them evenly unless told
// otherwise. At 3× load on two cores the committer ran slower than at
// capacity although a fifth of the CPU was idle. At nice -10 (about ten
// times the weight of a normal thread) four 30 s SQLite runs at 3× served
// 36,600-43,100 payments (68-86 % of capacity), against 35,600-37,400
// (68-76 %) in three runs without: about 9 % more on average, in runs
// that scatter by ±10 % (docs/overload.md).
const CommitNice = -10

var priorityDenied sync.Once

// withCommitPriority runs commit on a thread of its own at CommitNice and
// gives the thread back at its old priority. Without the right to raise a
// priority (CAP_SYS_NICE; root has it) commit simply runs as it would
// have, and that is said once in the log.
func (l *Ledger) withCommitPriority(commit func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		tid := unix.Gettid()
		// The raw getpriority answers 20 - nice.
		prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err == nil {
			err = unix.Setpriority(unix.PRIO_PROCESS, tid, CommitNice)
		}
		if err != nil {
			priorityDenied.Do(func() {
				l.log.Info("the ledger commits at normal priority (raising a thread's priority needs CAP_SYS_NICE)", "err", err)
			})
			runtime.UnlockOSThread()
			commit()
			return
		}
		commit()
		// Lowering a priority again is always allowed; should it fail, the
		// goroutine ends still locked to the thread, and the runtime ends
		// the thread rather than hand the committer's priority to others.
		if unix.Setpriority(unix.PRIO_PROCESS, tid, 20-prio) == nil {
			runtime.UnlockOSThread()
		}
	}()
	<-done
}
