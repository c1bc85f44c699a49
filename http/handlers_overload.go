package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/status"
)

// serverRoute serves a route whose handler needs the server and decodes
// an optional JSON body of type Req (None for none).
func serverRoute[Req, Resp any](build func(s *Server, rt *Route) http.Handler) endpoint {
	var req reflect.Type
	if reflect.TypeFor[Req]() != reflect.TypeFor[None]() {
		req = reflect.TypeFor[Req]()
	}
	return endpoint{request: req, response: reflect.TypeFor[Resp](), build: build}
}

// ownIntent reads an intent the caller may see: its own, or any for the
// operator; others are not found (existence does not leak).
func (s *Server) ownIntent(ctx context.Context, r *http.Request) (*pw.Intent, error) {
	id := r.PathValue("id")
	notFound := pw.Errorf(pw.ENOTFOUND, "intent %q not found", id)
	if s.intents == nil || !pw.IDHasPrefix(id, pw.PrefixIntent) {
		return nil, notFound
	}
	in, err := s.intents.Intent(ctx, id)
	if err != nil {
		return nil, err
	}
	p, _ := pw.PrincipalFromContext(ctx)
	if p.Kind != pw.PrincipalOperator && p.String() != in.Principal {
		return nil, notFound
	}
	return in, nil
}

// listIntentsEndpoint lists the caller's payments waiting in the surge
// queue, in the order they will be settled (operators: everyone's), or
// with ?idempotency_key= the caller's intent under that key, in any state.
func listIntentsEndpoint() endpoint {
	return endpoint{response: reflect.TypeFor[*pw.Intent](), list: true, build: func(s *Server, rt *Route) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			page, err := ParsePage(r)
			if err != nil {
				Error(w, r, err)
				return
			}
			if page.Cursor != "" && !pw.IDHasPrefix(page.Cursor, pw.PrefixIntent) {
				Error(w, r, pw.FieldErrorf("cursor", pw.EINVALID, "cursor is not one this list gave"))
				return
			}
			out := List[*pw.Intent]{Data: []*pw.Intent{}}
			p, _ := pw.PrincipalFromContext(r.Context())
			if key := r.URL.Query().Get("idempotency_key"); key != "" || r.URL.Query().Has("idempotency_key") {
				// The caller's intent under one key, whatever its state: a
				// client whose 202 was lost finds it (to follow or cancel).
				if err := pw.ValidateIdempotencyKey(key); err != nil {
					Error(w, r, pw.FieldErrorf("idempotency_key", pw.EINVALID, "%s", pw.ErrorMessage(err)))
					return
				}
				if s.intents != nil {
					in, err := s.intents.IntentByKey(r.Context(), p.String(), key)
					switch {
					case err == nil:
						out.Data = []*pw.Intent{in}
						s.placeIntents(r.Context(), out.Data)
					case pw.ErrorCode(err) != pw.ENOTFOUND:
						Error(w, r, err)
						return
					}
				}
				writeJSON(w, rt.Status, out)
				return
			}
			if s.intents != nil {
				var list []*pw.Intent
				if p.Kind == pw.PrincipalOperator {
					list, err = s.intents.PendingIntents(r.Context(), page.Cursor, page.Limit+1)
				} else {
					list, err = s.intents.PendingIntentsOf(r.Context(), p.String(), page.Cursor, page.Limit+1)
				}
				if err != nil {
					Error(w, r, err)
					return
				}
				if len(list) > page.Limit {
					list = list[:page.Limit]
					out.NextCursor = list[len(list)-1].ID
				}
				if len(list) > 0 {
					// One read of the queue's head, shared for a second,
					// places the whole page (pendingHead).
					s.placeIntents(r.Context(), list)
					out.Data = list
				}
			}
			writeJSON(w, rt.Status, out)
		})
	}}
}

func serveIntent(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := s.ownIntent(r.Context(), r)
		if err != nil {
			Error(w, r, err)
			return
		}
		s.placeIntents(r.Context(), []*pw.Intent{in})
		writeJSON(w, rt.Status, in)
	})
}

