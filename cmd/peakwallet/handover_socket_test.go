package main_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestHandoverRefusesNoFreshConnection replaces the binary three times in
// a row while clients without retries (a browser, curl) open a new
// connection for every request: keep-alive off, one GET each, an error
// counted as it comes. None may fail. Until 2026-11-29 the two processes
// only shared the address (SO_REUSEPORT), each with its own accept queue,
// and the connections the kernel had queued on the old socket when it
// closed were reset.
func TestHandoverRefusesNoFreshConnection(t *testing.T) {
	freshConnectionsHandover(t, 3, nil)
}

// TestHandoverOverTLSRefusesNoFreshConnection: the same with HTTPS
// (--tls-self-signed), each request a new TLS handshake on the socket the
// new process was given.
func TestHandoverOverTLSRefusesNoFreshConnection(t *testing.T) {
	freshConnectionsHandover(t, 1, func(data string) *tls.Config {
		pem, err := os.ReadFile(filepath.Join(data, "tls-dev-cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		return &tls.Config{RootCAs: pool}
	}, "--tls-self-signed")
}

// freshConnectionsHandover runs handovers handovers under fresh
// connections from eight goroutines. With tlsConfig the servers serve
// HTTPS, and the test's clients trust what tlsConfig(data) returns.
func freshConnectionsHandover(t *testing.T, handovers int, tlsConfig func(data string) *tls.Config, serverArgs ...string) {
	data := t.TempDir()
	args := append([]string{"--data", data}, serverArgs...)
	var hc *http.Client
	start := func(args ...string) *server {
		cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
		if tlsConfig == nil {
			return startServerCmd(t, cmd)
		}
		if hc == nil {
			// The certificate is made by the first server, before it
			// prints its address: startServerWith reads it only then.
			return startServerWith(t, cmd, func() *http.Client {
				hc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
					TLSClientConfig: tlsConfig(data), DisableKeepAlives: true}}
				return hc
			})
		}
		return startServerWith(t, cmd, func() *http.Client { return hc })
	}
	old := start(args...)
	u, err := url.Parse(old.url)
	if err != nil {
		t.Fatal(err)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}

	// net/http retries a request only on a connection that has served one
	// before: on these, never. So every reset is counted. The payers use
	// the first server's URL, the address every later one takes over
	// (old changes under them).
	health := old.url + "/healthz"
	var sent, resets, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	wait := payers(8, stop, func(int, int) bool {
		sent.Add(1)
		resp, err := hc.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		if err != nil {
			// A connection reset before its request was read shows as
			// ECONNRESET, or as EOF when the request was written first.
			if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
				resets.Add(1)
			}
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
		return true
	})
	for range handovers {
		time.Sleep(200 * time.Millisecond)
		next := start(append(args, "--addr", u.Host)...)
		if len(next.log.await("took the listening socket over", 2*time.Second)) == 0 {
			t.Error("the new process did not take the listening socket over: it bound one of its own")
		}
		stopServer(t, old)
		old = next
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests on fresh connections failed across %d handovers (%d of them reset); first: %v",
			n, sent.Load(), handovers, resets.Load(), firstErr.Load())
	}
	if sent.Load() < 100 {
		t.Fatalf("only %d requests sent: the test proved nothing", sent.Load())
	}
	t.Logf("%d requests on fresh connections, none failed, across %d handovers", sent.Load(), handovers)
	stopServer(t, old)
}

// TestAHandoverOfAnotherAddressIsRefused: a new binary pointed at the
// handover socket of a process on another address (--handover given by
// hand, wrongly) is passed that listener, refuses it and fails, saying
// why. Its copy of the socket closes with it: the old process serves on,
// no fresh connection fails, and it still hands its listener over to a
// binary on its own address afterwards.
func TestAHandoverOfAnotherAddressIsRefused(t *testing.T) {
	data := t.TempDir()
	old := startServer(t, "--data", data)
	u, err := url.Parse(old.url)
	if err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	otherAddr := other.Addr().String()
	other.Close()

	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	wait := payers(4, stop, func(int, int) bool {
		sent.Add(1)
		resp, err := hc.Get(old.url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
		return true
	})
	_, port, _ := net.SplitHostPort(u.Host)
	socket := filepath.Join(data, "handover", port+".sock")
	for range 3 {
		cmd := exec.Command(binary, "serve", "--data", t.TempDir(), "--addr", otherAddr, "--handover", socket)
		cmd.Env = append(os.Environ(), "PEAKWALLET_OPERATOR_KEY="+testOperatorKey)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "not on --addr "+otherAddr) {
			t.Fatalf("a start handed the listener of %s for --addr %s: %v\n%s", u.Host, otherAddr, err, out)
		}
	}
	close(stop)
	wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests to the old process failed while new ones refused its listener; first: %v", n, sent.Load(), firstErr.Load())
	}
	next := startServer(t, "--data", data, "--addr", u.Host)
	if len(next.log.await("took the listening socket over", 2*time.Second)) == 0 {
		t.Fatal("after the refusals, the binary on the old process's own address did not take its listener over")
	}
	stopServer(t, old)
	if _, err := hc.Get(next.url + "/healthz"); err != nil {
		t.Fatalf("the new process does not answer after the old one left: %v", err)
	}
	stopServer(t, next)
}
