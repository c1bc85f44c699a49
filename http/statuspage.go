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
	"github.com/peakwallet/peakwallet/web"
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

// statusPage is the template's data: every text in it is in the page's
// language, from the catalogue (S, and the texts built here), but what
// operators wrote (titles, messages, event names).
type statusPage struct {
	Lang                                                           string
	S                                                              web.Strings
	Langs                                                          []pageLangLink
	DocTitle, State, Headline, BestTime, ChartNote, Backtest, Note string
	Zone, HourHead                                                 string
	CSS                                                            template.CSS
	Components                                                     []pageComponent
	Maintenance                                                    []pageWindow
	Incidents                                                      []pageIncident
	Chart                                                          template.HTML
	Next24h                                                        []pageHour
	Footer                                                         template.HTML
}

type pageComponent struct{ Label, State, StateText, Detail string }
type pageWindow struct {
	ID   string
	Line template.HTML
}
type pageIncident struct {
	ID, Title, Impact, StateText string
	Updates                      []template.HTML
}
type pageHour struct{ Hour, RPS, Busy, Events string }

func serveStatusPage(s *Server, _ *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := newPageLang(statusLanguage(r))
		now := s.now()
		page := statusPage{State: status.StateNormal, Zone: "UTC", Note: l.t("statuspage.note.disabled")}
		loc := time.UTC
		if s.status != nil {
			snap, err := s.snapshot(r.Context())
			if err != nil {
				Error(w, r, err)
				return
			}
			loc = s.status.Location()
			page = buildPage(l, snap, loc, now)
		}
		page.Lang, page.S, page.Langs, page.CSS = l.code, l.s, langLinks(r, l.code), template.CSS(statusCSS)
		page.DocTitle = l.f("statuspage.doc_title", "state", l.word("statuspage.state.", page.State))
		page.Headline = l.word("statuspage.headline.", page.State)
		page.Footer = l.html("statuspage.footer", map[string]template.HTML{
			"feed":    template.HTML(`<a href="/status/feed.atom">` + template.HTMLEscapeString(l.t("statuspage.feed")) + `</a>`),
			"json":    `<a href="/v1/status">/v1/status</a>`,
			"updated": template.HTML(template.HTMLEscapeString(l.stamp(now.In(loc)))),
		})
		var buf bytes.Buffer
		if err := statusTemplate.Execute(&buf, page); err != nil {
			Error(w, r, fmt.Errorf("status page: %w", err))
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", statusCSP)
		h.Set("Content-Language", l.code)
		// The page is chosen by Accept-Language as well as by its URL; it
		// is not stored either (writeBody: no-store) and has no ETag.
		h.Add("Vary", "Accept-Language")
		writeBody(w, http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
	})
}

func buildPage(l *pageLang, snap *status.Snapshot, loc *time.Location, now time.Time) statusPage {
	p := statusPage{State: snap.State, BestTime: bestTime(l, status.PickBestHours(snap.Outlook.Forecast, now, loc), loc),
		Zone: now.In(loc).Format("MST")}
	for _, c := range snap.Components {
		p.Components = append(p.Components, pageComponent{Label: l.word("statuspage.component.", c.Name), State: c.State,
			StateText: l.word("statuspage.state.", c.State), Detail: componentDetail(l, c)})
	}
	for _, w := range snap.Maintenance {
		key := "statuspage.maintenance.window"
		if w.ReadOnly {
			key = "statuspage.maintenance.window_read_only"
		}
		when := l.f("statuspage.time.span", "start", l.dayTime(w.Start.In(loc)), "end", w.End.In(loc).Format("15:04 MST"))
		p.Maintenance = append(p.Maintenance, pageWindow{ID: w.ID, Line: l.html(key, map[string]template.HTML{
			"title": template.HTML(`<strong>` + template.HTMLEscapeString(w.Title) + `</strong>`),
			"when":  template.HTML(template.HTMLEscapeString(when)),
		})})
	}
	for _, inc := range snap.Incidents {
		pi := pageIncident{ID: inc.ID, Title: inc.Title, Impact: inc.Impact,
			StateText: l.f("statuspage.incident.state", "status", l.word("statuspage.incident_status.", inc.Status), "impact", l.word("statuspage.state.", inc.Impact))}
		for j := len(inc.Updates) - 1; j >= 0; j-- {
			u := inc.Updates[j]
			pi.Updates = append(pi.Updates, l.html("statuspage.incident.update", map[string]template.HTML{
				"when":    template.HTML(`<time datetime="` + u.At.Format(time.RFC3339) + `">` + template.HTMLEscapeString(l.dayTime(u.At.In(loc))) + `</time>`),
				"status":  template.HTML(template.HTMLEscapeString(l.word("statuspage.incident_status.", u.Status))),
				"message": template.HTML(template.HTMLEscapeString(u.Message)),
			}))
		}
		p.Incidents = append(p.Incidents, pi)
	}
	o := snap.Outlook
	if o.Forecast == nil {
		switch o.NoteReason {
		case status.NoteNoHistory:
			p.Note = l.f("statuspage.note.no_history", "hours", l.num(float64(o.HistoryHours), 0), "weeks", l.num(forecast.SeasonsMin, 0))
		case status.NoteUnreadable:
			p.Note = l.t("statuspage.note.unreadable")
		default:
			p.Note = o.Note // a note the catalogue does not know, as it is
		}
		return p
	}
	capacity := l.t("statuspage.unknown")
	if o.Capacity.RPS > 0 {
		capacity = l.f("statuspage.capacity", "rps", l.num(o.Capacity.RPS, 0), "source", l.word("statuspage.capacity_source.", o.Capacity.Source))
	}
	p.ChartNote = l.f("statuspage.chart.note", "zone", p.Zone, "capacity", capacity)
	p.HourHead = l.f("statuspage.hour", "zone", p.Zone)
	p.Chart = chartSVG(l, o.Forecast.Hours, o.Capacity, loc)
	if bt := o.Backtest; bt != nil {
		p.Backtest = l.f("statuspage.backtest", "weeks", l.num(float64(bt.Weeks), 0),
			"model", l.f("statuspage.backtest.model", "mape", l.percent(bt.Model.MAPE, 1), "peak", l.percent(bt.Model.PeakMAPE, 1)),
			"naive", l.f("statuspage.backtest.naive", "mape", l.percent(bt.Naive.MAPE, 1), "peak", l.percent(bt.Naive.PeakMAPE, 1)))
	}
	for _, h := range o.Forecast.Hours[:min(24, len(o.Forecast.Hours))] {
		ph := pageHour{Hour: l.weekdayTime(h.Start.In(loc)), RPS: l.num(h.Expected/3600, 1), Busy: l.t("statuspage.unknown"),
			Events: strings.Join(h.Events, l.t("statuspage.list_sep"))}
		if h.BusyProbability >= 0 {
			ph.Busy = l.percent(h.BusyProbability, 0)
		}
		p.Next24h = append(p.Next24h, ph)
	}
	return p
}

