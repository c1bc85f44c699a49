package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// A --limit-min above --limit-max was taken without a word, and the limit
// sat at --limit-min: the ceiling asked for was silently ignored. It is
// refused at start, naming both flags, before anything is opened.
func TestALimitMinAboveLimitMaxIsRefusedAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--log-level", "error",
		"--limit-min", "100", "--limit-max", "10"}, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "--limit-min") || !strings.Contains(err.Error(), "--limit-max") {
		t.Fatalf("serve --limit-min 100 --limit-max 10: %v, want a refusal naming both flags (stderr %s)", err, stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatal("refused only when the test gave up: it should be at start")
	}
}

// TestARateThatIsNoRateIsRefusedAtStart: PEAKWALLET_RATE that is not a
// number, or a --rate that is negative or not finite, stops serve at start
// with an error naming it. Until 2026-11-29 each turned the per-client rate
// limit off without a word (found in review). A --rate on the command line
// overrides a PEAKWALLET_RATE it cannot read, as flags override the
// environment.
func TestARateThatIsNoRateIsRefusedAtStart(t *testing.T) {
	for _, c := range []struct {
		env, flag, want string
	}{
		{"fast", "", "PEAKWALLET_RATE"},
		{"", "-5", "--rate"},
		{"", "NaN", "--rate"},
		{"", "+Inf", "--rate"},
		{"", "1e-10", "--rate"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		args := []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--log-level", "error"}
		if c.flag != "" {
			args = append(args, "--rate", c.flag)
		}
		getenv := func(k string) string {
			if k == "PEAKWALLET_RATE" {
				return c.env
			}
			return ""
		}
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, strings.NewReader(""), &stdout, &stderr, getenv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PEAKWALLET_RATE=%q --rate %q: %v, want a refusal naming %s", c.env, c.flag, err, c.want)
		}
		if ctx.Err() != nil {
			t.Errorf("PEAKWALLET_RATE=%q --rate %q: refused only when the test gave up: it should be at start", c.env, c.flag)
		}
		cancel()
	}
	// A flag overrides a PEAKWALLET_RATE that cannot be read: serve starts.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--log-level", "error", "--rate", "50"},
		strings.NewReader(""), &stdout, &stderr, func(k string) string {
			if k == "PEAKWALLET_RATE" {
				return "fast"
			}
			return ""
		})
	if err != nil || !strings.Contains(stdout.String(), "listening on") {
		t.Fatalf("--rate 50 with PEAKWALLET_RATE=fast: %v, stdout %q; want it served until the test stopped it", err, stdout.String())
	}
}

// TestAKnobThatWouldBeSilentlyReplacedIsRefused: admission takes 0 for
// "the default", so a --limit-min, --limit-max or --queue-max of 0 or less,
// a negative --burst, or a --latency-tolerance that is not a positive
// number ran with the default instead of what was asked, without a word.
// serve now refuses them at start, naming the flag, and a --burst past
// BurstMax, whose refill time overflowed (2026-11-29). (--burst 0 stays
// the documented default, 2×rate.)
func TestAKnobThatWouldBeSilentlyReplacedIsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--limit-min", "0"}, {"--limit-min", "-5"}, {"--limit-max", "0"}, {"--queue-max", "0"},
		{"--queue-max", "-1"}, {"--burst", "-1"}, {"--latency-tolerance", "0"}, {"--latency-tolerance", "-2"},
		{"--latency-tolerance", "NaN"}, {"--latency-tolerance", "+Inf"}, {"--burst", "10000000000"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var stdout, stderr bytes.Buffer
		err := run(ctx, append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--log-level", "error"}, args...),
			strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("serve %s %s: %v, want a refusal naming %s", args[0], args[1], err, args[0])
		}
		if ctx.Err() != nil {
			t.Errorf("serve %s %s: refused only when the test gave up: it should be at start", args[0], args[1])
		}
		cancel()
	}
}
