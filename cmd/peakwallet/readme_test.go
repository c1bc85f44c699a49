package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestREADMEWalkthrough runs the README's curl walkthrough, as pasted into
// a shell, against a real server, so that the front door never rots.
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- walkthrough")
	if !ok {
		t.Fatal("README has no walkthrough marker")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	script, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README walkthrough block is not closed")
	}
	s := startServer(t, "--data", t.TempDir())
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "PW="+s.url, "KEY="+testOperatorKey)
	out, err := cmd.CombinedOutput()
	t.Logf("walkthrough output:\n%s", out)
	if err != nil {
		t.Fatalf("walkthrough failed: %v", err)
	}
	for _, want := range []string{`"posted":6500`, `"pending_out":3000`, `"kind":"capture"`, `"kind":"refund"`, `"code":"insufficient_funds"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %s", want)
		}
	}
	stopServer(t, s)
}
