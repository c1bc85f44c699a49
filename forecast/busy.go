package forecast

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Capacity defaults.
const (
	// PeakToMeanDefault is how much the busiest minute of an hour exceeds
	// the hour's mean rate. Traffic is bursty within an hour: a server
	// whose hourly mean is at 90 % of capacity is busy for some minutes.
	// Measured from the minute history when there is one.
	PeakToMeanDefault = 1.25
	// SigmaDefault is the forecast's log-spread before a back-test has
	// measured it (the back-test of the demo data measures about 0.13).
	SigmaDefault = 0.2
	// TargetUtilization is the share of capacity a recommendation aims
	// the predicted peak at: headroom for the forecast's own error.
	TargetUtilization = 0.8
)

// Capacity is what the server can sustain.
type Capacity struct {
	// RPS is the sustainable rate of requests per second.
	RPS float64 `json:"rps"`
	// Source says where it comes from: "bench" (a figure the operator
	// recorded from peakwallet bench), "observed" (the highest sustained
	// minute rate seen, a lower bound), or "configured".
	Source     string    `json:"source"`
	MeasuredAt time.Time `json:"measured_at,omitempty"`
	// PeakToMean is the burst factor within an hour (PeakToMeanDefault
	// when not measured).
	PeakToMean float64 `json:"peak_to_mean"`
}

// BusyProbability is the probability that the busiest minute of an hour
// with expected requests exceeds capacity c:
//
//	peak rate  R = expected / 3600 × PeakToMean
//	P(busy)    = P(actual peak > C) = 1 − Φ((ln C − ln R) / σ)
//
// where the actual load is taken as log-normal around the forecast with
// the spread σ measured by the back-test (SigmaDefault before one). It is
// -1 when the capacity is unknown.
func BusyProbability(expected float64, c Capacity, sigma float64) float64 {
	if c.RPS <= 0 {
		return -1
	}
	if sigma <= 0 {
		sigma = SigmaDefault
	}
	r := peakRate(expected, c)
	if r <= 0 {
		return 0
	}
	z := (math.Log(c.RPS) - math.Log(r)) / sigma
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

func peakRate(expected float64, c Capacity) float64 {
	k := c.PeakToMean
	if k <= 0 {
		k = PeakToMeanDefault
	}
	return expected / 3600 * k
}

// ApplyCapacity fills each hour's busy probability.
func (f *Forecast) ApplyCapacity(c Capacity, sigma float64) {
	for i := range f.Hours {
		f.Hours[i].BusyProbability = BusyProbability(f.Hours[i].Expected, c, sigma)
	}
}

// Recommendation is predicted peak against capacity, for operators.
type Recommendation struct {
	PeakHour    time.Time `json:"peak_hour"`
	PeakRPS     float64   `json:"peak_rps"` // the busiest minute's rate expected in the peak hour
	CapacityRPS float64   `json:"capacity_rps"`
	Utilization float64   `json:"utilization"` // PeakRPS / CapacityRPS
	// AddRPS is the capacity to add so that the peak sits at
	// TargetUtilization; 0 when there is enough.
	AddRPS     float64   `json:"add_rps"`
	AddPercent float64   `json:"add_percent"`
	Stagger    []Stagger `json:"stagger,omitempty"`
	Summary    string    `json:"summary"`
}

// Stagger proposes moving a promotion to quieter hours.
type Stagger struct {
	PromotionID string    `json:"promotion_id"`
	Name        string    `json:"name"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"` // the proposed start
	PeakBefore  float64   `json:"peak_utilization_before"`
	PeakAfter   float64   `json:"peak_utilization_after"`
}

// Recommend compares the forecast's peak with c and proposes what to do:
// capacity to add, and the promotions that make hours busy moved to the
// quietest start within the forecast where they would not.
func Recommend(f *Forecast, c Capacity, promos []Promotion) Recommendation {
	var r Recommendation
	if len(f.Hours) == 0 {
		r.Summary = "no forecast yet: the history is too short"
		return r
	}
	peak := 0
	for i, h := range f.Hours {
		if h.Expected > f.Hours[peak].Expected {
			peak = i
		}
	}
	r.PeakHour, r.PeakRPS, r.CapacityRPS = f.Hours[peak].Start, peakRate(f.Hours[peak].Expected, c), c.RPS
	if c.RPS <= 0 {
		r.Summary = fmt.Sprintf("predicted peak %.0f req/s at %s; capacity unknown: record a peakwallet bench figure", r.PeakRPS, r.PeakHour.Format(time.RFC3339))
		return r
	}
	r.Utilization = r.PeakRPS / c.RPS
	if r.Utilization > TargetUtilization {
		r.AddRPS = math.Ceil(r.PeakRPS/TargetUtilization - c.RPS)
		r.AddPercent = math.Round(100 * r.AddRPS / c.RPS)
	}
	for _, p := range promos {
		if s, ok := stagger(f, c, p); ok {
			r.Stagger = append(r.Stagger, s)
		}
	}
	sort.Slice(r.Stagger, func(i, j int) bool { return r.Stagger[i].From.Before(r.Stagger[j].From) })
	switch {
	case r.AddRPS == 0:
		r.Summary = fmt.Sprintf("capacity is enough: predicted peak %.0f req/s at %s is %.0f%% of %.0f req/s",
			r.PeakRPS, r.PeakHour.Format(time.RFC3339), 100*r.Utilization, c.RPS)
	default:
		r.Summary = fmt.Sprintf("add %.0f req/s (+%.0f%%) before %s: predicted peak %.0f req/s is %.0f%% of capacity %.0f req/s",
			r.AddRPS, r.AddPercent, r.PeakHour.Format(time.RFC3339), r.PeakRPS, 100*r.Utilization, c.RPS)
	}
	if len(r.Stagger) > 0 {
		r.Summary += fmt.Sprintf("; or stagger %d promotion(s)", len(r.Stagger))
	}
	return r
}

// stagger finds, for a promotion inside the forecast whose hours exceed
// TargetUtilization, the start (on the hour, within the forecast) that
// minimises the peak utilization of its hours.
func stagger(f *Forecast, c Capacity, p Promotion) (Stagger, bool) {
	start := f.Hours[0].Start
	first := int(p.Start.Sub(start) / time.Hour)
	n := int(math.Ceil(float64(p.End.Sub(p.Start)) / float64(time.Hour)))
	if first < 0 || n <= 0 || first+n > len(f.Hours) {
		return Stagger{}, false
	}
	util := func(at int, moved bool) float64 {
		worst := 0.0
		for i := at; i < at+n; i++ {
			h := f.Hours[i]
			e := h.Expected
			if moved {
				e = h.Baseline * p.Multiplier
			}
			worst = math.Max(worst, peakRate(e, c)/c.RPS)
		}
		return worst
	}
	before := util(first, false)
	if before <= TargetUtilization {
		return Stagger{}, false
	}
	best, bestU := first, before
	for at := 0; at+n <= len(f.Hours); at++ {
		if u := util(at, true); u < bestU {
			best, bestU = at, u
		}
	}
	if best == first {
		return Stagger{}, false
	}
	return Stagger{PromotionID: p.ID, Name: p.Name, From: p.Start, To: f.Hours[best].Start, PeakBefore: before, PeakAfter: bestU}, true
}
