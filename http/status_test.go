package http_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/demo"
	"github.com/peakwallet/peakwallet/forecast"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/status"
	"github.com/peakwallet/peakwallet/traffic"
)

// statusNow is the status tests' clock: a Wednesday morning.
var statusNow = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

const supportToken = "test-support-token"

// StatusEnv is Env with a status service over eight weeks of demo traffic,
// a capacity, a maintenance window and a holiday in the coming week.
type StatusEnv struct {
	*Env
	Status   *status.Service
	Recorder *traffic.Recorder
}

func MustOpenStatusEnv(tb testing.TB) *StatusEnv {
	tb.Helper()
	return MustOpenStatusEnvWith(tb, nil)
}

// MustOpenStatusEnvWith is MustOpenStatusEnv with the server's Config
// changed by tweak (nil: as it is).
func MustOpenStatusEnvWith(tb testing.TB, tweak func(*pwhttp.Config)) *StatusEnv {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(tb.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	clock := func() time.Time { return statusNow }
	cal, _ := forecast.LoadCalendar("none")
	svc := status.New(status.Config{Store: store, Calendar: cal, Now: clock})
	start, y := demo.Series(statusNow.Truncate(time.Hour), 8, 1, cal, time.UTC, nil)
	must(tb, store.MergeTraffic(ctx, traffic.Hour, demo.Buckets(start, y)))
	must(tb, svc.AddHoliday(ctx, "2026-11-27", "Test Holiday"))
	if _, err := svc.SetCapacity(ctx, forecast.Capacity{RPS: 100, Source: "bench"}); err != nil {
		tb.Fatal(err)
	}
	must(tb, svc.PutDemoWindow(ctx, status.Window{ID: "mw_1", Title: "Database upgrade", Start: statusNow.Add(20 * time.Hour), End: statusNow.Add(21 * time.Hour)}))
	rec := traffic.NewRecorder(clock)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := ledger.New(store, ledger.Options{Logger: log})
	cfg := pwhttp.Config{
		Ledger: l,
		Authenticator: pwhttp.Authenticators{
			pwhttp.NewOperatorAuthenticator(operatorKey),
			staticAuth{otherToken: {Kind: pw.PrincipalMerchant, ID: "m1"}, supportToken: {Kind: pw.PrincipalOperator, ID: "op1", Role: pw.RoleSupport}},
		},
		Readiness: store.Ping, Logger: log, Registry: prometheus.NewRegistry(), Now: clock,
		Status: svc, Traffic: rec, PublicURL: "https://pay.example", Intents: store,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := pwhttp.NewServer(cfg)
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		hs.Close()
		l.Close()
		store.Close()
	})
	return &StatusEnv{Env: &Env{Server: srv, HTTP: hs, Client: pwhttp.NewClient(hs.URL, operatorKey, hs.Client()), Ledger: l, Store: store},
		Status: svc, Recorder: rec}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestStatusJSON(t *testing.T) {
	e := MustOpenStatusEnv(t)
	r := e.Do(t, "GET", "/v1/status", "", map[string]string{"Authorization": ""})
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var raw map[string]json.RawMessage
	must(t, json.Unmarshal(r.Body, &raw))
	for _, k := range []string{"state", "load", "time", "started_at", "components", "maintenance", "forecast", "best_time"} {
		if raw[k] == nil {
			t.Errorf("/v1/status lacks %q: %s", k, r.Body)
		}
	}
	var st pwhttp.Status
	must(t, json.Unmarshal(r.Body, &st))
	if st.State != "normal" || len(st.Components) != 3 || st.Components[1].Name != status.ComponentLedger || len(st.Maintenance) != 1 {
		t.Fatalf("status = %+v", st)
	}
	f := st.Forecast
	if f == nil || len(f.Next24h) != 24 || len(f.Next7d) < 7 || f.Backtest == nil || f.Capacity.RPS != 100 {
		t.Fatalf("forecast = %+v", f)
	}
	var holiday bool
	for _, d := range f.Next7d {
		if len(d.ExpectedRPS) == 0 || d.PeakRPS <= 0 {
			t.Fatalf("day %+v", d)
		}
		holiday = holiday || (d.Date == "2026-11-27" && len(d.Events) == 1 && d.Events[0] == "Test Holiday")
	}
	if !holiday || !strings.HasPrefix(st.BestTime, "Best time to pay today: ") {
		t.Fatalf("holiday %v, best time %q", holiday, st.BestTime)
	}
}

func TestStatusPage(t *testing.T) {
	e := MustOpenStatusEnv(t)
	r := e.Do(t, "GET", "/status", "", map[string]string{"Authorization": ""})
	body := string(r.Body)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", r.Status, r.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<svg", `class="forecast"`, `class="capacity"`, "Test Holiday", "Best time to pay today: ", "Database upgrade", `href="/status/feed.atom"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	csp := r.Header.Get("Content-Security-Policy")
	if strings.Contains(body, "<script") || strings.Contains(body, " style=") || !strings.Contains(csp, "style-src 'sha256-") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("the page is not CSP-clean: CSP %q", csp)
	}
}

type atomFeed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Updated string   `xml:"updated"`
	Entries []struct {
		ID       string `xml:"id"`
		Title    string `xml:"title"`
		Updated  string `xml:"updated"`
		Category struct {
			Term string `xml:"term,attr"`
		} `xml:"category"`
		Content string `xml:"content"`
	} `xml:"entry"`
}

func TestIncidentsAndFeed(t *testing.T) {
	e := MustOpenStatusEnv(t)
	r := e.Do(t, "POST", "/v1/incidents", `{"title":"Slow payments","impact":"busy","components":["api"],"message":"Looking into it & more <b>"}`, map[string]string{"Authorization": "Bearer " + supportToken})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var inc status.Incident
	must(t, json.Unmarshal(r.Body, &inc))
	var st pwhttp.Status
	must(t, json.Unmarshal(e.Do(t, "GET", "/v1/status", "", nil).Body, &st))
	if st.State != status.StateBusy || st.Components[0].State != status.StateBusy || st.Components[0].Detail != "Slow payments" {
		t.Fatalf("an open incident does not show: %+v", st.Components)
	}
	if r := e.Do(t, "POST", "/v1/incidents/"+inc.ID+"/updates", `{"status":"resolved","message":"Fixed."}`, nil); r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	r = e.Do(t, "GET", "/status/feed.atom", "", map[string]string{"Authorization": ""})
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/atom+xml") {
		t.Fatalf("feed: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	var feed atomFeed
	if err := xml.Unmarshal(r.Body, &feed); err != nil {
		t.Fatalf("the feed is not valid XML: %v\n%s", err, r.Body)
	}
	if feed.ID != "https://pay.example/status" || len(feed.Entries) != 2 {
		t.Fatalf("feed = %+v", feed)
	}
	kinds := map[string]bool{}
	for _, en := range feed.Entries {
		if _, err := time.Parse(time.RFC3339, en.Updated); err != nil || en.ID == "" || en.Title == "" {
			t.Fatalf("entry %+v: %v", en, err)
		}
		kinds[en.Category.Term] = true
	}
	if !kinds["incident"] || !kinds["maintenance"] || !strings.Contains(string(r.Body), "&lt;b&gt;") {
		t.Fatalf("entries: %+v", feed.Entries)
	}
}

func TestStatusOperatorRoutes(t *testing.T) {
	e := MustOpenStatusEnv(t)
	merchant := map[string]string{"Authorization": "Bearer " + otherToken}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/incidents", `{"title":"x","impact":"busy","message":"y"}`},
		{"GET", "/v1/forecast/recommendations", ""},
		{"POST", "/v1/promotions", `{}`},
		{"POST", "/v1/status/subscriptions", `{"url":"https://x.example"}`},
	} {
		if r := e.Do(t, c.method, c.path, c.body, merchant); r.Status != 403 || r.Problem(t).Code != pw.EFORBIDDEN {
			t.Errorf("merchant %s %s: %d", c.method, c.path, r.Status)
		}
	}
	if r := e.Do(t, "POST", "/v1/incidents", `{"title":"x","impact":"on fire","message":"y"}`, nil); r.Status != 400 || r.Problem(t).Field != "impact" {
		t.Fatalf("bad impact: %d %s", r.Status, r.Body)
	}
	if r := e.Do(t, "POST", "/v1/promotions", `{"name":"sale","start":"2026-11-27T10:00:00Z","end":"2026-11-27T09:00:00Z","multiplier":2}`, nil); r.Status != 400 {
		t.Fatalf("promotion ending before it starts: %d %s", r.Status, r.Body)
	}
	r := e.Do(t, "POST", "/v1/promotions", `{"name":"sale","start":"2026-11-27T18:00:00Z","end":"2026-11-27T21:00:00Z","multiplier":3}`, nil)
	if r.Status != 201 {
		t.Fatalf("promotion: %d %s", r.Status, r.Body)
	}
	r = e.Do(t, "GET", "/v1/forecast/recommendations", "", nil)
	var rec forecast.Recommendation
	must(t, json.Unmarshal(r.Body, &rec))
	if r.Status != 200 || rec.CapacityRPS != 100 || rec.Summary == "" || len(rec.Stagger) != 1 {
		t.Fatalf("recommendations: %d %s", r.Status, r.Body)
	}
	r = e.Do(t, "POST", "/v1/status/subscriptions", `{"url":"https://hooks.example/peakwallet"}`, nil)
	var sub status.Subscription
	must(t, json.Unmarshal(r.Body, &sub))
	if r.Status != 201 || !strings.HasPrefix(sub.Secret, "whsec_") {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	if r := e.Do(t, "GET", "/v1/status/subscriptions", "", nil); r.Status != 200 || strings.Contains(string(r.Body), sub.Secret) {
		t.Fatalf("the list shows the secret: %s", r.Body)
	}
	if r := e.Do(t, "DELETE", "/v1/status/subscriptions/"+sub.ID, "", nil); r.Status != 204 {
		t.Fatalf("unsubscribe: %d %s", r.Status, r.Body)
	}
}

func TestTrafficRecorded(t *testing.T) {
	e := MustOpenStatusEnv(t)
	for i := 0; i < 3; i++ {
		e.Do(t, "GET", "/v1/currencies", "", nil)
	}
	e.Do(t, "GET", "/healthz", "", nil)
	must(t, e.Recorder.Flush(context.Background(), e.Store, true))
	bs, err := e.Store.Traffic(context.Background(), traffic.Minute, statusNow.Add(-time.Hour), statusNow.Add(time.Hour))
	must(t, err)
	got := map[string]int64{}
	for _, b := range bs {
		got[b.Class] += b.Requests
	}
	if got["read"] != 3 || got["ops"] != 1 {
		t.Fatalf("recorded %v, want 3 read and 1 ops", got)
	}
}

// TestStatusShowsTheSurgeQueue: while a payment accepted at a surge waits to
// settle, the surge queue reads busy on /v1/status, with how long the oldest
// has waited; once it settled, normal.
func TestStatusShowsTheSurgeQueue(t *testing.T) {
	e := MustOpenStatusEnv(t)
	ctx := context.Background()
	surge := func() pwhttp.Status {
		t.Helper()
		st, err := e.Client.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return *st
	}
	state := func(st pwhttp.Status) string {
		for _, c := range st.Components {
			if c.Name == status.ComponentSurgeQueue {
				return c.State
			}
		}
		t.Fatalf("no surge queue component in %+v", st.Components)
		return ""
	}
	if got := state(surge()); got != status.StateNormal {
		t.Fatalf("empty surge queue reads %q", got)
	}
	accepted := statusNow.Add(-90 * time.Second)
	in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, accepted), Principal: "operator:root", IdempotencyKey: "k1",
		Fingerprint: "fp", Body: []byte(`{}`), Status: pw.IntentPending, CreatedAt: accepted, UpdatedAt: accepted}
	if _, err := e.Store.CreateIntent(ctx, in); err != nil {
		t.Fatal(err)
	}
	if got := state(surge()); got != status.StateBusy {
		t.Fatalf("surge queue with a pending payment reads %q", got)
	}
	for _, c := range surge().Components {
		if c.Name == status.ComponentSurgeQueue && !strings.Contains(c.Detail, "the oldest has waited 1m30s") {
			t.Fatalf("the surge queue's detail does not say how long the oldest payment has waited: %q", c.Detail)
		}
	}
	if err := e.Store.FinishIntent(ctx, in.ID, pw.IntentFailed, "", &pw.IntentError{Code: pw.EINSUFFICIENT, Message: "test"}, statusNow); err != nil {
		t.Fatal(err)
	}
	if got := state(surge()); got != status.StateNormal {
		t.Fatalf("settled surge queue reads %q", got)
	}
}
