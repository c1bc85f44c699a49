package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A binary handover passes the listening socket itself from the running
// serve to the one taking over (ADR 0039): one socket, one accept queue,
// which the old process never closes while connections wait in it. With
// SO_REUSEPORT alone each process had its own queue, and the connections
// the kernel had queued on the old one were reset when it closed.
//
// The exchange, over the handover socket (a Unix socket of the running
// process; the new one connects):
//
//	new → old  handoverHello
//	old → new  "listener ADDR\n", with the listening socket (SCM_RIGHTS)
//	new → old  handoverTaken, once the new one holds the handover socket
//
// The new process checks that it was given a listener on its --addr, binds
// its own handover socket for the next upgrade, and says so; the old one
// then stops answering on it, and serves on until it is told to drain.
const (
	// HandoverDir holds the default handover sockets, in the data
	// directory; private (0700), since whoever connects to a handover
	// socket is given the listening socket.
	HandoverDir = "handover"
	// HandoverTimeout bounds each side's wait in one exchange.
	HandoverTimeout = 5 * time.Second
	// handoverTmpAgeMin: a temporary handover socket is removed at
	// start once older than this, if its process is gone. A process's
	// lives from its bind to its rename, within its start: an exchange
	// or two (HandoverTimeout each) and the resolution of --addr's host.
	handoverTmpAgeMin = 10 * time.Minute
	// unixPathBytesMax is what a Unix socket's path may hold on Linux
	// (sun_path, 108 bytes with its NUL).
	unixPathBytesMax = 107

	handoverHello = "peakwallet handover 1\n"
	handoverTaken = "taken\n"
)

// handoverOOBBytes is room for the one descriptor a handover passes
// (aligned, room for two on 64-bit Linux): the kernel installs no more
// than fit, and says it cut the rest (MSG_CTRUNC).
var handoverOOBBytes = syscall.CmsgSpace(4)

// handover is one serve's side of the handover socket: it takes the
// listening socket from a running process, or binds it, and then answers
// the next binary on the address.
type handover struct {
	path   string // the handover socket
	byPort bool   // path is the default, named after the port: the bound one when --addr's is 0
	dir    string // its directory, where next was bound
	log    *slog.Logger
	next   *net.UnixListener // bound at tmp until the listener is ours, then renamed to path
	tmp    string
	from   *net.UnixConn    // the process that passed us the listener, until told "taken"
	ln     *net.TCPListener // the listener served, passed on to the next binary
	own    os.FileInfo      // the socket file this process bound, at tmp, then at path
	placed bool             // own was renamed to path
	closed chan struct{}    // closed by stop
	done   sync.WaitGroup
}

// handoverPath is the handover socket's path for --handover value and a
// port: the value itself, or the default DATA/handover/PORT.sock; "" when
// handovers are off.
func handoverPath(value, dataDir string, port int) string {
	switch value {
	case "off":
		return ""
	case "":
		return filepath.Join(dataDir, HandoverDir, strconv.Itoa(port)+".sock")
	}
	return value
}

