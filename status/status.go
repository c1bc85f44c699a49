// Package status is what peakwallet tells the world about itself: the live
// state of each component, incidents posted by operators, scheduled
// maintenance, the forecast of busy hours and the best time to pay, and
// the announcements (an Atom feed, signed webhooks) that carry them.
package status

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Component states, from best to worst.
const (
	StateNormal      = "normal"
	StateBusy        = "busy"
	StateDegraded    = "degraded"
	StateMaintenance = "maintenance"
)

// stateRank orders states: the overall state is the worst component's.
var stateRank = map[string]int{StateNormal: 0, StateBusy: 1, StateDegraded: 2, StateMaintenance: 3}

// Worse returns the worse of two states.
func Worse(a, b string) string {
	if stateRank[b] > stateRank[a] {
		return b
	}
	return a
}

// Components of the service.
const (
	ComponentAPI        = "api"
	ComponentLedger     = "ledger_store"
	ComponentSurgeQueue = "surge_queue"
)

// ComponentsAll lists the components in display order.
var ComponentsAll = []string{ComponentAPI, ComponentLedger, ComponentSurgeQueue}

// Component is the live state of one part of the service.
type Component struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// Reason names the fixed sentence Detail is (one of the Detail…
	// codes), so that a page in another language can say it in its own;
	// "" when Detail is an operator's title or there is none. Share and
	// Waited are its figures. None of them is in the JSON: Detail says it.
	Reason string        `json:"-"`
	Share  float64       `json:"-"` // DetailRetrying: the share of requests asked to retry
	Waited time.Duration `json:"-"` // DetailSettling: how long the oldest payment has waited
}

// The fixed details of components (Component.Reason).
const (
	DetailDraining         = "draining"           // the API: this server is restarting
	DetailRetrying         = "retrying"           // the API: a share of requests asked to retry
	DetailWritesFailing    = "writes_failing"     // the ledger store: read, not written
	DetailStoreUnreachable = "store_unreachable"  // the ledger store: cannot be reached
	DetailStoreUnreadable  = "store_unreadable"   // the ledger store: cannot be read
	DetailQueueWaits       = "queue_waits"        // the surge queue: waits for the store
	DetailQueueCannotQueue = "queue_cannot_queue" // the surge queue: the store cannot be written
	DetailQueueUnreadable  = "queue_unreadable"   // the surge queue: cannot be read
	DetailQueueSettling    = "queue_settling"     // the surge queue: payments settling
)

// Window is a scheduled maintenance window.
type Window struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Components []string  `json:"components,omitempty"` // empty: all
	// ReadOnly windows refuse writes with 503 maintenance.
	ReadOnly bool `json:"read_only"`
}

// Covers reports whether w is active at t for component c.
func (w Window) Covers(t time.Time, c string) bool {
	if t.Before(w.Start) || !t.Before(w.End) {
		return false
	}
	if len(w.Components) == 0 {
		return true
	}
	for _, x := range w.Components {
		if x == c {
			return true
		}
	}
	return false
}

// MaintenanceSource lists announced maintenance windows that end after
// from. The overload branch's scheduler (POST /v1/maintenance) is the real
// source; StoredMaintenance is the simple one used until it is wired.
type MaintenanceSource interface {
	Windows(ctx context.Context, from time.Time) ([]Window, error)
}

// WindowOf shows an operator's maintenance window (see admission.Schedule).
func WindowOf(mw pw.MaintenanceWindow) Window {
	title := mw.Reason
	if title == "" {
		title = "Scheduled maintenance"
	}
	return Window{ID: mw.ID, Title: title, Start: mw.Start, End: mw.End, ReadOnly: mw.ReadOnly}
}

// ScheduleSource is the MaintenanceSource of a running server: the
// operator's windows (admission's schedule), plus any kept elsewhere.
type ScheduleSource struct {
	// List returns the operator's windows (admission.Schedule.Windows).
	List func() []pw.MaintenanceWindow
	// Also, when set, adds windows kept elsewhere (the demo's).
	Also MaintenanceSource
}

