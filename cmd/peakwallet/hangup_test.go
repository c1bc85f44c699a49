package main_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAHangupDrainsAsATerminateDoes: the terminal or SSH session that
// started serve goes away and the kernel sends SIGHUP. Until 2026-11-29 that
// killed the process at once (Go's default for an unhandled SIGHUP): the
// requests in flight were cut and their clients left not knowing whether
// they had paid. Now it drains as SIGTERM does and exits 0.
func TestAHangupDrainsAsATerminateDoes(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--log-level", "info")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("after SIGHUP the process exited with %v, not 0 after a drain", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("after SIGHUP the process had not exited 40 s later (drain bound: 30 s)")
	}
	if len(s.log.containing("draining in-flight requests")) == 0 || len(s.log.containing("stopped cleanly")) == 0 {
		t.Error("after SIGHUP the process did not log a drain and a clean stop")
	}
}

// TestAServerStartedUnderNohupOutlivesTheHangup: a SIGHUP ignored when serve
// starts (nohup, or a supervisor that ignores it) stays ignored, so the
// server its operator asked to outlive the session does.
func TestAServerStartedUnderNohupOutlivesTheHangup(t *testing.T) {
	// Under nohup itself: ignoring SIGHUP in this process for the child to
	// inherit would outlast signal.Reset (Go leaves an ignored SIGHUP
	// ignored), and the servers of the tests after it would start with
	// SIGHUP ignored too.
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Fatalf("nohup: %v", err)
	}
	s := startServerCmd(t, exec.Command(nohup, binary, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "info"))

	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		t.Fatalf("a server started with SIGHUP ignored exited on SIGHUP: %v", err)
	case <-time.After(time.Second):
	}
	if err := s.client.Ready(context.Background()); err != nil {
		t.Fatalf("a server started with SIGHUP ignored is not ready after SIGHUP: %v", err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-s.exited; err != nil {
		t.Fatalf("SIGTERM after an ignored SIGHUP: exited with %v, not 0", err)
	}
}

// TestASecondHangupDoesNotCutTheDrain: a hang-up may deliver SIGHUP twice
// (the kernel's, and the shell's passing it on to its jobs). The first
// begins the drain; the second must not stop the process mid-drain, as a
// second SIGTERM does on purpose. Here a request is in flight (its body
// trickles in, due by its deadline) when both come: the process still
// drains and exits 0.
func TestASecondHangupDoesNotCutTheDrain(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--log-level", "info")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"from_account":"`
	fmt.Fprintf(conn, "POST /v1/holds HTTP/1.1\r\nHost: peakwallet\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nIdempotency-Key: slow\r\nContent-Length: %d\r\n\r\n%s", testOperatorKey, 10*len(body), body)
	time.Sleep(300 * time.Millisecond) // in flight, reading its body
	for range 2 {
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("after two SIGHUPs during a drain the process exited with %v, not 0", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("after two SIGHUPs the process had not exited 40 s later")
	}
	if len(s.log.containing("stopped cleanly")) == 0 {
		t.Error("after two SIGHUPs the process did not log a clean stop")
	}
}
