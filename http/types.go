package http

import (
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/status"
)

// The wire types of the API that the root package does not already define.
// The OpenAPI document is reflected from these and the root types.

// List is one page of a list: next_cursor is absent on the last page.
type List[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// BatchResponse answers POST /v1/transfers/batch: one result per item, in
// the order of the request.
type BatchResponse struct {
	Results []BatchItem `json:"results"`
}

// BatchItem is the outcome of one transfer of a batch.
type BatchItem struct {
	Status   string       `json:"status"` // "posted" or "failed"
	Transfer *pw.Transfer `json:"transfer,omitempty"`
	Error    *Problem     `json:"error,omitempty"`
}

// Status answers GET /v1/status.
type Status struct {
	State      string    `json:"state"` // normal, busy, degraded, maintenance
	Load       Load      `json:"load"`
	RetryAfter int       `json:"retry_after,omitempty"` // seconds, when not normal
	Time       time.Time `json:"time"`                  // the server's clock
	StartedAt  time.Time `json:"started_at"`            // when this process started

	// With a status service (peakwallet serve): the live state per
	// component, incidents, scheduled maintenance, the forecast and the
	// best time to pay. State is then the worst component's.
	Components  []status.Component `json:"components,omitempty"`
	Incidents   []status.Incident  `json:"incidents,omitempty"`
	Maintenance []status.Window    `json:"maintenance,omitempty"`
	Forecast    *StatusForecast    `json:"forecast,omitempty"`
	BestTime    string             `json:"best_time,omitempty"`
}

// StatusForecast is the forecast part of GET /v1/status.
type StatusForecast struct {
	Next24h  []forecast.Hour   `json:"next_24h"`
	Next7d   []ForecastDay     `json:"next_7d"`
	Capacity forecast.Capacity `json:"capacity"`
	Backtest *BacktestSummary  `json:"backtest,omitempty"`
	Note     string            `json:"note,omitempty"`
}

// ForecastDay summarises one day (in the status location) of the forecast.
type ForecastDay struct {
	Date            string    `json:"date"`
	PeakHour        time.Time `json:"peak_hour"`
	PeakRPS         float64   `json:"peak_rps"`         // the busiest hour's expected mean rate
	BusyProbability float64   `json:"busy_probability"` // the day's highest; -1 when capacity is unknown
	Events          []string  `json:"events,omitempty"` // holidays and promotions
	ExpectedRPS     []float64 `json:"expected_rps"`     // per hour of the day (fewer on the first and last day)
}

// BacktestSummary is the forecast's measured error against the naive
// "same hour last week".
type BacktestSummary struct {
	Weeks int            `json:"weeks"`
	Model forecast.Score `json:"model"`
	Naive forecast.Score `json:"naive"`
}

// Load is what the server is doing now.
type Load struct {
	InFlight int64 `json:"in_flight"` // requests being served
	Draining bool  `json:"draining"`  // the server is shutting down
	// Admission's state, when the server controls overload.
	Limit    int    `json:"limit,omitempty"`    // the adaptive concurrency limit
	Admitted int    `json:"admitted,omitempty"` // requests holding a slot
	Queued   int    `json:"queued,omitempty"`   // requests waiting for one
	Breaker  string `json:"breaker,omitempty"`  // closed, open or half_open
}

// CurrencyInfo names a supported currency and its minor-unit exponent.
type CurrencyInfo struct {
	Code     pw.Currency `json:"code"`
	Exponent int         `json:"exponent"`
}

// Health answers /healthz and /readyz.
type Health struct {
	Status string `json:"status"` // "ok"
}

// Status states.
const (
	StateNormal      = "normal"
	StateBusy        = "busy"
	StateDegraded    = "degraded"
	StateMaintenance = "maintenance"
)

// present turns what the ledger returns into what the API shows. It is
// applied to every success body, live or remembered, so both are the same.
func present(v any) any {
	switch x := v.(type) {
	case []pw.BatchResult:
		return newBatchResponse(x)
	}
	return v
}

func newBatchResponse(results []pw.BatchResult) BatchResponse {
	out := BatchResponse{Results: make([]BatchItem, len(results))}
	for i, r := range results {
		item := BatchItem{Status: r.Status, Transfer: r.Transfer}
		if r.Error != nil {
			p := ProblemFor(r.Error)
			item.Error = &p
		}
		out.Results[i] = item
	}
	return out
}
