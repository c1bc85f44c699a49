package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/forecast"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/status"
)

// spoofed is a name that a terminal shows reversed after its U+202E
// (RIGHT-TO-LEFT OVERRIDE): "invoice_exe.pdf" reads as "invoice_fdp.exe".
const spoofed = "invoice_\u202efdp.exe"

// mustNotShowBidi fails when out holds a bidirectional control raw.
func mustNotShowBidi(t *testing.T, what, out string) {
	t.Helper()
	if i := strings.IndexAny(out, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"); i >= 0 {
		t.Errorf("%s prints a bidirectional control raw at byte %d: %q", what, i, out)
	}
}

// TestJSONOutputEscapesBidiControls: a name holding a bidirectional
// control (Trojan Source) printed raw by --json makes a terminal show
// other text than the JSON holds (found in the review of 2026-11-29:
// encoding/json escapes only U+2028 and U+2029 of them). The JSON output
// escapes them (\u202e), and still decodes to the same name.
func TestJSONOutputEscapesBidiControls(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.OpenDir(dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &auth.AuditRecord{At: time.Now().UTC(), Actor: "operator:root", Action: "merchant.create",
		Target: "mer_1", Detail: map[string]string{"name": spoofed}}
	err = s.AppendAudit(ctx, []*auth.AuditRecord{rec}, func(prev *auth.AuditRecord) error {
		rec.Seq, rec.PrevHash = 1, auth.GenesisHash
		rec.Hash = auth.ChainHash(rec.PrevHash, rec)
		return nil
	})
	if cerr := s.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	for _, asJSON := range []bool{true, false} {
		args := []string{"audit", "--data", dir}
		if asJSON {
			args = append(args, "--json")
		}
		var out, errb bytes.Buffer
		if err := run(ctx, args, nil, &out, &errb, func(string) string { return "" }); err != nil {
			t.Fatalf("%q: %v; %s", args, err, errb.String())
		}
		mustNotShowBidi(t, strings.Join(args, " "), out.String())
		if !strings.Contains(out.String(), `\u202e`) {
			t.Errorf("%q does not show the control escaped: %s", args, out.String())
		}
		if asJSON {
			var got auth.AuditRecord
			if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Detail["name"] != spoofed {
				t.Errorf("audit --json reads back as %q, %v; want %q", got.Detail["name"], err, spoofed)
			}
		}
	}

	// maintenance list prints the server's windows as JSON.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":[{"id":"mw_1","start":"2030-01-01T00:00:00Z","end":"2030-01-01T01:00:00Z","reason":"` + spoofed + `"}]}`))
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"maintenance", "list", "--target", srv.URL, "--key", "K"}, nil, &out, &errb, func(string) string { return "" }); err != nil {
		t.Fatalf("maintenance list: %v; %s", err, errb.String())
	}
	mustNotShowBidi(t, "maintenance list", out.String())
	if !strings.Contains(out.String(), `\u202e`) {
		t.Errorf("maintenance list does not show the control escaped: %s", out.String())
	}
}

// TestForecastOutputEscapesBidiControls: the human forecast printed the
// names of the promotions in an hour raw (found in the review of
// 2026-11-29); they are quoted, as the promotion effects' already were.
func TestForecastOutputEscapesBidiControls(t *testing.T) {
	at := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	o := &status.Outlook{HistoryHours: 1, Forecast: &forecast.Forecast{
		Hours:   []forecast.Hour{{Start: at, Expected: 3600, BusyProbability: -1, Events: []string{spoofed, "Black Friday"}}},
		Effects: []forecast.Effect{{Name: spoofed, Multiplier: 2}},
	}}
	var out bytes.Buffer
	printOutlook(&out, o, time.UTC)
	mustNotShowBidi(t, "forecast", out.String())
	if !strings.Contains(out.String(), "Black Friday") {
		t.Errorf("a plain name is not printed as it is:\n%s", out.String())
	}
	var js bytes.Buffer
	if err := newJSONEncoder(&js).Encode(o); err != nil {
		t.Fatal(err)
	}
	mustNotShowBidi(t, "forecast --json", js.String())
}
