package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestASettingThatCannotBeReadIsRefusedAtStart: an environment setting
// serve cannot read, or a --batches-in-flight the ledger would replace by
// another number, stops serve at start with an error naming it; a flag
// overrides an environment value it cannot read. Until 2026-11-29
// PEAKWALLET_BATCHES_IN_FLIGHT=two ran with 1, --batches-in-flight 0 with
// 1 and 100 with 16, and PEAKWALLET_LOG_JSON=false logged JSON, each
// without a word.
func TestASettingThatCannotBeReadIsRefusedAtStart(t *testing.T) {
	for _, c := range []struct {
		env   map[string]string
		flags []string
		want  string
	}{
		{map[string]string{"PEAKWALLET_BATCHES_IN_FLIGHT": "two"}, nil, "PEAKWALLET_BATCHES_IN_FLIGHT"},
		{map[string]string{"PEAKWALLET_LOG_JSON": "yes please"}, nil, "PEAKWALLET_LOG_JSON"},
		{nil, []string{"--batches-in-flight", "0"}, "--batches-in-flight"},
		{nil, []string{"--batches-in-flight", "100"}, "--batches-in-flight"},
		{map[string]string{"PEAKWALLET_BATCHES_IN_FLIGHT": "-3"}, nil, "--batches-in-flight"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		args := append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--log-level", "error"}, c.flags...)
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return c.env[k] })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: %v, want a refusal naming %s", c.env, c.flags, err, c.want)
		}
		if ctx.Err() != nil {
			t.Errorf("%v %v: refused only when the test gave up: it should be at start", c.env, c.flags)
		}
		cancel()
	}
}

// TestAFlagOverridesASettingThatCannotBeRead: with the flag given, an
// environment value serve cannot read is not looked at, and
// PEAKWALLET_LOG_JSON=false logs text: serve starts and logs as asked.
func TestAFlagOverridesASettingThatCannotBeRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	env := map[string]string{"PEAKWALLET_BATCHES_IN_FLIGHT": "two", "PEAKWALLET_LOG_JSON": "false"}
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--batches-in-flight", "2"},
		strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	if ctx.Err() == nil {
		t.Fatalf("serve stopped before the test ended it: %v (stderr %s)", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "level=INFO") || strings.Contains(stderr.String(), `{"time"`) {
		t.Errorf("PEAKWALLET_LOG_JSON=false: want text logs, got %s", stderr.String())
	}
}
