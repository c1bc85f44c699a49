//go:build linux

package main

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestARefusedHandoverMessageLeavesNoDescriptorOpen: a handover message
// that is refused leaves no descriptor open in the new process, whether
// it was cut short (MSG_CTRUNC: more descriptors than receive has room
// for; the kernel installs those that fit), carried more than one, or carried a
// control message besides. Each case passes the write end of a pipe: the
// read end sees EOF only once every copy of it is closed. Until
// 2026-11-29 a message cut short, or one with a control message that is
// not SCM_RIGHTS after the descriptors, left them open.
func TestARefusedHandoverMessageLeavesNoDescriptorOpen(t *testing.T) {
	for _, c := range []struct {
		name     string
		fds      int // copies of the pipe's write end sent
		extra    []byte
		oobBytes int
	}{
		// Room for one descriptor is, aligned, room for two on 64-bit
		// Linux: three are cut short.
		{"cut short", 3, nil, handoverOOBBytes},
		{"two descriptors", 2, nil, syscall.CmsgSpace(8)},
		{"another control message after", 1, syscall.UnixCredentials(&syscall.Ucred{}), syscall.CmsgSpace(4) + syscall.CmsgSpace(syscall.SizeofUcred)},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			fds := make([]int, c.fds)
			for i := range fds {
				fds[i] = int(w.Fd())
			}
			send, recv := unixPair(t)
			if _, _, err := send.WriteMsgUnix([]byte("listener 127.0.0.1:1\n"), syscall.UnixRights(fds...), nil); err != nil {
				t.Fatal(err)
			}
			w.Close()
			msg, oob := make([]byte, 512), make([]byte, c.oobBytes)
			n, oobn, flags, _, err := recv.ReadMsgUnix(msg, oob)
			if err != nil {
				t.Fatal(err)
			}
			// A control message the kernel would not deliver here: the
			// parse must not leave the descriptors before it open.
			oob = append(oob[:oobn], c.extra...)
			if ln, err := listenerFrom(msg[:n], oob, flags); err == nil {
				ln.Close()
				t.Fatal("a pipe was taken for a listener")
			}
			r.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Fatalf("the pipe's write end is still open in this process after the message was refused: read %v, want EOF", err)
			}
		})
	}
}

// unixPair is a connected pair of Unix stream sockets.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c.(*net.UnixConn)
	}
	return conns[0], conns[1]
}
