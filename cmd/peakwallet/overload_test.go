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
