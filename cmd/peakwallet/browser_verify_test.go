package main_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTheConsolesVerifyChecksAnAnchorItGave: on the real server,
// the console's invariant check shows the audit chain's head as an anchor;
// given back to a later check, with records appended since (a login), it
// is checked and holds; a malformed one is refused naming its line. The
// console and the server agree on the names (audit_anchors, audit.anchor,
// audit.anchors_checked, the field audit_anchors[i]).
func TestBrowserTheConsolesVerifyChecksAnAnchorItGave(t *testing.T) {
	ctx := newBrowser(t)
	s := startServer(t, "--data", t.TempDir())
	apiCall(t, "POST", s.url+"/v1/users", "", map[string]string{"handle": annHandle, "password": annPassword}, "")
	apiCall(t, "POST", s.url+"/v1/sessions", "", map[string]string{"handle": annHandle, "password": annPassword}, "")
	var anchor string
	run(t, ctx, "verify in the console",
		chromedp.Navigate(s.url+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#key-form")),
		chromedp.SendKeys(chromedp.CSS("#op-key"), testOperatorKey),
		submit("#key-form"),
		chromedp.WaitVisible(chromedp.CSS("#verify-run")),
		evalVoid(`document.querySelector("#verify-run").click()`),
		chromedp.WaitVisible(chromedp.CSS("#verify-out .ok")),
		readInto(&anchor, chromedp.Evaluate[string](`document.querySelector("#verify-anchor").value`)),
	)
	if !regexp.MustCompile(`^[1-9][0-9]*:[0-9a-f]{64}$`).MatchString(anchor) {
		t.Fatalf("the console shows the anchor %q, want seq:hash", anchor)
	}
	apiCall(t, "POST", s.url+"/v1/sessions", "", map[string]string{"handle": annHandle, "password": annPassword}, "") // the chain moves on

	var out string
	run(t, ctx, "verify with that anchor",
		evalVoid(`document.querySelector("#verify-anchors").value = `+quoteJS(anchor)),
		evalVoid(`document.querySelector("#verify-out").replaceChildren()`),
		evalVoid(`document.querySelector("#verify-run").click()`),
		chromedp.WaitVisible(chromedp.CSS("#verify-out .ok")),
		readInto(&out, chromedp.Text(chromedp.CSS("#verify-out"))),
	)
	if !strings.Contains(out, "Audit anchors checked: 1.") {
		t.Errorf("the report says %q, want the anchor checked", out)
	}
	run(t, ctx, "verify with a malformed anchor on line 2",
		evalVoid(`document.querySelector("#verify-anchors").value = `+quoteJS(anchor+"\n12:nothex")),
		evalVoid(`document.querySelector("#verify-out").replaceChildren()`),
		evalVoid(`document.querySelector("#verify-run").click()`),
		chromedp.WaitVisible(chromedp.CSS("#verify-out .error")),
		readInto(&out, chromedp.Text(chromedp.CSS("#verify-out"))),
	)
	if !strings.Contains(out, "Line 2:") || !strings.Contains(out, "12:nothex") {
		t.Errorf("after a malformed anchor the console says %q, want its line and the server's words", out)
	}
}

func quoteJS(s string) string { return "`" + s + "`" }
