package http_test

import (
	"context"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/status"
	"github.com/peakwallet/peakwallet/web"
)

// statusPageIn gets the status page at path with the given Accept-Language
// ("" sends none).
func statusPageIn(t *testing.T, e *StatusEnv, path, acceptLanguage string) *Response {
	t.Helper()
	h := map[string]string{"Authorization": "", "Accept-Language": acceptLanguage}
	r := e.Do(t, "GET", path, "", h)
	if r.Status != 200 {
		t.Fatalf("GET %s (Accept-Language %q): %d %s", path, acceptLanguage, r.Status, r.Body)
	}
	return r
}

// catalogue returns the text of key in lang, failing when it is missing.
func catalogue(t *testing.T, lang, key string) string {
	t.Helper()
	s, ok := web.StringsOf(lang)[key]
	if !ok || s == "" {
		t.Fatalf("the %s catalogue has no %q", lang, key)
	}
	return s
}

var htmlLang = regexp.MustCompile(`<html lang="([^"]*)">`)

// The page speaks the visitor's language: Accept-Language (with its
// q-values) chooses, ?lang= overrides it, anything else is English.
func TestStatusPageSpeaksTheVisitorsLanguage(t *testing.T) {
	e := MustOpenStatusEnv(t)
	cases := []struct{ path, header, want string }{
		{"/status", "zh-CN,zh;q=0.9", "zh-CN"},
		{"/status", "en-GB", "en"},
		{"/status", "", "en"},
		{"/status", "zh", "zh-CN"},
		{"/status", "zh-Hans", "zh-CN"},
		{"/status", "zh-Hans-CN", "zh-CN"},
		{"/status", "zh-SG", "zh-CN"},
		{"/status", "de-DE, zh-sg;q=0.7, en;q=0.5", "zh-CN"},
		{"/status", "en;q=0.4, zh-CN;q=0.8", "zh-CN"},
		{"/status", "zh-CN;q=0.3, en-US;q=0.9", "en"},
		{"/status", "zh-CN;q=0, en;q=0.1", "en"},
		{"/status", "zh-TW", "zh-CN"}, // until 2026-11-29 English (ADR 0040)
		{"/status", "zh-Hant-HK, en;q=0.8", "zh-CN"},
		{"/status", "zh-HK;q=0.5, en", "en"},
		{"/status", "en;q=0, *", "zh-CN"}, // until 2026-11-29 * was English, refused or not
		{"/status", "fr-FR, de", "en"},
		{"/status", "*", "en"},
		{"/status?lang=en", "zh-CN,zh;q=0.9", "en"},
		{"/status?lang=zh-CN", "en-GB", "zh-CN"},
		{"/status?lang=zh-CN", "", "zh-CN"},
		{"/status?lang=xx", "zh-CN", "zh-CN"},
	}
	title := map[string]string{"en": catalogue(t, "en", "statuspage.title"), "zh-CN": catalogue(t, "zh-CN", "statuspage.title")}
	for _, c := range cases {
		r := statusPageIn(t, e, c.path, c.header)
		body := string(r.Body)
		m := htmlLang.FindStringSubmatch(body)
		if m == nil || m[1] != c.want {
			t.Errorf("GET %s, Accept-Language %q: <html lang> %v, want %q", c.path, c.header, m, c.want)
		}
		if !strings.Contains(body, "<h1>"+title[c.want]+"</h1>") {
			t.Errorf("GET %s, Accept-Language %q: the heading is not %q", c.path, c.header, title[c.want])
		}
		if got := r.Header.Get("Content-Language"); got != c.want {
			t.Errorf("GET %s, Accept-Language %q: Content-Language %q", c.path, c.header, got)
		}
	}
}

// The language links switch the language and keep the rest of the query.
func TestStatusPageLanguageLinksKeepTheQuery(t *testing.T) {
	e := MustOpenStatusEnv(t)
	body := string(statusPageIn(t, e, "/status?lang=zh-CN&ref=app&x=a+b", "en-GB").Body)
	links := regexp.MustCompile(`<a href="([^"]*)" hreflang="([^"]*)"`).FindAllStringSubmatch(body, -1)
	got := map[string]string{}
	for _, l := range links {
		got[l[2]] = html.UnescapeString(l[1])
	}
	want := map[string]string{"en": "/status?lang=en&ref=app&x=a+b", "zh-CN": "/status?lang=zh-CN&ref=app&x=a+b"}
	for lang, href := range want {
		if got[lang] != href {
			t.Errorf("link to %s: %q, want %q (all: %v)", lang, got[lang], href, got)
		}
	}
	if !strings.Contains(body, ">"+catalogue(t, "en", "lang.name")+"<") || !strings.Contains(body, ">"+catalogue(t, "zh-CN", "lang.name")+"<") {
		t.Errorf("the links are not named each in its own language")
	}
}

