package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/peakwallet/peakwallet/ledger"
)

// Report is a whole bench session: its runs, their ratios and the
// invariant check at the end.
type Report struct {
	Date     time.Time          `json:"date"`
	Command  string             `json:"command"`
	Machine  string             `json:"machine"`
	Store    string             `json:"store"`
	Mode     string             `json:"mode"` // in-process or http
	Runs     []*Result          `json:"runs"`
	Ratios   map[string]float64 `json:"ratios,omitempty"`
	Verify   *ledger.Report     `json:"verify,omitempty"`
	VerifyOK *bool              `json:"verify_ok,omitempty"`
	Notes    []string           `json:"notes,omitempty"`
}

// Markdown writes the report as a Markdown document.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "# peakwallet bench — %s\n\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- command: `%s`\n- machine: %s\n- store: %s\n- mode: %s\n\n", r.Command, r.Machine, r.Store, r.Mode)
	fmt.Fprintln(w, "| run | scenario | callers | transfers/request | transfers/s | p50 ms | p99 ms | p99.9 ms | busy | failed | mean batch |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range r.Runs {
		batch := "–"
		if x.MeanBatch > 0 {
			batch = fmt.Sprintf("%.1f", x.MeanBatch)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %.0f | %.2f | %.2f | %.2f | %.2f %% | %d | %s |\n",
			x.Label, x.Scenario, x.Callers, x.Batch, x.Throughput, x.P50ms, x.P99ms, x.P999ms, 100*x.BusyShare, x.Failed, batch)
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "\n| ratio | value |\n|---|---:|")
		for _, k := range sortedKeys(r.Ratios) {
			fmt.Fprintf(w, "| %s | %.2f |\n", k, r.Ratios[k])
		}
	}
	for _, x := range r.Runs {
		if x.Ledger != nil && x.Ledger.Batches > 0 {
			fmt.Fprintf(w, "\nBatch sizes of **%s** (store transactions by transfers carried): %s\n", x.Label, histogram(x.Ledger))
		}
		if len(x.Errors) > 0 {
			fmt.Fprintf(w, "\nAnswers other than success in **%s**: %s\n", x.Label, errorList(x.Errors))
		}
		if len(x.Timeline) > 0 {
			fmt.Fprintf(w, "\nTimeline of **%s** (capacity %.0f requests/s):\n\n", x.Label, x.CapacityUsed)
			fmt.Fprintln(w, "| second | offered | ok | busy | failed | p99 ms |\n|---:|---:|---:|---:|---:|---:|")
			for i, s := range x.Timeline {
				fmt.Fprintf(w, "| %d | %d | %d | %d | %d | %.2f |\n", i, s.Offered, s.OK, s.Busy, s.Failed, s.P99ms)
			}
		}
	}
	switch {
	case r.VerifyOK == nil:
		fmt.Fprintln(w, "\nInvariant check: not run (run `peakwallet verify` against the server's store).")
	case *r.VerifyOK:
		fmt.Fprintf(w, "\nInvariant check: **OK** — %d accounts, %d transfers, %d entries.\n", r.Verify.Accounts, r.Verify.Transfers, r.Verify.Entries)
	default:
		fmt.Fprintf(w, "\nInvariant check: **FAILED** — %d violations: %s\n", r.Verify.ViolationsN, strings.Join(r.Verify.Violations, "; "))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}

func histogram(s *ledger.Stats) string {
	var parts []string
	for i, n := range s.SizeHistogram {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d–%d: %d", 1<<i, 1<<(i+1)-1, n))
		}
	}
	return strings.Join(parts, ", ")
}

func errorList(m map[string]int64) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("`%s` %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
