package forecast_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/forecast"
)

// monday is a Monday 00:00 UTC: hour 0 of the week.
var monday = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// shape is a weekly pattern: quiet nights, a lunch and an evening peak,
// busier Fridays and Saturdays.
func shape(how int) float64 {
	day, h := how/24, how%24
	v := 0.15 + 0.6*math.Exp(-sq(float64(h)-12.5)/6) + 1.0*math.Exp(-sq(float64(h)-19.5)/5)
	if day == 4 || day == 5 {
		v *= 1.3
	}
	return v
}

func sq(x float64) float64 { return x * x }

// synthetic is trend × season × noise, with holidays multiplied by surge.
func synthetic(weeks int, seed uint64, cal *forecast.Calendar, surge float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	y := make([]float64, weeks*forecast.SeasonHours)
	for i := range y {
		t := monday.Add(time.Duration(i) * time.Hour)
		v := 1000 * (1 + 0.004*float64(i)/24) * shape(i%forecast.SeasonHours) * math.Exp(0.12*r.NormFloat64())
		if _, ok := cal.Holiday(t, time.UTC); ok {
			v *= surge
		}
		y[i] = math.Round(v)
	}
	return y
}

func mustCal(t *testing.T, days ...string) *forecast.Calendar {
	t.Helper()
	c, err := forecast.LoadCalendar("none")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		if err := c.Add(d, "Holiday "+d); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestSeasonalityRecovered(t *testing.T) {
	cal := mustCal(t)
	y := synthetic(10, 1, cal, 1)
	m := forecast.Fit(y, 0)
	// The ratio of the Friday-evening index to the Tuesday-night one is the
	// shape's ratio, within the noise.
	fri, night := 4*24+19, 1*24+3
	want := shape(fri) / shape(night)
	got := m.SeasonIndex(fri) / m.SeasonIndex(night)
	if math.Abs(got-want)/want > 0.15 {
		t.Fatalf("seasonal ratio %.2f, want %.2f ± 15%%", got, want)
	}
	f := m.Forecast(forecast.SeasonHours)
	peak := 0
	for i := range f {
		if f[i] > f[peak] {
			peak = i
		}
	}
	// 10 weeks of history end on a Monday 00:00: the peak must be a
	// Friday or Saturday evening.
	if d, h := peak/24, peak%24; (d != 4 && d != 5) || h < 18 || h > 21 {
		t.Fatalf("forecast peak at day %d hour %d, want Fri/Sat evening", d, h)
	}
}

func TestHolidayMultiplierLearnedAndApplied(t *testing.T) {
	// Three past holidays surge ×2; one ahead, in the forecast week.
	cal := mustCal(t, "2026-01-21", "2026-02-04", "2026-02-19", "2026-03-18")
	y := synthetic(10, 2, cal, 2)
	f, err := forecast.Predict(forecast.Input{Start: monday, History: y, Calendar: cal}, forecast.SeasonHours)
	if err != nil {
		t.Fatal(err)
	}
	if f.Holiday.LearnedFrom != 3 || math.Abs(f.Holiday.Multiplier-2) > 0.2 {
		t.Fatalf("holiday effect = %+v, want ≈2 learned from 3", f.Holiday)
	}
	var onHoliday, other int
	for _, h := range f.Hours {
		if len(h.Events) > 0 {
			onHoliday++
			if h.Expected != h.Baseline*f.Holiday.Multiplier {
				t.Fatalf("holiday hour %v: expected %.1f, baseline %.1f", h.Start, h.Expected, h.Baseline)
			}
		} else {
			other++
		}
	}
	if onHoliday != 24 || other != forecast.SeasonHours-24 {
		t.Fatalf("%d holiday hours, want 24", onHoliday)
	}
}

func TestPromotionLearnedFromPast(t *testing.T) {
	cal := mustCal(t)
	y := synthetic(8, 3, cal, 1)
	past := forecast.Promotion{ID: "p1", Name: "flash sale", Start: monday.Add(5*168*time.Hour + 10*time.Hour), End: monday.Add(5*168*time.Hour + 14*time.Hour), Multiplier: 5}
	for i := 0; i < 4; i++ {
		y[5*168+10+i] *= 3 // it really tripled the load, not ×5
	}
	next := forecast.Promotion{ID: "p2", Name: "flash sale", Start: monday.Add(8*168*time.Hour + 34*time.Hour), End: monday.Add(8*168*time.Hour + 36*time.Hour), Multiplier: 5}
	f, err := forecast.Predict(forecast.Input{Start: monday, History: y, Calendar: cal, Promotions: []forecast.Promotion{past, next}}, 48)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Effects) != 1 || f.Effects[0].LearnedFrom != 1 || math.Abs(f.Effects[0].Multiplier-3) > 0.5 {
		t.Fatalf("effects = %+v, want ≈3 learned from 1", f.Effects)
	}
	if h := f.Hours[34]; math.Abs(h.Multiplier-f.Effects[0].Multiplier) > 1e-9 || len(h.Events) != 1 {
		t.Fatalf("promotion hour = %+v", h)
	}
}

