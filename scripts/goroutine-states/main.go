// Command goroutine-states reads a Go runtime trace (for example from
// `serve --debug-addr`: /debug/pprof/trace?seconds=3) and sums, over every
// goroutine whose stack ever shows a function matching a pattern, the time
// spent in each scheduling state: Running, Runnable (ready, waiting for a
// Go processor), Syscall (including cgo calls such as SQLite's) and
// Waiting (blocked). docs/overload.md uses it to show how long the
// ledger's committer waits for a processor during a surge:
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
			g = &goroutine{dur: map[string]time.Duration{}, count: map[string]int{}}
			gs[id] = g
		}
		// The goroutine's own stack, not the event's: the event's stack is
		// the waker's when one goroutine unblocks another.
		for fr := range st.Stack.Frames() {
			if strings.Contains(fr.Func, marker) {
				g.marked = true
			}
		}
		from, _ := st.Goroutine()
		if g.since != 0 {
			g.dur[from.String()] += ev.Time().Sub(g.since)
			g.count[from.String()]++
		}
		g.since = ev.Time()
	}
	total := map[string]time.Duration{}
	count := map[string]int{}
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
	return nil
}