// prepareHandover does what can fail on this process's side before it
// joins the address: it makes sure the handover directory is private and
// binds the socket for the next binary at a temporary name, which serve
// renames into place once the listener is ours. A nil handover (value
// "off", or a system other than Linux) listens as before.
func prepareHandover(value, dataDir, addr string, log *slog.Logger) (*handover, error) {
	if value == "off" || !handoverSupported {
		return nil, nil
	}
	port, err := addrPort(addr)
	if err != nil {
		return nil, err
	}
	h := &handover{path: handoverPath(value, dataDir, port), byPort: value == "", log: log, closed: make(chan struct{})}
	h.dir = filepath.Dir(h.path)
	if value == "" {
		err = privateDir(h.dir) // made, and this user's alone
	} else {
		err = sharedDirCheck(h.path) // wherever the operator put it
	}
	if err != nil {
		return nil, err
	}
	// Named by pid, and at random: a process of another pid namespace
	// on the same directory may have this pid.
	h.tmp = filepath.Join(h.dir, fmt.Sprintf(".%d.%08x.new", os.Getpid(), rand.Uint32()))
	// The path is named after port 65535 when the port is left to the
	// kernel: the longest it can be. A default path too long, in a data
	// directory deep down, leaves the process without a handover socket
	// rather than failing a start that worked before there was one.
	for _, p := range []string{handoverPath(value, dataDir, 65535), h.tmp} {
		if len(p) <= unixPathBytesMax {
			continue
		}
		if value == "" {
			log.Warn("no handover socket: its path in the data directory would be longer than a Unix socket's may be; a new binary on this address will join it by SO_REUSEPORT (give --handover a shorter path)",
				"handover", p, "bytes_max", unixPathBytesMax)
			return nil, nil
		}
		return nil, fmt.Errorf("the handover socket %s is longer than a Unix socket's path may be (%d bytes): give --handover a shorter path, or off", p, unixPathBytesMax)
	}
	removeStaleTmp(h.dir, time.Now(), log)
	h.next, err = net.ListenUnix("unix", &net.UnixAddr{Name: h.tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("binding the handover socket: %w", err)
	}
	// The file is renamed, and later maybe replaced by the next binary's:
	// it is removed here only while it is still this process's.
	h.next.SetUnlinkOnClose(false)
	if err := os.Chmod(h.tmp, 0o600); err != nil {
		h.next.Close()
		os.Remove(h.tmp)
		return nil, fmt.Errorf("making the handover socket private: %w", err)
	}
	// What is at path is this process's while it is this file (stop):
	// the name is this process's alone, in a directory no other user can
	// write, or a sticky one.
	if h.own, err = os.Lstat(h.tmp); err != nil {
		h.next.Close()
		os.Remove(h.tmp)
		return nil, fmt.Errorf("the handover socket: %w", err)
	}
	return h, nil
}

// listen returns the listener to serve: the running process's, passed
// through the handover socket, or, when none answers there, one bound to
// addr as before (with SO_REUSEPORT when reusePort).
func (h *handover) listen(ctx context.Context, addr string, reusePort bool) (net.Listener, error) {
	if h != nil {
		if port, _ := addrPort(addr); port != 0 { // port 0: a new port, nothing to take over
			ln, err := h.receive(ctx, addr)
			if err != nil || ln != nil {
				return ln, err
			}
		}
	}
	ln, err := listen(ctx, addr, reusePort)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln, nil
}

// receive asks the process on the handover socket for its listener: nil
// and no error when none answers (no socket file, a stale one, a process
// that declines because it drains).
func (h *handover) receive(ctx context.Context, addr string) (net.Listener, error) {
	d := net.Dialer{Timeout: HandoverTimeout}
	c, err := d.DialContext(ctx, "unix", h.path)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		h.log.Debug("no process answers on the handover socket; listening afresh", "handover", h.path, "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the handover socket %s: %w (another user's? --handover off listens without it)", h.path, err)
	}
	uc := c.(*net.UnixConn)
	// Whoever answers gives this process the socket it will serve on:
	// it must be this user's process, as the old one checks the new one.
	p, err := peerOf(uc)
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("who answers on the handover socket %s: %w", h.path, err)
	}
	if p.uid != os.Getuid() {
		uc.Close()
		return nil, fmt.Errorf("the handover socket %s is answered by a process of user %d, not of this one (%d): --handover off listens without it", h.path, p.uid, os.Getuid())
	}
	uc.SetDeadline(time.Now().Add(HandoverTimeout))
	if _, err := uc.Write([]byte(handoverHello)); err != nil {
		uc.Close()
		return nil, fmt.Errorf("asking for the listener on %s: %w", h.path, err)
	}
	msg, oob := make([]byte, 512), make([]byte, handoverOOBBytes)
	n, oobn, flags, _, err := uc.ReadMsgUnix(msg, oob)
	if err != nil || n == 0 {
		fds, _ := rightsIn(oob[:oobn])
		closeAll(fds)
		uc.Close()
		h.log.Info("the process on the handover socket gave no listener; listening afresh", "handover", h.path, "err", err)
		return nil, nil
	}
	ln, err := listenerFrom(msg[:n], oob[:oobn], flags)
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("the listener passed on %s: %w", h.path, err)
	}
	// Refused when it is not the address asked for: serving another
	// instance's address, or an address this one was not asked to take,
	// is a mistake in the setup, not something to work around.
	if err := sameAddr(ctx, addr, ln.Addr().(*net.TCPAddr)); err != nil {
		ln.Close() // the old process keeps serving on its own copy
		uc.Close()
		return nil, fmt.Errorf("the process on the handover socket %s %w; give each instance its own --handover", h.path, err)
	}
	h.from = uc
	h.log.Info("took the listening socket over from the running process", "addr", ln.Addr().String(), "handover", h.path)
	return ln, nil
}

