package status

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Webhook headers. The signature is HMAC-SHA256, keyed by the
// subscription's secret, over "<timestamp>.<body>": the timestamp is signed
// so that a captured delivery cannot be replayed later (receivers reject
// timestamps older than SignatureToleranceDefault).
const (
	HeaderTimestamp = "Peakwallet-Timestamp"
	HeaderSignature = "Peakwallet-Signature" // "v1=<hex>"
	signatureScheme = "v1="
)

// Webhook limits.
const (
	// WebhookAttemptsMax bounds the tries of one delivery.
	WebhookAttemptsMax = 5
	// WebhookBackoffBase is the wait before the second try; it doubles.
	WebhookBackoffBase = 2 * time.Second
	// WebhookTimeout bounds one try.
	WebhookTimeout = 10 * time.Second
	// DeliveriesInFlightMax bounds concurrent deliveries; past it an
	// announcement waits for a slot (Announce is not on a payment's path).
	DeliveriesInFlightMax = 16
	// SubscriptionsMax bounds the subscriptions.
	SubscriptionsMax = 100
	// SignatureToleranceDefault is how old a timestamp Verify accepts.
	SignatureToleranceDefault = 5 * time.Minute
	URLBytesMax               = 2048
)

// Subscription is a webhook receiving announcements. Its Secret is shown
// once, when created, and kept to sign deliveries.
type Subscription struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Announcement is what feeds and webhooks carry: an incident (opened or
// updated) or a maintenance window.
type Announcement struct {
	ID       string    `json:"id"`   // the incident's or window's ID
	Kind     string    `json:"kind"` // incident or maintenance
	Title    string    `json:"title"`
	Summary  string    `json:"summary"`
	Status   string    `json:"status,omitempty"`
	Updated  time.Time `json:"updated"`
	Incident *Incident `json:"incident,omitempty"`
	Window   *Window   `json:"window,omitempty"`
}

// AnnouncementFromIncident announces inc's latest state.
func AnnouncementFromIncident(inc *Incident) Announcement {
	last := inc.Updates[len(inc.Updates)-1]
	return Announcement{ID: inc.ID, Kind: KindIncident, Title: inc.Title, Status: inc.Status,
		Summary: fmt.Sprintf("[%s] %s", last.Status, last.Message), Updated: inc.UpdatedAt, Incident: inc}
}

// AnnouncementFromWindow announces a maintenance window.
func AnnouncementFromWindow(w Window) Announcement {
	return Announcement{ID: w.ID, Kind: KindMaintenance, Title: "Scheduled maintenance: " + w.Title,
		Summary: fmt.Sprintf("from %s to %s", w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339)),
		Updated: w.Start, Window: &w}
}

// MaintenanceCancelled is the Status of the announcement of a window
// cancelled before its end.
const MaintenanceCancelled = "cancelled"

// AnnouncementOfCancelledWindow announces that w, announced before, was
// cancelled at.
func AnnouncementOfCancelledWindow(w Window, at time.Time) Announcement {
	return Announcement{ID: w.ID, Kind: KindMaintenance, Title: "Maintenance cancelled: " + w.Title, Status: MaintenanceCancelled,
		Summary: fmt.Sprintf("cancelled: the window from %s to %s", w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339)),
		Updated: at, Window: &w}
}

// Sign returns the signature header value of body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return signatureScheme + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's headers against body, as a receiver should:
// the signature in constant time, and the timestamp within tolerance of now.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: bad %s header", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp is %v away from now", d.Round(time.Second))
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return fmt.Errorf("webhook: signature mismatch")
	}
	return nil
}

// Notifier delivers announcements to the subscriptions.
type Notifier struct {
	Client *http.Client
	Now    func() time.Time
	// Sleep waits between tries; tests replace it to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	Log   *slog.Logger

	once sync.Once
	sem  chan struct{}
	wg   sync.WaitGroup
}

