package http_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/faultproxy"
	"github.com/peakwallet/peakwallet/postgres"
)

// countedIntents is a PostgreSQL store that counts reads of one intent
// (the event stream's reads), by principal and by stream too, how many are
// in flight (each holds a pooled connection, or waits for one, until it
// returns) and the most that were in flight at once.
type countedIntents struct {
	*postgres.Store
	mu                    sync.Mutex
	reads, inFlight, peak int
	by                    map[string]int // reads by the principal of their request
	byStream              map[string]int // reads by the streamTag of their request
}

// streamTag is the header a test's stream is opened with, whose value
// tagStreams puts in the request's context (streamTagKey) for
// countedIntents to count the stream's reads by.
const streamTag = "X-Test-Stream"

type streamTagKey struct{}

// tagStreams gives each request with a streamTag header its value in its
// context.
func tagStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tag := r.Header.Get(streamTag); tag != "" {
			r = r.WithContext(context.WithValue(r.Context(), streamTagKey{}, tag))
		}
		next.ServeHTTP(w, r)
	})
}

func (s *countedIntents) Intent(ctx context.Context, id string) (*pw.Intent, error) {
	p, _ := pw.PrincipalFromContext(ctx)
	tag, _ := ctx.Value(streamTagKey{}).(string)
	s.mu.Lock()
	s.reads++
	if s.by == nil {
		s.by, s.byStream = map[string]int{}, map[string]int{}
	}
	s.by[p.String()]++
	s.byStream[tag]++
	s.inFlight++
	s.peak = max(s.peak, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	return s.Store.Intent(ctx, id)
}

func (s *countedIntents) counts() (reads, inFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads, s.inFlight
}

// readsBy is how many reads principal's requests made.
func (s *countedIntents) readsBy(principal string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[principal]
}

// readsByStream is how many reads each tagged stream made so far.
func (s *countedIntents) readsByStream() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for tag, n := range s.byStream {
		if tag != "" {
			m[tag] = n
		}
	}
	return m
}

// peakSince returns the most reads in flight at once since the last call
// (or since the store was opened), and starts counting anew.
func (s *countedIntents) peakSince() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = s.inFlight
	return p
}

// streamStall is a stallServer (PostgreSQL behind a fault proxy, a pool of
// four connections) with a pending intent of an operator whose key is
// cached fresh (the clock never moves, so it stays so: a principal that is
// not stale, whose requests read no store to authenticate).
type streamStall struct {
	ss     *stallServer
	proxy  *faultproxy.Proxy
	store  *countedIntents
	ctrl   *admission.Controller
	e      *SecEnv
	key    string // the fresh operator's
	intent string // its pending intent
	body   string // a payment
}

func openStreamStall(t *testing.T) *streamStall {
	t.Helper()
	var store *countedIntents
	ss := openStallServer(t, func(pg *postgres.Store) stallStores {
		store = &countedIntents{Store: pg}
		return stallStores{intents: store}
	})
	admin := pw.NewContextWithPrincipal(context.Background(), pw.Principal{Kind: pw.PrincipalOperator, ID: "root", Role: pw.RoleAdmin})
	bank, user := ss.mustBankAndUser(t)
	op, err := ss.svc.CreateOperator(admin, auth.OperatorCreate{Name: "fresh", Role: pw.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	body := paymentBody(bank.ID, user.ID, 5)
	id := ss.mustPendingIntent(t, op.Operator.ID, body)
	st := &streamStall{ss: ss, proxy: ss.proxy, store: store, ctrl: ss.ctrl, e: ss.e, key: op.Key, intent: id, body: body}
	st.e.Do(t, "GET", "/v1/intents/"+id, op.Key, "").Want(t, 200, "") // and the key is cached
	return st
}

// openBreaker stalls PostgreSQL and opens the breaker as a stall does,
// with the fresh operator's payment (stallServer.openBreaker).
func (st *streamStall) openBreaker(t *testing.T) (release func()) {
	t.Helper()
	return st.ss.openBreaker(t, st.key, st.body)
}

// waitPolled waits until the intent has been read n times more (n open
// streams have each polled), and returns how many times it had been
// read before.
func (st *streamStall) waitPolled(t *testing.T, n int) (reads int) {
	t.Helper()
	reads, _ = st.store.counts()
	waitFor(t, func() bool { now, _ := st.store.counts(); return now >= reads+n })
	return reads
}

// wantUnavailable checks that ev, stream i's, is an unavailable event
// whose data is a busy problem.
func wantUnavailable(t *testing.T, i int, ev pwhttp.Event) {
	t.Helper()
	if ev.Type != "unavailable" {
		t.Fatalf("stream %d in the stall: %+v, want an unavailable event", i, ev)
	}
	var p pwhttp.Problem
	if err := json.Unmarshal([]byte(ev.Data), &p); err != nil || p.Code != pw.EBUSY {
		t.Fatalf("stream %d's unavailable event: %q (%v), want a problem with code busy", i, ev.Data, err)
	}
}

// openStream opens the intent's event stream with a client that gives up
// after giveUp; it returns the answer, or nil if none came by then.
func (st *streamStall) openStream(t *testing.T, giveUp time.Duration) *http.Response {
	t.Helper()
	return st.openStreamAs(t, st.key, giveUp)
}

// openStreamAs is openStream as the holder of key.
func (st *streamStall) openStreamAs(t *testing.T, key string, giveUp time.Duration) *http.Response {
	t.Helper()
	return st.openStreamTagged(t, key, "", giveUp)
}

// openStreamTagged is openStreamAs for a stream whose reads the store
// counts under tag (countedIntents.readsByStream), if not "".
func (st *streamStall) openStreamTagged(t *testing.T, key, tag string, giveUp time.Duration) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", st.e.HTTP.URL+"/v1/intents/"+st.intent+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if tag != "" {
		req.Header.Set(streamTag, tag)
	}
	hc := &http.Client{Transport: st.e.HTTP.Client().Transport, Timeout: giveUp}
	resp, err := hc.Do(req)
	if err != nil {
		return nil
	}
	return resp
}

