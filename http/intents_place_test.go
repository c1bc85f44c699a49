package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// placeEnv is an Env whose server and maintenance schedule run on a fake
// clock (no admission: the settler settles whatever is pending), for the
// place in line and the settling rate, which are measured in the
// server's time.
type placeEnv struct {
	*Env
	Clock *Clock
	Sched *admission.Schedule
	Store *sqlite.Store
	W     Wallet
	seq   int
	base  time.Time // intents are accepted from here on, a millisecond apart
}

func mustOpenPlaceEnv(t *testing.T) *placeEnv {
	t.Helper()
	return mustOpenPlaceEnvWith(t, nil)
}

// mustOpenPlaceEnvWith is mustOpenPlaceEnv whose server reads intents
// through wrap(the store) (nil: the store itself).
func mustOpenPlaceEnvWith(t *testing.T, wrap func(pw.IntentStore) pw.IntentStore) *placeEnv {
	t.Helper()
	return mustOpenPlaceEnvAdmitted(t, wrap, nil)
}

// mustOpenPlaceEnvAdmitted is mustOpenPlaceEnvWith whose server admits
// requests through ctrl (nil: none).
func mustOpenPlaceEnvAdmitted(t *testing.T, wrap func(pw.IntentStore) pw.IntentStore, ctrl *admission.Controller) *placeEnv {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := ledger.New(store, ledger.Options{Logger: log})
	clock := &Clock{now: time.Now().UTC().Truncate(time.Second)}
	sched, err := admission.NewSchedule(filepath.Join(t.TempDir(), "maintenance.json"), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	var intents pw.IntentStore = store
	if wrap != nil {
		intents = wrap(store)
	}
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger: l,
		Authenticator: pwhttp.Authenticators{
			pwhttp.NewOperatorAuthenticator(operatorKey),
			staticAuth{otherToken: {Kind: pw.PrincipalMerchant, ID: "m1"}},
		},
		Readiness: store.Ping, Logger: log, Registry: prometheus.NewRegistry(),
		Maintenance: sched, Intents: intents, Now: clock.Now, Admission: ctrl,
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		l.Close()
		store.Close()
	})
	e := &placeEnv{Env: &Env{Server: srv, HTTP: hs, Client: pwhttp.NewClient(hs.URL, operatorKey, hs.Client()), Ledger: l, Store: store},
		Clock: clock, Sched: sched, Store: store, base: clock.Now().Add(-time.Hour)}
	e.W = e.MustWallet(t, 1_000_000)
	return e
}

// queue stores a pending intent of principal's, a payment of 1 from the
// env's user, as the surge queue accepts one, a millisecond after the
// last: IDs, and so places, follow the order of the calls. The clock does
// not move: the rate's tests move it by hand.
func (e *placeEnv) queue(t *testing.T, principal string) *pw.Intent {
	t.Helper()
	e.seq++
	return e.queueAt(t, principal, fmt.Sprint("place-", e.seq), e.base.Add(time.Duration(e.seq)*time.Millisecond).UTC())
}

func (e *placeEnv) queueAt(t testing.TB, principal, key string, at time.Time) *pw.Intent {
	body := []byte(transferBody(e.W, 1))
	in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, at), Principal: principal, IdempotencyKey: key,
		Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", body), Body: body,
		Status: pw.IntentPending, CreatedAt: at.Truncate(time.Microsecond), UpdatedAt: at.Truncate(time.Microsecond), Authorized: true}
	if _, err := e.Store.CreateIntent(context.Background(), in); err != nil {
		t.Error(err)
	}
	return in
}

// read reads intent id as the holder of token ("" for the operator), and
// returns it and the raw answer.
func (e *placeEnv) read(t *testing.T, token, id string) (pw.Intent, string) {
	t.Helper()
	r := e.Do(t, "GET", "/v1/intents/"+id, "", bearer(token))
	if r.Status != 200 {
		t.Fatalf("GET intent %s: %d %s", id, r.Status, r.Body)
	}
	var in pw.Intent
	mustUnmarshal(t, r.Body, &in)
	return in, string(r.Body)
}

