package status

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/traffic"
)

// Limits of the service.
const (
	// ItemsMax bounds the items of one kind read at once.
	ItemsMax = 200
	// ForecastTTL is how long a computed forecast is reused: the history
	// changes by one hour per hour, and a fit is not free.
	ForecastTTL = 5 * time.Minute
	// BacktestWeeks is how many held-out weeks the served back-test uses.
	BacktestWeeks = 4
)

// Config holds the service's dependencies; Store is required.
type Config struct {
	Store Store
	// Recorder gives the live minutes (busy share, rate); nil: none.
	Recorder *traffic.Recorder
	// Maintenance lists the windows; nil: StoredMaintenance over Store.
	Maintenance MaintenanceSource
	Calendar    *forecast.Calendar // nil: the DefaultCountry calendar
	Location    *time.Location     // of the calendar and of "today"; nil: UTC
	Notifier    *Notifier          // nil: no webhooks
	Now         func() time.Time
	Logger      *slog.Logger
}

// Service serves the status of the wallet.
type Service struct {
	store    Store
	rec      *traffic.Recorder
	maint    MaintenanceSource
	cal      *forecast.Calendar
	loc      *time.Location
	notifier *Notifier
	now      func() time.Time
	log      *slog.Logger

	computeMu  sync.Mutex // held while an outlook is computed
	announceMu sync.Mutex // held while maintenance windows are announced
	mu         sync.Mutex
	cached     *Outlook
	// announced caches incidents and windows for SnapshotTTL: /v1/status
	// is public and polled, and must not add store reads at a surge.
	announced *announcedCache
	// outlookFailed is when a snapshot last failed to compute the outlook.
	outlookFailed outlookFailure
}

type outlookFailure struct {
	at  time.Time
	err error
}

type announcedCache struct {
	at        time.Time
	incidents []Incident
	windows   []Window // those kept in the store (the operator's are read live)
	err       error    // the store could not be read: incidents and windows are older
}

// SnapshotTTL is how long incidents and windows read from the store for a
// snapshot are reused (and a failure to read them, so that an outage's
// status polls do not each wait on the store). Posting or updating an
// incident clears it at once; the operator's maintenance windows are not
// cached.
const SnapshotTTL = 5 * time.Second

// New returns a service over cfg.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, rec: cfg.Recorder, maint: cfg.Maintenance, cal: cfg.Calendar,
		loc: cfg.Location, notifier: cfg.Notifier, now: cfg.Now, log: cfg.Logger}
	if s.maint == nil {
		s.maint = StoredMaintenance{Store: cfg.Store}
	}
	if s.cal == nil {
		s.cal, _ = forecast.LoadCalendar(forecast.DefaultCountry)
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Location is the time zone of "today" and of the calendar.
func (s *Service) Location() *time.Location { return s.loc }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

func (s *Service) put(ctx context.Context, kind, id string, createdAt time.Time, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return &pw.Error{Code: pw.EINTERNAL, Op: "status.put", Err: err}
	}
	return s.store.PutStatusItem(ctx, &Item{Kind: kind, ID: id, Body: body, CreatedAt: createdAt})
}

// list reads every item of kind into values of T, newest first.
func list[T any](ctx context.Context, s Store, kind string) ([]T, error) {
	items, err := s.StatusItems(ctx, kind, ItemsMax)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := json.Unmarshal(it.Body, &v); err != nil {
			return nil, &pw.Error{Code: pw.EINTERNAL, Op: "status.list " + kind, Err: err}
		}
		out = append(out, v)
	}
	return out, nil
}

// CreateIncident opens an incident and announces it: invalid_request.
func (s *Service) CreateIncident(ctx context.Context, c IncidentCreate, demo bool) (*Incident, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	inc := &Incident{ID: pw.NewID("inc", now), Title: c.Title, Status: c.Status, Impact: c.Impact,
		Components: c.Components, CreatedAt: now, UpdatedAt: now, Demo: demo,
		Updates: []IncidentUpdate{{Status: c.Status, Message: c.Message, At: now}}}
	if c.Status == IncidentResolved {
		inc.ResolvedAt = &now
	}
	if err := s.put(ctx, KindIncident, inc.ID, now, inc); err != nil {
		return nil, err
	}
	s.invalidate()
	s.announce(ctx, AnnouncementFromIncident(inc))
	return inc, nil
}

// UpdateIncident adds an update: not_found, invalid_request.
func (s *Service) UpdateIncident(ctx context.Context, id string, p IncidentPost) (*Incident, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	it, err := s.store.StatusItem(ctx, KindIncident, id)
	if err != nil {
		return nil, err
	}
	var inc Incident
	if err := json.Unmarshal(it.Body, &inc); err != nil {
		return nil, &pw.Error{Code: pw.EINTERNAL, Op: "status.UpdateIncident", Err: err}
	}
	if len(inc.Updates) >= IncidentUpdatesMax {
		return nil, pw.Errorf(pw.ELIMIT, "an incident has at most %d updates: open a new one", IncidentUpdatesMax)
	}
	now := s.now().UTC()
	inc.Status, inc.UpdatedAt = p.Status, now
	inc.Updates = append(inc.Updates, IncidentUpdate{Status: p.Status, Message: p.Message, At: now})
	if p.Status == IncidentResolved {
		inc.ResolvedAt = &now
	} else {
		inc.ResolvedAt = nil
	}
	if err := s.put(ctx, KindIncident, inc.ID, it.CreatedAt, &inc); err != nil {
		return nil, err
	}
	s.invalidate()
	s.announce(ctx, AnnouncementFromIncident(&inc))
	return &inc, nil
}