// TestBacktestBeatsNaive is the claim of docs/forecast.md on a series with
// trend, season, noise and holidays (fixed seed): the model's error in
// peak hours is below the naive "same hour last week".
func TestBacktestBeatsNaive(t *testing.T) {
	cal := mustCal(t, "2026-02-04", "2026-02-25", "2026-03-11")
	y := synthetic(12, 4, cal, 1.8)
	bt, err := forecast.RunBacktest(forecast.Input{Start: monday, History: y, Calendar: cal}, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("model MAPE %.3f peak %.3f; naive MAPE %.3f peak %.3f; sigma %.3f", bt.Model.MAPE, bt.Model.PeakMAPE, bt.Naive.MAPE, bt.Naive.PeakMAPE, bt.Sigma)
	if bt.Hours != 4*168 || bt.Model.MAPE <= 0 || bt.Naive.MAPE <= 0 {
		t.Fatalf("back-test = %+v", bt)
	}
	if bt.Model.PeakMAPE >= bt.Naive.PeakMAPE || bt.Model.MAPE >= bt.Naive.MAPE {
		t.Fatalf("model (MAPE %.3f, peak %.3f) does not beat naive (%.3f, %.3f)", bt.Model.MAPE, bt.Model.PeakMAPE, bt.Naive.MAPE, bt.Naive.PeakMAPE)
	}
	if bt.Sigma < 0.05 || bt.Sigma > 0.3 {
		t.Fatalf("sigma %.3f, the noise is 0.12", bt.Sigma)
	}
}

func TestBusyProbability(t *testing.T) {
	c := forecast.Capacity{RPS: 100, PeakToMean: 1}
	if p := forecast.BusyProbability(100*3600, c, 0.2); math.Abs(p-0.5) > 1e-9 {
		t.Fatalf("at capacity: %v, want 0.5", p)
	}
	lo, hi := forecast.BusyProbability(50*3600, c, 0.2), forecast.BusyProbability(150*3600, c, 0.2)
	if lo > 0.01 || hi < 0.95 {
		t.Fatalf("half capacity %v, 1.5× capacity %v", lo, hi)
	}
	if p := forecast.BusyProbability(1, forecast.Capacity{}, 0.2); p != -1 {
		t.Fatalf("unknown capacity: %v", p)
	}
}

func TestRecommend(t *testing.T) {
	cal := mustCal(t)
	y := synthetic(6, 5, cal, 1)
	promo := forecast.Promotion{ID: "p", Name: "mega sale", Start: monday.Add(6*168*time.Hour + 4*24*time.Hour + 19*time.Hour), Multiplier: 3}
	promo.End = promo.Start.Add(2 * time.Hour)
	f, err := forecast.Predict(forecast.Input{Start: monday, History: y, Calendar: cal, Promotions: []forecast.Promotion{promo}}, forecast.SeasonHours)
	if err != nil {
		t.Fatal(err)
	}
	c := forecast.Capacity{RPS: 2, PeakToMean: 1.25}
	r := forecast.Recommend(f, c, []forecast.Promotion{promo})
	if r.AddRPS <= 0 || r.Utilization <= forecast.TargetUtilization || len(r.Stagger) != 1 || !r.PeakHour.Equal(promo.Start) && !r.PeakHour.Equal(promo.Start.Add(time.Hour)) {
		t.Fatalf("recommendation = %+v", r)
	}
	if s := r.Stagger[0]; s.PeakAfter >= s.PeakBefore || s.To.Equal(promo.Start) {
		t.Fatalf("stagger = %+v", s)
	}
}

func TestCalendar(t *testing.T) {
	us, err := forecast.LoadCalendar("us")
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := us.Holiday(time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC), time.UTC); !ok || name != "Thanksgiving Day" {
		t.Fatalf("Thanksgiving 2026: %q %v", name, ok)
	}
	if _, err := forecast.LoadCalendar("XX"); err == nil {
		t.Fatal("unknown country accepted")
	}
}