// list reads the first page of GET /v1/intents (with query) as token's.
func (e *placeEnv) list(t *testing.T, token, query string) []*pw.Intent {
	t.Helper()
	r := e.Do(t, "GET", "/v1/intents"+query, "", bearer(token))
	if r.Status != 200 {
		t.Fatalf("GET /v1/intents%s: %d %s", query, r.Status, r.Body)
	}
	var page pwhttp.List[*pw.Intent]
	mustUnmarshal(t, r.Body, &page)
	return page.Data
}

func bearer(token string) map[string]string {
	if token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + token}
}

// places is each intent's ahead, "-" without a place, "+" after an
// ahead counted to its bound.
func places(ins ...*pw.Intent) string {
	var out []string
	for _, in := range ins {
		switch p := in.Place; {
		case p == nil:
			out = append(out, "-")
		case p.AheadAtLeast:
			out = append(out, fmt.Sprint(p.Ahead, "+"))
		default:
			out = append(out, fmt.Sprint(p.Ahead))
		}
	}
	return strings.Join(out, " ")
}

// TestAQueuedPaymentSaysHowManyAreAhead: a pending intent, read by ID, in
// the list (one's own, and an operator's of everyone's), by its key and
// in its event stream, carries how many pending intents of every payer
// were accepted before it; when one ahead settles it has one fewer; a
// settled intent carries no place. With nothing settled yet no rate is
// known, so no wait is told.
func TestAQueuedPaymentSaysHowManyAreAhead(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	first := e.queue(t, "operator:root")
	mine := e.queue(t, "merchant:m1")
	third := e.queue(t, "operator:root")

	got, raw := e.read(t, "", third.ID)
	if got.Place == nil || got.Place.Ahead != 2 || got.Place.AheadAtLeast {
		t.Fatalf("the third of three pending: %s; want queue_position.ahead 2", raw)
	}
	if got.Place.SettledPerSecond != nil || got.Place.ExpectedWaitSeconds != nil || strings.Contains(raw, "expected_wait_seconds") {
		t.Fatalf("nothing has settled, yet a wait is told: %s", raw)
	}
	if ps := places(e.list(t, "", "")...); ps != "0 1 2" {
		t.Fatalf("the operator's list: places %s, want 0 1 2", ps)
	}
	if ps := places(e.list(t, otherToken, "")...); ps != "1" {
		t.Fatalf("the merchant's list of its one intent, behind another payer's: places %s, want 1", ps)
	}
	if ps := places(e.list(t, "", "?idempotency_key="+third.IdempotencyKey)...); ps != "2" {
		t.Fatalf("the third found by its key: places %s, want 2", ps)
	}
	// The Go client reads it too (its Intent is pw.Intent).
	if in, err := e.Client.Intent(context.Background(), third.ID); err != nil || places(in) != "2" {
		t.Fatalf("the client's read of the third: %+v, %v; want 2 ahead", in, err)
	}
	if list, _, err := e.Client.PendingIntents(context.Background(), pw.Page{}); err != nil || places(list...) != "0 1 2" {
		t.Fatalf("the client's list: places %s, %v; want 0 1 2", places(list...), err)
	}
	if ev := firstEvent(t, e, third.ID); places(&ev) != "2" {
		t.Fatalf("the third's event: place %s, want 2", places(&ev))
	}

	// The first settles (here by another process's settler): the third
	// has one ahead now, the first none at all.
	if err := e.Store.FinishIntent(context.Background(), first.ID, pw.IntentPosted, "tr_x", nil, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	// The queue's head is read at most once every IntentPlaceFresh, for
	// every place told meanwhile: within that second the place is as read.
	if got, raw := e.read(t, "", third.ID); places(&got) != "2" {
		t.Fatalf("the third, within a second of its last place: %s; want the place read then, 2 ahead", raw)
	}
	e.Clock.Advance(pwhttp.IntentPlaceFresh)
	if got, raw := e.read(t, "", third.ID); places(&got) != "1" {
		t.Fatalf("the third after the first settled: %s; want 1 ahead", raw)
	}
	if got, raw := e.read(t, "", first.ID); got.Place != nil || strings.Contains(raw, "queue_position") {
		t.Fatalf("a settled intent carries a place: %s", raw)
	}
	if ps := places(e.list(t, "", "")...); ps != "0 1" {
		t.Fatalf("the operator's list after the first settled: places %s, want 0 1", ps)
	}
	if got, _ := e.read(t, otherToken, mine.ID); places(&got) != "0" {
		t.Fatalf("the merchant's intent, first in line now: place %s, want 0", places(&got))
	}
}

// firstEvent reads the first event of intent id's stream, as the operator.
func firstEvent(t *testing.T, e *placeEnv, id string) pw.Intent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.HTTP.URL+"/v1/intents/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	res, err := e.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var in pw.Intent
	err = pwhttp.ReadEvents(res.Body, func(ev pwhttp.Event) bool {
		if err := json.Unmarshal([]byte(ev.Data), &in); err != nil {
			t.Errorf("event %q: %v", ev.Data, err)
		}
		return false
	})
	if err != nil && in.ID == "" {
		t.Fatal(err)
	}
	return in
}