func (n *Notifier) init() {
	n.once.Do(func() {
		n.sem = make(chan struct{}, DeliveriesInFlightMax)
		if n.Client == nil {
			n.Client = &http.Client{Timeout: WebhookTimeout}
		}
		if n.Now == nil {
			n.Now = time.Now
		}
		if n.Sleep == nil {
			n.Sleep = func(ctx context.Context, d time.Duration) error {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		if n.Log == nil {
			n.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Announce sends a to every subscription in the background; Wait waits
// for the deliveries started so far.
func (n *Notifier) Announce(ctx context.Context, s Store, a Announcement) error {
	n.init()
	subs, err := list[Subscription](ctx, s, KindSubscription)
	if err != nil {
		return err
	}
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	bg := context.WithoutCancel(ctx)
	for _, sub := range subs {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.sem <- struct{}{}
			defer func() { <-n.sem }()
			if tries, err := n.Deliver(bg, sub, body); err != nil {
				n.Log.Warn("webhook: delivery failed", "subscription", sub.ID, "tries", tries, "err", err)
			}
		}()
	}
	return nil
}

// Wait waits for the deliveries in progress.
func (n *Notifier) Wait() { n.wg.Wait() }

// Deliver posts body to sub, signed, retrying network errors, 429 and 5xx
// up to WebhookAttemptsMax times with doubling waits. It returns the tries made.
func (n *Notifier) Deliver(ctx context.Context, sub Subscription, body []byte) (int, error) {
	n.init()
	var last error
	for try := 1; try <= WebhookAttemptsMax; try++ {
		if try > 1 {
			if err := n.Sleep(ctx, WebhookBackoffBase<<(try-2)); err != nil {
				return try - 1, err
			}
		}
		retry, err := n.post(ctx, sub, body)
		if err == nil {
			return try, nil
		}
		last = err
		if !retry {
			return try, err
		}
	}
	return WebhookAttemptsMax, fmt.Errorf("webhook: gave up after %d tries: %w", WebhookAttemptsMax, last)
}

func (n *Notifier) post(ctx context.Context, sub Subscription, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	ts := n.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "peakwallet-webhooks/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(sub.Secret, ts, body))
	resp, err := n.Client.Do(req)
	if err != nil {
		return true, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("webhook: %s answered %d", sub.URL, resp.StatusCode)
	}
	return false, fmt.Errorf("webhook: %s answered %d (not retried)", sub.URL, resp.StatusCode)
}

// Subscribe adds a webhook: invalid_request, limit_exceeded. The secret
// is in the result only.
func (s *Service) Subscribe(ctx context.Context, rawURL string) (*Subscription, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(rawURL) > URLBytesMax || u.User != nil {
		return nil, pw.FieldErrorf("url", pw.EINVALID, "url must be an absolute http(s) URL without credentials, at most %d bytes", URLBytesMax)
	}
	subs, err := list[Subscription](ctx, s.store, KindSubscription)
	if err != nil {
		return nil, err
	}
	if len(subs) >= SubscriptionsMax {
		return nil, pw.Errorf(pw.ELIMIT, "at most %d subscriptions", SubscriptionsMax)
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	now := s.now().UTC()
	sub := &Subscription{ID: pw.NewID("sub", now), URL: rawURL, Secret: "whsec_" + hex.EncodeToString(raw[:]), CreatedAt: now}
	if err := s.put(ctx, KindSubscription, sub.ID, now, sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// Subscriptions lists the webhooks, without their secrets.
func (s *Service) Subscriptions(ctx context.Context) ([]Subscription, error) {
	subs, err := list[Subscription](ctx, s.store, KindSubscription)
	for i := range subs {
		subs[i].Secret = ""
	}
	return subs, err
}

// Unsubscribe removes a webhook: not_found.
func (s *Service) Unsubscribe(ctx context.Context, id string) error {
	if !strings.HasPrefix(id, "sub_") {
		return pw.Errorf(pw.ENOTFOUND, "subscription not found")
	}
	return s.store.DeleteStatusItem(ctx, KindSubscription, id)
}

// AnnounceMaintenance tells the webhooks of the windows not yet announced
// and of those announced that were cancelled before their end, once each.
// An announced window is remembered as a KindAnnounced item holding the
// window, until it is no longer listed: then it ended, or (when its end is
// still to come) it was cancelled. Called when a window is scheduled or
// cancelled (http's maintenance routes), and by a background loop for the
// windows changed elsewhere (another process sharing the schedule).
func (s *Service) AnnounceMaintenance(ctx context.Context) error {
	s.announceMu.Lock() // one pass at a time, or two could each announce a window
	defer s.announceMu.Unlock()
	now := s.now()
	windows, err := s.maint.Windows(ctx, now)
	if err != nil {
		return err
	}
	// Items written before 2026-11-27 hold only the ID: their window's end
	// is unknown, and they are dropped without an announcement.
	announced, err := list[Window](ctx, s.store, KindAnnounced)
	if err != nil {
		return err
	}
	listed := make(map[string]bool, len(windows))
	for _, w := range windows {
		listed[w.ID] = true
	}
	known := make(map[string]bool, len(announced))
	for _, a := range announced {
		known[a.ID] = true
		if listed[a.ID] {
			continue
		}
		if err := s.store.DeleteStatusItem(ctx, KindAnnounced, a.ID); err != nil && pw.ErrorCode(err) != pw.ENOTFOUND {
			return err
		}
		if a.End.After(now) {
			s.announce(ctx, AnnouncementOfCancelledWindow(a, now))
		}
	}
	for _, w := range windows {
		if known[w.ID] {
			continue
		}
		// Beyond the ItemsMax listed above, an item may still exist.
		if _, err := s.store.StatusItem(ctx, KindAnnounced, w.ID); err == nil {
			continue
		} else if pw.ErrorCode(err) != pw.ENOTFOUND {
			return err
		}
		if err := s.put(ctx, KindAnnounced, w.ID, now, w); err != nil {
			return err
		}
		s.announce(ctx, AnnouncementFromWindow(w))
	}
	return nil
}
