package status_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/status"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// receiver is a webhook endpoint that verifies each delivery and answers
// the statuses given, in turn (then 200).
type receiver struct {
	secret   string
	statuses []int
	mu       sync.Mutex
	calls    int
	verified int
	bodies   [][]byte
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if status.Verify(rv.secret, r.Header, body, t0.Add(30*time.Second), status.SignatureToleranceDefault) == nil {
		rv.verified++
	}
	code := http.StatusOK
	if rv.calls < len(rv.statuses) {
		code = rv.statuses[rv.calls]
	}
	rv.calls++
	rv.bodies = append(rv.bodies, body)
	w.WriteHeader(code)
}

func newNotifier(waits *[]time.Duration) *status.Notifier {
	return &status.Notifier{Now: func() time.Time { return t0 },
		Sleep: func(_ context.Context, d time.Duration) error { *waits = append(*waits, d); return nil }}
}

func TestWebhookSignedAndRetried(t *testing.T) {
	rv := &receiver{secret: "whsec_test", statuses: []int{503, 500}}
	hs := httptest.NewServer(rv)
	defer hs.Close()
	var waits []time.Duration
	n := newNotifier(&waits)
	tries, err := n.Deliver(context.Background(), status.Subscription{URL: hs.URL, Secret: rv.secret}, []byte(`{"id":"inc_1"}`))
	if err != nil || tries != 3 || rv.calls != 3 || rv.verified != 3 {
		t.Fatalf("tries %d, calls %d, verified %d, err %v", tries, rv.calls, rv.verified, err)
	}
	if len(waits) != 2 || waits[0] != status.WebhookBackoffBase || waits[1] != 2*status.WebhookBackoffBase {
		t.Fatalf("waits = %v", waits)
	}
}

func TestWebhookRetriesAreBounded(t *testing.T) {
	always := make([]int, 100)
	for i := range always {
		always[i] = 500
	}
	rv := &receiver{secret: "s", statuses: always}
	hs := httptest.NewServer(rv)
	defer hs.Close()
	var waits []time.Duration
	tries, err := newNotifier(&waits).Deliver(context.Background(), status.Subscription{URL: hs.URL, Secret: "s"}, []byte(`{}`))
	if err == nil || tries != status.WebhookAttemptsMax || rv.calls != status.WebhookAttemptsMax {
		t.Fatalf("tries %d, calls %d, err %v", tries, rv.calls, err)
	}
	// A 4xx other than 429 is the receiver refusing: not retried.
	rv2 := &receiver{secret: "s", statuses: []int{400}}
	hs2 := httptest.NewServer(rv2)
	defer hs2.Close()
	if tries, err := newNotifier(&waits).Deliver(context.Background(), status.Subscription{URL: hs2.URL, Secret: "s"}, []byte(`{}`)); err == nil || tries != 1 {
		t.Fatalf("400: tries %d, err %v", tries, err)
	}
}