// TestAnEventStreamSaysWhenThePlaceMoves: an intent's event stream sends
// an event when its place changes, not only its state: one ahead settles,
// and once IntentPlaceEvery has passed (the server's clock) the stream
// counts again and says one fewer is ahead. No time is asserted: the
// stream's one-second poll brings the event, whenever it comes.
func TestAnEventStreamSaysWhenThePlaceMoves(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	first := e.queue(t, "operator:root")
	e.queue(t, "operator:root")
	third := e.queue(t, "operator:root")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.HTTP.URL+"/v1/intents/"+third.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	res, err := e.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var seen []string
	err = pwhttp.ReadEvents(res.Body, func(ev pwhttp.Event) bool {
		var in pw.Intent
		if err := json.Unmarshal([]byte(ev.Data), &in); err != nil {
			t.Errorf("event %q: %v", ev.Data, err)
			return false
		}
		seen = append(seen, places(&in))
		if len(seen) == 1 {
			if err := e.Store.FinishIntent(context.Background(), first.ID, pw.IntentPosted, "tr_x", nil, e.Clock.Now()); err != nil {
				t.Error(err)
				return false
			}
			e.Clock.Advance(pwhttp.IntentPlaceEvery)
		}
		return len(seen) < 2
	})
	if strings.Join(seen, ",") != "2,1" {
		t.Fatalf("the stream's places: %v (%v); want 2, then 1 once the first settled", seen, err)
	}
}

// wait is the expected wait told of intent id, or -1 when none is.
// The queue's head is read anew for each (ForgetQueueHead): the rate's
// arithmetic is tested here, the head's freshness elsewhere.
func (e *placeEnv) wait(t *testing.T, id string) int64 {
	t.Helper()
	e.Server.ForgetQueueHead()
	got, raw := e.read(t, "", id)
	if got.Place == nil {
		t.Fatalf("a pending intent without a place: %s", raw)
	}
	if got.Place.ExpectedWaitSeconds == nil {
		if got.Place.SettledPerSecond != nil {
			t.Fatalf("a rate without a wait: %s", raw)
		}
		return -1
	}
	if got.Place.SettledPerSecond == nil {
		t.Fatalf("a wait without its rate: %s", raw)
	}
	return *got.Place.ExpectedWaitSeconds
}

func (e *placeEnv) settle(t *testing.T, want int) {
	t.Helper()
	if n, err := e.Server.SettleIntents(context.Background()); err != nil || n != want {
		t.Fatalf("a settling pass settled %d, %v; want %d", n, err, want)
	}
}

