package main_test

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestDemoForecastStatusPage is the "done when" on the real
// binary: demo fills an empty instance, forecast prints the back-test,
// and the served status page shows the chart and the best-time sentence.
func TestDemoForecastStatusPage(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(binary, "demo", "--data", dir, "--users", "1", "--transfers", "5").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "marked demo") {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "demo", "--data", dir).CombinedOutput(); err == nil {
		t.Fatalf("a second demo filled a non-empty instance:\n%s", out)
	}
	out, err = exec.Command(binary, "forecast", "--data", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "naive (same hour last week)") || !strings.Contains(string(out), "recommendation:") {
		t.Fatalf("forecast: %v\n%s", err, out)
	}
	t.Logf("peakwallet forecast:\n%s", out)
	s := startServer(t, "--data", dir)
	resp, err := http.Get(s.url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"<svg", `class="forecast"`, "Best time to pay", "Demo: database upgrade"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	stopServer(t, s)
}
