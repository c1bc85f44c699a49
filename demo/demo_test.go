package demo_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/demo"
	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/status"
)

// now is the fixed clock: the Wednesday before US Thanksgiving 2026.
var now = time.Date(2026, 11, 25, 18, 20, 0, 0, time.UTC)

func TestDemoPopulatesAndForecasts(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "demo.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := func() time.Time { return now }
	l := ledger.New(st, ledger.Options{Now: clock})
	t.Cleanup(func() { l.Close() })
	sec := auth.New(st, l, auth.Options{Now: clock, Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	cal, _ := forecast.LoadCalendar("US")
	svc := status.New(status.Config{Store: st, Calendar: cal, Now: clock})
	rep, err := demo.Populate(ctx, st, l, sec, svc, demo.Options{Now: now, Seed: 1, Calendar: cal, Users: 4, Transfers: 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Users != 4 || rep.Merchants != 3 || rep.TrafficHours != demo.WeeksDefault*168 {
		t.Fatalf("report = %+v", rep)
	}
	if _, err := demo.Populate(ctx, st, l, sec, svc, demo.Options{Now: now, Seed: 1, Calendar: cal}); err == nil {
		t.Fatal("a second demo filled a non-empty instance")
	}
	o, err := svc.Outlook(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.Forecast == nil || len(o.Forecast.Hours) != 168 || o.Backtest == nil {
		t.Fatalf("outlook = %+v", o)
	}
	bt := o.Backtest
	t.Logf("demo back-test over %d weeks: model MAPE %.1f%% peak %.1f%%; naive MAPE %.1f%% peak %.1f%%; sigma %.3f; holiday ×%.2f from %d; promos %+v",
		bt.Weeks, 100*bt.Model.MAPE, 100*bt.Model.PeakMAPE, 100*bt.Naive.MAPE, 100*bt.Naive.PeakMAPE, bt.Sigma, o.Forecast.Holiday.Multiplier, o.Forecast.Holiday.LearnedFrom, o.Forecast.Effects)
	if bt.Model.PeakMAPE >= bt.Naive.PeakMAPE {
		t.Fatalf("on the demo data the model's peak-hour error %.3f is not below naive's %.3f", bt.Model.PeakMAPE, bt.Naive.PeakMAPE)
	}
	var thanksgiving, busy bool
	for _, h := range o.Forecast.Hours {
		for _, e := range h.Events {
			thanksgiving = thanksgiving || e == "Thanksgiving Day"
		}
		busy = busy || h.BusyProbability > 0.5
	}
	if !thanksgiving || !busy {
		t.Fatalf("forecast lacks the holiday peak (holiday %v, a busy hour %v)", thanksgiving, busy)
	}
	if r := o.Recommendation; r == nil || r.AddRPS <= 0 || !strings.Contains(r.Summary, "add") {
		t.Fatalf("recommendation = %+v", r)
	}
	snap, err := svc.Snapshot(ctx, status.Live{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Maintenance) != 1 || len(snap.Incidents) != 1 || !strings.HasPrefix(snap.BestTime, "Best time to pay today: ") {
		t.Fatalf("snapshot: %d windows, %d incidents, %q", len(snap.Maintenance), len(snap.Incidents), snap.BestTime)
	}
	t.Log(snap.BestTime)
}
