package http_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// openStreamsAs opens n event streams of the intent as the holder of key,
// each past its first event, and returns their events. Each is tagged
// with its index in them (countedIntents.readsByStream): the tests that
// count a stream's reads open one such batch.
func (st *streamStall) openStreamsAs(t *testing.T, key string, n int) []chan pwhttp.Event {
	t.Helper()
	events := make([]chan pwhttp.Event, n)
	for i := range events {
		resp := st.openStreamTagged(t, key, itoa(i), 0)
		if resp == nil || resp.StatusCode != 200 {
			t.Fatalf("stream %d before the stall: %v", i, resp)
		}
		t.Cleanup(func() { resp.Body.Close() })
		events[i] = make(chan pwhttp.Event, 64)
		go followEvents(resp, events[i])
		if ev := <-events[i]; ev.Type != "intent" {
			t.Fatalf("stream %d's first event: %+v", i, ev)
		}
	}
	return events
}

// wantBusy checks that resp is 503 busy, problem+json, with Retry-After.
func wantBusy(t *testing.T, when string, resp *http.Response) {
	t.Helper()
	if resp == nil {
		t.Fatalf("%s: no answer", when)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if r.Status != 503 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("%s: %d %q %s, want 503 problem+json", when, r.Status, r.Header.Get("Content-Type"), body)
	}
	retryAfter(t, r)
	if p := r.Problem(t); p.Code != pw.EBUSY {
		t.Fatalf("%s: code %q, want busy", when, p.Code)
	}
}

// TestEventStreamReadsInFlightAreBounded: at most
// pwhttp.IntentEventsReadsMax of the event streams' reads of the store are
// in flight at once. PostgreSQL stalls with the breaker still closed (one
// principal's streams, none of its payments: the breaker waits
// admission.StallAloneAfter for those): six open streams' polls do not
// each hold (or wait for) one of the pool's four connections, a poll that
// finds the bound reached is skipped, and a stream opened then is answered
// 503 busy with Retry-After without reading. Until the review of
// 2026-11-29 every stream's poll read the stalled store for its whole
// bound (IntentEventsReadTimeout), six at once, the pool's connections
// taken from the payments, and the opening read it too.
func TestEventStreamReadsInFlightAreBounded(t *testing.T) {
	st := openStreamStall(t)
	const streams = 6
	st.openStreamsAs(t, st.key, streams)
	st.waitPolled(t, streams) // each has polled
	st.store.peakSince()

	st.proxy.Stall()
	stalled := time.Now()
	waitFor(t, func() bool { _, n := st.store.counts(); return n >= pwhttp.IntentEventsReadsMax })
	// The bound is reached (each read waits up to a second on the stalled
	// store): a stream opened now, by another principal, reads nothing.
	resp := st.openStreamAs(t, operatorKey, streamGiveUp)
	if n := st.store.readsBy("operator:root"); n != 0 {
		t.Errorf("a stream opened while %d reads are in flight read the intent %d times", pwhttp.IntentEventsReadsMax, n)
	}
	wantBusy(t, "a stream opened while the reads in flight are at their bound", resp)

	// Two polls of every stream later (each poll of each stream would
	// have read the stalled store), no more than the bound were in flight.
	time.Sleep(2 * pwhttp.IntentEventsPoll)
	peak := st.store.peakSince()
	t.Logf("at most %d reads in flight over the stall's first %v, %d streams open", peak, time.Since(stalled).Round(time.Millisecond), streams)
	if peak > pwhttp.IntentEventsReadsMax {
		t.Errorf("%d of the streams' reads were in flight at once on the stalled database; want at most %d", peak, pwhttp.IntentEventsReadsMax)
	}
	if !st.ctrl.BreakerClosed() {
		t.Errorf("the breaker opened within %v of one principal's stall (StallAloneAfter is %v): this test is of the breaker closed",
			time.Since(stalled).Round(time.Millisecond), admission.StallAloneAfter)
	}
}

