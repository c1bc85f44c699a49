// Package browsertest starts the headless Chromium that the browser tests
// (cmd/peakwallet's against the real binary, web's against a scripted
// API) drive through chromedp, with one rule for a missing browser:
// locally the test skips; in CI (CI or PEAKWALLET_REQUIRE_BROWSER set) it
// fails, so that a missing browser can never turn the tests green.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is Chromium's executable, or the test skips (locally) or fails (CI).
func Path(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("PEAKWALLET_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium is required (CI or PEAKWALLET_REQUIRE_BROWSER is set) but not installed: apt-get install -y chromium")
	}
	t.Skip("chromium is not installed: apt-get install -y chromium to run the browser tests")
	return ""
}

// Start starts a headless Chromium with a fresh profile, for at most
// timeout and at most t's life, and returns a tab's context. Its flags keep
// it lean and quiet (no GPU, no background networking, updates or
// extensions); extra adds to them.
func Start(t *testing.T, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}
