package http

import (
	"context"
	"net/http"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/status"
)

// StatusBodyBytesMax bounds the bodies of the status routes (an incident's
// message is at most status.MessageBytesMax).
const StatusBodyBytesMax = 16 << 10

// statusCall is the status-service call of a status route.
type statusCall[Req, Resp any] func(ctx context.Context, svc *status.Service, r *http.Request, req *Req) (Resp, error)

// statusRoute serves an operators' status route (see serviceRoute).
func statusRoute[Req, Resp any](call statusCall[Req, Resp]) endpoint {
	return serviceRoute(func(s *Server) (*status.Service, bool) { return s.status, s.status != nil },
		"status is not enabled on this server",
		func(ctx context.Context, svc *status.Service, r *http.Request, req *Req) (Resp, int, error) {
			v, err := call(ctx, svc, r, req)
			return v, 0, err
		})
}

func createIncident(ctx context.Context, svc *status.Service, _ *http.Request, req *status.IncidentCreate) (*status.Incident, error) {
	return svc.CreateIncident(ctx, *req, false)
}

func postIncidentUpdate(ctx context.Context, svc *status.Service, r *http.Request, req *status.IncidentPost) (*status.Incident, error) {
	return svc.UpdateIncident(ctx, r.PathValue("id"), *req)
}

func createPromotion(ctx context.Context, svc *status.Service, _ *http.Request, req *forecast.Promotion) (*forecast.Promotion, error) {
	req.ID = "" // the server names promotions
	return svc.CreatePromotion(ctx, *req)
}

func listPromotions(ctx context.Context, svc *status.Service, _ *http.Request, _ *None) (List[forecast.Promotion], error) {
	ps, err := svc.Promotions(ctx)
	if ps == nil {
		ps = []forecast.Promotion{}
	}
	return List[forecast.Promotion]{Data: ps}, err
}

func setCapacity(ctx context.Context, svc *status.Service, _ *http.Request, req *forecast.Capacity) (*forecast.Capacity, error) {
	return svc.SetCapacity(ctx, *req)
}

func getRecommendations(ctx context.Context, svc *status.Service, _ *http.Request, _ *None) (*forecast.Recommendation, error) {
	o, err := svc.Outlook(ctx)
	if err != nil {
		return nil, err
	}
	if o.Recommendation == nil {
		return &forecast.Recommendation{CapacityRPS: o.Capacity.RPS, Summary: o.Note}, nil
	}
	return o.Recommendation, nil
}

// SubscriptionCreate is POST /v1/status/subscriptions.
type SubscriptionCreate struct {
	URL string `json:"url"`
}

func subscribe(ctx context.Context, svc *status.Service, _ *http.Request, req *SubscriptionCreate) (*status.Subscription, error) {
	return svc.Subscribe(ctx, req.URL)
}

func listSubscriptions(ctx context.Context, svc *status.Service, _ *http.Request, _ *None) (List[status.Subscription], error) {
	subs, err := svc.Subscriptions(ctx)
	if subs == nil {
		subs = []status.Subscription{}
	}
	return List[status.Subscription]{Data: subs}, err
}

func unsubscribe(ctx context.Context, svc *status.Service, r *http.Request, _ *None) (None, error) {
	return None{}, svc.Unsubscribe(ctx, r.PathValue("id"))
}

// serveIncidents lists incidents publicly (an empty list without a status service).
func serveIncidents(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list := List[status.Incident]{Data: []status.Incident{}}
		if s.status != nil {
			incs, err := s.status.Incidents(r.Context())
			if err != nil {
				Error(w, r, err)
				return
			}
			list.Data = append(list.Data, incs...)
		}
		writeJSON(w, rt.Status, list)
	})
}

// serveForecast answers the public outlook: forecast and back-test,
// without the operators' recommendation.
func serveForecast(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := status.Outlook{ComputedAt: s.now().UTC(), Note: "status is not enabled on this server"}
		if s.status != nil {
			o, err := s.status.Outlook(r.Context())
			if err != nil {
				Error(w, r, err)
				return
			}
			out = *o
			out.Recommendation = nil
		}
		writeJSON(w, rt.Status, out)
	})
}

// StatusLiveTimeout bounds each look of the status at the store's live
// state (readiness, the surge queue): the status page is read most while
// the store is in trouble, and a stalled one must make it say so, not wait.
const StatusLiveTimeout = time.Second

