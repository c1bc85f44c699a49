package http

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/status"
)

//go:embed templates/status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// statusCSS is the page's only style sheet, inline so that the page needs
// no other request; the page's Content-Security-Policy allows exactly it
// by hash, and no script at all.
const statusCSS = `body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}
main{max-width:900px;margin:0 auto;padding:1rem}
table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid #e3e6eb;padding:.3rem .5rem;text-align:left}
.banner{padding:.8rem 1rem;border-radius:6px;font-weight:600;background:#dff5e3}
.banner.busy{background:#fff1cc}.banner.degraded{background:#ffe0d6}.banner.maintenance{background:#dde8ff}
td.normal{color:#13793b}td.busy{color:#9a6700}td.degraded{color:#b3261e}td.maintenance{color:#1f4fbf}
.best{font-size:1.2rem}.note{color:#5b6474;font-size:.9rem}svg{width:100%;height:auto;background:#fff}
.incident{background:#fff;padding:.2rem 1rem;margin:.5rem 0;border-radius:6px}`

var statusCSP = "default-src 'none'; style-src 'sha256-" + hashBase64(statusCSS) + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func hashBase64(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(h[:])
}

// statusPage is the template's data.
type statusPage struct {
	State, Headline, BestTime, Zone, Capacity, Note, Updated string
	CSS                                                      template.CSS
	Components                                               []pageComponent
	Maintenance                                              []pageWindow
	Incidents                                                []pageIncident
	Chart                                                    template.HTML
	Backtest                                                 *pageBacktest
	Next24h                                                  []pageHour
}

type pageComponent struct{ Label, State, Detail string }
type pageWindow struct {
	ID, Title, When string
	ReadOnly        bool
}
type pageIncident struct {
	ID, Title, Status, Impact string
	Updates                   []pageUpdate
}
type pageUpdate struct{ At, When, Status, Message string }
type pageBacktest struct {
	Weeks        int
	Model, Naive string
}
type pageHour struct{ Hour, RPS, Busy, Events string }

var componentLabels = map[string]string{status.ComponentAPI: "API", status.ComponentLedger: "Ledger store", status.ComponentSurgeQueue: "Surge queue"}

var headlines = map[string]string{
	status.StateNormal:      "All systems normal.",
	status.StateBusy:        "Busy: some requests are asked to retry shortly. No money is lost.",
	status.StateDegraded:    "Degraded: part of the service has a problem; see below.",
	status.StateMaintenance: "Maintenance in progress; see below.",
}

func serveStatusPage(s *Server, _ *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := statusPage{State: status.StateNormal, CSS: template.CSS(statusCSS), Zone: "UTC", Updated: s.now().UTC().Format(time.RFC1123),
			Note: "The forecast is not enabled on this server."}
		if s.status != nil {
			snap, err := s.snapshot(r.Context())
			if err != nil {
				Error(w, r, err)
				return
			}
			page = buildPage(snap, s.status.Location(), s.now())
		}
		page.Headline = headlines[page.State]
		var buf bytes.Buffer
		if err := statusTemplate.Execute(&buf, page); err != nil {
			Error(w, r, fmt.Errorf("status page: %w", err))
			return
		}
		w.Header().Set("Content-Security-Policy", statusCSP)
		writeBody(w, http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
	})
}

func buildPage(snap *status.Snapshot, loc *time.Location, now time.Time) statusPage {
	p := statusPage{State: snap.State, BestTime: snap.BestTime, CSS: template.CSS(statusCSS),
		Zone: now.In(loc).Format("MST"), Updated: now.In(loc).Format(time.RFC1123)}
	for _, c := range snap.Components {
		p.Components = append(p.Components, pageComponent{Label: componentLabels[c.Name], State: c.State, Detail: c.Detail})
	}
	for _, w := range snap.Maintenance {
		p.Maintenance = append(p.Maintenance, pageWindow{ID: w.ID, Title: w.Title, ReadOnly: w.ReadOnly,
			When: w.Start.In(loc).Format("Mon 2 Jan 15:04") + " – " + w.End.In(loc).Format("15:04 MST")})
	}
	for _, inc := range snap.Incidents {
		pi := pageIncident{ID: inc.ID, Title: inc.Title, Status: inc.Status, Impact: inc.Impact}
		for j := len(inc.Updates) - 1; j >= 0; j-- {
			u := inc.Updates[j]
			pi.Updates = append(pi.Updates, pageUpdate{At: u.At.Format(time.RFC3339), When: u.At.In(loc).Format("Mon 2 Jan 15:04"), Status: u.Status, Message: u.Message})
		}
		p.Incidents = append(p.Incidents, pi)
	}
	o := snap.Outlook
	p.Note = o.Note
	if o.Forecast == nil {
		return p
	}
	p.Capacity = "unknown"
	if o.Capacity.RPS > 0 {
		p.Capacity = fmt.Sprintf("%.0f req/s, %s", o.Capacity.RPS, o.Capacity.Source)
	}
	p.Chart = chartSVG(o.Forecast.Hours, o.Capacity, loc)
	if bt := o.Backtest; bt != nil {
		p.Backtest = &pageBacktest{Weeks: bt.Weeks,
			Model: fmt.Sprintf("%.1f%% on average, %.1f%% in peak hours", 100*bt.Model.MAPE, 100*bt.Model.PeakMAPE),
			Naive: fmt.Sprintf("%.1f%%, %.1f%%", 100*bt.Naive.MAPE, 100*bt.Naive.PeakMAPE)}
	}
	for _, h := range o.Forecast.Hours[:min(24, len(o.Forecast.Hours))] {
		ph := pageHour{Hour: h.Start.In(loc).Format("Mon 15:04"), RPS: fmt.Sprintf("%.1f", h.Expected/3600), Busy: "unknown", Events: strings.Join(h.Events, ", ")}
		if h.BusyProbability >= 0 {
			ph.Busy = fmt.Sprintf("%.0f%%", 100*h.BusyProbability)
		}
		p.Next24h = append(p.Next24h, ph)
	}
	return p
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH      = 840.0, 240.0
	chartLeft, chartTop = 40.0, 20.0
	chartPlotW          = chartW - chartLeft - 10
	chartPlotH          = chartH - chartTop - 30
)

