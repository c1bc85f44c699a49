package http_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// openStreamsAs opens n event streams of the intent as the holder of key,
// each past its first event, and returns their events.
func (st *streamStall) openStreamsAs(t *testing.T, key string, n int) []chan pwhttp.Event {
	t.Helper()
	events := make([]chan pwhttp.Event, n)
	for i := range events {
		resp := st.openStreamAs(t, key, 0)
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
	reads, _ := st.store.counts()
	waitFor(t, func() bool { n, _ := st.store.counts(); return n >= reads+streams }) // each has polled
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
	reads, _ := st.store.counts()
	waitFor(t, func() bool { n, _ := st.store.counts(); return n >= reads+2*each })

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