func TestVerifyRejects(t *testing.T) {
	body := []byte(`{"id":"inc_1"}`)
	h := http.Header{}
	h.Set(status.HeaderTimestamp, strconv.FormatInt(t0.Unix(), 10))
	h.Set(status.HeaderSignature, status.Sign("secret", t0.Unix(), body))
	if err := status.Verify("secret", h, body, t0, time.Minute); err != nil {
		t.Fatalf("genuine delivery: %v", err)
	}
	for name, c := range map[string]struct {
		secret string
		body   []byte
		now    time.Time
	}{
		"tampered body": {"secret", []byte(`{"id":"inc_2"}`), t0},
		"wrong secret":  {"other", body, t0},
		"replayed late": {"secret", body, t0.Add(time.Hour)},
	} {
		if err := status.Verify(c.secret, h, c.body, c.now, time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The signature covers the timestamp: moving it breaks the signature.
	h.Set(status.HeaderTimestamp, strconv.FormatInt(t0.Unix()+1, 10))
	if err := status.Verify("secret", h, body, t0, time.Minute); err == nil {
		t.Error("a changed timestamp was accepted")
	}
}

func TestIncidentAnnouncedToSubscribers(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var waits []time.Duration
	n := newNotifier(&waits)
	svc := status.New(status.Config{Store: st, Notifier: n, Now: func() time.Time { return t0 }})
	rv := mustSubscribeReceiver(t, svc)
	inc, err := svc.CreateIncident(context.Background(), status.IncidentCreate{Title: "Slow", Impact: status.StateBusy, Message: "Looking"}, false)
	if err != nil {
		t.Fatal(err)
	}
	n.Wait()
	if rv.calls != 1 || rv.verified != 1 {
		t.Fatalf("incident %s: %d deliveries, %d verified", inc.ID, rv.calls, rv.verified)
	}
	if _, err := svc.Subscribe(context.Background(), "ftp://x"); pw.ErrorCode(err) != pw.EINVALID {
		t.Fatalf("ftp URL: %v", err)
	}
}

// announcements decodes the deliveries rv received from the n-th on.
func (rv *receiver) announcements(t *testing.T, n int) []status.Announcement {
	t.Helper()
	rv.mu.Lock()
	defer rv.mu.Unlock()
	var as []status.Announcement
	for _, b := range rv.bodies[n:] {
		var a status.Announcement
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("delivery %s: %v", b, err)
		}
		as = append(as, a)
	}
	return as
}

// A window cancelled after it was announced was never announced again, so
// subscribers went on expecting it (found in review). Each window is
// announced once when listed and once when it disappears before its end
// (cancelled); one that ends is forgotten without a word.
func TestMaintenanceWindowsAndTheirCancellationsAreAnnouncedOnce(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	now := t0
	windows := []pw.MaintenanceWindow{
		{ID: "mw_1", Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour), ReadOnly: true, Reason: "Database upgrade"},
		{ID: "mw_2", Start: t0.Add(-time.Minute), End: t0.Add(time.Minute)},
	}
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	list := func() []pw.MaintenanceWindow { mu.Lock(); defer mu.Unlock(); return slices.Clone(windows) }
	var waits []time.Duration
	n := newNotifier(&waits)
	svc := status.New(status.Config{Store: st, Notifier: n, Now: clock, Maintenance: status.ScheduleSource{List: list}})
	rv := mustSubscribeReceiver(t, svc)
	announce := func() []status.Announcement {
		t.Helper()
		before := rv.calls
		if err := svc.AnnounceMaintenance(context.Background()); err != nil {
			t.Fatal(err)
		}
		n.Wait()
		return rv.announcements(t, before)
	}
	if as := announce(); len(as) != 2 || rv.verified != 2 {
		t.Fatalf("two windows: %+v", as)
	}
	if as := announce(); len(as) != 0 {
		t.Fatalf("announced again: %+v", as)
	}
	mu.Lock()
	windows = windows[1:] // mw_1 cancelled before it began
	mu.Unlock()
	as := announce()
	if len(as) != 1 || as[0].ID != "mw_1" || as[0].Status != status.MaintenanceCancelled || as[0].Window == nil || !as[0].Window.ReadOnly {
		t.Fatalf("after cancelling mw_1: %+v", as)
	}
	if as := announce(); len(as) != 0 {
		t.Fatalf("the cancellation announced again: %+v", as)
	}
	mu.Lock()
	now = t0.Add(time.Minute) // mw_2 ends
	mu.Unlock()
	if as := announce(); len(as) != 0 {
		t.Fatalf("a window that ended was announced: %+v", as)
	}
}

// mustSubscribeReceiver subscribes a receiver served for the test's
// length to svc's announcements, knowing its signing secret.
func mustSubscribeReceiver(t *testing.T, svc *status.Service) *receiver {
	t.Helper()
	rv := &receiver{}
	hs := httptest.NewServer(rv)
	t.Cleanup(hs.Close)
	sub, err := svc.Subscribe(context.Background(), hs.URL+"/hook")
	if err != nil {
		t.Fatal(err)
	}
	rv.secret = sub.Secret
	return rv
}
