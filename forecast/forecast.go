// Package forecast predicts the load of the coming hours from the server's
// own history: Holt-Winters with a weekly season (168 hours) and a damped
// trend, fitted on a history cleaned of holidays and promotions, then
// multiplied by the effect of the holidays and promotions ahead (learned
// from past ones where the history has them). Each hour is compared with
// the measured capacity to give a probability of being busy. Backtest
// measures all this against the naive "same hour last week".
//
// docs/forecast.md explains the model, its measured error and its limits.
package forecast

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Limits and defaults.
const (
	// HorizonHoursMax bounds a forecast: a week ahead.
	HorizonHoursMax = SeasonHours
	// HistoryHoursMax bounds the history fitted (a year): older traffic
	// says little about next week, and the fit stays fast.
	HistoryHoursMax = 53 * SeasonHours
	// HolidayMultiplierDefault is a holiday's effect when the history
	// holds no past holiday to learn it from: wallets see more payments on
	// public holidays (shopping, travel, gifts). An assumption, shown as
	// such in every forecast that uses it.
	HolidayMultiplierDefault = 1.5
)

// Promotion is an operator-announced event expected to change the load:
// a merchant's sale, a campaign. Key groups promotions of one kind ("the
// monthly flash sale"), so that a new one learns from past ones.
type Promotion struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Key        string    `json:"key,omitempty"` // defaults to Name
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Multiplier float64   `json:"multiplier"` // expected load during it relative to a normal hour
	Demo       bool      `json:"demo,omitempty"`
}

// Validate checks a promotion's shape.
func (p *Promotion) Validate() error {
	switch {
	case p.Name == "":
		return errors.New("name is required")
	case !p.End.After(p.Start):
		return errors.New("end must be after start")
	case p.End.Sub(p.Start) > 31*24*time.Hour:
		return errors.New("a promotion lasts at most 31 days")
	case p.Multiplier < 0.1 || p.Multiplier > 100:
		return errors.New("multiplier must be between 0.1 and 100")
	}
	return nil
}

func (p *Promotion) key() string {
	if p.Key != "" {
		return p.Key
	}
	return p.Name
}

// Input is a forecast's history and calendar.
type Input struct {
	// Start is the first hour of History (UTC, on the hour); History[i] is
	// the number of requests during hour Start+i. The forecast starts at
	// the hour after the last.
	Start      time.Time
	History    []float64
	Location   *time.Location // for holidays and hours of the week; nil is UTC
	Calendar   *Calendar
	Promotions []Promotion
}

// Hour is one hour of a forecast.
type Hour struct {
	Start      time.Time `json:"start"`
	Expected   float64   `json:"expected"`   // requests expected in the hour
	Baseline   float64   `json:"baseline"`   // without holidays and promotions
	Multiplier float64   `json:"multiplier"` // Expected / Baseline
	Events     []string  `json:"events,omitempty"`
	// BusyProbability is filled by ApplyCapacity; -1 when the capacity is unknown.
	BusyProbability float64 `json:"busy_probability"`
}

// Effect is the multiplier used for one kind of event, and where it came from.
type Effect struct {
	Name       string  `json:"name"`
	Multiplier float64 `json:"multiplier"`
	// Learned from this many past events; 0 means the default or the
	// operator's expectation was used.
	LearnedFrom int `json:"learned_from"`
}

// Forecast is the expected load of the coming hours.
type Forecast struct {
	Hours   []Hour   `json:"hours"`
	Params  Params   `json:"params"`
	Holiday Effect   `json:"holiday"`
	Effects []Effect `json:"promotions,omitempty"`
}