// componentDetail is a component's detail in the page's language: its
// fixed sentence, or what an operator wrote (or a detail the catalogue
// does not know) as it is.
func componentDetail(l *pageLang, c status.Component) string {
	switch c.Reason {
	case "":
		return c.Detail
	case status.DetailRetrying:
		return l.f("statuspage.detail.retrying", "share", l.percent(c.Share, 0), "minutes", l.num(status.LiveMinutes, 0))
	case status.DetailQueueSettling:
		return l.f("statuspage.detail.queue_settling", "waited", l.duration(c.Waited))
	}
	if v, ok := l.s["statuspage.detail."+c.Reason]; ok {
		return v
	}
	return c.Detail
}

// bestTime is status.BestTime in the page's language.
func bestTime(l *pageLang, b status.BestHours, loc *time.Location) string {
	switch {
	case b.NoForecast:
		return l.t("statuspage.best.no_forecast")
	case b.Best == nil:
		return l.t("statuspage.best.any")
	}
	span := func(h *forecast.Hour) string {
		t := h.Start.In(loc)
		return t.Format("15:04") + "–" + t.Add(time.Hour).Format("15:04")
	}
	key := "statuspage.best.today"
	if b.Tomorrow {
		key = "statuspage.best.tomorrow"
	}
	out := l.f(key, "span", span(b.Best), "zone", b.Zone)
	switch {
	case b.Worst != nil && b.WorstChance:
		out = l.f("statuspage.best.busiest_chance", "best", out, "span", span(b.Worst), "chance", l.percent(b.Worst.BusyProbability, 0))
	case b.Worst != nil:
		out = l.f("statuspage.best.busiest", "best", out, "span", span(b.Worst))
	}
	return out
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
func chartSVG(l *pageLang, hours []forecast.Hour, c forecast.Capacity, loc *time.Location) template.HTML {
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
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title"><title id="chart-title">%s</title>`,
		chartW, chartH, template.HTMLEscapeString(l.t("statuspage.chart.title")))
	// Events (holidays, promotions): shaded spans with their name.
	for i := 0; i < len(hours); {
		if len(hours[i].Events) == 0 {
			i++
			continue
		}
		sep := l.t("statuspage.list_sep")
		j, name := i, strings.Join(hours[i].Events, sep)
		for j < len(hours) && strings.Join(hours[j].Events, sep) == name {
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
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#5b6474">%s</text>`, x(i)+2, chartH-12, template.HTMLEscapeString(l.weekdayDay(lt)))
		}
	}
	// Axis labels.
	for _, v := range []float64{0, top / 2, top} {
		fmt.Fprintf(&b, `<text x="2" y="%.1f" font-size="11" fill="#5b6474">%s</text>`, y(v)+4, l.num(v, 0))
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
			title := l.f("statuspage.chart.busy_hour", "hour", l.weekdayTime(h.Start.In(loc)), "chance", l.percent(h.BusyProbability, 0))
			fmt.Fprintf(&b, `<rect class="busy" x="%.1f" y="%.1f" width="%.1f" height="6" fill="#b3261e"><title>%s</title></rect>`,
				x(i), chartTop+chartPlotH+2, math.Max(dx, 1), template.HTMLEscapeString(title))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped texts only
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
