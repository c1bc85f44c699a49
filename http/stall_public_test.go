package http_test

import (
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

	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/status"
)

// TestPublicRoutesAnswerDuringAPostgresStall: with PostgreSQL stalled
// (sockets open, no bytes), the public routes answer in bounded time, as
// admitted ones do, and the status pages, which users read most during an
// outage, answer 200 with the ledger store degraded. Public routes skip
// admission, which gives the others their deadlines: until 2026-11-27
// their requests waited for as long as the stall lasted (found in review),
// and so did a drain.
func TestPublicRoutesAnswerDuringAPostgresStall(t *testing.T) {
	proxy, store := mustOpenPostgresBehindProxy(t, 4)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := ledger.New(store, ledger.Options{Logger: log})
	sched, err := admission.NewSchedule(filepath.Join(t.TempDir(), "maintenance.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := status.New(status.Config{Store: store, Logger: log})
	security := auth.New(store, l, auth.Options{Logger: log})
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger:        l,
		Security:      security,
		Authenticator: pwhttp.Authenticators{pwhttp.NewOperatorAuthenticator(operatorKey), security},
		Readiness:     store.Ping, Logger: log, Registry: prometheus.NewRegistry(),
		Admission: admission.New(admission.Config{}), Maintenance: sched, Intents: store, Status: svc,
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		proxy.Restore()
		hs.Close()
		l.Close()
		store.Close()
	})

	proxy.Stall()
	const bound = pwhttp.PublicDeadline + 2*time.Second
	paths := []string{"/v1/status", "/v1/incidents", "/v1/forecast", "/status", "/status/feed.atom", "/readyz",
		"POST /v1/sessions", "POST /v1/users"}
	var mu sync.Mutex
	took := map[string]time.Duration{}
	codes := map[string]int{}
	var wg sync.WaitGroup
	for _, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 15 * time.Second}
			start := time.Now()
			code := -1
			var resp *http.Response
			var err error
			if m, path, ok := strings.Cut(p, " "); ok && m == "POST" {
				resp, err = c.Post(hs.URL+path, "application/json", strings.NewReader(`{"handle":"someone@example.com","password":"correct horse battery staple"}`))
			} else {
				resp, err = c.Get(hs.URL + p)
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			took[p], codes[p] = time.Since(start), code
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, p := range paths {
		t.Logf("%-20s %4d after %v", p, codes[p], took[p].Round(time.Millisecond))
	}
	for _, p := range paths {
		if took[p] > bound {
			t.Errorf("%s during a PostgreSQL stall: no answer after %v (status %d; -1 = the client gave up)", p, took[p].Round(time.Millisecond), codes[p])
		}
	}
	for _, p := range []string{"/v1/status", "/status"} {
		if codes[p] != http.StatusOK {
			t.Errorf("%s during a PostgreSQL stall: %d, want 200 (the store shown degraded)", p, codes[p])
		}
	}
}