// TestTheExpectedWaitFollowsTheSettlingRate: the wait told is the place
// (ahead, plus the intent itself) over the rate at which this server's
// settler settled intents lately, in the server's time: it grows as time
// passes with nothing settled, shrinks as more settle, is not told once
// the queue was found empty (nothing settled since), nor during a
// read-only window, which says instead when settling resumes.
func TestTheExpectedWaitFollowsTheSettlingRate(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	e.queue(t, "operator:root")
	b := e.queue(t, "operator:root")
	if w := e.wait(t, b.ID); w != -1 {
		t.Fatalf("before anything settled a wait of %d s is told", w)
	}
	// Two settle at once: 2 over at least a second (IntentRateSpanMin),
	// so the two queued next are about 1 s away each.
	e.settle(t, 2)
	c := e.queue(t, "operator:root")
	d := e.queue(t, "operator:root")
	if w := e.wait(t, c.ID); w != 1 {
		t.Fatalf("2 settled over a second, the first in line: wait %d s, want 1", w)
	}
	if w := e.wait(t, d.ID); w != 1 {
		t.Fatalf("2 settled over a second, the second in line: wait %d s, want 1", w)
	}
	// Four seconds pass and nothing settles: the rate is 2 over 4 s, and
	// d, with c and itself to settle, is 4 s away.
	e.Clock.Advance(4 * time.Second)
	if w := e.wait(t, d.ID); w != 4 {
		t.Fatalf("2 settled over 4 s, the second in line: wait %d s, want 4", w)
	}
	// The next pass settles c, d and three more: 7 over 4 s, 1.75 a
	// second. Of the seven queued next the first is cancelled; the last
	// has 5 ahead: 6 to settle, 3.4 s, about 4 s.
	for range 3 {
		e.queue(t, "operator:root")
	}
	e.settle(t, 5)
	var tail []*pw.Intent
	for range 7 {
		tail = append(tail, e.queue(t, "operator:root"))
	}
	if err := e.Store.FinishIntent(context.Background(), tail[0].ID, pw.IntentFailed, "", &pw.IntentError{Code: pw.EINTENTCANCELLED, Message: "cancelled"}, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.Server.ForgetQueueHead()
	if got, raw := e.read(t, "", tail[6].ID); got.Place == nil || got.Place.Ahead != 5 || got.Place.ExpectedWaitSeconds == nil ||
		*got.Place.ExpectedWaitSeconds != 4 || *got.Place.SettledPerSecond != 1.75 {
		t.Fatalf("7 settled over 4 s, 5 ahead: %s; want settled_per_second 1.75 and expected_wait_seconds 4", raw)
	}
	// Past the window with nothing settled in it: no rate, no wait.
	e.Clock.Advance(pwhttp.IntentRateWindow + time.Second)
	if w := e.wait(t, tail[6].ID); w != -1 {
		t.Fatalf("nothing settled in the last %s, yet a wait of %d s is told", pwhttp.IntentRateWindow, w)
	}
	// All settle, and the next pass finds the queue empty: the next
	// payment queued is told no wait until something settles again.
	e.settle(t, 6)
	e.Clock.Advance(time.Second)
	e.settle(t, 0)
	late := e.queue(t, "operator:root")
	if w := e.wait(t, late.ID); w != -1 {
		t.Fatalf("the queue was found empty since the last settlement, yet a wait of %d s is told", w)
	}
	// A read-only window holds the settler: no wait is told, but when
	// settling resumes.
	e.queue(t, "operator:root")
	e.settle(t, 2)
	next := e.queue(t, "operator:root")
	if w := e.wait(t, next.ID); w != 1 {
		t.Fatalf("2 settled: wait %d s, want 1", w)
	}
	now := e.Clock.Now()
	if _, err := e.Sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Hour), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	e.settle(t, 0)
	got, raw := e.read(t, "", next.ID)
	if got.Place == nil || got.Place.ExpectedWaitSeconds != nil || got.Place.SettledPerSecond != nil ||
		got.Place.SettlingResumesAt == nil || !got.Place.SettlingResumesAt.Equal(now.Add(time.Hour+pwhttp.IntentResumeGrace)) {
		t.Fatalf("during a read-only window: %s; want no wait and settling_resumes_at %s (the window's end and the grace after it)",
			raw, now.Add(time.Hour+pwhttp.IntentResumeGrace).Format(time.RFC3339))
	}
}

