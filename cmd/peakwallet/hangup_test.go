package main_test

import (
	"context"
	"os/signal"
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
	// Ignored dispositions are inherited across exec, as nohup does it.
	signal.Ignore(syscall.SIGHUP)
	s := startServer(t, "--data", t.TempDir(), "--log-level", "info")
	signal.Reset(syscall.SIGHUP)

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
