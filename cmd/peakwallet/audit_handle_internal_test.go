package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestAuditByHandleFindsAHandlesRecords: `peakwallet audit --handle H`
// derives the keyed form the server wrote for a handle that is no user's
// (from the secret key serve uses: the one in the data directory, or
// PEAKWALLET_SECRET_KEY), prints it, and prints only that handle's
// records: an unknown handle's failed login, reset request and look-up
// (by any spelling), or a user's records by their ID. Without a secret
// key it fails, saying so, and makes none. Before the change --handle was
// an unknown flag.
func TestAuditByHandleFindsAHandlesRecords(t *testing.T) {
	dir := t.TempDir()
	none := func(string) string { return "" }
	key, err := secretKey(dir, &environment{getenv: none}) // as serve makes it
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.OpenDir(dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.New(s, nil, auth.Options{SecretKey: key, Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	ctx := auth.NewContextWithClientAddress(context.Background(), "192.0.2.7")
	op := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalOperator, ID: "root", Role: pw.RoleSupport})
	ann, err := svc.SignUp(ctx, auth.SignUp{Handle: "ann@example.com", Password: "ann's own passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"ann@example.com", "Nobody@Example.com"} {
		if _, err := svc.Login(ctx, auth.Login{Handle: h, Password: "a wrong passphrase"}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
			t.Fatalf("a wrong login of %s: %v", h, err)
		}
		if err := svc.RequestReset(ctx, auth.ResetRequest{Handle: h}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.LookUpUser(op, h); err != nil && pw.ErrorCode(err) != pw.EUSERNOTFOUND {
			t.Fatal(err)
		}
	}
	if err := svc.Audit(ctx, "key.create", "key_x", nil); err != nil { // someone else's record
		t.Fatal(err)
	}
	s.Close()

	audit := func(getenv func(string) string, args ...string) (string, string, error) {
		t.Helper()
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"audit", "--data", dir}, args...), nil, &out, &errb, getenv)
		return out.String(), errb.String(), err
	}
	actions := func(out string) (acts []string, targets map[string]bool) {
		targets = map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			f := strings.Split(line, "\t")
			if len(f) < 5 {
				t.Fatalf("a line of %d fields: %q", len(f), line)
			}
			acts, targets[f[4]] = append(acts, f[3]), true
		}
		return acts, targets
	}
	keyed, err := auth.HandleTarget(key, "nobody@example.com")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, err := audit(none, "--handle", "NOBODY@example.com")
	acts, targets := actions(out)
	if err != nil || strings.Join(acts, " ") != "login.failure password.reset_request user.lookup" || len(targets) != 1 || !targets[keyed] {
		t.Fatalf("audit --handle of an unknown handle: %v\n%s", err, out)
	}
	if !strings.Contains(errs, keyed) || !strings.Contains(errs, "no user's") {
		t.Errorf("it does not say the keyed form it searched for: %q", errs)
	}
	out, errs, err = audit(none, "--handle", "Ann@example.com")
	acts, targets = actions(out)
	if err != nil || strings.Join(acts, " ") != "user.signup login.failure password.reset_request user.lookup" || len(targets) != 1 || !targets[ann.ID] {
		t.Fatalf("audit --handle of ann's: %v\n%s", err, out)
	}
	if !strings.Contains(errs, "user "+ann.ID) {
		t.Errorf("it does not name the user it searched for: %q", errs)
	}
	if out, _, err = audit(none, "--handle", "nobody@example.com", "--limit", "2", "--json"); err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"target":"`+keyed+`"`) {
		t.Errorf("--limit 2 --json: %v\n%s", err, out)
	}

	// The key from PEAKWALLET_SECRET_KEY, none in the data directory: the same.
	if err := os.Remove(filepath.Join(dir, SecretKeyFile)); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "PEAKWALLET_SECRET_KEY" {
			return base64.StdEncoding.EncodeToString(key)
		}
		return ""
	}
	if out, _, err := audit(env, "--handle", "nobody@example.com"); err != nil || strings.Count(out, keyed) != 3 {
		t.Errorf("with PEAKWALLET_SECRET_KEY: %v\n%s", err, out)
	}
	// No key at all: an error that says so, nothing printed, no key made.
	out, _, err = audit(none, "--handle", "nobody@example.com")
	if err == nil || !strings.Contains(err.Error(), "secret key") || out != "" {
		t.Errorf("without a secret key: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, SecretKeyFile)); !os.IsNotExist(err) {
		t.Errorf("audit --handle made a secret key: %v", err)
	}
}