// TestEventStreamsAloneOpenTheBreakerInAStall: a server whose only
// traffic is event streams (of two principals) when PostgreSQL stalls.
// Their reads out of their bound count against the breaker as admitted
// requests' do (a stall: admission.StallSilencePostgres), so it opens,
// and then the streams read at most its probe at a time. Until the review
// of 2026-11-29 their failures did not count: the breaker stayed closed,
// and every stream polled the stalled database once a second for as long
// as the stall lasted.
func TestEventStreamsAloneOpenTheBreakerInAStall(t *testing.T) {
	st := openStreamStall(t)
	const each = 3
	st.openStreamsAs(t, st.key, each)
	st.openStreamsAs(t, operatorKey, each)
	reads := st.waitPolled(t, 2*each)

	st.proxy.Stall()
	stalled := time.Now()
	const patience = 15 * time.Second
	for st.ctrl.BreakerClosed() {
		if time.Since(stalled) > patience {
			n, inFlight := st.store.counts()
			t.Fatalf("the breaker is closed %v into a stall with only event streams open; they read the stalled database %d times meanwhile, %d in flight",
				patience, n-reads, inFlight)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the breaker opened %v into the stall", time.Since(stalled).Round(time.Millisecond))

	// The reads begun before it opened end within their bound (and so
	// does the breaker's probe).
	waitFor(t, func() bool { _, n := st.store.counts(); return n == 0 })
	st.store.peakSince()
	reads, _ = st.store.counts()
	time.Sleep(2 * pwhttp.IntentEventsPoll)
	n, _ := st.store.counts()
	if peak := st.store.peakSince(); peak > 1 {
		t.Errorf("%d of the streams' reads in flight at once with the breaker open; want its probe at most", peak)
	}
	if n-reads >= 2*each {
		t.Errorf("the streams read the stalled database %d times in %v with the breaker open; want its probes only", n-reads, 2*pwhttp.IntentEventsPoll)
	}
}

// TestAStreamsClientGoingAwayDoesNotCountAgainstTheBreaker: streams
// opened in a stall, by two principals, whose clients give up before the
// read's own bound. Their reads end with the client's cancellation, which
// says nothing of the store: however many, they do not open the breaker.
func TestAStreamsClientGoingAwayDoesNotCountAgainstTheBreaker(t *testing.T) {
	st := openStreamStall(t)
	st.proxy.Stall()
	reads, _ := st.store.counts()
	const openings = 4 * admission.BreakerFailuresMax
	for i := range openings {
		key := operatorKey
		if i%2 == 1 {
			key = st.key
		}
		if resp := st.openStreamAs(t, key, pwhttp.IntentEventsReadTimeout/4); resp != nil {
			resp.Body.Close()
			t.Fatalf("opening %d, in a stall: %d within a quarter of the read's bound; want the client to give up first", i, resp.StatusCode)
		}
		waitFor(t, func() bool { _, n := st.store.counts(); return n == 0 }) // its read ended with the client
	}
	if n, _ := st.store.counts(); n-reads != openings {
		t.Fatalf("%d openings read the intent %d times", openings, n-reads)
	}
	if !st.ctrl.BreakerClosed() {
		t.Errorf("%d event streams whose clients went away mid-read opened the breaker: %+v", openings, st.ctrl.Stats())
	}
}

// TestEventStreamsInAStallTakeTheReadsInTurn: six event streams of one
// principal are open when PostgreSQL stalls, the breaker still closed
// (admission.StallAloneAfter); pwhttp.IntentEventsReadsMax (2) of their
// reads may be in flight, each running out after a second. Before the
// breaker opens, every stream has had a read of the stalled store, in
// turn. Until the review of 2026-11-29 the streams polled on fixed
// phases: a stream whose read ran out found its next poll due and took
// its slot again at once, so the same two streams read every second and
// the other four never did (their polls all skipped).
func TestEventStreamsInAStallTakeTheReadsInTurn(t *testing.T) {
	st := openStreamStall(t)
	const streams = 6
	st.openStreamsAs(t, st.key, streams)
	st.waitPolled(t, streams) // each has polled
	before := st.store.readsByStream()

	st.proxy.Stall()
	stalled := time.Now()
	unread := func() (tags []string) {
		now := st.store.readsByStream()
		for i := range streams {
			if now[itoa(i)] == before[itoa(i)] {
				tags = append(tags, itoa(i))
			}
		}
		return tags
	}
	for len(unread()) > 0 && st.ctrl.BreakerClosed() && time.Since(stalled) < 2*admission.StallAloneAfter {
		time.Sleep(10 * time.Millisecond)
	}
	if left := unread(); len(left) > 0 {
		t.Fatalf("%v into the stall (breaker closed: %v), streams %v of %d have not read once; reads by stream before it %v, since %v",
			time.Since(stalled).Round(time.Millisecond), st.ctrl.BreakerClosed(), left, streams, before, st.store.readsByStream())
	}
	t.Logf("every stream had a read of the stalled database %v into the stall", time.Since(stalled).Round(time.Millisecond))
	if peak := st.store.peakSince(); peak > pwhttp.IntentEventsReadsMax {
		t.Errorf("%d of the streams' reads were in flight at once; want at most %d", peak, pwhttp.IntentEventsReadsMax)
	}
}

// TestEventStreamsSkippedInAStallAreToldTheyAreNotRead: twelve event
// streams of one principal are open when PostgreSQL stalls, the breaker
// still closed (admission.StallAloneAfter). Two of their reads at a time,
// each running out after a second, cannot reach them all before the
// breaker opens; a stream whose polls found the reads taken
// pwhttp.IntentEventsSkipsMax times in a row tells its client, once, as
// one whose read failed does: every stream sends one "unavailable" event
// (a busy problem) while the breaker is still closed. Until the review of
// 2026-11-29 a skipped stream told nothing: its client heard nothing
// until the breaker opened (on a store whose stalls do not count, such as
// SQLite's, for as long as the stall lasted).
func TestEventStreamsSkippedInAStallAreToldTheyAreNotRead(t *testing.T) {
	st := openStreamStall(t)
	const streams = 12
	events := st.openStreamsAs(t, st.key, streams)
	st.waitPolled(t, streams) // each has polled
	before := st.store.readsByStream()

	st.proxy.Stall()
	stalled := time.Now()
	told := make([]int, streams)
	all := func() bool {
		for i, ch := range events {
			for drained := false; !drained; {
				select {
				case ev := <-ch:
					wantUnavailable(t, i, ev)
					told[i]++
				default:
					drained = true
				}
			}
		}
		return !slices.Contains(told, 0)
	}
	for !all() && st.ctrl.BreakerClosed() && time.Since(stalled) < 2*admission.StallAloneAfter {
		time.Sleep(10 * time.Millisecond)
	}
	closed := st.ctrl.BreakerClosed()
	all() // what came as it opened, if it did
	took := time.Since(stalled).Round(time.Millisecond)
	after := st.store.readsByStream()
	notRead := 0
	for i := range streams {
		if after[itoa(i)] == before[itoa(i)] {
			notRead++
		}
	}
	t.Logf("%v into the stall, breaker closed %v: unavailable events by stream %v; %d streams had no read", took, closed, told, notRead)
	if !closed {
		t.Fatalf("the breaker opened %v into the stall before every stream had told its client: unavailable events by stream %v, %d streams had no read",
			took, told, notRead)
	}
	if slices.Contains(told, 0) {
		t.Fatalf("streams told nothing %v into the stall: unavailable events by stream %v, %d streams had no read", took, told, notRead)
	}
	for i, n := range told {
		if n > 1 {
			t.Errorf("stream %d sent %d unavailable events, no intent read between them; want one", i, n)
		}
	}
}
