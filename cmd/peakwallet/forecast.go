package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/status"
)

// runForecast prints the forecast of the next 7 days, the back-test
// against the naive baseline, and the recommendation.
func runForecast(ctx context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("forecast", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var sf storeFlags
	sf.register(fs, env)
	var stf statusFlags
	stf.register(fs, env)
	asJSON := fs.Bool("json", false, "print the outlook as JSON")
	record := fs.Float64("record-capacity", 0, "first record this capacity (req/s, as measured by peakwallet bench)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, _, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	svc, err := stf.service(store, nil, nil, nil)
	if err != nil {
		return err
	}
	if *record > 0 {
		if _, err := svc.SetCapacity(ctx, forecast.Capacity{RPS: *record, Source: "bench"}); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "recorded capacity: %.0f req/s (bench)\n", *record)
	}
	o, err := svc.Outlook(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := newJSONEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(o)
	}
	printOutlook(env.stdout, o, svc.Location())
	return nil
}

func printOutlook(w io.Writer, o *status.Outlook, loc *time.Location) {
	fmt.Fprintf(w, "history: %d hours of traffic\n", o.HistoryHours)
	if o.Note != "" {
		fmt.Fprintf(w, "note: %s\n", o.Note)
	}
	if bt := o.Backtest; bt != nil {
		fmt.Fprintf(w, "\nback-test: %d held-out weeks (%d hours), each forecast 168 hours ahead\n", bt.Weeks, bt.Hours)
		fmt.Fprintf(w, "  %-28s %8s %12s\n", "", "MAPE", "peak-hour")
		fmt.Fprintf(w, "  %-28s %7.1f%% %11.1f%%\n", "model (Holt-Winters+events)", 100*bt.Model.MAPE, 100*bt.Model.PeakMAPE)
		fmt.Fprintf(w, "  %-28s %7.1f%% %11.1f%%\n", "naive (same hour last week)", 100*bt.Naive.MAPE, 100*bt.Naive.PeakMAPE)
		verdict := "beats"
		if bt.Model.PeakMAPE >= bt.Naive.PeakMAPE {
			verdict = "does NOT beat"
		}
		fmt.Fprintf(w, "  the model %s the naive baseline on peak-hour error; log-spread σ = %.3f\n", verdict, bt.Sigma)
		for _, wk := range bt.Per {
			fmt.Fprintf(w, "  week of %s: model %.1f%% / %.1f%%, naive %.1f%% / %.1f%%\n", wk.Start.In(loc).Format(time.DateOnly),
				100*wk.Model.MAPE, 100*wk.Model.PeakMAPE, 100*wk.Naive.MAPE, 100*wk.Naive.PeakMAPE)
		}
	}
	if o.Capacity.RPS > 0 {
		fmt.Fprintf(w, "\ncapacity: %.0f req/s (%s), burst factor %.2f\n", o.Capacity.RPS, o.Capacity.Source, o.Capacity.PeakToMean)
	} else {
		fmt.Fprintln(w, "\ncapacity: unknown (record one: peakwallet forecast --record-capacity RPS)")
	}
	f := o.Forecast
	if f == nil {
		return
	}
	fmt.Fprintf(w, "holiday effect: ×%.2f (learned from %d past holidays; 0 means the default)\n", f.Holiday.Multiplier, f.Holiday.LearnedFrom)
	for _, e := range f.Effects {
		fmt.Fprintf(w, "promotion effect %q: ×%.2f learned from %d past event(s)\n", e.Name, e.Multiplier, e.LearnedFrom)
	}
	fmt.Fprintf(w, "\n%-16s %10s %10s %8s  %s\n", "day", "peak at", "peak req/s", "P(busy)", "events")
	for i := 0; i < len(f.Hours); {
		day := f.Hours[i].Start.In(loc).Format("Mon 2006-01-02")
		peak, pmax := f.Hours[i], 0.0
		var events []string
		for ; i < len(f.Hours) && f.Hours[i].Start.In(loc).Format("Mon 2006-01-02") == day; i++ {
			h := f.Hours[i]
			if h.Expected > peak.Expected {
				peak = h
			}
			pmax = max(pmax, h.BusyProbability)
			for _, e := range h.Events {
				if e := shownName(e); !slices.Contains(events, e) {
					events = append(events, e)
				}
			}
		}
		busy := "—"
		if peak.BusyProbability >= 0 {
			busy = fmt.Sprintf("%.0f%%", 100*pmax)
		}
		fmt.Fprintf(w, "%-16s %10s %10.1f %8s  %s\n", day, peak.Start.In(loc).Format("15:04"), peak.Expected/3600, busy, strings.Join(events, ", "))
	}
	if r := o.Recommendation; r != nil {
		fmt.Fprintf(w, "\nrecommendation: %s\n", r.Summary)
		for _, s := range r.Stagger {
			fmt.Fprintf(w, "  stagger %q from %s to %s: peak utilization %.0f%% → %.0f%%\n", s.Name,
				s.From.In(loc).Format("Mon 15:04"), s.To.In(loc).Format("Mon 15:04"), 100*s.PeakBefore, 100*s.PeakAfter)
		}
	}
}