// serveIntentEvents streams an intent's state as server-sent events: one
// "intent" event now and one at each change, until it is final (then the
// stream ends), IntentEventsTimeout passes or the server drains (the
// client reconnects). Each read of the intent is a streamRead: bounded,
// and not made while the breaker keeps requests from the store. One that
// fails, on an open stream, is told once as an "unavailable" event (the
// last intent sent stands); the next read that succeeds sends the intent
// again, read anew.
func serveIntentEvents(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := pw.PrincipalFromContext(r.Context())
		principal := p.String()
		var in *pw.Intent
		err := s.streamRead(r.Context(), principal, func(ctx context.Context) (err error) {
			in, err = s.ownIntent(ctx, r)
			return err
		})
		if err != nil {
			Error(w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(rt.Status)
		rc := http.NewResponseController(w)
		ctx, cancel := context.WithTimeout(r.Context(), IntentEventsTimeout)
		defer cancel()
		// The first poll comes at a random point within IntentEventsPoll
		// and each next one IntentEventsPoll after the last read (or
		// skip) ended, not on a fixed phase: see firstPoll.
		poll := time.NewTimer(firstPoll())
		defer poll.Stop()
		send := func(event string, data []byte) bool {
			if _, err := fmt.Fprintf(w, "%sevent: %s\ndata: %s\n\n", eventID(event, in), event, bytes.TrimSuffix(data, []byte("\n"))); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		// An event is sent when the intent changes, and, while it is
		// pending, when its place does: counted at the start and then at
		// most every IntentPlaceEvery.
		last, placed := "", time.Time{}
		unread := false // the last read failed, and the client was told
		skipped := 0    // wakes and polls in a row that found IntentEventsReadsMax reads in flight
		for {
			if in.Status == pw.IntentPending && (placed.IsZero() || s.now().Sub(placed) >= IntentPlaceEvery) {
				s.placeIntents(ctx, []*pw.Intent{in})
				placed = s.now()
			}
			if state := in.Status + in.UpdatedAt.String() + placeState(in.Place); state != last {
				last = state
				if !send(EventIntent, mustMarshal(in)) {
					return
				}
			}
			if in.Status != pw.IntentPending {
				return
			}
			for {
				settled, stop := s.settled.wait(in.ID)
				end := false
				select {
				case <-ctx.Done():
					end = true
				case <-s.drained:
					end = true // the server is shutting down: the client reconnects elsewhere
				case <-settled:
				case <-poll.C:
				}
				stop()
				if end {
					return
				}
				var next *pw.Intent
				err := s.streamRead(ctx, principal, func(ctx context.Context) (err error) {
					next, err = s.intents.Intent(ctx, in.ID)
					return err
				})
				poll.Reset(IntentEventsPoll) // a period after this read or skip (firstPoll)
				full := errors.Is(err, errStreamReadsFull)
				if !full {
					skipped = 0
				}
				if err == nil {
					if next.Status == pw.IntentPending && s.now().Sub(placed) < IntentPlaceEvery {
						next.Place = in.Place // not counted again yet: the place last counted stands
					}
					in = next
					break
				}
				if ctx.Err() != nil {
					return
				}
				if full {
					// Not read: IntentEventsReadsMax reads are in flight.
					// The stream reads at its next wake or poll; once
					// IntentEventsSkipsMax of them in a row have found
					// the reads taken, its client is told, as for a read
					// that failed: it has not been read for that long.
					skipped++
					if skipped < IntentEventsSkipsMax {
						continue
					}
				}
				// The store is away, slow or refused by the breaker (or
				// the stream's reads were skipped IntentEventsSkipsMax
				// times in a row): the client hears once that the intent's
				// state cannot be read now, and the stream waits for the
				// next wake or poll, reading nothing else meanwhile (no
				// place either).
				if !unread {
					unread = true
					if !send(EventUnavailable, mustMarshal(ProblemFor(&pw.Error{Code: pw.EBUSY, Op: "http.serveIntentEvents", Err: err,
						Message: "the intent's state cannot be read now; the last intent event stands, and an intent event follows once it is read again"}))) {
						return
					}
				}
			}
			if unread {
				unread, last = false, "" // read anew: sent again, changed or not
			}
		}
	})
}

// firstPoll is when an event stream first polls, after its opening read:
// at a random point within IntentEventsPoll, so that streams opened
// together (clients reconnecting at once) do not poll together.
//
// Each later poll comes IntentEventsPoll after the
// stream's last read ended, or its last wake or poll found the reads
// taken, not on the fixed phase of a ticker. In a stall each read lasts
// its whole IntentEventsReadTimeout, as long as a poll's period: with a
// ticker, a stream whose read ran out found its next tick already due and
// took its slot again at once, so the same IntentEventsReadsMax streams
// held the reads every second and every other stream's poll was skipped,
// for as long as the stall lasted (its client told nothing). Waiting a
// period after the read leaves the slot to the streams that poll
// meanwhile, in turn (TestEventStreamsInAStallTakeTheReadsInTurn).
func firstPoll() time.Duration {
	return 1 + rand.N(IntentEventsPoll)
}

// The event types of an intent's event stream.
const (
	// EventIntent carries the intent, at the start and at each change.
	EventIntent = "intent"
	// EventUnavailable carries a problem (code busy) when the intent could
	// not be read: the last intent event stands, and the next one comes
	// once it is read again.
	EventUnavailable = "unavailable"
)

// eventID is an event's id line: an intent event's is its intent's
// UpdatedAt (a reconnecting client's Last-Event-ID); other events leave
// the last one as it is.
func eventID(event string, in *pw.Intent) string {
	if event != EventIntent {
		return ""
	}
	return "id: " + in.UpdatedAt.Format(time.RFC3339Nano) + "\n"
}

// streamRead makes one of an event stream's reads of the store, within
// IntentEventsReadTimeout. A stream takes no admission slot, and while the
// breaker is closed its reads go to the store as they are, their outcomes
// counted toward the breaker as an admitted request's are
// (admission.Controller.Outside; not one its client ended); while it
// keeps requests from the store (open, or its probe out) a read is
// refused at once with the breaker's busy and Retry-After, and when it
// would let its probe go, the read is the probe, its outcome the probe's:
// streams alone bring the breaker back once the store answers. At most
// IntentEventsReadsMax such reads are in flight at once: one that finds
// them all taken is refused at once, errStreamReadsFull, without reading.
// Until 2026-11-29 a stream's reads went to the store whatever the
// breaker said, with no time limit (IntentEventsReadTimeout); until the
// review of 2026-11-29 as many at once as streams were open, and their
// failures did not count toward the breaker.
func (s *Server) streamRead(ctx context.Context, principal string, read func(context.Context) error) error {
	if s.admission == nil || s.admission.BreakerClosed() {
		if !s.takeStreamRead() {
			return streamReadsFull()
		}
		defer s.giveStreamRead()
		var done func(error)
		if s.admission != nil {
			done = s.admission.Outside(admission.ClassRead, principal) // begun before the read's bound
		}
		rctx, cancel := context.WithTimeout(ctx, IntentEventsReadTimeout)
		defer cancel()
		err := read(rctx)
		if done != nil && ctx.Err() == nil {
			done(err)
		}
		return err
	}
	// The ticket first, then the read's own bound, as Outside's start is
	// taken before it above: the breaker counts a read out of its time as
	// a stall only once it has held its slot Config.StallSilence since
	// the ticket's start, and on PostgreSQL that silence is as long as
	// IntentEventsReadTimeout. Until the review of 2026-11-29 the read's
	// timer began before Acquire, and a probe that ran out fell short of
	// the silence by the microseconds between: not counted as a stall,
	// and the next request probed at once
	// (TestAStreamsProbeThatRunsOutIsAStall). The wait for the ticket is
	// bounded on its own (the probe is admitted or refused at once, but a
	// breaker closed meanwhile may queue the read).
	actx, cancelAcquire := context.WithTimeout(ctx, IntentEventsReadTimeout)
	ticket, err := s.admission.Acquire(actx, admission.ClassRead, principal)
	cancelAcquire()
	if err != nil {
		return err
	}
	if !s.takeStreamRead() {
		ticket.Abandon() // the next request probes
		return streamReadsFull()
	}
	defer s.giveStreamRead()
	rctx, cancel := context.WithTimeout(ctx, IntentEventsReadTimeout)
	defer cancel()
	err = read(rctx)
	if ctx.Err() != nil {
		ticket.Abandon() // its client ended it: that says nothing of the store
	} else {
		ticket.Done(err)
	}
	return err
}

// errStreamReadsFull marks a stream's read not made because
// IntentEventsReadsMax were in flight (streamReadsFull).
var errStreamReadsFull = errors.New("as many of the event streams' reads as may be are in flight")

// streamReadsFull is the refusal of a stream's read not made because
// IntentEventsReadsMax were in flight: busy, to retry when one of them
// has ended, at most IntentEventsReadTimeout from now.
func streamReadsFull() error {
	return &pw.Error{Code: pw.EBUSY, Op: "http.streamRead", Retry: IntentEventsReadTimeout, Err: errStreamReadsFull,
		Message: "too many event streams are reading the store at once; try again shortly"}
}

// takeStreamRead takes one of the IntentEventsReadsMax stream reads, if
// one is free; giveStreamRead gives it back.
func (s *Server) takeStreamRead() bool {
	select {
	case s.streamReads <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Server) giveStreamRead() { <-s.streamReads }

// placeState is what of a place, when it changes, makes a new event.
func placeState(p *pw.IntentPlace) string {
	if p == nil {
		return ""
	}
	s := fmt.Sprint(" ", p.Ahead, p.AheadAtLeast)
	if p.ExpectedWaitSeconds != nil {
		s += fmt.Sprint(" ", *p.ExpectedWaitSeconds)
	}
	if p.SettlingResumesAt != nil {
		s += " " + p.SettlingResumesAt.String()
	}
	return s
}

// requireOperator answers forbidden to anyone but an operator.
func requireOperator(r *http.Request) error {
	if p, _ := pw.PrincipalFromContext(r.Context()); p.Kind != pw.PrincipalOperator {
		return pw.Errorf(pw.EFORBIDDEN, "only an operator may manage maintenance windows")
	}
	return nil
}

func serveMaintenanceCreate(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := requireOperator(r); err != nil {
			Error(w, r, err)
			return
		}
		body, err := ReadBody(w, r, rt.BodyMax)
		if err != nil {
			Error(w, r, err)
			return
		}
		var req pw.MaintenanceCreate
		if err := DecodeJSON(body, &req); err != nil {
			Error(w, r, err)
			return
		}
		if s.maintenance == nil {
			Error(w, r, pw.Errorf(pw.EUNAVAILABLE, "this server has no maintenance schedule"))
			return
		}
		mw, err := s.maintenance.Add(req)
		if err != nil {
			Error(w, r, err)
			return
		}
		s.announceMaintenance(r.Context())
		w.Header().Set("Location", "/v1/maintenance/"+mw.ID)
		writeJSON(w, rt.Status, mw)
	})
}

