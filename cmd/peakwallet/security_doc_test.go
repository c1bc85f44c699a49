package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSecurityWalkthrough runs docs/security.md's curl walkthrough (sign
// up, enrol TOTP, open a wallet, top-up, pay by handle, step-up) against
// a real server, as pasted into a shell.
func TestSecurityWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- walkthrough")
	if !ok {
		t.Fatal("docs/security.md has no walkthrough marker")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	script, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("walkthrough block is not closed")
	}
	s := startServer(t, "--data", t.TempDir())
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "PW="+s.url, "KEY="+testOperatorKey, "PEAKWALLET="+binary)
	out, err := cmd.CombinedOutput()
	t.Logf("walkthrough output:\n%s", out)
	if err != nil {
		t.Fatalf("walkthrough failed: %v", err)
	}
	for _, want := range []string{`"recovery_codes":[`, `"code":"mfa_required"`, `"challenge_id":"chl_`, `"posted":3750`, `"kind":"user"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %s", want)
		}
	}
	stopServer(t, s)
}