// Predict forecasts horizon hours after in.History.
func Predict(in Input, horizon int) (*Forecast, error) {
	if horizon <= 0 || horizon > HorizonHoursMax {
		return nil, fmt.Errorf("forecast: horizon %d hours is outside 1..%d", horizon, HorizonHoursMax)
	}
	in = in.trimmed()
	if len(in.History) < SeasonsMin*SeasonHours {
		return nil, fmt.Errorf("forecast: %d hours of history, need at least %d (%d weeks)", len(in.History), SeasonsMin*SeasonHours, SeasonsMin)
	}
	loc := in.loc()
	events := in.events(len(in.History) + horizon)
	clean := cleaned(in.History, events[:len(in.History)])
	holiday, promos := learn(in.History, clean, events[:len(in.History)], in.Promotions)

	m := Fit(clean, hourOfWeek(in.Start, loc))
	base := m.Forecast(horizon)
	f := &Forecast{Params: m.Params, Holiday: holiday}
	for _, e := range promos {
		f.Effects = append(f.Effects, e)
	}
	sort.Slice(f.Effects, func(i, j int) bool { return f.Effects[i].Name < f.Effects[j].Name })
	for i, b := range base {
		t := in.Start.Add(time.Duration(len(in.History)+i) * time.Hour)
		h := Hour{Start: t, Baseline: b, Multiplier: 1, BusyProbability: -1}
		ev := events[len(in.History)+i]
		if ev.holiday != "" {
			h.Multiplier *= holiday.Multiplier
			h.Events = append(h.Events, ev.holiday)
		}
		for _, p := range ev.promos {
			mult := p.Multiplier
			if e, ok := promos[p.key()]; ok && e.LearnedFrom > 0 {
				mult = e.Multiplier
			}
			h.Multiplier *= mult
			h.Events = append(h.Events, p.Name)
		}
		h.Expected = b * h.Multiplier
		f.Hours = append(f.Hours, h)
	}
	return f, nil
}

func (in Input) loc() *time.Location {
	if in.Location == nil {
		return time.UTC
	}
	return in.Location
}

// trimmed keeps the last HistoryHoursMax hours.
func (in Input) trimmed() Input {
	if over := len(in.History) - HistoryHoursMax; over > 0 {
		in.Start = in.Start.Add(time.Duration(over) * time.Hour)
		in.History = in.History[over:]
	}
	return in
}

// hourOfWeek is 0 for Monday 00:00 in loc.
func hourOfWeek(t time.Time, loc *time.Location) int {
	lt := t.In(loc)
	return ((int(lt.Weekday())+6)%7)*24 + lt.Hour()
}

// event is what happens during one hour.
type event struct {
	holiday string
	promos  []*Promotion
}

func (e event) any() bool { return e.holiday != "" || len(e.promos) > 0 }

// events marks each of n hours from in.Start with its holiday and promotions.
func (in Input) events(n int) []event {
	out := make([]event, n)
	loc := in.loc()
	for i := range out {
		t := in.Start.Add(time.Duration(i) * time.Hour)
		out[i].holiday, _ = in.Calendar.Holiday(t, loc)
	}
	for pi := range in.Promotions {
		p := &in.Promotions[pi]
		for i := range out {
			t := in.Start.Add(time.Duration(i) * time.Hour)
			if !t.Before(p.Start.Truncate(time.Hour)) && t.Before(p.End) {
				out[i].promos = append(out[i].promos, p)
			}
		}
	}
	return out
}

// cleaned replaces the hours of holidays and promotions with the mean of
// the same hour in the nearest two clean weeks (before or after), so that
// the model learns a normal week and events are applied on top, not baked
// into the seasonal indices of a random week. Two weeks, not one, halve
// the noise of the effects learned from the difference.
func cleaned(y []float64, ev []event) []float64 {
	out := append([]float64(nil), y...)
	for t := range out {
		if !ev[t].any() {
			continue
		}
		var sum float64
		var n int
		for k := 1; k <= 4 && n < 2; k++ {
			for _, u := range []int{t - k*SeasonHours, t + k*SeasonHours} {
				if u >= 0 && u < len(y) && !ev[u].any() && n < 2 {
					sum += y[u]
					n++
				}
			}
		}
		if n > 0 {
			out[t] = sum / float64(n)
		}
	}
	return out
}