func serveMaintenanceList(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, rt.Status, List[pw.MaintenanceWindow]{Data: s.maintenanceWindows()})
	})
}

// serveMaintenanceGet answers one window that has not ended, as the list
// has it: the Location a window is scheduled at (until 2026-11-29 only
// DELETE was routed there, and GET answered 405). An ended, cancelled or
// unknown window is not found.
func serveMaintenanceGet(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		for _, mw := range s.maintenanceWindows() {
			if mw.ID == id {
				writeJSON(w, rt.Status, mw)
				return
			}
		}
		Error(w, r, pw.Errorf(pw.ENOTFOUND, "maintenance window %q not found", id))
	})
}

func serveMaintenanceDelete(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := requireOperator(r); err != nil {
			Error(w, r, err)
			return
		}
		if s.maintenance == nil {
			Error(w, r, pw.Errorf(pw.ENOTFOUND, "maintenance window not found"))
			return
		}
		if err := s.maintenance.Delete(r.PathValue("id")); err != nil {
			Error(w, r, err)
			return
		}
		s.announceMaintenance(r.Context())
		writeJSON(w, rt.Status, Health{Status: "ok"})
	})
}

// announceMaintenance tells the status webhooks of a window scheduled or
// cancelled now, not at the background loop's next pass (a minute away: a
// window starting sooner was announced late). The change is made: a
// failure here is logged and left to that loop.
func (s *Server) announceMaintenance(ctx context.Context) {
	if s.status == nil {
		return
	}
	if err := s.status.AnnounceMaintenance(ctx); err != nil {
		loggerFrom(ctx).Warn("announcing maintenance failed; the background loop retries", "err", err)
	}
}

