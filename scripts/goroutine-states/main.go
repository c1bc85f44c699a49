// Command goroutine-states reads a Go runtime trace (for example from
// `serve --debug-addr`: /debug/pprof/trace?seconds=3) and sums, over every
// goroutine whose stack ever shows a function matching a pattern, the time
// spent in each scheduling state: Running, Runnable (ready, waiting for a
// Go processor), Syscall (including cgo calls such as SQLite's) and
// Waiting (blocked). It then lists the calls after which the goroutines
// came back without a processor (a cgo or system call that outlasted the
// scheduler's patience, about 20 µs), by how long they then waited for one.
// docs/overload-journal.md uses it to show how long the ledger's committer waits
// for a processor during a surge, and after which SQLite calls:
//
//	go run . surge.trace 'ledger.(*Ledger).commitOnce'
//
// It is its own module so that the wallet does not depend on
// golang.org/x/exp for a diagnostic.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goroutine-states TRACE FUNCTION-SUBSTRING")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "goroutine-states:", err)
		os.Exit(1)
	}
}

type goroutine struct {
	since  trace.Time
	marked bool
	dur    map[string]time.Duration
	count  map[string]int
	// entered is the call the goroutine last went into (→ Syscall); site
	// is that call while the goroutine, back from it without a processor
	// (Syscall → Runnable), waits to run. after and times sum those waits
	// by call.
	site, entered string
	after         map[string]time.Duration
	times         map[string]int
}

// callSite names a stack by its C function (a cgo call) or innermost
// frame, and the innermost frame of the wallet's own code.
func callSite(st trace.Stack) string {
	var leaf, own string
	for fr := range st.Frames() {
		if leaf == "" || strings.Contains(fr.Func, "_Cfunc_") && !strings.Contains(leaf, "_Cfunc_") {
			leaf = fr.Func
		}
		if own == "" && strings.Contains(fr.Func, "peakwallet/peakwallet/") {
			own = fr.Func
		}
	}
	return leaf + " ← " + own
}

func run(path, marker string, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		return err
	}
	gs := map[trace.GoID]*goroutine{}
	var first, last trace.Time
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		g := gs[id]
		if g == nil {
			g = &goroutine{dur: map[string]time.Duration{}, count: map[string]int{}, after: map[string]time.Duration{}, times: map[string]int{}}
			gs[id] = g
		}
		// The goroutine's own stack, not the event's: the event's stack is
		// the waker's when one goroutine unblocks another.
		for fr := range st.Stack.Frames() {
			if strings.Contains(fr.Func, marker) {
				g.marked = true
			}
		}
		from, to := st.Goroutine()
		if g.since != 0 {
			g.dur[from.String()] += ev.Time().Sub(g.since)
			g.count[from.String()]++
			if from == trace.GoRunnable && g.site != "" {
				g.after[g.site] += ev.Time().Sub(g.since)
				g.times[g.site]++
				g.site = ""
			}
		}
		if to == trace.GoSyscall {
			g.entered = callSite(st.Stack) // the stack is the caller's as it enters
		}
		if from == trace.GoSyscall && to == trace.GoRunnable {
			g.site = g.entered
		}
		g.since = ev.Time()
	}
	total := map[string]time.Duration{}
	count := map[string]int{}
	after := map[string]time.Duration{}
	times := map[string]int{}
	n := 0
	for _, g := range gs {
		if !g.marked {
			continue
		}
		n++
		for k, v := range g.dur {
			total[k] += v
			count[k] += g.count[k]
		}
		for k, v := range g.after {
			after[k] += v
			times[k] += g.times[k]
		}
	}
	fmt.Fprintf(out, "trace of %v; %d goroutines with %q on their stack\n", last.Sub(first), n, marker)
	var all time.Duration
	states := make([]string, 0, len(total))
	for k, v := range total {
		states = append(states, k)
		all += v
	}
	sort.Strings(states)
	for _, k := range states {
		fmt.Fprintf(out, "%-10s %14v %5.1f %%  %8d times, mean %v\n", k, total[k], 100*float64(total[k])/float64(max(all, 1)), count[k], total[k]/time.Duration(max(1, count[k])))
	}
	sites := make([]string, 0, len(after))
	for k := range after {
		sites = append(sites, k)
	}
	sort.Slice(sites, func(i, j int) bool { return after[sites[i]] > after[sites[j]] })
	if len(sites) > 0 {
		fmt.Fprintln(out, "Runnable after coming back from a call without a processor, by call:")
	}
	for _, k := range sites[:min(len(sites), 10)] {
		fmt.Fprintf(out, "  %14v %6d times, mean %-12v %s\n", after[k], times[k], after[k]/time.Duration(max(1, times[k])), k)
	}
	return nil
}
