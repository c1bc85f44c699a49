package status

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/traffic"
)

// Outlook is the forecast of the coming week with its evidence.
type Outlook struct {
	ComputedAt     time.Time                `json:"computed_at"`
	HistoryHours   int                      `json:"history_hours"`
	Forecast       *forecast.Forecast       `json:"forecast,omitempty"`
	Backtest       *forecast.Backtest       `json:"backtest,omitempty"`
	Capacity       forecast.Capacity        `json:"capacity"`
	Recommendation *forecast.Recommendation `json:"recommendation,omitempty"`
	// Note explains a missing forecast or back-test.
	Note string `json:"note,omitempty"`
	// NoteReason names Note's sentence (one of the Note… codes) for a
	// page in another language; not in the JSON, which has Note.
	NoteReason string `json:"-"`
}

// The notes of an outlook (Outlook.NoteReason).
const (
	NoteNoHistory  = "no_history"  // too little history for a forecast (HistoryHours)
	NoteNoBacktest = "no_backtest" // a forecast, but no back-test
	NoteUnreadable = "unreadable"  // the store cannot be read
)

// Outlook returns the forecast (cached for ForecastTTL).
func (s *Service) Outlook(ctx context.Context) (*Outlook, error) {
	now := s.now()
	s.mu.Lock()
	if c := s.cached; c != nil && now.Sub(c.ComputedAt) < ForecastTTL && !now.Before(c.ComputedAt) {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	// One computation at a time: when the cache expires under load, the
	// other callers wait for it instead of each fitting the model.
	s.computeMu.Lock()
	defer s.computeMu.Unlock()
	s.mu.Lock()
	if c := s.cached; c != nil && now.Sub(c.ComputedAt) < ForecastTTL && !now.Before(c.ComputedAt) {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	o, err := s.computeOutlook(ctx, now)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cached = o
	s.mu.Unlock()
	return o, nil
}

// History returns the hourly load (every class but ops) of the completed
// hours before now, at most HistoryHoursMax, and the highest hourly rate.
func (s *Service) History(ctx context.Context, now time.Time) (start time.Time, y []float64, maxRPS float64, err error) {
	end := traffic.Hour.Truncate(now)
	from := end.Add(-forecast.HistoryHoursMax * time.Hour)
	bs, err := s.store.Traffic(ctx, traffic.Hour, from, end)
	if err != nil || len(bs) == 0 {
		return end, nil, 0, err
	}
	start = bs[0].Start
	y = make([]float64, int(end.Sub(start)/time.Hour))
	for _, b := range bs {
		if b.Class == traffic.ClassOps {
			continue
		}
		y[int(b.Start.Sub(start)/time.Hour)] += float64(b.Requests)
	}
	for _, v := range y {
		maxRPS = max(maxRPS, v/3600)
	}
	return start, y, maxRPS, nil
}

// Input assembles the forecast's input: history, calendar with custom
// holidays, promotions.
func (s *Service) Input(ctx context.Context, now time.Time) (forecast.Input, float64, error) {
	start, y, maxRPS, err := s.History(ctx, now)
	if err != nil {
		return forecast.Input{}, 0, err
	}
	promos, err := s.Promotions(ctx)
	if err != nil {
		return forecast.Input{}, 0, err
	}
	cal := *s.cal
	custom, err := s.store.StatusItems(ctx, KindHoliday, ItemsMax)
	if err != nil {
		return forecast.Input{}, 0, err
	}
	if len(custom) > 0 {
		cal, err = s.withCustom(custom)
		if err != nil {
			return forecast.Input{}, 0, err
		}
	}
	return forecast.Input{Start: start, History: y, Location: s.loc, Calendar: &cal, Promotions: promos}, maxRPS, nil
}

func (s *Service) withCustom(items []*Item) (forecast.Calendar, error) {
	cal, _ := forecast.LoadCalendar(s.cal.Country)
	if cal == nil {
		cal, _ = forecast.LoadCalendar("none")
	}
	for _, it := range items {
		var h map[string]string
		if err := json.Unmarshal(it.Body, &h); err != nil {
			return *cal, &pw.Error{Code: pw.EINTERNAL, Op: "status.holidays", Err: err}
		}
		_ = cal.Add(h["date"], h["name"])
	}
	return *cal, nil
}

func (s *Service) computeOutlook(ctx context.Context, now time.Time) (*Outlook, error) {
	in, observed, err := s.Input(ctx, now)
	if err != nil {
		return nil, err
	}
	o := &Outlook{ComputedAt: now, HistoryHours: len(in.History)}
	o.Capacity, err = s.Capacity(ctx, observed)
	if err != nil {
		return nil, err
	}
	f, err := forecast.Predict(in, forecast.HorizonHoursMax)
	if err != nil {
		o.Note = fmt.Sprintf("no forecast yet: %d hours of traffic history, the model needs %d weeks", len(in.History), forecast.SeasonsMin)
		o.NoteReason = NoteNoHistory
		return o, nil
	}
	sigma := 0.0
	if bt, err := forecast.RunBacktest(in, BacktestWeeks); err == nil {
		o.Backtest, sigma = bt, bt.Sigma
	} else {
		o.Note, o.NoteReason = "no back-test yet: "+err.Error(), NoteNoBacktest
	}
	f.ApplyCapacity(o.Capacity, sigma)
	o.Forecast = f
	var upcoming []forecast.Promotion
	for _, p := range in.Promotions {
		if p.End.After(now) {
			upcoming = append(upcoming, p)
		}
	}
	r := forecast.Recommend(f, o.Capacity, upcoming)
	o.Recommendation = &r
	return o, nil
}
