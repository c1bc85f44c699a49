package http_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestAPrincipalHoldsABoundedNumberOfEventStreams: a client may hold
// StreamsPerPrincipalMax event streams open at once; the next one is
// answered 429 rate_limited with a Retry-After no later than its oldest
// stream's end, and once one closes another opens. Until 2026-11-29 only
// the opening counted against the rate limit, and one client could hold
// 10,000 streams open, each reading the store every second.
func TestAPrincipalHoldsABoundedNumberOfEventStreams(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	in := queueOnEnv(t, env, ctrl, w, 40, "streamed")
	open := func() *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", env.HTTP.URL+"/v1/intents/"+in.ID+"/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+operatorKey)
		resp, err := env.HTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var streams []*http.Response
	defer func() {
		for _, s := range streams {
			s.Body.Close()
		}
	}()
	for i := range pwhttp.StreamsPerPrincipalMax {
		s := open()
		if s.StatusCode != 200 {
			t.Fatalf("stream %d: %d", i+1, s.StatusCode)
		}
		streams = append(streams, s)
	}
	over := open()
	var body []byte
	if over.StatusCode != 200 {
		body, _ = io.ReadAll(over.Body)
	}
	over.Body.Close()
	ra, _ := strconv.Atoi(over.Header.Get("Retry-After"))
	if over.StatusCode != 429 || ra < 1 || ra > int(pwhttp.IntentEventsTimeout.Seconds()) {
		t.Fatalf("stream %d: %d %s, Retry-After %q; want 429 with when the oldest stream ends at the latest",
			pwhttp.StreamsPerPrincipalMax+1, over.StatusCode, body, over.Header.Get("Retry-After"))
	}
	if p := (&Response{Status: over.StatusCode, Header: over.Header, Body: body}).Problem(t); p.Code != pw.ERATELIMITED {
		t.Fatalf("stream %d: %s, want %s", pwhttp.StreamsPerPrincipalMax+1, p.Code, pw.ERATELIMITED)
	}

	// Another principal is not affected.
	if r := env.Do(t, "GET", "/v1/intents/"+in.ID+"/events", "", map[string]string{"Authorization": "Bearer " + otherToken}); r.Status != 404 {
		t.Fatalf("another principal's stream of an intent it does not own: %d, want 404 (not 429)", r.Status)
	}

	streams[0].Body.Close()
	streams = streams[1:]
	waitFor(t, func() bool {
		s := open()
		if s.StatusCode == 200 {
			streams = append(streams, s)
			return true
		}
		s.Body.Close()
		return false
	})
}
