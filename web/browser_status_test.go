package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserACountdownsStatusReadEndsWithIt: a countdown after 503
// maintenance reads GET /v1/status every 5 s to learn whether the window
// ended early. When the countdown ends (its time is up) while such a read
// is out, the read is given up: its answer is no longer wanted, and a
// read the server holds must not hold one of the browser's few
// connections to it, nor answer into the next countdown. Until 2026-11-29
// it was left to run.
func TestBrowserACountdownsStatusReadEndsWithIt(t *testing.T) {
	s := newScene(t)
	s.do(t, "open", chromedp.Navigate(s.base+"/#/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	reads := func(f *fakeAPI) int { return f.statusReads }
	for deadline := time.Now().Add(10 * time.Second); s.api.read(reads) < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the status banner did not read the status")
		}
	}
	before := s.api.read(reads)
	s.api.set(func(f *fakeAPI) { f.hangStatus = map[int]bool{before + 1: true} })
	s.do(t, "count down 6 s", js(`window.how = "";
		PW.countdown(document.createElement("p"), 6, "pay.maintenance_in", PW.maintenanceOver).then((h) => { window.how = h; })`))
	s.do(t, "elapsed", until(`window.how !== ""`))
	if how := eval[string](t, s, `window.how`); how != "elapsed" {
		t.Fatalf("the countdown ended %q, want elapsed", how)
	}
	if n := s.api.read(reads) - before; n != 1 {
		t.Fatalf("the countdown read the status %d times, want 1 (at 5 s, held)", n)
	}
	cancelled := func(f *fakeAPI) int { return f.statusCancelled }
	for deadline := time.Now().Add(3 * time.Second); s.api.read(cancelled) < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the countdown's status read was still out 3 s after the countdown ended")
		}
	}
}

// TestBrowserTheConsolesStatusKeepsTheNewerAnswer: the console reads the
// status every 15 s. When a read is still out at the next (the server
// slow to answer), the newer read's answer is the one shown, and the
// older one, answering later, does not put back what was true before.
// Until 2026-11-29 the last to answer was shown, however old.
func TestBrowserTheConsolesStatusKeepsTheNewerAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the console's 15 s status read")
	}
	s := newScene(t)
	s.do(t, "open the console", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key-form")))
	reads := func(f *fakeAPI) int { return f.statusReads }
	for deadline := time.Now().Add(10 * time.Second); s.api.read(reads) < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the status banner did not read the status")
		}
	}
	// Signed in, the page's status banner's read and the console's first
	// are held; the console's second, 15 s later, says busy.
	before := s.api.read(reads)
	s.api.set(func(f *fakeAPI) { f.hangStatus = map[int]bool{before + 1: true, before + 2: true} })
	s.do(t, "sign in", js(`sessionStorage.setItem("pw_op", "key"); location.reload()`))
	time.Sleep(time.Second)
	s.do(t, "console shown", chromedp.WaitVisible(chromedp.CSS("#console")))
	s.api.set(func(f *fakeAPI) { f.statusState = "busy" })
	for deadline := time.Now().Add(25 * time.Second); s.api.read(reads) < before+3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the console read the status %d times in 25 s, want 3", s.api.read(reads))
		}
	}
	s.do(t, "busy shown", until(`document.querySelector("#status-state").textContent.includes("busy")`))
	s.api.set(func(f *fakeAPI) { f.statusState = "normal"; close(f.statusGo) }) // the held reads answer now
	time.Sleep(2 * time.Second)
	if got := eval[string](t, s, `document.querySelector("#status-state").textContent`); !strings.Contains(got, "busy") {
		t.Errorf("the console's status says %q, want the newer answer (busy), not the older one's", got)
	}
}