// TestTheCountAheadIsBounded: past pw.IntentsAheadMax pending intents
// ahead, an intent says "at least" that many (ahead_at_least), alone and
// in a page; one just inside the bound is counted exactly.
func TestTheCountAheadIsBounded(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	n := pw.IntentsAheadMax + 2
	base := e.Clock.Now()
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n { // at once, so that they are written in a few group commits
		at := base.Add(time.Duration(i) * time.Millisecond)
		ids[i] = pw.NewID(pw.PrefixIntent, at)
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(transferBody(e.W, 1))
			in := &pw.Intent{ID: ids[i], Principal: "operator:root", IdempotencyKey: fmt.Sprint("bound-", i),
				Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", body), Body: body,
				Status: pw.IntentPending, CreatedAt: at, UpdatedAt: at, Authorized: true}
			if _, err := e.Store.CreateIntent(context.Background(), in); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	e.Clock.Advance(time.Duration(n) * time.Millisecond)
	for i, want := range map[int]string{0: "0", n - 3: fmt.Sprint(n - 3), n - 2: fmt.Sprint(pw.IntentsAheadMax, "+"), n - 1: fmt.Sprint(pw.IntentsAheadMax, "+")} {
		if got, _ := e.read(t, "", ids[i]); places(&got) != want {
			t.Errorf("intent %d of %d: place %s, want %s", i, n, places(&got), want)
		}
	}
	// The page at the back of the queue: the last three counted exactly
	// are 997, 998 and 999 ahead; the two after them, at least 1,000.
	page := e.list(t, "", "?limit=5&cursor="+ids[n-6])
	if want := fmt.Sprintf("%d %d %d %d+ %d+", n-5, n-4, n-3, pw.IntentsAheadMax, pw.IntentsAheadMax); places(page...) != want {
		t.Fatalf("the queue's last page: places %s, want %s", places(page...), want)
	}
}

// TestACancellationRefusedInAReadOnlyWindowComesBeforeTheSettler: a payer
// cancels a queued payment during a read-only window and is refused (503
// maintenance), told to come back when it ends. The settler, held by the
// same window, waits IntentResumeGrace more once it finds the window
// over: the cancellation, retried then, stops the payment. Before
// 2026-11-28 the settler's first pass after the window paid it, and the
// retried cancellation was told intent_not_pending.
func TestACancellationRefusedInAReadOnlyWindowComesBeforeTheSettler(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	in := e.queue(t, "operator:root")
	before := e.MustBalance(t, e.W.User).Posted
	now := e.Clock.Now()
	if _, err := e.Sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Hour), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	e.settle(t, 0)
	r := e.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", "", nil)
	if r.Status != 503 || r.Problem(t).Code != pw.EMAINTENANCE || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a cancellation in the window: %d %s; want 503 maintenance with Retry-After", r.Status, r.Body)
	}
	// The window ends; the settler's next pass finds it over.
	e.Clock.Advance(time.Hour)
	e.settle(t, 0)
	r = e.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", "", nil)
	var got pw.Intent
	if r.Status != 200 {
		t.Fatalf("the cancellation retried as the window ended: %d %s; want it cancelled", r.Status, r.Body)
	}
	if mustUnmarshal(t, r.Body, &got); !got.Cancelled() {
		t.Fatalf("the cancellation retried as the window ended: %s", r.Body)
	}
	e.Clock.Advance(pwhttp.IntentResumeGrace)
	e.settle(t, 0)
	if b := e.MustBalance(t, e.W.User).Posted; b != before {
		t.Fatalf("the payer's balance went from %d to %d: a cancelled payment was paid", before, b)
	}
}

// TestTheGraceAfterAWindowSurvivesTheClockSteppingBack: the grace after a
// read-only window is a moment counted on the wall clock. When the clock
// steps back an hour just after it began (an NTP correction), the queue
// is held at most IntentResumeGrace more, not the hour.
func TestTheGraceAfterAWindowSurvivesTheClockSteppingBack(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	e.queue(t, "operator:root")
	now := e.Clock.Now()
	if _, err := e.Sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Minute), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	e.settle(t, 0)
	e.Clock.Advance(time.Minute)
	e.settle(t, 0) // finds the window over: the grace begins
	e.Clock.Advance(-time.Hour)
	e.settle(t, 0) // within the grace, counted from the step back
	e.Clock.Advance(pwhttp.IntentResumeGrace)
	e.settle(t, 1)
}

