package web_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTheConsolesVerifyTakesAndGivesAuditAnchors: the console's
// invariant check sends the audit anchors typed (one "seq:hash" a line,
// blank lines left out) as audit_anchors, shows the report's audit.anchor
// (the chain's head, to keep elsewhere for a later check) and an anchor's
// violation among the others; a malformed anchor is shown as the server
// says it, naming its line. With none typed it sends no body, as before.
// Until 2026-11-29 the console sent no anchors and showed no anchor.
func TestBrowserTheConsolesVerifyTakesAndGivesAuditAnchors(t *testing.T) {
	s := newScene(t)
	h1, h2, head := strings.Repeat("a1", 32), strings.Repeat("b2", 32), strings.Repeat("c3", 32)
	s.api.set(func(f *fakeAPI) {
		f.verify = `{"ok":false,"ledger":{"checks":["entries balance per currency"],"violation_count":0},
			"audit":{"head_seq":12,"head":"` + head + `","anchor":"12:` + head + `","anchors_checked":2,
				"violations":["audit anchor 7:` + h2 + `: record 7 is not in the chain (head 12)"]},"took_seconds":0.01}`
	})
	s.do(t, "open the console",
		chromedp.Navigate(s.base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#key-form")),
		js(`sessionStorage.setItem("pw_op", "key"); location.reload()`),
	)
	s.do(t, "the invariant check", chromedp.WaitVisible(chromedp.CSS("#verify-run")))

	s.do(t, "verify without anchors",
		js(`document.querySelector("#verify-run").click()`),
		until(`document.querySelector("#verify-out").textContent.includes("violations found")`),
	)
	s.do(t, "verify with two anchors",
		js(`document.querySelector("#verify-anchors").value = "3:`+h1+`\n\n  7:`+h2+`  \n"`),
		js(`document.querySelector("#verify-out").replaceChildren()`),
		js(`document.querySelector("#verify-run").click()`),
		until(`document.querySelector("#verify-out").textContent.includes("violations found")`),
	)
	bodies := s.api.read(func(f *fakeAPI) int { return len(f.verifyBodies) })
	var sent []string
	s.api.set(func(f *fakeAPI) { sent = append(sent, f.verifyBodies...) })
	if bodies != 2 {
		t.Fatalf("%d verifies sent, want 2: %q", bodies, sent)
	}
	if sent[0] != "" {
		t.Errorf("verify without anchors sent %q, want no body", sent[0])
	}
	var req struct {
		AuditAnchors []string `json:"audit_anchors"`
	}
	if err := json.Unmarshal([]byte(sent[1]), &req); err != nil || len(req.AuditAnchors) != 2 ||
		req.AuditAnchors[0] != "3:"+h1 || req.AuditAnchors[1] != "7:"+h2 {
		t.Errorf("verify with anchors sent %q (%v), want audit_anchors [3:%s 7:%s]", sent[1], err, h1, h2)
	}
	if got := eval[string](t, s, `document.querySelector("#verify-anchor") ? document.querySelector("#verify-anchor").value : ""`); got != "12:"+head {
		t.Errorf("the console shows the anchor %q, want the report's 12:%s", got, head)
	}
	out := eval[string](t, s, `document.querySelector("#verify-out").textContent`)
	for _, want := range []string{"record 7 is not in the chain", "Audit anchors checked: 2."} {
		if !strings.Contains(out, want) {
			t.Errorf("the report says %q, want %q in it", out, want)
		}
	}

	s.do(t, "verify with a malformed anchor on line 3",
		js(`document.querySelector("#verify-anchors").value = "3:`+h1+`\n\n7:abc"`),
		js(`document.querySelector("#verify-run").click()`),
		until(`document.querySelector("#verify-out .error") !== null && !document.querySelector("#verify-out").textContent.includes("violations found")`),
	)
	out = eval[string](t, s, `document.querySelector("#verify-out").textContent`)
	for _, want := range []string{"Line 3", `audit anchor "7:abc": want seq:hash`} {
		if !strings.Contains(out, want) {
			t.Errorf("after a malformed anchor the console says %q, want %q in it", out, want)
		}
	}
}