// chartSVG draws the hourly forecast as an inline SVG: no script, no
// external asset, only presentation attributes (no style attributes, so
// the page's CSP needs no 'unsafe-inline').
func chartSVG(hours []forecast.Hour, c forecast.Capacity, loc *time.Location) template.HTML {
	if len(hours) == 0 {
		return ""
	}
	capMean := 0.0 // the hourly mean rate at which the busiest minute reaches capacity
	if c.RPS > 0 {
		capMean = c.RPS / max(c.PeakToMean, 1)
	}
	top := capMean
	for _, h := range hours {
		top = max(top, h.Expected/3600)
	}
	top = niceCeil(top * 1.1)
	dx := chartPlotW / float64(len(hours))
	x := func(i int) float64 { return chartLeft + float64(i)*dx }
	y := func(rps float64) float64 { return chartTop + chartPlotH*(1-rps/top) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title"><title id="chart-title">Expected requests per second for the next 7 days</title>`, chartW, chartH)
	// Events (holidays, promotions): shaded spans with their name.
	for i := 0; i < len(hours); {
		if len(hours[i].Events) == 0 {
			i++
			continue
		}
		j, name := i, strings.Join(hours[i].Events, ", ")
		for j < len(hours) && strings.Join(hours[j].Events, ", ") == name {
			j++
		}
		fmt.Fprintf(&b, `<rect class="event" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ffe3b3"/>`, x(i), chartTop, float64(j-i)*dx, chartPlotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#8a5300">%s</text>`, x(i)+2, chartTop-6, template.HTMLEscapeString(name))
		i = j
	}
	// Day separators and labels.
	for i, h := range hours {
		if lt := h.Start.In(loc); lt.Hour() == 0 || i == 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d0d5dd"/>`, x(i), chartTop, x(i), chartTop+chartPlotH)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#5b6474">%s</text>`, x(i)+2, chartH-12, lt.Format("Mon 2"))
		}
	}
	// Axis labels.
	for _, v := range []float64{0, top / 2, top} {
		fmt.Fprintf(&b, `<text x="2" y="%.1f" font-size="11" fill="#5b6474">%.0f</text>`, y(v)+4, v)
	}
	// The forecast.
	var pts strings.Builder
	for i, h := range hours {
		fmt.Fprintf(&pts, "%.1f,%.1f ", x(i)+dx/2, y(h.Expected/3600))
	}
	fmt.Fprintf(&b, `<polyline class="forecast" points="%s" fill="none" stroke="#1f4fbf" stroke-width="2"/>`, strings.TrimSpace(pts.String()))
	if capMean > 0 {
		fmt.Fprintf(&b, `<line class="capacity" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#b3261e" stroke-dasharray="6 4"/>`, chartLeft, y(capMean), chartLeft+chartPlotW, y(capMean))
	}
	// Busy hours.
	for i, h := range hours {
		if h.BusyProbability >= status.BusyProbabilityBusy {
			fmt.Fprintf(&b, `<rect class="busy" x="%.1f" y="%.1f" width="%.1f" height="6" fill="#b3261e"><title>%s: %.0f%% chance of busy answers</title></rect>`,
				x(i), chartTop+chartPlotH+2, math.Max(dx, 1), h.Start.In(loc).Format("Mon 15:04"), 100*h.BusyProbability)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped names only
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func serveStatusFeed(s *Server, _ *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := s.publicURL
		if base == "" {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			base = scheme + "://" + r.Host
		}
		var body []byte
		var err error
		if s.status != nil {
			body, err = s.status.Feed(r.Context(), base)
		} else {
			body, err = status.RenderFeed(base, nil, s.now())
		}
		if err != nil {
			Error(w, r, err)
			return
		}
		writeBody(w, http.StatusOK, "application/atom+xml; charset=utf-8", body)
	})
}
