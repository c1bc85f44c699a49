package main

import (
	"net"

	"golang.org/x/sys/unix"
)

// handoverSupported: a handover needs to know who is at the other end of
// the handover socket (SO_PEERCRED), which is Linux's.
const handoverSupported = true

// peer is the process at the other end of a Unix socket.
type peer struct{ uid, pid int }

// peerOf is who is at the other end of c, as the kernel says.
func peerOf(c *net.UnixConn) (peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peer{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peer{}, err
	}
	if cerr != nil {
		return peer{}, cerr
	}
	return peer{uid: int(cred.Uid), pid: int(cred.Pid)}, nil
}
