package web_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/status"
	"github.com/peakwallet/peakwallet/web"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Every language has exactly the same keys, so no page shows a key name.
func TestLanguagesHaveTheSameStrings(t *testing.T) {
	en := slices.Sorted(maps.Keys(web.StringsOf("en")))
	for _, lang := range web.Languages {
		got := slices.Sorted(maps.Keys(web.StringsOf(lang)))
		if !slices.Equal(got, en) {
			t.Errorf("%s has keys %v, en has %v", lang, got, en)
		}
	}
}

// Every string key the pages and scripts use is defined.
func TestUsedStringsExist(t *testing.T) {
	used := regexp.MustCompile(`(?:\bt|PW\.t)\("([a-z_]+\.[a-z_.]+)"|\.S\.T "([a-z_.]+)"`)
	s := web.StringsOf("en")
	for _, dir := range []string{"templates", "assets/js"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range used.FindAllStringSubmatch(string(b), -1) {
				key := m[1] + m[2]
				if _, ok := s[key]; !ok && !strings.HasSuffix(key, ".") {
					t.Errorf("%s/%s uses string %q, which en.json lacks", dir, e.Name(), key)
				}
			}
		}
	}
}

func TestPagesHaveAStrictPolicyAndNoInlineScript(t *testing.T) {
	app := web.New(nil)
	for _, path := range []string{"/", "/console/", "/pay?to=a%40b.c&amount=100&currency=EUR"} {
		w := get(t, app, path)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		// Scripts are files; the only inline <script> is a JSON data block,
		// which browsers never execute.
		for _, m := range regexp.MustCompile(`<script([^>]*)>`).FindAllStringSubmatch(w.Body.String(), -1) {
			if !strings.Contains(m[1], "src=") && !strings.Contains(m[1], `type="application/json"`) {
				t.Errorf("GET %s: inline script <script%s>", path, m[1])
			}
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	app := web.New(nil)
	cases := []struct{ header, value, want string }{
		{"Accept-Language", "zh-CN,zh;q=0.9", `lang="zh-CN"`},
		{"Accept-Language", "de-DE, en;q=0.5", `lang="en"`},
		{"Cookie", "pw_lang=zh-CN", `lang="zh-CN"`},
		{"Cookie", "pw_lang=xx", `lang="en"`},
	}
	for _, c := range cases {
		if body := get(t, app, "/", c.header, c.value).Body.String(); !strings.Contains(body, c.want) {
			t.Errorf("%s: %s: page lacks %s", c.header, c.value, c.want)
		}
	}
	// The strings block is valid JSON in the page's language.
	body := get(t, app, "/", "Cookie", "pw_lang=zh-CN").Body.String()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="strings">(.*?)</script>`).FindStringSubmatch(body)
	var s map[string]string
	if m == nil || json.Unmarshal([]byte(m[1]), &s) != nil || s["nav.wallets"] != "钱包" {
		t.Fatalf("strings block not the Chinese JSON: %.200q", m)
	}
}

func TestPayRequestQR(t *testing.T) {
	app := web.New(nil)
	w := get(t, app, "/pay/qr.png?to=ann%40example.com&amount=1250&currency=EUR&note=lunch")
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" || !strings.HasPrefix(w.Body.String(), "\x89PNG") {
		t.Fatalf("QR: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	for _, bad := range []string{"", "?amount=1", "?to=a&currency=eur", "?to=a&amount=-1", "?to=" + strings.Repeat("a", 255)} {
		if w := get(t, app, "/pay/qr.png"+bad); w.Code != 400 {
			t.Errorf("QR %q: %d, want 400", bad, w.Code)
		}
	}
	p, ok := web.ParsePayRequest(url.Values{"to": {"ann@example.com"}, "amount": {"840"}, "currency": {"EUR"}})
	if !ok || p.Link("https://pay.example") != "https://pay.example/pay?amount=840&currency=EUR&to=ann%40example.com" {
		t.Fatalf("link: %v %s", ok, p.Link("https://pay.example"))
	}
}

func TestAssetsAreServed(t *testing.T) {
	app := web.New(nil)
	sub := os.DirFS("assets")
	err := fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if w := get(t, app, "/assets/"+path); w.Code != 200 {
			t.Errorf("/assets/%s: %d", path, w.Code)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every code the console shows in words (PW.codeText in common.js) has
// them in every language, for each value the server can send: a code
// without words would be shown raw.
func TestConsoleCodesHaveWords(t *testing.T) {
	codes := map[string][]string{
		"console.role_name":       {pw.RoleAdmin, pw.RoleSupport, pw.RoleRisk},
		"console.breaker_state":   admission.BreakerStates(),
		"console.batch_failure":   ledger.BatchFailures,
		"console.surge_result":    pwhttp.SurgeQueueResults,
		"console.state_name":      {status.StateNormal, status.StateBusy, status.StateDegraded, status.StateMaintenance},
		"console.incident_status": {status.IncidentInvestigating, status.IncidentIdentified, status.IncidentMonitoring, status.IncidentResolved},
		"console.intent_status":   {pw.IntentPending, pw.IntentPosted, pw.IntentFailed},
	}
	for _, c := range admission.Classes() {
		codes["console.class_name"] = append(codes["console.class_name"], c.String())
	}
	for _, r := range admission.Reasons() {
		codes["console.refusal"] = append(codes["console.refusal"], r.String())
	}
	for _, lang := range web.Languages {
		s := web.StringsOf(lang)
		for group, list := range codes {
			for _, code := range list {
				if _, ok := s[group+"."+code]; !ok {
					t.Errorf("%s has no words for %s %q (%s.%s)", lang, group, code, group, code)
				}
			}
		}
	}
}
