package peakwallet

import "time"

// PrefixMaintenance prefixes maintenance window IDs.
const PrefixMaintenance = "mw"

// Maintenance limits.
const (
	// MaintenanceWindowsMax bounds the windows scheduled at once.
	MaintenanceWindowsMax = 64
	// MaintenanceWindowMax bounds one window's length.
	MaintenanceWindowMax = 24 * time.Hour
	// MaintenanceReasonBytesMax bounds a window's reason.
	MaintenanceReasonBytesMax = 500
	// MaintenanceHorizonMax bounds how far ahead a window may start: a
	// year and a day covers any yearly event, and a start further off
	// is a mistake (a wrong year) that would hold one of the
	// MaintenanceWindowsMax places until it ends.
	MaintenanceHorizonMax = 366 * 24 * time.Hour
	// MaintenanceStartSkewMax is how far in the past a window's start may
	// be and still mean "now": a start taken from the operator's clock
	// (the CLI's default) reaches the server a little later, by the
	// request's way, a clock that runs behind the server's, and the Go
	// client's retries of a refused request within its 30 s call timeout.
	// Such a window is recorded as starting when it is scheduled, so it is
	// never in force before it is announced; a start further back is
	// refused (a window that would begin before anyone was told of it).
	MaintenanceStartSkewMax = time.Minute
)

// MaintenanceWindow is a period the operator announced. In a read-only
// window, requests that move money answer 503 maintenance with
// Retry-After at the end of the read-only period (the window's end, or
// that of read-only windows overlapping or abutting it); reads go on. A
// window that is not read-only is only announced (the server stays fully
// up, for example while a new binary takes over): it is listed at
// /v1/status, which does not say maintenance for it.
type MaintenanceWindow struct {
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	ReadOnly  bool      `json:"read_only"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// MaintenanceCreate asks for a window.
type MaintenanceCreate struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ReadOnly bool      `json:"read_only"`
	Reason   string    `json:"reason,omitempty"`
}

// Validate checks a request for a window: invalid_request.
func (m *MaintenanceCreate) Validate() error {
	switch {
	case m.Start.IsZero():
		return FieldErrorf("start", EINVALID, "start is required (RFC 3339)")
	case !m.End.After(m.Start):
		return FieldErrorf("end", EINVALID, "end must be after start")
	case m.End.Sub(m.Start) > MaintenanceWindowMax:
		return FieldErrorf("end", EINVALID, "a window lasts at most %s", MaintenanceWindowMax)
	case len(m.Reason) > MaintenanceReasonBytesMax:
		return FieldErrorf("reason", EINVALID, "reason is at most %d bytes", MaintenanceReasonBytesMax)
	}
	return nil
}

// Active reports whether w covers t.
func (w *MaintenanceWindow) Active(t time.Time) bool {
	return !t.Before(w.Start) && t.Before(w.End)
}