// snapshot gathers the status with the server's own live state.
func (s *Server) snapshot(ctx context.Context) (*status.Snapshot, error) {
	live := status.Live{Draining: s.Draining(), SurgeQueue: s.surgeQueue}
	rctx, cancel := context.WithTimeout(ctx, StatusLiveTimeout)
	live.ReadyErr = s.readiness(rctx)
	cancel()
	snap, err := s.status.Snapshot(ctx, live)
	if err != nil && ctx.Err() != nil {
		// Out of the request's own time (PublicDeadline): busy, as any
		// request the server could not finish in time, not internal.
		return nil, pw.Errorf(pw.EBUSY, "the status could not be gathered in time")
	}
	return snap, err
}

func serveStatus(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := Status{
			State: StateNormal,
			Load: Load{
				// This request is not load: it only asks about it.
				InFlight: s.inFlight.Load() - 1,
				Draining: s.Draining(),
			},
			Time:      s.now().UTC(),
			StartedAt: s.started,
		}
		if s.status != nil {
			snap, err := s.snapshot(r.Context())
			if err != nil {
				Error(w, r, err)
				return
			}
			st.State, st.Components, st.Incidents, st.Maintenance, st.BestTime = snap.State, snap.Components, snap.Incidents, snap.Maintenance, snap.BestTime
			st.Forecast = newStatusForecast(snap.Outlook, s.status.Location())
		} else {
			for _, mw := range s.maintenanceWindows() {
				st.Maintenance = append(st.Maintenance, status.WindowOf(mw))
			}
		}
		s.liveState(&st)
		writeJSON(w, rt.Status, st)
	})
}

// liveState adds what admission control knows now: its limit and queues,
// busy (with the honest Retry-After) while it refuses work, degraded while
// the circuit breaker keeps the store at bay, and maintenance during a
// read-only window. The state shown is the worst of these and the
// components'.
func (s *Server) liveState(st *Status) {
	if s.admission != nil {
		a := s.admission.Stats()
		st.Load.Limit, st.Load.Admitted, st.Load.Breaker = a.Limit, a.InFlight, a.Breaker
		for _, q := range a.Queued {
			st.Load.Queued += q
		}
		switch {
		case a.Breaker != "closed":
			st.State = status.Worse(st.State, StateDegraded)
		case s.admission.Busy():
			st.State = status.Worse(st.State, StateBusy)
			st.RetryAfter = retryAfterSeconds(pw.EBUSY, &pw.Error{Retry: a.RetryAfter})
		}
	}
	if s.maintenance != nil {
		if err := s.maintenance.ReadOnly(); err != nil {
			st.State, st.RetryAfter = StateMaintenance, retryAfterSeconds(pw.EMAINTENANCE, err)
		}
	}
}

// newStatusForecast summarises an outlook for /v1/status: the next 24
// hours, and the next 7 days (one summary per day, with its hourly figures).
func newStatusForecast(o *status.Outlook, loc *time.Location) *StatusForecast {
	sf := &StatusForecast{Next24h: []forecast.Hour{}, Next7d: []ForecastDay{}, Capacity: o.Capacity, Note: o.Note}
	if o.Backtest != nil {
		sf.Backtest = &BacktestSummary{Weeks: o.Backtest.Weeks, Model: o.Backtest.Model, Naive: o.Backtest.Naive}
	}
	if o.Forecast == nil {
		return sf
	}
	hours := o.Forecast.Hours
	sf.Next24h = hours[:min(24, len(hours))]
	for _, h := range hours {
		date := h.Start.In(loc).Format(time.DateOnly)
		if n := len(sf.Next7d); n == 0 || sf.Next7d[n-1].Date != date {
			sf.Next7d = append(sf.Next7d, ForecastDay{Date: date, BusyProbability: -1})
		}
		d := &sf.Next7d[len(sf.Next7d)-1]
		rps := h.Expected / 3600
		d.ExpectedRPS = append(d.ExpectedRPS, round2(rps))
		if rps > d.PeakRPS {
			d.PeakRPS, d.PeakHour = round2(rps), h.Start
		}
		d.BusyProbability = max(d.BusyProbability, h.BusyProbability)
		for _, e := range h.Events {
			if !contains(d.Events, e) {
				d.Events = append(d.Events, e)
			}
		}
	}
	return sf
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
