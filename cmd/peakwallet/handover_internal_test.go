package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	addr := freeAddr(t)
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

// TestAStaleTemporaryHandoverSocketIsRemoved: a process killed between
// binding its temporary handover socket and renaming it into place leaves
// the file; the next start in the directory removes those of processes
// that are gone (or of its own pid: a restarted container's pid 1), once
// older than handoverTmpAgeMin, and no other: not a live process's, not
// a recent one (a process of another pid namespace may be starting), not
// the handover socket itself. Until 2026-11-29 only the file of the
// starting process's own pid was removed, at once, whoever's it was: a
// process of another pid namespace with that pid lost its socket.
func TestAStaleTemporaryHandoverSocketIsRemoved(t *testing.T) {
	if !handoverSupported {
		t.Skip("handovers are Linux's")
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead, live, own := gone.ProcessState.Pid(), os.Getppid(), os.Getpid()
	data := t.TempDir()
	dir := filepath.Join(data, HandoverDir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * handoverTmpAgeMin)
	files := []struct {
		name    string
		mtime   time.Time
		removed bool
	}{
		{fmt.Sprintf(".%d.1a2b3c4d.new", dead), old, true},
		{fmt.Sprintf(".%d.new", dead), old, true}, // as named before 2026-11-29
		{fmt.Sprintf(".%d.5e6f7a8b.new", own), old, true},
		{fmt.Sprintf(".%d.9c0d1e2f.new", dead), time.Now(), false},
		{fmt.Sprintf(".%d.3a4b5c6d.new", live), old, false},
		{"8080.sock", old, false},
	}
	for _, f := range files {
		bindStale(t, filepath.Join(dir, f.name))
		if err := os.Chtimes(filepath.Join(dir, f.name), f.mtime, f.mtime); err != nil {
			t.Fatal(err)
		}
	}
	// A live socket of a process of another pid namespace, with this
	// process's pid and the name it had before 2026-11-29.
	sameName := filepath.Join(dir, fmt.Sprintf(".%d.new", own))
	other, err := net.ListenUnix("unix", &net.UnixAddr{Name: sameName, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherFile, err := os.Stat(sameName)
	if err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := prepareHandover("", data, "127.0.0.1:8080", log)
	if err != nil {
		t.Fatal(err)
	}
	defer h.stop()
	for _, f := range files {
		_, err := os.Lstat(filepath.Join(dir, f.name))
		if removed := errors.Is(err, fs.ErrNotExist); removed != f.removed {
			t.Errorf("%s (%s old): removed %v, want %v", f.name, time.Since(f.mtime).Round(time.Minute), removed, f.removed)
		}
	}
	if fi, err := os.Stat(sameName); err != nil || !os.SameFile(fi, otherFile) {
		t.Errorf("the live socket %s of another process with this pid was removed or replaced (%v)", sameName, err)
	}
}

// bindStale leaves a socket file at path that nothing answers on, as a
// killed process does.
func bindStale(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
}

// wantRefused checks err, a path check's answer for case c: none when
// refused is "", else an error with refused and path in it.
func wantRefused(t *testing.T, c any, err error, refused, path string) {
	t.Helper()
	switch {
	case refused == "" && err != nil:
		t.Errorf("%+v: refused (%v), want taken", c, err)
	case refused != "" && (err == nil || !strings.Contains(err.Error(), refused) || !strings.Contains(err.Error(), path)):
		t.Errorf("%+v: %v, want refused with %q and the path", c, err, refused)
	}
}

// TestAHandoverPathOthersCanBlockIsRefused: a --handover path where
// another user could remove or replace the socket, or has put a file this
// process cannot replace, is refused at start, with the path named: the
// next upgrade would otherwise fall back to SO_REUSEPORT, or fail on the
// other user's socket. A directory of this user's (or root's) that only
// they can write is fine, and so is a sticky one such as /tmp while the
// path is free or this user's. Until 2026-11-29 any directory was taken.
func TestAHandoverPathOthersCanBlockIsRefused(t *testing.T) {
	if !handoverSupported {
		t.Skip("handovers are Linux's")
	}
	const me, other, none = 1000, 1001, -1
	sticky := fs.ModeDir | fs.ModeSticky
	for _, c := range []struct {
		dirUID  int
		dirMode fs.FileMode
		fileUID int
		uid     int
		refused string // in the error; "" when taken
	}{
		{me, fs.ModeDir | 0o700, none, me, ""},
		{me, fs.ModeDir | 0o755, other, me, ""}, // this user's directory: the file is replaced
		{0, fs.ModeDir | 0o755, none, 0, ""},
		{0, sticky | 0o777, none, me, ""},
		{0, sticky | 0o777, me, me, ""},
		{0, sticky | 0o777, other, 0, ""}, // root replaces any file
		{me, sticky | 0o777, other, me, ""},
		{me, fs.ModeDir | 0o777, none, me, "writable by other users"},
		{me, fs.ModeDir | 0o770, none, me, "writable by other users"},
		{0, fs.ModeDir | 0o775, none, me, "writable by other users"},
		{other, fs.ModeDir | 0o755, none, me, "user 1001's"},
		{other, sticky | 0o777, me, me, "user 1001's"},
		{0, sticky | 0o777, other, me, "exists and is user 1001's"},
		{0, sticky | 0o777, 0, me, "exists and is user 0's"},
	} {
		wantRefused(t, c, handoverDirSafe("/d/h.sock", c.dirUID, c.dirMode, c.fileUID, c.uid), c.refused, "/d/h.sock")
	}

	// The same at start, on a directory anyone can write.
	dir := t.TempDir()
	path := filepath.Join(dir, "h.sock")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for mode, ok := range map[fs.FileMode]bool{0o777: false, 0o777 | fs.ModeSticky: true, 0o700: true} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		h, err := prepareHandover(path, t.TempDir(), "127.0.0.1:8080", log)
		if (err == nil) != ok {
			t.Errorf("--handover in a directory of mode %s: %v, want taken %v", mode, err, ok)
		}
		h.stop()
	}
}

// TestAHandoverPathBelowADirectoryOthersCanWriteIsRefused: not only the
// socket's own directory, but every one above it, on the path as given
// and on the one its symbolic links lead to: a directory another user
// owns, or may write without the sticky bit, lets them move the socket's
// directory away and put one of theirs in its place, which blocks the
// next upgrade as removing the socket would. Until 2026-11-29 only the
// socket's own directory was looked at.
func TestAHandoverPathBelowADirectoryOthersCanWriteIsRefused(t *testing.T) {
	if !handoverSupported {
		t.Skip("handovers are Linux's")
	}
	const me, other = 1000, 1001
	sticky := fs.ModeDir | fs.ModeSticky
	for _, c := range []struct {
		parentUID  int
		parentMode fs.FileMode
		childUID   int
		uid        int
		refused    string // in the error; "" when taken
	}{
		{0, fs.ModeDir | 0o755, me, me, ""},
		{me, fs.ModeDir | 0o755, me, me, ""},
		{me, fs.ModeDir | 0o700, 0, me, ""},
		{0, sticky | 0o777, me, me, ""},     // /tmp/mine
		{0, sticky | 0o777, 0, me, ""},      // /tmp/root's
		{me, sticky | 0o777, other, me, ""}, // this user's sticky directory: theirs cannot stay
		{other, fs.ModeDir | 0o755, me, me, "is user 1001's"},
		{me, fs.ModeDir | 0o777, me, me, "writable by other users"},
		{0, fs.ModeDir | 0o775, me, me, "writable by other users"},
		{0, sticky | 0o777, other, me, "/d/x is user 1001's, in the sticky directory"},
	} {
		wantRefused(t, c, ancestorSafe("/d/x/h.sock", "/d/x", c.parentUID, c.parentMode, c.childUID, c.uid), c.refused, "/d/x/h.sock")
	}

	// At start: a private directory below one anyone can write, given
	// directly and through a symbolic link kept elsewhere.
	shared := t.TempDir()
	sub := filepath.Join(shared, "private")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(sub, link); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for mode, ok := range map[fs.FileMode]bool{0o777: false, 0o777 | fs.ModeSticky: true, 0o755: true} {
		if err := os.Chmod(shared, mode); err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{sub, link} {
			h, err := prepareHandover(filepath.Join(dir, "h.sock"), t.TempDir(), "127.0.0.1:8080", log)
			if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), shared)) {
				t.Errorf("--handover in %s, below a directory of mode %s: %v, want taken %v (refused naming %s)", dir, mode, err, ok, shared)
			}
			h.stop()
		}
	}
}

