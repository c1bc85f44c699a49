package status

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/forecast"
)

// Live-state thresholds.
const (
	// LiveMinutes is the window of the live busy share.
	LiveMinutes = 5
	// BusyShareBusy: above this share of busy answers (503/429) in the
	// last LiveMinutes the API is "busy" …
	BusyShareBusy = 0.02
	// LiveRequestsMin … once it saw at least this many requests (two busy
	// answers out of three requests say nothing).
	LiveRequestsMin = 50
	// ResolvedShownFor is how long a resolved incident stays on the page.
	ResolvedShownFor = 7 * 24 * time.Hour
	// BusyProbabilityBusy marks an hour as a busy hour on the page.
	BusyProbabilityBusy = 0.5
)

// Live is what the HTTP server knows of itself now.
type Live struct {
	ReadyErr error // the store's readiness check
	Draining bool
	// SurgeQueue, when set, reports the surge queue's state (the overload
	// branch's durable queue); nil: the queue is reported normal.
	SurgeQueue func(ctx context.Context) Component
}

// Snapshot is the whole status at one moment.
type Snapshot struct {
	State       string      `json:"state"`
	Components  []Component `json:"components"`
	Incidents   []Incident  `json:"incidents"`
	Maintenance []Window    `json:"maintenance"`
	Outlook     *Outlook    `json:"-"`
	BestTime    string      `json:"best_time"`
	// BusyShare is the share of busy answers in the last LiveMinutes.
	BusyShare float64 `json:"busy_share"`
}

// Snapshot gathers the live state, incidents, maintenance and forecast.
//
// The status page exists for outages, so a store that cannot be read does
// not fail it: the incidents, windows and forecast are those last read (or
// none), the ledger store is shown degraded, and the live state is as it
// is. (Until 2026-11-27 /v1/status answered 503 while PostgreSQL was down,
// once its cache had expired.) It fails only when ctx ends.
func (s *Service) Snapshot(ctx context.Context, live Live) (*Snapshot, error) {
	now := s.now().UTC()
	snap := &Snapshot{State: StateNormal, Incidents: []Incident{}, Maintenance: []Window{}}
	// A store the live check could not reach is not read again: what was
	// last read is shown at once, rather than after each read's timeout.
	// A store that can be read but not written (a full disk) is read.
	reachable := live.ReadyErr == nil || errors.Is(live.ReadyErr, pw.ErrWritesFailing)
	incidents, stored, storeErr := s.announcements(ctx, now, reachable)
	if storeErr != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	windows := append(s.operatorWindows(now), stored...)
	o, err := s.snapshotOutlook(ctx, now, reachable)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		storeErr = err
	}
	for _, inc := range incidents {
		if inc.ResolvedAt == nil || now.Sub(*inc.ResolvedAt) < ResolvedShownFor {
			snap.Incidents = append(snap.Incidents, inc)
		}
	}
	snap.Maintenance = append(snap.Maintenance, windows...)
	if s.rec != nil {
		total, _ := s.rec.Live(LiveMinutes)
		if total.Requests >= LiveRequestsMin {
			snap.BusyShare = float64(total.Busy) / float64(total.Requests)
		}
	}
	for _, name := range ComponentsAll {
		c := Component{Name: name, State: StateNormal}
		switch name {
		case ComponentAPI:
			if live.Draining {
				c = Component{Name: name, State: StateDegraded, Detail: "this server is restarting; others take over", Reason: DetailDraining}
			} else if snap.BusyShare > BusyShareBusy {
				c = Component{Name: name, State: StateBusy, Detail: fmt.Sprintf("%.0f%% of requests in the last %d minutes were asked to retry", 100*snap.BusyShare, LiveMinutes),
					Reason: DetailRetrying, Share: snap.BusyShare}
			}
		case ComponentLedger:
			switch {
			case errors.Is(live.ReadyErr, pw.ErrWritesFailing):
				c = Component{Name: name, State: StateDegraded, Detail: "the store can be read but not written; payments are refused with busy until it can", Reason: DetailWritesFailing}
			case live.ReadyErr != nil:
				c = Component{Name: name, State: StateDegraded, Detail: "the store cannot be reached; payments are refused with busy until it returns", Reason: DetailStoreUnreachable}
			case storeErr != nil:
				c = Component{Name: name, State: StateDegraded, Detail: "the store cannot be read; incidents and maintenance shown are as last read", Reason: DetailStoreUnreadable}
			}
		case ComponentSurgeQueue:
			switch {
			case live.SurgeQueue == nil:
			case !reachable:
				c = Component{Name: name, State: StateDegraded, Detail: "payments accepted at a surge wait for the store; none is lost", Reason: DetailQueueWaits}
			case errors.Is(live.ReadyErr, pw.ErrWritesFailing):
				// The queue accepts a payment by writing it: it takes none
				// now, and those it holds cannot settle. Until the review of
				// 2026-11-28 its own look (pending intents) was shown, and it
				// read normal (TestTheSurgeQueueIsNotNormalWhileTheStoreCannotBeWritten).
				c = Component{Name: name, State: StateDegraded, Detail: "new payments cannot be queued while the store cannot be written; those accepted before wait for it, none is lost",
					Reason: DetailQueueCannotQueue}
			default:
				c = live.SurgeQueue(ctx)
			}
		}
		// Only a read-only window is maintenance: in one that is only
		// announced (a binary handover, say) every request is served, and
		// the state stays what it would be otherwise; the window is
		// listed all the same.
		for _, w := range windows {
			if w.ReadOnly && w.Covers(now, name) {
				c.State, c.Detail, c.Reason = StateMaintenance, w.Title, ""
			}
		}
		for i := range snap.Incidents {
			if inc := &snap.Incidents[i]; inc.affects(name) && Worse(c.State, inc.Impact) != c.State {
				c.State, c.Detail, c.Reason = inc.Impact, inc.Title, ""
			}
		}
		snap.Components = append(snap.Components, c)
		snap.State = Worse(snap.State, c.State)
	}
	snap.Outlook = o
	snap.BestTime = BestTime(o.Forecast, now, s.loc)
	return snap, nil
}

