//go:build !linux

package main

import (
	"errors"
	"net"
)

// handoverSupported: elsewhere than on Linux a handover socket could not
// tell who asks for the listening socket, so there is none, and a new
// binary joins the address by SO_REUSEPORT. peakwallet is built and run
// on Linux.
const handoverSupported = false

type peer struct{ uid, pid int }

func peerOf(*net.UnixConn) (peer, error) {
	return peer{}, errors.New("who is at the other end of a Unix socket is known on Linux only")
}
