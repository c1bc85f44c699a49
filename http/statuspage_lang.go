package http

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/peakwallet/peakwallet/web"
)

// The status page speaks the web app's languages (web.Languages), from
// the same catalogue (web/assets/i18n/<lang>.json, keys statuspage.*):
// docs/decisions/0040-status-page-languages.md.

// statusLanguage is the status page's language: ?lang= when it names one
// of web.Languages, else the one Accept-Language prefers, as the web app
// chooses after its cookie (web.NegotiateLanguage).
func statusLanguage(r *http.Request) string {
	if q := r.URL.Query().Get("lang"); q != "" {
		for _, l := range web.Languages {
			if strings.EqualFold(q, l) {
				return l
			}
		}
	}
	return web.NegotiateLanguage(r.Header.Get("Accept-Language"))
}

// pageLang says the status page's texts, numbers, dates and durations in
// one language.
type pageLang struct {
	code string
	s    web.Strings
	p    *message.Printer
}

func newPageLang(code string) *pageLang {
	return &pageLang{code: code, s: web.StringsOf(code), p: message.NewPrinter(language.Make(code))}
}

// t is the text of key (the key itself when it is missing, so that it
// shows).
func (l *pageLang) t(key string) string { return l.s.T(key) }

// f is the text of key with each {name} replaced: args are name, value
// pairs.
func (l *pageLang) f(key string, args ...string) string {
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+args[i]+"}", args[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(l.t(key))
}

// html is the text of key, escaped, with each {name} replaced by a piece
// of HTML this file built from escaped parts.
func (l *pageLang) html(key string, args map[string]template.HTML) template.HTML {
	pairs := make([]string, 0, 2*len(args))
	for name, v := range args {
		pairs = append(pairs, "{"+name+"}", string(v))
	}
	return template.HTML(strings.NewReplacer(pairs...).Replace(template.HTMLEscapeString(l.t(key))))
}

// word is a code (a state, an incident's status) as a word: the text of
// prefix+code, or the code itself when the catalogue does not know it.
func (l *pageLang) word(prefix, code string) string {
	if v, ok := l.s[prefix+code]; ok {
		return v
	}
	return code
}

// num formats v with prec decimals, grouped as the language groups.
func (l *pageLang) num(v float64, prec int) string { return l.p.Sprintf("%.*f", prec, v) }

// percent formats a share (0.62) as a percentage with prec decimals.
func (l *pageLang) percent(share float64, prec int) string {
	return l.p.Sprintf("%.*f%%", prec, 100*share)
}

func (l *pageLang) weekday(t time.Time) string {
	return l.t("statuspage.weekday." + strings.ToLower(t.Weekday().String()[:3]))
}

func (l *pageLang) month(t time.Time) string {
	return l.t("statuspage.month." + strings.ToLower(t.Month().String()[:3]))
}

// dayTime is "Mon 2 Jan 15:04" in the language.
func (l *pageLang) dayTime(t time.Time) string {
	return l.f("statuspage.time.day_time", "weekday", l.weekday(t), "day", strconv.Itoa(t.Day()), "month", l.month(t), "time", t.Format("15:04"))
}

// weekdayTime is "Mon 15:04" in the language.
func (l *pageLang) weekdayTime(t time.Time) string {
	return l.f("statuspage.time.weekday_time", "weekday", l.weekday(t), "time", t.Format("15:04"))
}

// weekdayDay is "Mon 2" in the language.
func (l *pageLang) weekdayDay(t time.Time) string {
	return l.f("statuspage.time.weekday_day", "weekday", l.weekday(t), "day", strconv.Itoa(t.Day()))
}

// stamp is time.RFC1123 in the language.
func (l *pageLang) stamp(t time.Time) string {
	return l.f("statuspage.time.updated", "weekday", l.weekday(t), "day2", t.Format("02"), "day", strconv.Itoa(t.Day()),
		"month", l.month(t), "year", t.Format("2006"), "time", t.Format("15:04:05"), "zone", t.Format("MST"))
}

// duration says d to the second ("1 min 30 s").
func (l *pageLang) duration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return l.f("statuspage.duration.s", "s", l.num(float64(s), 0))
	case s < 3600:
		return l.f("statuspage.duration.min_s", "m", l.num(float64(s/60), 0), "s", l.num(float64(s%60), 0))
	}
	return l.f("statuspage.duration.h_min", "h", l.num(float64(s/3600), 0), "m", l.num(float64(s%3600/60), 0))
}

// pageLangLink is one link of the page's language switch.
type pageLangLink struct {
	Code, Name, Href string
	Current          bool
}

// langLinks are the links to the page in each language, each keeping the
// rest of r's query.
func langLinks(r *http.Request, current string) []pageLangLink {
	out := make([]pageLangLink, len(web.Languages))
	for i, code := range web.Languages {
		q := r.URL.Query()
		q.Set("lang", code)
		out[i] = pageLangLink{Code: code, Name: web.StringsOf(code).T("lang.name"), Href: r.URL.Path + "?" + q.Encode(), Current: code == current}
	}
	return out
}
