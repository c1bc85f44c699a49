package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
