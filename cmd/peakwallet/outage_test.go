package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/bench"
)

// pgPrivate is the script that runs a private PostgreSQL cluster.
var pgPrivate, _ = filepath.Abs(filepath.Join("..", "..", "scripts", "pg-private.sh"))

// privateCluster inits and starts a PostgreSQL cluster of the test's own
// on a free port, destroyed when the test ends, and returns the commands
// that stop and start it and its DSN. Without PostgreSQL's server programs
// it skips, except where PostgreSQL is required (CI or
// PEAKWALLET_REQUIRE_POSTGRES), where it fails.
func privateCluster(t *testing.T, stopMode string) (stop, start, dsn string) {
	t.Helper()
	bin := os.Getenv("PG_BIN")
	if bin == "" {
		bin = "/usr/lib/postgresql/15/bin"
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		if os.Getenv("PEAKWALLET_REQUIRE_POSTGRES") != "" || os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL's initdb is required here but absent at %s (set PG_BIN): %v", bin, err)
		}
		t.Skipf("no initdb at %s (%v): install PostgreSQL 15's server or set PG_BIN to run the outage test", bin, err)
	}
	// Not t.TempDir: its parents are private to root, and the cluster runs
	// as the postgres user, which must reach its directory.
	dir, err := os.MkdirTemp("", "pw-outage-pg-")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	t.Cleanup(func() {
		if out, err := exec.Command(pgPrivate, "destroy", dir, port).CombinedOutput(); err != nil {
			t.Logf("destroying the cluster: %v\n%s", err, out)
		}
	})
	if out, err := exec.Command(pgPrivate, "init", dir, port).CombinedOutput(); err != nil {
		t.Fatalf("pg-private.sh init: %v\n%s", err, out)
	}
	out, err := exec.Command(pgPrivate, "dsn", dir, port).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join([]string{pgPrivate, "stop", dir, port, stopMode}, " "),
		strings.Join([]string{pgPrivate, "start", dir, port}, " "), strings.TrimSpace(string(out))
}

// TestPostgresOutageBench stops a real PostgreSQL (immediate: a crash)
// under a real server's load, through the product's own outage bench:
// during the outage every answer is 503 busy with Retry-After, or 504
// outcome_unknown with Retry-After for a COMMIT the crash cut (a 503
// promises nothing moved), which its retry with the key settles;
// service is back within 5 s of the database, every acknowledged transfer
// is there as paid, and verify is clean.
func TestPostgresOutageBench(t *testing.T) {
	stop, start, dsn := privateCluster(t, "immediate")
	s := startServer(t, "--postgres", dsn, "--data", t.TempDir(), "--log-level", "warn")

	cmd := exec.Command(binary, "bench", "--target", s.url, "--key", testOperatorKey, "--scenario", "outage",
		"--outage-stop", stop, "--outage-start", start, "--outage-warmup", "2s", "--outage-for", "3s",
		"--duration", "10s", "--rate", "150", "--users", "100", "--merchants", "10", "--principals", "4", "--callers", "16")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &testWriter{t: t}
	runErr := cmd.Run()
	var rep struct {
		Run *bench.OutageResult `json:"run"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Run == nil {
		t.Fatalf("bench: %v; report: %v\n%s", runErr, err, stdout.Bytes())
	}
	r := rep.Run
	if runErr != nil {
		t.Fatalf("bench: %v (%d missing, %d mismatched, %d unverified of %d acknowledged: %v %v)", runErr, r.Missing, r.Mismatched, r.Unverified, r.Acknowledged, r.MissingSample, r.MismatchedSample)
	}
	t.Logf("before %+v; during %+v; after %+v; recovery %.2f s; %d acknowledged",
		r.Before, r.During, r.After, r.RecoverySeconds, r.Acknowledged)
	if r.Before.OK == 0 || r.During.Sent == 0 || r.After.OK == 0 {
		t.Fatal("the run did not cover a served start, the outage and a served end")
	}
	if r.During.Unexpected != 0 {
		t.Errorf("%d answers during the outage were neither 503 busy nor 504 outcome_unknown: %v", r.During.Unexpected, r.During.Codes)
	}
	if r.During.BusyWithoutRetryAfter != 0 || r.After.BusyWithoutRetryAfter != 0 {
		t.Errorf("refusals without Retry-After: %d during, %d after", r.During.BusyWithoutRetryAfter, r.After.BusyWithoutRetryAfter)
	}
	if !r.Recovered || r.RecoverySeconds > bench.OutageRecoveryMax.Seconds() {
		t.Errorf("recovery %v after %.2f s, want within %s", r.Recovered, r.RecoverySeconds, bench.OutageRecoveryMax)
	}
	if r.Missing != 0 || r.Mismatched != 0 || r.Unverified != 0 || r.Acknowledged == 0 {
		t.Errorf("%d acknowledged, %d missing, %d mismatched %v, %d unverified", r.Acknowledged, r.Missing, r.Mismatched, r.MismatchedSample, r.Unverified)
	}
	// A payment whose COMMIT the crash cut, and whose outcome could not be
	// learned before its deadline, is a 504 outcome_unknown: its retry with
	// the key must settle it (paid once, or refused for good).
	if d := r.InDoubt; d.Unresolved != 0 || d.Paid+d.Refused != d.Answered || d.Answered != r.During.Codes[pw.EOUTCOMEUNKNOWN]+r.Before.Codes[pw.EOUTCOMEUNKNOWN]+r.After.Codes[pw.EOUTCOMEUNKNOWN] {
		t.Errorf("payments of unknown outcome: %+v; answered so: %d during", d, r.During.Codes[pw.EOUTCOMEUNKNOWN])
	}
	stopServer(t, s)
	if out, err := exec.Command(binary, "verify", "--postgres", dsn).CombinedOutput(); err != nil {
		t.Fatalf("verify after the outage: %v\n%s", err, out)
	}
}