// The response varies with Accept-Language, and nothing that caches it
// (a browser, a proxy; by URL or by ETag) can give one language's page for
// the other's: it says Vary: Accept-Language, is not stored, and any ETag
// differs between the languages.
func TestStatusPageCachingKeepsLanguagesApart(t *testing.T) {
	e := MustOpenStatusEnv(t)
	zh := statusPageIn(t, e, "/status", "zh-CN,zh;q=0.9")
	en := statusPageIn(t, e, "/status", "en-GB")
	over := statusPageIn(t, e, "/status?lang=zh-CN", "en-GB")
	for name, r := range map[string]*Response{"zh": zh, "en": en, "?lang=zh-CN": over} {
		var vary []string
		for _, v := range r.Header.Values("Vary") {
			for _, f := range strings.Split(v, ",") {
				vary = append(vary, strings.ToLower(strings.TrimSpace(f)))
			}
		}
		if !slices.Contains(vary, "accept-language") {
			t.Errorf("%s: Vary %q lacks Accept-Language", name, r.Header.Values("Vary"))
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("%s: Cache-Control %q: the page may be stored", name, cc)
		}
	}
	if string(zh.Body) == string(en.Body) {
		t.Fatal("the Chinese and English pages are the same")
	}
	if ez, ee := zh.Header.Get("ETag"), en.Header.Get("ETag"); ez != "" && ez == ee {
		t.Errorf("both languages have ETag %s", ez)
	}
	// An If-None-Match with the other language's ETag gets the page, not 304.
	if ee := en.Header.Get("ETag"); ee != "" {
		r := e.Do(t, "GET", "/status", "", map[string]string{"Authorization": "", "Accept-Language": "zh-CN", "If-None-Match": ee})
		if r.Status != 200 {
			t.Errorf("If-None-Match with the English ETag on the Chinese page: %d", r.Status)
		}
	}
}

// statusPageWithEverything is a status env whose page shows an incident
// with an update, a busy surge queue with a waiting payment, a maintenance
// window, the forecast and a holiday.
func statusPageWithEverything(t *testing.T) *StatusEnv {
	t.Helper()
	e := MustOpenStatusEnv(t)
	r := e.Do(t, "POST", "/v1/incidents", `{"title":"Slow payments","impact":"busy","components":["api"],"message":"Looking into it"}`, map[string]string{"Authorization": "Bearer " + supportToken})
	if r.Status != 201 {
		t.Fatalf("create incident: %d %s", r.Status, r.Body)
	}
	accepted := statusNow.Add(-90 * time.Second)
	in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, accepted), Principal: "operator:root", IdempotencyKey: "k1",
		Fingerprint: "fp", Body: []byte(`{}`), Status: pw.IntentPending, CreatedAt: accepted, UpdatedAt: accepted}
	if _, err := e.Store.CreateIntent(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return e
}

// operatorContent is what operators and the calendar wrote on the page:
// shown as written, in any language.
var operatorContent = []string{"Slow payments", "Looking into it", "Database upgrade", "Test Holiday"}

