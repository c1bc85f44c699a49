package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// "peakwallet maintenance cancel ID --key K" is the order the usage text
// suggests ("cancel ID", then the common flags), but the flag package
// stops at the first argument: the flags after the ID were taken for
// arguments, and the command said the ID was missing although it was given
// (found in review). Flags now go before or after the ID, and a wrong
// number of arguments is named as such.
func TestMaintenanceCancelTakesFlagsAfterTheID(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	maintenance := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"maintenance"}, args...), nil, &out, &errb, func(string) string { return "" })
		return errb.String(), err
	}
	const key = "test-operator-key-123"
	want := "DELETE /v1/maintenance/mw_123 Bearer " + key
	for _, args := range [][]string{
		{"cancel", "mw_123", "--target", srv.URL, "--key", key},
		{"cancel", "--target", srv.URL, "mw_123", "--key", key},
		{"cancel", "--target", srv.URL, "--key", key, "mw_123"},
	} {
		got = nil
		if stderr, err := maintenance(args...); err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%q: err %v, server saw %q; stderr %s", args, err, got, stderr)
		}
	}
	got = nil
	for args, wantErr := range map[string]string{
		"cancel --key K":                "the window's ID is missing",
		"cancel mw_1 mw_2 --key K":      "cancel takes one window ID; got 2 arguments",
		"list mw_1 --key K":             "maintenance list takes no arguments",
		"schedule --for 1h now --key K": "maintenance schedule takes no arguments",
	} {
		_, err := maintenance(append(strings.Fields(args), "--target", srv.URL)...)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err %v, want %q", args, err, wantErr)
		}
	}
	if len(got) != 0 {
		t.Fatalf("the server was called by a wrong command: %q", got)
	}
}

// "maintenance schedule" with both --at and --in was given two starts and
// silently took --at's; it is refused, as a --for that is zero or negative
// is (that one was refused already, as if --for were missing), before the
// server is called, with an error that names the flags and a non-zero exit
// code (found in review).
func TestMaintenanceScheduleRefusesTwoStartsOrALengthNotPositive(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"mw_1"}`))
	}))
	defer srv.Close()
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for args, wantErr := range map[string]string{
		"--at " + at + " --in 1h --for 30m": "--at and --in",
		"--in 1h --at " + at + " --for 30m": "--at and --in",
		"--at " + at + " --in 0s --for 30m": "--at and --in",
		"--in 1h --for 0s":                  "--for",
		"--in 1h --for -30m":                "--for",
		"--at " + at + " --for -1h":         "--for",
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"maintenance", "schedule", "--target", srv.URL, "--key", "K"}, strings.Fields(args)...),
			nil, &out, &errb, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), wantErr) || exitCode(err) == 0 {
			t.Errorf("schedule %s: err %v, want a refusal naming %q with a non-zero exit code", args, err, wantErr)
		}
	}
	if len(got) != 0 {
		t.Fatalf("the server was asked to schedule by a refused command: %q", got)
	}
	// One start and a positive length are still scheduled.
	for _, args := range []string{"--in 1h --for 30m", "--at " + at + " --for 30m"} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), append([]string{"maintenance", "schedule", "--target", srv.URL, "--key", "K"}, strings.Fields(args)...),
			nil, &out, &errb, func(string) string { return "" }); err != nil {
			t.Errorf("schedule %s: %v; stderr %s", args, err, errb.String())
		}
	}
	if len(got) != 2 {
		t.Fatalf("two valid schedules called the server %d times: %q", len(got), got)
	}
}

// TestMaintenanceScheduleRefusesANegativeIn: --in is how far from now the
// window starts; a negative one is a start in the past, a window that would
// begin before it is announced (accepted until the review of 2026-11-29).
// It is refused before the server is asked; --in 0, or no start at all, is
// "now" and still schedules.
func TestMaintenanceScheduleRefusesANegativeIn(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"mw_1"}`))
	}))
	defer srv.Close()
	schedule := func(args string) error {
		var out, errb bytes.Buffer
		return run(context.Background(), append([]string{"maintenance", "schedule", "--target", srv.URL, "--key", "K"}, strings.Fields(args)...),
			nil, &out, &errb, func(string) string { return "" })
	}
	for _, args := range []string{"--in -1h --for 30m", "--in -1s --for 30m", "--for 30m --in=-5m"} {
		if err := schedule(args); err == nil || !strings.Contains(err.Error(), "--in") || exitCode(err) == 0 {
			t.Errorf("schedule %s: err %v, want a refusal naming --in with a non-zero exit code", args, err)
		}
	}
	if len(got) != 0 {
		t.Fatalf("the server was asked to schedule by a refused command: %q", got)
	}
	for _, args := range []string{"--in 0s --for 30m", "--for 30m"} {
		if err := schedule(args); err != nil {
			t.Errorf("schedule %s (now): %v", args, err)
		}
	}
	if len(got) != 2 {
		t.Fatalf("two windows starting now called the server %d times: %q", len(got), got)
	}
}
