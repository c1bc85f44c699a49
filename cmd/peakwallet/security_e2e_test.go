package main_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTLSSelfSigned serves HTTPS with a development certificate made in the
// data directory: TLS 1.2+ only, HSTS on every response.
func TestTLSSelfSigned(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--data", data, "--tls-self-signed")
	cmd.Env = append(os.Environ(), "PEAKWALLET_OPERATOR_KEY="+testOperatorKey)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var url string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if _, addr, ok := strings.Cut(lines.Text(), "listening on "); ok {
			url = addr
			break
		}
	}
	go func() {
		for lines.Scan() {
		}
	}()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("listening on %q, want https", url)
	}
	pem, err := os.ReadFile(filepath.Join(data, "tls-dev-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := func(max uint16) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: max}, ForceAttemptHTTP2: true}}
	}
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err = client(0).Get(url + "/readyz")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("%d %v TLS %x", resp.StatusCode, resp.Header, resp.TLS.Version)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	if _, err := client(tls.VersionTLS11).Get(url + "/readyz"); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
}

// TestVerifyAuditChain: verify re-computes the audit chain and fails on a
// record edited behind the server's back; peakwallet audit prints the log.
func TestVerifyAuditChain(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, "--data", data)
	for _, h := range []string{"ann@example.com", "bob@example.com"} {
		resp, err := http.Post(s.url+"/v1/users", "application/json",
			strings.NewReader(`{"handle":"`+h+`","password":"a long pass phrase"}`))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("sign-up: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	stopServer(t, s)
	out, err := exec.Command(binary, "audit", "--data", data).CombinedOutput()
	if err != nil || strings.Count(string(out), "user.signup") != 2 {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "verify", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "audit log: 2 records") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite3", filepath.Join(data, "peakwallet.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET actor = 'operator:root' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err = exec.Command(binary, "verify", "--data", data).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "audit record 1: hash mismatch") {
		t.Fatalf("verify of a tampered log: %v\n%s", err, out)
	}
}