// englishLeft returns the English words of a page's visible text (text,
// and the title, alt and aria-label attributes) but the names of things
// (peakwallet, API, JSON, Atom, UTC), the language link's "English",
// the API's path and operatorContent.
func englishLeft(page string) []string {
	page = regexp.MustCompile(`(?s)<style>.*?</style>`).ReplaceAllString(page, " ")
	var text strings.Builder
	for _, m := range regexp.MustCompile(`\s(?:title|alt|aria-label)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		text.WriteString(" " + m[1] + " ")
	}
	text.WriteString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, " "))
	s := html.UnescapeString(text.String())
	for _, c := range append(operatorContent, "/v1/status") {
		s = strings.ReplaceAll(s, c, " ")
	}
	var left []string
	for _, w := range regexp.MustCompile(`[A-Za-z]+`).FindAllString(s, -1) {
		if !slices.Contains([]string{"peakwallet", "API", "JSON", "Atom", "UTC", "English"}, w) {
			left = append(left, w)
		}
	}
	return left
}

// The Chinese page has no English left: fixed texts, states, statuses,
// month and day names, durations all come from the catalogue.
func TestStatusPageInChineseHasNoEnglish(t *testing.T) {
	e := statusPageWithEverything(t)
	body := string(statusPageIn(t, e, "/status", "zh-CN,zh;q=0.9").Body)
	for _, c := range operatorContent {
		if !strings.Contains(body, c) {
			t.Fatalf("the page lacks %q: the check below would say nothing", c)
		}
	}
	if left := englishLeft(body); len(left) > 0 {
		t.Errorf("English on the Chinese page: %q", left)
	}
	for _, key := range []string{"statuspage.weekday.thu", "statuspage.month.nov", "statuspage.state.busy", "statuspage.incident_status.investigating"} {
		if w := catalogue(t, "zh-CN", key); !strings.Contains(body, w) {
			t.Errorf("the Chinese page lacks %s %q", key, w)
		}
	}
	// The English page is English, and the check sees English.
	en := string(statusPageIn(t, e, "/status", "en-GB").Body)
	if left := englishLeft(en); !slices.Contains(left, "Busiest") && !slices.Contains(left, "Components") {
		t.Errorf("the English page's words %q", left)
	}
	for _, want := range []string{"Thu 26 Nov", "Best time to pay today: ", "investigating", "1 min 30 s"} {
		if !strings.Contains(en, want) {
			t.Errorf("the English page lacks %q", want)
		}
	}
}

// Codes are shown as words in both languages; a code the catalogue does
// not know is shown as itself.
func TestStatusPageShowsCodesAsWords(t *testing.T) {
	e := MustOpenStatusEnvWith(t, func(c *pwhttp.Config) {
		c.SurgeQueue = func(context.Context) status.Component {
			return status.Component{Name: status.ComponentSurgeQueue, State: "frozen"}
		}
	})
	r := e.Do(t, "POST", "/v1/incidents", `{"title":"Slow payments","impact":"busy","components":["api"],"message":"Looking into it"}`, map[string]string{"Authorization": "Bearer " + supportToken})
	if r.Status != 201 {
		t.Fatalf("create incident: %d %s", r.Status, r.Body)
	}
	for _, lang := range web.Languages {
		body := string(statusPageIn(t, e, "/status?lang="+lang, "").Body)
		for class, key := range map[string]string{"busy": "statuspage.state.busy", "normal": "statuspage.state.normal", "frozen": ""} {
			want := "frozen"
			if key != "" {
				want = catalogue(t, lang, key)
			}
			if !strings.Contains(body, `<td class="`+class+`">`+want+`</td>`) {
				t.Errorf("%s: no state %s shown as %q", lang, class, want)
			}
		}
		if w := catalogue(t, lang, "statuspage.incident_status.investigating"); !strings.Contains(body, w) {
			t.Errorf("%s: the incident's status is not shown as %q", lang, w)
		}
	}
}

// Every text the status page's template prints comes from the catalogue:
// the template has no text of its own outside tags (not even punctuation,
// which differs between languages) nor in the attributes people see, and
// every key it and the page's code name is in every language.
func TestStatusPageTemplateTextIsAllInTheCatalogue(t *testing.T) {
	src, err := os.ReadFile("templates/status.html")
	if err != nil {
		t.Fatal(err)
	}
	tree := parse.New("status")
	tree.Mode = parse.SkipFuncCheck
	if _, err := tree.Parse(string(src), "{{", "}}", map[string]*parse.Tree{}); err != nil {
		t.Fatal(err)
	}
	// The template flattened: its text, and \x00 for each action.
	var flat strings.Builder
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.TextNode:
			flat.Write(n.Text)
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		default:
			flat.WriteString("\x00")
		}
	}
	walk(tree.Root)
	doc := flat.String()
	for _, m := range regexp.MustCompile(`\s(?:title|alt|aria-label|placeholder)="([^"]*)"`).FindAllStringSubmatch(doc, -1) {
		if v := strings.TrimSpace(strings.ReplaceAll(m[1], "\x00", "")); v != "" {
			t.Errorf("status.html: attribute text %q is not from the catalogue", v)
		}
	}
	for _, text := range regexp.MustCompile(`<[^>]*>`).Split(doc, -1) {
		if v := strings.TrimSpace(strings.ReplaceAll(text, "\x00", "")); v != "" {
			t.Errorf("status.html: text %q is not from the catalogue", v)
		}
	}

	// The keys named by the template and the page's code.
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\.S\.T "([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		used[m[1]] = true
	}
	code, err := filepath.Glob("statuspage*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range code {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"(statuspage\.[a-z0-9_.]+)"`).FindAllStringSubmatch(string(b), -1) {
			if !strings.HasSuffix(m[1], ".") { // a prefix of codes' keys; TestStatusPageShowsCodesAsWords
				used[m[1]] = true
			}
		}
	}
	if len(used) < 20 {
		t.Fatalf("only %d keys used: the page's texts do not go through the catalogue", len(used))
	}
	for key := range used {
		for _, lang := range web.Languages {
			if _, ok := web.StringsOf(lang)[key]; !ok {
				t.Errorf("%s: no %q", lang, key)
			}
		}
	}
}

// /v1/status does not change with the language asked for.
func TestStatusJSONIsTheSameInEveryLanguage(t *testing.T) {
	e := statusPageWithEverything(t)
	get := func(header string) string {
		r := e.Do(t, "GET", "/v1/status", "", map[string]string{"Authorization": "", "Accept-Language": header})
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		return string(r.Body)
	}
	en := get("")
	if zh := get("zh-CN,zh;q=0.9"); zh != en {
		t.Fatalf("/v1/status in Chinese:\n%s\nin English:\n%s", zh, en)
	}
	for _, want := range []string{`"best_time":"Best time to pay today: `, "the oldest has waited 1m30s"} {
		if !strings.Contains(en, want) {
			t.Errorf("/v1/status lacks %q: %s", want, en)
		}
	}
}