// announcements returns the incidents and the windows kept in the store,
// cached for SnapshotTTL. When the store cannot be read it returns those
// last read (or none) with the error, and keeps that answer for
// SnapshotTTL too, so that the status polls of an outage do not each wait
// on the store.
// StoreReadTimeout bounds each of a snapshot's reads of the store: past
// it, a stalled store is a store that cannot be read (the snapshot shows
// what it last read), not a status page that waits for it.
const StoreReadTimeout = time.Second

// errUnreachable is why a snapshot did not read the store: its live check
// could not reach it.
var errUnreachable = errors.New("the store cannot be reached")

func (s *Service) announcements(ctx context.Context, now time.Time, reachable bool) ([]Incident, []Window, error) {
	s.mu.Lock()
	c := s.announced
	s.mu.Unlock()
	if c != nil && now.Sub(c.at) < SnapshotTTL && !now.Before(c.at) {
		return c.incidents, c.windows, c.err
	}
	var incidents []Incident
	var windows []Window
	err := errUnreachable
	if reachable {
		rctx, cancel := context.WithTimeout(ctx, StoreReadTimeout)
		defer cancel()
		incidents, err = s.Incidents(rctx)
		if err == nil {
			windows, err = s.storedWindows(rctx, now)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, err // the caller is gone: nothing learnt of the store
		}
		incidents, windows = nil, nil // none read yet
		if c != nil {
			incidents, windows = c.incidents, c.windows
		}
	}
	s.mu.Lock()
	s.announced = &announcedCache{at: now, incidents: incidents, windows: windows, err: err}
	s.mu.Unlock()
	return incidents, windows, err
}

// operatorWindows are the operator's windows that end after from, read at
// every snapshot, not cached: they are in memory (admission's schedule),
// and a window is shown from the moment it is scheduled or cancelled, on
// every process sharing the schedule.
func (s *Service) operatorWindows(from time.Time) []Window {
	if src, ok := s.maint.(ScheduleSource); ok {
		return src.operatorWindows(from)
	}
	return nil
}

// storedWindows are the windows kept in the store: all of the maintenance
// source's but the operator's.
func (s *Service) storedWindows(ctx context.Context, from time.Time) ([]Window, error) {
	src := s.maint
	if ss, ok := src.(ScheduleSource); ok {
		if src = ss.Also; src == nil {
			return nil, nil
		}
	}
	return src.Windows(ctx, from)
}