// Windows lists the windows that end after from.
func (s ScheduleSource) Windows(ctx context.Context, from time.Time) ([]Window, error) {
	out := s.operatorWindows(from)
	if s.Also != nil {
		more, err := s.Also.Windows(ctx, from)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// operatorWindows lists the operator's windows that end after from.
func (s ScheduleSource) operatorWindows(from time.Time) []Window {
	var out []Window
	for _, mw := range s.List() {
		if mw.End.After(from) {
			out = append(out, WindowOf(mw))
		}
	}
	return out
}

// StoredMaintenance reads windows from status items of kind
// KindMaintenance (the demo writes one). It exists so that the status
// page, the feed and the webhooks work before the overload branch's
// scheduler is wired in its place.
type StoredMaintenance struct{ Store Store }

// WindowsMax bounds the windows listed.
const WindowsMax = 50

func (m StoredMaintenance) Windows(ctx context.Context, from time.Time) ([]Window, error) {
	items, err := m.Store.StatusItems(ctx, KindMaintenance, WindowsMax)
	if err != nil {
		return nil, err
	}
	var out []Window
	for _, it := range items {
		var w Window
		if err := json.Unmarshal(it.Body, &w); err != nil {
			return nil, &pw.Error{Code: pw.EINTERNAL, Op: "status.Windows", Err: err}
		}
		if w.End.After(from) {
			out = append(out, w)
		}
	}
	return out, nil
}

// Incident statuses: an incident is open until resolved.
const (
	IncidentInvestigating = "investigating"
	IncidentIdentified    = "identified"
	IncidentMonitoring    = "monitoring"
	IncidentResolved      = "resolved"
)

// Incident is an operator's account of something wrong, with its updates.
type Incident struct {
	ID         string           `json:"id"`
	Title      string           `json:"title"`
	Status     string           `json:"status"`
	Impact     string           `json:"impact"`               // busy, degraded or maintenance
	Components []string         `json:"components,omitempty"` // empty: all
	Updates    []IncidentUpdate `json:"updates"`              // oldest first
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	ResolvedAt *time.Time       `json:"resolved_at,omitempty"`
	Demo       bool             `json:"demo,omitempty"`
}

// IncidentUpdate is one message of an incident.
type IncidentUpdate struct {
	Status  string    `json:"status"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// IncidentCreate opens an incident.
type IncidentCreate struct {
	Title      string   `json:"title"`
	Impact     string   `json:"impact"`
	Components []string `json:"components,omitempty"`
	Message    string   `json:"message"`
	Status     string   `json:"status,omitempty"` // default investigating
}

// IncidentPost adds an update to an incident.
type IncidentPost struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// Text limits of incidents.
const (
	TitleBytesMax      = 200
	MessageBytesMax    = 4000
	IncidentUpdatesMax = 100
)

func validText(field, s string, max int) error {
	if strings.TrimSpace(s) == "" {
		return pw.FieldErrorf(field, pw.EINVALID, "%s is required", field)
	}
	if len(s) > max {
		return pw.FieldErrorf(field, pw.EINVALID, "%s is longer than %d bytes", field, max)
	}
	return nil
}

func validIncidentStatus(s string) error {
	switch s {
	case IncidentInvestigating, IncidentIdentified, IncidentMonitoring, IncidentResolved:
		return nil
	}
	return pw.FieldErrorf("status", pw.EINVALID, "status must be investigating, identified, monitoring or resolved")
}

// Validate checks c and fills its defaults.
func (c *IncidentCreate) Validate() error {
	if c.Status == "" {
		c.Status = IncidentInvestigating
	}
	if err := validText("title", c.Title, TitleBytesMax); err != nil {
		return err
	}
	if err := validText("message", c.Message, MessageBytesMax); err != nil {
		return err
	}
	switch c.Impact {
	case StateBusy, StateDegraded, StateMaintenance:
	default:
		return pw.FieldErrorf("impact", pw.EINVALID, "impact must be busy, degraded or maintenance")
	}
	for _, comp := range c.Components {
		if !known(comp) {
			return pw.FieldErrorf("components", pw.EINVALID, "unknown component %q (have %s)", comp, strings.Join(ComponentsAll, ", "))
		}
	}
	return validIncidentStatus(c.Status)
}

// Validate checks p.
func (p *IncidentPost) Validate() error {
	if err := validText("message", p.Message, MessageBytesMax); err != nil {
		return err
	}
	return validIncidentStatus(p.Status)
}

func known(c string) bool {
	for _, x := range ComponentsAll {
		if x == c {
			return true
		}
	}
	return false
}

// affects reports whether an open incident touches component c.
func (i *Incident) affects(c string) bool {
	if i.Status == IncidentResolved {
		return false
	}
	if len(i.Components) == 0 {
		return true
	}
	for _, x := range i.Components {
		if x == c {
			return true
		}
	}
	return false
}
