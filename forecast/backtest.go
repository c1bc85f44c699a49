package forecast

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// PeakShare is the share of hours that count as peak hours in the
// back-test: the busiest tenth of each held-out week. Those are the hours
// where an error costs (an under-forecast peak is a busy wallet).
const PeakShare = 0.10

// Score is the error of one forecaster over the held-out hours.
type Score struct {
	// MAPE is the mean absolute percentage error over every held-out hour.
	MAPE float64 `json:"mape"`
	// PeakMAPE is the same over the peak hours only (PeakShare of each week).
	PeakMAPE float64 `json:"peak_mape"`
}

// Backtest is the model against the naive baseline on held-out weeks.
type Backtest struct {
	Weeks int   `json:"weeks"`
	Hours int   `json:"hours"`
	Model Score `json:"model"`
	Naive Score `json:"naive"` // "same hour last week"
	// Sigma is the standard deviation of log(actual/forecast) of the
	// model: the spread used for busy probabilities.
	Sigma float64      `json:"sigma"`
	Per   []WeekResult `json:"per_week"`
}

// WeekResult is one held-out week.
type WeekResult struct {
	Start time.Time `json:"start"`
	Model Score     `json:"model"`
	Naive Score     `json:"naive"`
}

// BacktestWeeksMax bounds the held-out weeks (each is a fit).
const BacktestWeeksMax = 12

// RunBacktest holds out each of the last weeks weeks in turn: the model is
// fitted on everything before it and forecasts it whole (168 hours ahead,
// as the status page does), with the calendar and the promotions known in
// advance; the naive forecaster repeats the week before it.
func RunBacktest(in Input, weeks int) (*Backtest, error) {
	if weeks < 1 || weeks > BacktestWeeksMax {
		return nil, fmt.Errorf("forecast: back-test weeks %d is outside 1..%d", weeks, BacktestWeeksMax)
	}
	in = in.trimmed()
	n := len(in.History)
	if n-weeks*SeasonHours < SeasonsMin*SeasonHours {
		return nil, fmt.Errorf("forecast: %d hours of history cannot hold out %d weeks (need %d weeks before them)", n, weeks, SeasonsMin)
	}
	bt := &Backtest{Weeks: weeks}
	var all, allNaive []pair
	var logs []float64
	for w := weeks; w >= 1; w-- {
		cut := n - w*SeasonHours
		train := Input{Start: in.Start, History: in.History[:cut], Location: in.Location, Calendar: in.Calendar, Promotions: in.Promotions}
		f, err := Predict(train, SeasonHours)
		if err != nil {
			return nil, err
		}
		var mp, np []pair
		for i := 0; i < SeasonHours; i++ {
			a := in.History[cut+i]
			mp = append(mp, pair{actual: a, forecast: f.Hours[i].Expected})
			np = append(np, pair{actual: a, forecast: in.History[cut+i-SeasonHours]})
			if a > 0 && f.Hours[i].Expected > 0 {
				logs = append(logs, math.Log(a/f.Hours[i].Expected))
			}
		}
		markPeaks(mp)
		markPeaks(np)
		bt.Per = append(bt.Per, WeekResult{Start: in.Start.Add(time.Duration(cut) * time.Hour), Model: score(mp), Naive: score(np)})
		all, allNaive = append(all, mp...), append(allNaive, np...)
	}
	bt.Hours = len(all)
	bt.Model, bt.Naive = score(all), score(allNaive)
	bt.Sigma = stddev(logs)
	return bt, nil
}

type pair struct {
	actual, forecast float64
	peak             bool
}

// markPeaks marks the PeakShare of hours with the highest actual load.
func markPeaks(ps []pair) {
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]].actual > ps[idx[b]].actual })
	k := int(math.Ceil(PeakShare * float64(len(ps))))
	for _, i := range idx[:k] {
		ps[i].peak = true
	}
}

func score(ps []pair) Score {
	var sum, peak float64
	var n, np int
	for _, p := range ps {
		if p.actual <= 0 {
			continue // a percentage of nothing is undefined
		}
		e := math.Abs(p.actual-p.forecast) / p.actual
		sum += e
		n++
		if p.peak {
			peak += e
			np++
		}
	}
	var s Score
	if n > 0 {
		s.MAPE = sum / float64(n)
	}
	if np > 0 {
		s.PeakMAPE = peak / float64(np)
	}
	return s
}

func stddev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return math.Sqrt(v / float64(len(xs)-1))
}