func (s *Server) maintenanceWindows() []pw.MaintenanceWindow {
	if s.maintenance == nil {
		return []pw.MaintenanceWindow{}
	}
	return s.maintenance.Windows()
}

// surgeQueueState is the surge queue's component on the status page: busy
// while payments accepted at a surge wait to settle, degraded when the
// queue cannot be read. Every status poll asks it, and polls come fastest
// at a surge, so it looks for one pending intent, not for all of them.
func (s *Server) surgeQueueState(ctx context.Context) status.Component {
	c := status.Component{Name: status.ComponentSurgeQueue, State: status.StateNormal}
	ctx, cancel := context.WithTimeout(ctx, StatusLiveTimeout)
	defer cancel()
	pending, err := s.intents.PendingIntents(ctx, "", 1)
	switch {
	case err != nil:
		c.State, c.Detail, c.Reason = status.StateDegraded, "the queue of accepted payments cannot be read", status.DetailQueueUnreadable
	case len(pending) > 0:
		waited := max(0, s.now().Sub(pending[0].CreatedAt)).Round(time.Second)
		c.State, c.Detail = status.StateBusy, fmt.Sprintf("payments accepted at a surge are settling, in order; the oldest has waited %s", waited)
		c.Reason, c.Waited = status.DetailQueueSettling, waited
	}
	return c
}
