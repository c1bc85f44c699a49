package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAHandedOverListenerIsCheckedAgainstTheAddress: the listener a new
// process is given must be on its --addr: the port, and the host's IP or,
// for no host or a wildcard, a wildcard (Go listens on both families for
// either).
func TestAHandedOverListenerIsCheckedAgainstTheAddress(t *testing.T) {
	for _, c := range []struct {
		want string
		got  net.TCPAddr
		ok   bool
	}{
		{"127.0.0.1:8080", net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, true},
		{"127.0.0.1:8080", net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}, false},
		{"127.0.0.1:8080", net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 8080}, false},
		{"127.0.0.1:8080", net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, false},
		{":8080", net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, true},
		{"0.0.0.0:8080", net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, true},
		{":8080", net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, false},
		{"[::1]:8080", net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, true},
		{"localhost:8080", net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, true},
		{"localhost:http", net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, true},
	} {
		err := sameAddr(context.Background(), c.want, &c.got)
		if (err == nil) != c.ok {
			t.Errorf("--addr %s given a listener on %s: %v, want accepted %v", c.want, &c.got, err, c.ok)
		}
	}
}

// TestAStaleHandoverSocketIsReplaced: a socket file left by a process that
// is gone (killed) answers nothing: the new process binds the address
// itself, and puts its own socket in place of the stale one, in a
// directory of this user's alone (0700, the socket 0600), tightened if an
// operator loosened it.
func TestAStaleHandoverSocketIsReplaced(t *testing.T) {
	if !handoverSupported {
		t.Skip("handovers are Linux's")
	}
	data := t.TempDir()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	port, _ := addrPort(addr)
	path := handoverPath("", data, port)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := prepareHandover("", data, addr, log)
	if err != nil {
		t.Fatal(err)
	}
	defer h.stop()
	ln, err := h.listen(context.Background(), addr, true)
	if err != nil {
		t.Fatalf("beside a stale handover socket: %v", err)
	}
	defer ln.Close()
	h.serve(ln)
	if ln.Addr().String() != addr {
		t.Fatalf("listening on %s, want %s", ln.Addr(), addr)
	}
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", p, fi.Mode().Perm(), want)
		}
	}

	// The socket in place now answers, with this listener.
	next, err := prepareHandover("", data, addr, log)
	if err != nil {
		t.Fatal(err)
	}
	defer next.stop()
	got, err := next.receive(context.Background(), addr)
	if err != nil || got == nil {
		t.Fatalf("the socket put in place of the stale one gave %v, %v", got, err)
	}
	defer got.Close()
	if got.Addr().String() != addr {
		t.Fatalf("handed a listener on %s, want %s", got.Addr(), addr)
	}
}

// TestAHandoverSocketPathTooLongIsSaid: a data directory so deep that the
// default socket's path would not fit a Unix socket (107 bytes) leaves the
// process without one, as before there was any, and a --handover path
// that long is refused at start.
func TestAHandoverSocketPathTooLongIsSaid(t *testing.T) {
	if !handoverSupported {
		t.Skip("handovers are Linux's")
	}
	deep := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := prepareHandover("", deep, "127.0.0.1:8080", log)
	if err != nil || h != nil {
		t.Fatalf("in a data directory too deep: %v, %v; want no handover socket and no error", h, err)
	}
	if _, err := prepareHandover(filepath.Join(deep, "h.sock"), deep, "127.0.0.1:8080", log); err == nil || !strings.Contains(err.Error(), "107 bytes") {
		t.Fatalf("a --handover path too long: %v, want it refused", err)
	}
}