// Incidents lists incidents, newest first.
func (s *Service) Incidents(ctx context.Context) ([]Incident, error) {
	return list[Incident](ctx, s.store, KindIncident)
}

// CreatePromotion records an announced promotion: invalid_request.
func (s *Service) CreatePromotion(ctx context.Context, p forecast.Promotion) (*forecast.Promotion, error) {
	if err := p.Validate(); err != nil {
		return nil, pw.Errorf(pw.EINVALID, "%s", err.Error())
	}
	now := s.now().UTC()
	if p.ID == "" {
		p.ID = pw.NewID("promo", now)
	}
	p.Start, p.End = p.Start.UTC(), p.End.UTC()
	if err := s.put(ctx, KindPromotion, p.ID, p.Start, &p); err != nil {
		return nil, err
	}
	s.invalidate()
	return &p, nil
}

// Promotions lists promotions, latest start first.
func (s *Service) Promotions(ctx context.Context) ([]forecast.Promotion, error) {
	return list[forecast.Promotion](ctx, s.store, KindPromotion)
}

// AddHoliday adds a custom holiday to the calendar (a regional day, a
// shopping event the country calendar lacks): invalid_request.
func (s *Service) AddHoliday(ctx context.Context, date, name string) error {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return pw.FieldErrorf("date", pw.EINVALID, "date must be YYYY-MM-DD")
	}
	if err := validText("name", name, TitleBytesMax); err != nil {
		return err
	}
	s.invalidate()
	return s.put(ctx, KindHoliday, date, s.now(), map[string]string{"date": date, "name": name})
}

// capacityID is the one stored capacity figure: the latest recorded wins.
const capacityID = "current"

// SetCapacity records the capacity measured by peakwallet bench (or
// configured): invalid_request.
func (s *Service) SetCapacity(ctx context.Context, c forecast.Capacity) (*forecast.Capacity, error) {
	if c.RPS <= 0 || c.RPS > 1e7 {
		return nil, pw.FieldErrorf("rps", pw.EINVALID, "rps must be between 0 and 10000000")
	}
	if c.PeakToMean != 0 && (c.PeakToMean < 1 || c.PeakToMean > 10) {
		return nil, pw.FieldErrorf("peak_to_mean", pw.EINVALID, "peak_to_mean must be between 1 and 10")
	}
	if c.Source == "" {
		c.Source = "bench"
	}
	if c.MeasuredAt.IsZero() {
		c.MeasuredAt = s.now().UTC()
	}
	if err := s.put(ctx, KindCapacity, capacityID, s.now(), &c); err != nil {
		return nil, err
	}
	s.invalidate()
	return &c, nil
}

// Capacity is the recorded figure, or (when higher, since the server did
// sustain it) the highest hourly rate in the history; RPS 0 when neither
// is known.
func (s *Service) Capacity(ctx context.Context, observedRPS float64) (forecast.Capacity, error) {
	var c forecast.Capacity
	it, err := s.store.StatusItem(ctx, KindCapacity, capacityID)
	switch {
	case err == nil:
		if err := json.Unmarshal(it.Body, &c); err != nil {
			return c, &pw.Error{Code: pw.EINTERNAL, Op: "status.Capacity", Err: err}
		}
	case pw.ErrorCode(err) != pw.ENOTFOUND:
		return c, err
	}
	if observedRPS > c.RPS {
		c = forecast.Capacity{RPS: observedRPS, Source: "observed", PeakToMean: c.PeakToMean}
	}
	if c.PeakToMean == 0 {
		c.PeakToMean = forecast.PeakToMeanDefault
	}
	return c, nil
}

func (s *Service) invalidate() {
	s.mu.Lock()
	s.cached, s.announced = nil, nil
	s.mu.Unlock()
}

func (s *Service) announce(ctx context.Context, a Announcement) {
	if s.notifier == nil {
		return
	}
	if err := s.notifier.Announce(ctx, s.store, a); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("status: announcing failed", "id", a.ID, "err", err)
	}
}

// PutDemoWindow stores a maintenance window for StoredMaintenance (the
// demo's; real windows come from the overload branch's scheduler).
func (s *Service) PutDemoWindow(ctx context.Context, w Window) error {
	if !w.End.After(w.Start) {
		return pw.FieldErrorf("end", pw.EINVALID, "end must be after start")
	}
	return s.put(ctx, KindMaintenance, w.ID, w.Start, &w)
}