// listenerFrom is the TCP listener passed in one message. Every
// descriptor that arrived is closed but the one returned: a message cut
// short (MSG_CTRUNC; the kernel installs the descriptors that fit), with
// more than one, or malformed is refused whole.
func listenerFrom(msg, oob []byte, flags int) (*net.TCPListener, error) {
	fds, err := rightsIn(oob)
	if err == nil && flags&syscall.MSG_CTRUNC != 0 {
		err = fmt.Errorf("the control message was cut short (%d descriptors read)", len(fds))
	}
	if err == nil && len(fds) != 1 {
		err = fmt.Errorf("%d descriptors with %q, want one", len(fds), msg)
	}
	if err != nil {
		closeAll(fds)
		return nil, err
	}
	f := os.NewFile(uintptr(fds[0]), "handed-over listener")
	defer f.Close() // FileListener holds a copy
	l, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	tl, ok := l.(*net.TCPListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("a %s socket, not a TCP listener", l.Addr().Network())
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		tl.Close()
		return nil, err
	}
	accepting, serr := 0, error(nil)
	if err := raw.Control(func(fd uintptr) {
		accepting, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	}); err != nil || serr != nil {
		tl.Close()
		return nil, fmt.Errorf("SO_ACCEPTCONN: %w", errors.Join(err, serr))
	}
	if accepting == 0 {
		tl.Close()
		return nil, errors.New("the socket passed is not listening")
	}
	return tl, nil
}

// rightsIn is every descriptor passed in oob (SCM_RIGHTS), those before a
// malformed control message too: the caller closes them.
func rightsIn(oob []byte) ([]int, error) {
	var fds []int
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return fds, fmt.Errorf("a malformed control message: %w", err)
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_RIGHTS {
			for ; len(data) >= 4; data = data[4:] {
				fds = append(fds, int(int32(binary.NativeEndian.Uint32(data))))
			}
		}
		oob = rest
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// addrPort is the port of a --addr value.
func addrPort(addr string) (int, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("--addr %s: %w", addr, err)
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return 0, fmt.Errorf("--addr %s: %w", addr, err)
	}
	return p, nil
}

// sameAddr says how got is not the address want names, if it is not: the
// port, and the host's IP (any of a name's; for no host or a wildcard,
// a wildcard: Go listens on both families for either).
func sameAddr(ctx context.Context, want string, got *net.TCPAddr) error {
	host, _, err := net.SplitHostPort(want)
	if err != nil {
		return err
	}
	port, err := addrPort(want)
	if err != nil {
		return err
	}
	mismatch := fmt.Errorf("listens on %s, not on --addr %s", got, want)
	if got.Port != port {
		return mismatch
	}
	if host == "" {
		if got.IP.IsUnspecified() {
			return nil
		}
		return mismatch
	}
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return fmt.Errorf("cannot resolve --addr %s to compare it with the listener on %s: %w", want, got, err)
		}
		ips = ips[:0]
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	for _, ip := range ips {
		if ip.Equal(got.IP) || ip.IsUnspecified() && got.IP.IsUnspecified() {
			return nil
		}
	}
	return mismatch
}