// TestAProcessThatNeverSawTheWindowWaitsTheGraceToo: a process that takes
// over as a read-only window ends (its settler never found the window in
// force) still waits the grace after the window's end before it settles,
// so that cancellations refused in the window come first there too.
func TestAProcessThatNeverSawTheWindowWaitsTheGraceToo(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	e.queue(t, "operator:root")
	now := e.Clock.Now()
	if _, err := e.Sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Minute), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute + pwhttp.IntentResumeGrace/2)
	e.settle(t, 0) // its first pass, the window over a second ago
	e.Clock.Advance(pwhttp.IntentResumeGrace / 2)
	e.settle(t, 1)
}

// TestTheOpsSummarySaysHowLongTheSurgeQueueIs: the console's summary
// counts the pending intents (from the queue's head, as places are) and
// says how fast they settle: three pending and nothing settled yet, no
// rate; two settled over a second, one left, settling at 2 a second;
// past pw.IntentsAheadMax, "at least" that many; in a read-only window,
// when settling resumes instead of a rate.
func TestTheOpsSummarySaysHowLongTheSurgeQueueIs(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	length := func() *pwhttp.SurgeQueueLength {
		t.Helper()
		e.Server.ForgetQueueHead()
		var sum pwhttp.OpsSummary
		r := e.Do(t, "GET", "/v1/ops/summary", "", nil)
		if r.Status != 200 {
			t.Fatalf("GET /v1/ops/summary: %d %s", r.Status, r.Body)
		}
		mustUnmarshal(t, r.Body, &sum)
		if sum.SurgeQueuePending == nil {
			t.Fatalf("the summary has no surge_queue_pending: %s", r.Body)
		}
		return sum.SurgeQueuePending
	}
	if q := length(); q.Count != 0 || q.AtLeast || q.SettledPerSecond != nil {
		t.Fatalf("an empty queue: %+v", q)
	}
	for range 3 {
		e.queue(t, "operator:root")
	}
	if q := length(); q.Count != 3 || q.AtLeast || q.SettledPerSecond != nil {
		t.Fatalf("three pending, none settled yet: %+v; want count 3 and no rate", q)
	}
	e.settle(t, 3)
	e.queue(t, "operator:root")
	if q := length(); q.Count != 1 || q.SettledPerSecond == nil || *q.SettledPerSecond != 3 {
		t.Fatalf("three settled over a second, one pending: %+v; want count 1, settling 3 a second", q)
	}
	for i := range pw.IntentsAheadMax {
		e.queueAt(t, "operator:root", fmt.Sprint("many-", i), e.base.Add(time.Minute+time.Duration(i)*time.Millisecond))
	}
	now := e.Clock.Now()
	if _, err := e.Sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Hour), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	q := length()
	if q.Count != pw.IntentsAheadMax || !q.AtLeast || q.SettledPerSecond != nil || q.SettlingResumesAt == nil ||
		!q.SettlingResumesAt.Equal(now.Add(time.Hour+pwhttp.IntentResumeGrace)) {
		t.Fatalf("%d pending in a read-only window: %+v; want count %d, at_least, no rate, settling resumes at the window's end and its grace",
			pw.IntentsAheadMax+1, q, pw.IntentsAheadMax)
	}
}

