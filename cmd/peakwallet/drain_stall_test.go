package main_test

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/internal/faultproxy"
	"github.com/peakwallet/peakwallet/internal/pgtest"
)

// TestADrainDuringAPostgresStallEnds: PostgreSQL stalls (sockets open, no
// answers; a hung or paused database), a browser reads the incidents, and
// the operator sends SIGTERM: in-flight requests finish (the public one
// within its deadline) and the process exits 0. Until 2026-11-27 the
// public route had no deadline, the drain could not finish, and after its
// 30 s the store's close waited for the stalled request's connection: the
// process hung for as long as the stall lasted (found in review).
func TestADrainDuringAPostgresStallEnds(t *testing.T) {
	proxy, dsn := faultproxy.ForPostgres(t, pgtest.NewDatabase(t))
	s := startServer(t, "--postgres", dsn, "--data", t.TempDir(), "--log-level", "info")
	t.Cleanup(proxy.Restore)

	proxy.Stall()
	started := make(chan struct{})
	go func() {
		close(started)
		c := &http.Client{Timeout: 120 * time.Second}
		if resp, err := c.Get(s.url + "/v1/incidents"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-started
	time.Sleep(500 * time.Millisecond) // the request is in flight
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case err := <-s.exited:
		took := time.Since(sent)
		t.Logf("exited after %v: %v", took.Round(time.Millisecond), err)
		// The stalled request's deadline (5 s), the last traffic flush
		// (5 s) and the store's close (StoreCloseTimeout, 5 s), with a
		// margin: 19.5 s before the store's close was bounded.
		if took > 18*time.Second {
			t.Errorf("SIGTERM during a PostgreSQL stall: the process took %v to exit", took.Round(time.Millisecond))
		}
		if err != nil {
			t.Fatalf("SIGTERM during a PostgreSQL stall: the process exited with %v after %v, not 0", err, time.Since(sent).Round(time.Millisecond))
		}
	case <-time.After(45 * time.Second):
		if testing.Verbose() {
			_ = s.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump to the log
			<-s.exited
		}
		t.Fatalf("SIGTERM during a PostgreSQL stall: the process had not exited %v later (drain bound: 30 s)", time.Since(sent).Round(time.Millisecond))
	}
}
