// Package demo fills an empty instance with realistic, clearly marked
// demo data (metadata demo=true, "demo" in every name): users, merchants,
// transfers, and months of traffic history with a weekly rhythm and
// holiday surges, so that the status page shows a meaningful forecast at
// once. Every choice is seeded: the same seed and clock give the same data.
package demo

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/traffic"
)

// The shape of the demo traffic. The numbers are invented but plausible
// for a mid-sized wallet; docs/forecast.md reports the back-test on them.
const (
	// PeakRPS is a normal weekday evening's mean rate.
	PeakRPS = 55.0
	// CapacityRPS is the capacity the demo records as if measured by
	// peakwallet bench: a normal week stays under it, a holiday does not.
	CapacityRPS = 120.0
	// HolidaySurge multiplies the load of public holidays.
	HolidaySurge = 2.0
	// WeeklyGrowth is the trend: 0.7 % more traffic each week.
	WeeklyGrowth = 0.007
	// Noise is the log-normal spread of each hour around the pattern.
	Noise = 0.12
	// WeeksDefault is how much history the demo writes (about 3 months).
	WeeksDefault = 13
)

// classShare splits the load among the priority classes.
var classShare = []struct {
	class string
	share float64
}{{"payment", 0.55}, {"read", 0.30}, {"topup", 0.10}, {"report", 0.05}}

// Shape is the weekly pattern relative to a weekday evening peak (1.0):
// quiet nights, a lunch peak, an evening peak, busier Fridays and
// Saturdays, a quieter Sunday. how is the hour of the week (0 = Monday 00:00).
func Shape(how int) float64 {
	day, h := how/24, float64(how%24)
	v := 0.06 + 0.55*math.Exp(-(h-12.5)*(h-12.5)/6) + 0.9*math.Exp(-(h-19.5)*(h-19.5)/5)
	switch day {
	case 4, 5:
		v *= 1.3
	case 6:
		v *= 0.8
	}
	return v
}

// Spike is an extra multiplier on some hours of the history (a past
// promotion).
type Spike struct {
	Start, End time.Time
	Multiplier float64
}

// Series returns the hourly load of the weeks before end (hour-aligned):
// trend × weekly shape × noise, × HolidaySurge on cal's holidays and the
// spikes' multipliers.
func Series(end time.Time, weeks int, seed uint64, cal *forecast.Calendar, loc *time.Location, spikes []Spike) (time.Time, []float64) {
	r := rand.New(rand.NewPCG(seed, 7))
	n := weeks * forecast.SeasonHours
	start := end.Truncate(time.Hour).Add(-time.Duration(n) * time.Hour)
	perHour := PeakRPS * 3600 / Shape(19) // Shape(19) is a Monday evening peak
	y := make([]float64, n)
	for i := range y {
		t := start.Add(time.Duration(i) * time.Hour)
		lt := t.In(loc)
		how := ((int(lt.Weekday())+6)%7)*24 + lt.Hour()
		weeksAgo := float64(n-i) / forecast.SeasonHours
		v := perHour * Shape(how) * math.Pow(1+WeeklyGrowth, -weeksAgo) * math.Exp(Noise*r.NormFloat64())
		if _, ok := cal.Holiday(t, loc); ok {
			v *= HolidaySurge
		}
		for _, s := range spikes {
			if !t.Before(s.Start) && t.Before(s.End) {
				v *= s.Multiplier
			}
		}
		y[i] = math.Round(v)
	}
	return start, y
}

// Buckets splits an hourly series into per-class hour buckets with
// plausible successes, busy answers (when the hour's peak minute would
// exceed CapacityRPS) and latencies.
func Buckets(start time.Time, y []float64) []*traffic.Bucket {
	var out []*traffic.Bucket
	for i, v := range y {
		t := start.Add(time.Duration(i) * time.Hour)
		util := v / 3600 * forecast.PeakToMeanDefault / CapacityRPS
		busyShare := 0.0
		if util > 1 {
			busyShare = math.Min(0.5, (util-1)/util)
		}
		for _, c := range classShare {
			n := int64(math.Round(v * c.share))
			b := &traffic.Bucket{Start: t, Class: c.class, Requests: n}
			b.Busy = int64(math.Round(float64(n) * busyShare))
			b.Successes = n - b.Busy - n/500 // a few client errors
			fill(&b.Latency, n, util)
			out = append(out, b)
		}
	}
	return out
}

// fill spreads n latencies over the histogram: mostly a few milliseconds,
// a slower tail that grows with utilization.
func fill(h *traffic.Histogram, n int64, util float64) {
	slow := math.Min(0.3, 0.01+0.05*util*util)
	shares := []struct {
		ms    time.Duration
		share float64
	}{{2, 0.35}, {5, 0.4 - slow}, {10, 0.2}, {50, 0.05 + slow*0.7}, {250, slow * 0.3}}
	var done int64
	for i, s := range shares {
		k := int64(math.Round(float64(n) * s.share))
		if i == len(shares)-1 {
			k = n - done
		}
		if k > 0 {
			h[bucketIndex(s.ms*time.Millisecond)] += k
		}
		done += k
	}
}

func bucketIndex(d time.Duration) int {
	var h traffic.Histogram
	h.Observe(d)
	for i, c := range h {
		if c > 0 {
			return i
		}
	}
	return len(h) - 1
}