// TestAStoppingProcessRemovesNoNewerHandoverSocket: a process that stops
// removes its handover socket file only if it is still its own, and a
// newer process's socket renamed into place between its check and its
// removal is not removed in its stead (the stop holds the directory's
// lock, which the rename into place takes too). Until 2026-11-29 it was,
// and that process answered no binary after it.
func TestAStoppingProcessRemovesNoNewerHandoverSocket(t *testing.T) {
	if !handoverSupported {
		t.Skip("handovers are Linux's")
	}
	data := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := prepareHandover("", data, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := h.listen(context.Background(), "127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h.serve(ln)

	newer := filepath.Join(h.dir, ".newer.new")
	bindStale(t, newer)
	newerFile, err := os.Lstat(newer)
	if err != nil {
		t.Fatal(err)
	}
	renamed := make(chan error, 1)
	testHookHandoverRemove = func() {
		go func() { renamed <- renameIntoPlace(h.dir, newer, h.path) }()
		select { // the rename lands here, unless it waits for the stop
		case err := <-renamed:
			renamed <- err
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer func() { testHookHandoverRemove = nil }()
	h.stop()
	if err := <-renamed; err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(h.path); err != nil || !os.SameFile(fi, newerFile) {
		t.Fatalf("the newer socket renamed to %s as the process stopped is gone (%v)", h.path, err)
	}
}

// TestAnOldProcessRemovesNoLaterHandoverSocketOnItsInode: a process that
// passed its listener closed its handover socket at once, and the file's
// inode, unlinked by the new process's rename, was freed; the next
// binary's temporary socket, bound meanwhile, may get the same inode
// number (ext4 gives the one just freed), and once renamed into place
// looked to the old process's stop like its own: stop removed it, and
// the binary after it found no socket. Two upgrades before the first old
// process is told to stop are enough.
func TestAnOldProcessRemovesNoLaterHandoverSocketOnItsInode(t *testing.T) {
	if !handoverSupported {
		t.Skip("handovers are Linux's")
	}
	data := t.TempDir()
	addr := freeAddr(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(name string) *handover {
		t.Helper()
		h, err := prepareHandover("", data, addr, log)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ln, err := h.listen(context.Background(), addr, true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { ln.Close() })
		h.serve(ln)
		t.Cleanup(h.stop)
		return h
	}
	first := start("first")
	start("second")   // takes over from the first, answers the third
	first.done.Wait() // the first's answer ended with "taken"
	third := start("third")
	thirds, err := os.Lstat(third.path)
	if err != nil || !os.SameFile(thirds, third.own) {
		t.Fatalf("the third process's socket is not in place: %v", err)
	}
	first.stop()
	if fi, err := os.Lstat(third.path); err != nil || !os.SameFile(fi, thirds) {
		t.Fatalf("the first process's stop removed the third's handover socket %s (%v); same inode as the first's own: %v",
			third.path, err, os.SameFile(thirds, first.own))
	}
}

// freeAddr is a loopback address with a port nothing listened on a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer free.Close()
	return free.Addr().String()
}