// snapshotOutlook is the outlook for a snapshot. When it cannot be
// computed (the store cannot be read), it is the last one, however old, or
// one that says why there is none, with the error; and for SnapshotTTL no
// other snapshot tries again, as with the announcements.
func (s *Service) snapshotOutlook(ctx context.Context, now time.Time, reachable bool) (*Outlook, error) {
	s.mu.Lock()
	failed := s.outlookFailed
	s.mu.Unlock()
	if !reachable {
		failed = outlookFailure{at: now, err: errUnreachable}
	} else if failed.err == nil || now.Sub(failed.at) >= SnapshotTTL || now.Before(failed.at) {
		rctx, cancel := context.WithTimeout(ctx, StoreReadTimeout)
		o, err := s.Outlook(rctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return o, err
		}
		failed = outlookFailure{at: now, err: err}
		s.mu.Lock()
		s.outlookFailed = failed
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil {
		return s.cached, failed.err
	}
	return &Outlook{ComputedAt: now, Note: "The forecast cannot be computed now: the store cannot be read.", NoteReason: NoteUnreadable}, failed.err
}

// Waking hours: the best time to pay is only ever suggested between them.
const (
	WakingHourFirst = 7
	WakingHourLast  = 22 // the last hour that starts before 23:00
)

// BestHours is the best time to pay, as facts: the quietest waking hour
// left today (or tomorrow, late in the evening), and the busiest one to
// avoid. BestTime says it in English; the status page in the reader's
// language.
type BestHours struct {
	// NoForecast: there is no forecast to choose from.
	NoForecast bool
	// Tomorrow: the hours are tomorrow's, today's waking hours are past.
	Tomorrow bool
	// Best is nil when no waking hour is left today or tomorrow (any time
	// is fine); Worst is set only when it is worth avoiding.
	Best, Worst *forecast.Hour
	// WorstChance: Worst's chance of busy answers is worth saying.
	WorstChance bool
	// Zone is the abbreviation of loc's zone now ("UTC").
	Zone string
}

// PickBestHours chooses the best and busiest hours of f for people in loc.
func PickBestHours(f *forecast.Forecast, now time.Time, loc *time.Location) BestHours {
	if f == nil || len(f.Hours) == 0 {
		return BestHours{NoForecast: true}
	}
	local := now.In(loc)
	pick := func(day time.Time) (best, worst *forecast.Hour) {
		for i := range f.Hours {
			h := &f.Hours[i]
			lt := h.Start.In(loc)
			if lt.YearDay() != day.YearDay() || lt.Year() != day.Year() || lt.Hour() < WakingHourFirst || lt.Hour() > WakingHourLast {
				continue
			}
			if h.Start.Add(time.Hour).Before(now) || h.Start.Add(time.Hour).Equal(now) {
				continue
			}
			if best == nil || h.Expected < best.Expected {
				best = h
			}
			if worst == nil || h.Expected > worst.Expected {
				worst = h
			}
		}
		return best, worst
	}
	b := BestHours{Zone: local.Format("MST")}
	best, worst := pick(local)
	if best == nil {
		b.Tomorrow = true
		best, worst = pick(local.AddDate(0, 0, 1))
	}
	if best == nil {
		return b
	}
	b.Best = best
	if worst != best && worst.Expected > 1.3*best.Expected {
		b.Worst, b.WorstChance = worst, worst.BusyProbability >= 0.05
	}
	return b
}

// BestTime is the plain sentence for users: the quietest waking hour left
// today (or tomorrow, late in the evening), and the busiest one to avoid.
func BestTime(f *forecast.Forecast, now time.Time, loc *time.Location) string {
	b := PickBestHours(f, now, loc)
	switch {
	case b.NoForecast:
		return "Best time to pay today: any time — there is not enough traffic history for a forecast yet."
	case b.Best == nil:
		return "Best time to pay today: any time."
	}
	span := func(h *forecast.Hour) string {
		t := h.Start.In(loc)
		return fmt.Sprintf("%s–%s", t.Format("15:04"), t.Add(time.Hour).Format("15:04"))
	}
	label := "today"
	if b.Tomorrow {
		label = "tomorrow"
	}
	out := fmt.Sprintf("Best time to pay %s: %s %s, the quietest hour.", label, span(b.Best), b.Zone)
	if b.Worst != nil {
		out += fmt.Sprintf(" Busiest: %s", span(b.Worst))
		if b.WorstChance {
			out += fmt.Sprintf(" (%d%% chance of busy answers)", int(math.Round(100*b.Worst.BusyProbability)))
		}
		out += "."
	}
	return out
}
