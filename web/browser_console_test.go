package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTheConsoleSaysCodesInWords: the console shows the codes the
// API sends — the operator's role, the admission classes, the breaker's
// state, refusal reasons, why ledger batches failed, what the surge queue
// did, the status's state, an incident's status and impact — in words of
// the page's language, and a code it has no words for (a newer server's)
// as itself, never "undefined". Until 2026-11-29 it showed them raw.
func TestBrowserTheConsoleSaysCodesInWords(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) {
		f.summary = `{"time":"2026-11-29T12:00:00Z","operator":{"id":"op_1","role":"support"},"requests":10,"busy":1,
			"ledger_batches_failed":{"out_of_time":2,"mystery":1},
			"surge_queue":{"accepted":5,"writers_busy":1,"novel_result":4},"surge_queue_oldest_seconds":0,
			"admission":{"limit":8,"admitted":2,"breaker":"half_open","retry_after_seconds":0,
				"queued":{"payment":1},"refused":{"payment":4},"shed":{},
				"refusals":{"payment":{"queue_wait":3,"brand_new_rule":1}}}}`
		f.status = `{"state":"degraded","time":"2026-11-29T12:00:00Z","maintenance":[],"incidents":[
			{"title":"Slow payments","status":"monitoring","impact":"busy"},
			{"title":"Something new","status":"postmortem"}]}`
	})
	cases := []struct {
		lang string
		want map[string][]string // a CSS selector, what its text says
		tips map[string][]string // a CSS selector, what its title says
	}{
		{"zh-CN", map[string][]string{
			"[data-who]":         {"（客服）"},
			"#admission-state":   {"熔断器 半开（以一个请求试探存储）"},
			"#admission-classes": {"付款", "充值", "查询", "报表"},
			"#surge-offers":      {"已接受 5", "写入繁忙 1", "novel_result 4"},
			"#status-state":      {"当前状态：降级。"},
			"#incident-list":     {"Slow payments — 监控中（影响：繁忙）", "Something new — postmortem（影响：–）"},
		}, map[string][]string{
			"#admission-classes tbody tr:first-child td:nth-child(3)": {"预计等待过长 3", "brand_new_rule 1"},
			`[data-m="failed"]`: {"超时 2", "mystery 1"},
		}},
		{"en", map[string][]string{
			"[data-who]":         {"(support)"},
			"#admission-state":   {"breaker half-open (one request probes the store)"},
			"#admission-classes": {"Payments", "Top-ups", "Reads", "Reports"},
			"#surge-offers":      {"accepted 5", "writers busy 1", "novel_result 4"},
			"#status-state":      {"State now: degraded."},
			"#incident-list":     {"Slow payments — monitoring (impact: busy)", "Something new — postmortem (impact: –)"},
		}, map[string][]string{
			"#admission-classes tbody tr:first-child td:nth-child(3)": {"wait too long 3", "brand_new_rule 1"},
			`[data-m="failed"]`: {"out of time 2", "mystery 1"},
		}},
	}
	s.do(t, "open the console", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key-form")))
	for _, c := range cases {
		s.do(t, "open the console in "+c.lang,
			js(`document.cookie = "pw_lang=`+c.lang+`; path=/"; sessionStorage.setItem("pw_op", "key"); location.reload()`))
		s.do(t, "the console in "+c.lang, chromedp.WaitVisible(chromedp.CSS("#console")),
			until(`document.documentElement.lang === "`+c.lang+`" && document.querySelector("#incident-list").children.length === 2`))
		for sel, wants := range c.want {
			got := eval[string](t, s, `document.querySelector(`+quote(sel)+`).textContent`)
			for _, w := range wants {
				if !strings.Contains(got, w) {
					t.Errorf("%s: %s says %q, want %q in it", c.lang, sel, got, w)
				}
			}
		}
		for sel, wants := range c.tips {
			got := eval[string](t, s, `document.querySelector(`+quote(sel)+`).title`)
			for _, w := range wants {
				if !strings.Contains(got, w) {
					t.Errorf("%s: %s's tooltip says %q, want %q in it", c.lang, sel, got, w)
				}
			}
		}
		for _, raw := range []string{"undefined", "half_open", "writers_busy", "queue_wait", "out_of_time"} {
			text := eval[string](t, s, `document.querySelector("#console").innerHTML`)
			if strings.Contains(text, raw) {
				t.Errorf("%s: the console shows %q", c.lang, raw)
			}
		}
	}
}

func quote(s string) string { return "`" + s + "`" }