// TestAProcessThatStopsSettlingTellsNoSettlingRate: the rate is this
// server's settler's, and once the settler has stopped (a drain, as a new
// binary takes over and settles) this process settles nothing more. It
// went on telling the rate it had measured, fading only as its 30 s window
// passed, and an expected wait built on it, while its oldest wait already
// read 0 (found in the review of 2026-11-29): its summary and the places
// it tells now say no rate, as when nothing settled lately.
func TestAProcessThatStopsSettlingTellsNoSettlingRate(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	for range 3 {
		e.queue(t, "operator:root")
	}
	e.settle(t, 3)
	waiting := e.queue(t, "operator:root")
	if w := e.wait(t, waiting.ID); w != 1 {
		t.Fatalf("one pending after three settled over a second: expected wait %d s, want 1", w)
	}
	ctx, stop := context.WithCancel(context.Background())
	stop() // the settler stops at once: its pass finds its context ended
	e.Server.RunIntents(ctx)
	if w := e.wait(t, waiting.ID); w != -1 {
		t.Fatalf("after the settler stopped: an expected wait of %d s is told; want none", w)
	}
	e.Server.ForgetQueueHead()
	var sum pwhttp.OpsSummary
	mustUnmarshal(t, e.Do(t, "GET", "/v1/ops/summary", "", nil).Body, &sum)
	if q := sum.SurgeQueuePending; q == nil || q.Count != 1 || q.SettledPerSecond != nil {
		t.Fatalf("after the settler stopped, the summary's surge queue: %+v; want one pending and no rate", q)
	}
}

// TestAPlaceSaysWhenTheSettlerResumesAfterAWindowItSaw: in a process whose
// settler saw a read-only window in force, the grace is counted from the
// pass that finds the window over, which may come a moment after its end.
// A queued payment's settling_resumes_at is then when that grace ends, not
// the window's end and the grace after it, which would tell the payer a
// time at which its payment still does not move.
func TestAPlaceSaysWhenTheSettlerResumesAfterAWindowItSaw(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	in := e.queue(t, "operator:root")
	now := e.Clock.Now()
	end := now.Add(time.Minute)
	if _, err := e.Sched.Add(pw.MaintenanceCreate{Start: now, End: end, ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	e.settle(t, 0) // sees the window in force
	e.Clock.Advance(time.Minute + time.Second)
	e.settle(t, 0) // finds it over a second after its end: the grace begins now
	resumes := e.Clock.Now().Add(pwhttp.IntentResumeGrace)
	got, raw := e.read(t, "", in.ID)
	if got.Place == nil || got.Place.SettlingResumesAt == nil || !got.Place.SettlingResumesAt.Equal(resumes) {
		t.Fatalf("a second after the window: %s; want settling_resumes_at %s (the grace from the pass that found it over), not %s",
			raw, resumes.Format(time.RFC3339), end.Add(pwhttp.IntentResumeGrace).Format(time.RFC3339))
	}
	e.Clock.Advance(pwhttp.IntentResumeGrace / 2)
	e.settle(t, 0) // past the window's end and the grace after it, within the grace of the pass
	e.Clock.Advance(pwhttp.IntentResumeGrace / 2)
	e.settle(t, 1)
}

// TestTheGraceOfAProcessThatNeverSawTheWindowSurvivesTheClockSteppingBack:
// in a process that took over as a read-only window ended, the grace after
// the window's end is counted again from a step back of the clock, as in
// one that saw the window, and not ended by it: stepped back to before
// the window's end, there is no window ended lately to wait after.
func TestTheGraceOfAProcessThatNeverSawTheWindowSurvivesTheClockSteppingBack(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	e.queue(t, "operator:root")
	now := e.Clock.Now()
	if _, err := e.Sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Minute), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Minute + pwhttp.IntentResumeGrace/4)
	e.settle(t, 0) // its first pass, the window over a moment ago
	e.Clock.Advance(-time.Hour)
	e.settle(t, 0) // within the grace, counted from the step back
	e.Clock.Advance(pwhttp.IntentResumeGrace)
	e.settle(t, 1)
}

// TestAGraceThatEndedDoesNotComeBackWithTheClock: once the grace after a
// window has run out, a step back of the clock (an hour, long after the
// window) does not hold the queue again.
func TestAGraceThatEndedDoesNotComeBackWithTheClock(t *testing.T) {
	e := mustOpenPlaceEnv(t)
	now := e.Clock.Now()
	if _, err := e.Sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Minute), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	e.settle(t, 0)
	e.Clock.Advance(time.Minute)
	e.settle(t, 0) // finds the window over: the grace begins
	e.Clock.Advance(pwhttp.IntentResumeGrace + time.Minute)
	e.settle(t, 0) // the grace is over; nothing is pending
	e.Clock.Advance(-time.Hour)
	e.queue(t, "operator:root")
	e.settle(t, 1)
}