// streamGiveUp is how long the tests' clients wait for a stream to open:
// the stalls last longer than that (until the test restores the proxy),
// and a stream that waits for the stalled database answers no sooner.
const streamGiveUp = 6 * time.Second

// TestAnEventStreamOpenedInAStallIsAnsweredInTime: a principal that is not
// stale opens its intent's event stream while PostgreSQL stalls. Its read
// of the intent is bounded (pwhttp.IntentEventsReadTimeout): with the
// breaker still closed, 503 busy with Retry-After when the read runs out;
// with the breaker keeping requests from the store, 503 busy at once,
// without a read. Once the database answers, the stream opens again by
// itself (its read is the breaker's probe; no other request is made).
// Until 2026-11-29 the stream's reads had no time limit and went around
// the breaker: each opening waited as long as the stall lasted (no answer
// within the 6 s the client waited, in both cases), a pooled connection
// held meanwhile.
func TestAnEventStreamOpenedInAStallIsAnsweredInTime(t *testing.T) {
	st := openStreamStall(t)
	// refused checks a refusal: 503 busy, problem+json, Retry-After.
	refused := func(t *testing.T, when string, resp *http.Response, took time.Duration) {
		t.Helper()
		if resp == nil {
			t.Errorf("%s: no answer within %v (the stall lasts longer)", when, took)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("%s: %d after %v, Retry-After %q: %s", when, resp.StatusCode, took.Round(time.Millisecond), resp.Header.Get("Retry-After"), strings.TrimSpace(string(body)))
		r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
		if r.Status != 503 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %q, want 503 problem+json", when, r.Status, r.Header.Get("Content-Type"))
			return
		}
		retryAfter(t, r)
		if p := r.Problem(t); p.Code != pw.EBUSY {
			t.Errorf("%s: code %q, want busy", when, p.Code)
		}
	}

	// The breaker closed: the stall has just begun.
	st.proxy.Stall()
	began := time.Now()
	resp := st.openStream(t, streamGiveUp)
	took := time.Since(began)
	refused(t, "a stream opened as the stall begins", resp, took)
	if took > 3*pwhttp.IntentEventsReadTimeout {
		t.Errorf("a stream opened as the stall begins was answered after %v, its read bounded by %v", took, pwhttp.IntentEventsReadTimeout)
	}
	if _, inFlight := st.store.counts(); inFlight != 0 {
		t.Errorf("%d reads of the intent still wait on the stalled database", inFlight)
	}

	// The breaker keeps requests from the store.
	release := st.openBreaker(t)
	reads, _ := st.store.counts()
	began = time.Now()
	resp = st.openStream(t, streamGiveUp)
	took = time.Since(began)
	refused(t, "a stream opened with the breaker open", resp, took)
	if n, _ := st.store.counts(); n != reads {
		t.Errorf("a stream opened with the breaker open read the intent %d times", n-reads)
	}
	if took >= pwhttp.IntentEventsReadTimeout {
		t.Errorf("a stream opened with the breaker open was answered after %v, as long as a read may take", took)
	}

	// The database answers again: the stream opens by itself.
	release()
	st.proxy.Restore()
	back := time.Now()
	for {
		resp := st.openStream(t, streamGiveUp)
		if resp != nil && resp.StatusCode == 200 {
			var first *pw.Intent
			pwhttp.ReadEvents(resp.Body, func(ev pwhttp.Event) bool {
				if ev.Type == "intent" {
					first = new(pw.Intent)
					mustUnmarshal(t, []byte(ev.Data), first)
				}
				return first == nil
			})
			resp.Body.Close()
			if first == nil || first.Status != pw.IntentPending {
				t.Fatalf("the stream once the database is back: %+v", first)
			}
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
		if resp == nil || resp.StatusCode != 503 || time.Since(back) > 10*time.Second {
			t.Fatalf("the stream once the database is back: %v after %v", resp, time.Since(back))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the stream opened again %v after the stall", time.Since(back).Round(time.Millisecond))
}

// followEvents follows an open event stream, sending each event on ch
// until the stream ends.
func followEvents(resp *http.Response, ch chan<- pwhttp.Event) {
	defer close(ch)
	pwhttp.ReadEvents(resp.Body, func(ev pwhttp.Event) bool {
		ch <- ev
		return true
	})
}

// TestOpenEventStreamsHoldNoConnectionInAStall: six event streams of a
// principal that is not stale are open (over a pool of four connections)
// when PostgreSQL stalls. Each poll's read of the intent is bounded
// (pwhttp.IntentEventsReadTimeout), and while the breaker keeps requests
// from the store the streams do not read it at all: a few seconds into the
// stall none of their reads is left waiting on the database (or for a
// pooled connection), each stream has said once that the intent's state
// cannot be read now (an "unavailable" event), and once the database
// answers each sends the intent's state again, read anew, without being
// reopened. Until 2026-11-29 each stream's poll waited on the stalled
// database for as long as the stall lasted: six reads in flight, the four
// connections of the pool held by them, for as long as the breaker was
// open, and nothing sent to the clients.
func TestOpenEventStreamsHoldNoConnectionInAStall(t *testing.T) {
	st := openStreamStall(t)
	const streams = 6
	events := st.openStreamsAs(t, st.key, streams)
	// Each stream has polled at least once before the stall.
	reads := st.waitPolled(t, streams)

	release := st.openBreaker(t)
	opened := time.Now()
	// Within two polls and a read's bound, every read the streams began
	// before the breaker opened has ended.
	bound := 2*pwhttp.IntentEventsPoll + pwhttp.IntentEventsReadTimeout
	for {
		_, inFlight := st.store.counts()
		if inFlight == 0 {
			break
		}
		if time.Since(opened) > 2*bound {
			t.Fatalf("%v after the breaker opened, %d of the %d streams' reads of the intent still wait on the stalled database (or for one of its 4 pooled connections)",
				time.Since(opened).Round(time.Millisecond), inFlight, streams)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("no stream's read in flight %v after the breaker opened", time.Since(opened).Round(time.Millisecond))
	// While the breaker keeps requests from the store, the streams do not
	// read it.
	reads, _ = st.store.counts()
	time.Sleep(2 * pwhttp.IntentEventsPoll)
	if n, _ := st.store.counts(); n != reads {
		t.Errorf("the streams read the intent %d times in %v with the breaker open", n-reads, 2*pwhttp.IntentEventsPoll)
	}
	for i, ch := range events {
		select {
		case ev := <-ch:
			wantUnavailable(t, i, ev)
		default:
			t.Fatalf("stream %d sent nothing in the stall", i)
		}
	}

	release()
	st.proxy.Restore()
	back := time.Now()
	for i, ch := range events {
		select {
		case ev := <-ch:
			var in pw.Intent
			if ev.Type != "intent" || json.Unmarshal([]byte(ev.Data), &in) != nil || in.Status != pw.IntentPending {
				t.Fatalf("stream %d once the database is back: %+v, want the intent again", i, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stream %d sent nothing %v after the database came back", i, time.Since(back))
		}
	}
	t.Logf("every stream sent the intent again %v after the stall", time.Since(back).Round(time.Millisecond))
}
