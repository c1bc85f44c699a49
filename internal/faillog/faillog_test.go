package faillog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestOutageLoggedOnceThenRecovery: forty failures in ten seconds (a loop
// at 250 ms through a database outage) make one warning, a minute of them
// one reminder, and the first success one line with the outage's length.
func TestOutageLoggedOnceThenRecovery(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), "settling intents")
	t0 := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	down := errors.New("the database cannot be reached")
	if l.Observe(t0, nil) {
		t.Fatal("a success with no failure before it was logged")
	}
	logged := 0
	for i := range 40 {
		if l.Observe(t0.Add(time.Duration(i)*250*time.Millisecond), down) {
			logged++
		}
	}
	if logged != 1 {
		t.Fatalf("40 failures in 10 s logged %d times, want once:\n%s", logged, &buf)
	}
	if !l.Observe(t0.Add(70*time.Second), down) {
		t.Fatal("a failure lasting 70 s was not logged again")
	}
	if !l.Observe(t0.Add(71*time.Second), nil) {
		t.Fatal("the recovery was not logged")
	}
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="settling intents failed; retrying" err="the database cannot be reached"`,
		`msg="settling intents still failing"`, "for=1m10s", "failures=41",
		`level=INFO msg="settling intents: working again" failed_for=1m11s failures=41`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if l.Observe(t0.Add(72*time.Second), nil) {
		t.Fatal("a second success was logged")
	}
	// A new run of failures is a new outage: logged at once again.
	if !l.Observe(t0.Add(80*time.Second), down) {
		t.Fatal("the first failure of a new run was not logged")
	}
}
