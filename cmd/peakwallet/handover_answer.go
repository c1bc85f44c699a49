package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// The running process's side of a handover (handover.go has the new
// one's): the handover socket put in place, and the listener passed to
// the next binary that asks.

// serve puts this process's handover socket in place for the next binary,
// tells the process it took the listener from, if any, and answers on it
// until a handover or stop. Called once ln is this process's: nothing
// here fails the start, since the address is joined by now (a failure
// leaves the next upgrade to SO_REUSEPORT, and is logged).
func (h *handover) serve(ln net.Listener) {
	if h == nil {
		return
	}
	h.ln, _ = ln.(*net.TCPListener)
	if addr, ok := ln.Addr().(*net.TCPAddr); ok && h.byPort {
		h.path = filepath.Join(h.dir, strconv.Itoa(addr.Port)+".sock")
	}
	// rename replaces the old process's socket file at once: a binary
	// started at any moment finds one of the two answering.
	err := renameIntoPlace(h.dir, h.tmp, h.path)
	h.placed = err == nil
	if err != nil || h.ln == nil {
		h.log.Error("no handover socket: the next binary on this address will share it by SO_REUSEPORT", "handover", h.path, "err", err)
		h.next.Close()
		os.Remove(h.tmp)
		h.next = nil
	}
	if h.from != nil {
		if h.next != nil {
			h.from.SetDeadline(time.Now().Add(HandoverTimeout))
			h.from.Write([]byte(handoverTaken))
		}
		h.from.Close() // without "taken" the old process keeps answering on its socket
		h.from = nil
	}
	if h.next == nil {
		return
	}
	h.log.Info("answering on the handover socket: a new binary on this address takes the listener over there", "handover", h.path)
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		h.answer()
	}()
}

// answer passes the listener to each binary that asks, one at a time,
// until one says it has taken over (then this process stops answering:
// the handover socket is the new one's) or stop. It leaves the socket
// open, for stop to close: while it is open its file's inode, unlinked by
// the new process's rename, is not freed, and no later socket file can
// have its number when stop compares the file at path with own. Closed
// here, it was freed at the handover, and the next binary's socket, bound
// in the same directory, got the same number on ext4: the stop of the
// process before took it for its own and removed it
// (TestAnOldProcessRemovesNoLaterHandoverSocketOnItsInode).
func (h *handover) answer() {
	for {
		c, err := h.next.AcceptUnix()
		if err != nil {
			select {
			case <-h.closed:
			default:
				h.log.Error("the handover socket failed: the next binary on this address will share it by SO_REUSEPORT", "handover", h.path, "err", err)
			}
			return
		}
		select {
		case <-h.closed: // connected before stop removed the file: it listens afresh
			c.Close()
			return
		default:
		}
		taken := h.pass(c)
		c.Close()
		if taken {
			return
		}
	}
}

// pass gives the listener to the process on c, if it is this user's, and
// reports whether it took over.
func (h *handover) pass(c *net.UnixConn) bool {
	c.SetDeadline(time.Now().Add(HandoverTimeout))
	cred, err := peerOf(c)
	if err != nil {
		h.log.Warn("refused to pass the listener: who asks is unknown", "handover", h.path, "err", err)
		return false
	}
	if cred.uid != os.Getuid() {
		h.log.Warn("refused to pass the listener to a process of another user", "handover", h.path, "uid", cred.uid, "pid", cred.pid)
		return false
	}
	r := bufio.NewReader(c)
	if hello, err := r.ReadString('\n'); err != nil || hello != handoverHello {
		h.log.Warn("refused to pass the listener: not a handover request", "pid", cred.pid, "err", err)
		return false
	}
	raw, err := h.ln.SyscallConn()
	if err != nil {
		h.log.Error("cannot pass the listener", "err", err)
		return false
	}
	var werr error
	if err := raw.Control(func(fd uintptr) {
		_, _, werr = c.WriteMsgUnix([]byte("listener "+h.ln.Addr().String()+"\n"), syscall.UnixRights(int(fd)), nil)
	}); err != nil || werr != nil {
		h.log.Error("cannot pass the listener", "pid", cred.pid, "err", errors.Join(err, werr))
		return false
	}
	// The other process now shares the socket, and its queue: whatever
	// happens to it, closing its copy resets nothing while this one
	// serves.
	if ack, err := r.ReadString('\n'); err != nil || ack != handoverTaken {
		h.log.Warn("passed the listener, but the new process did not take over; still answering on the handover socket", "pid", cred.pid, "err", err)
		return false
	}
	h.log.Info("passed the listening socket to the new process; it answers the next handover", "pid", cred.pid)
	return true
}

// stop stops answering on the handover socket, as the process drains, and
// removes its file if it is still this process's: a binary started from
// now on listens afresh. The file is compared and removed before the
// socket is closed, so that its inode, if another file replaced it, is
// not yet free for a newer socket to have (answer).
func (h *handover) stop() {
	if h == nil {
		return
	}
	select {
	case <-h.closed:
		return
	default:
	}
	close(h.closed)
	if h.from != nil { // listen's caller failed before serve
		h.from.Close()
	}
	if h.next == nil {
		return
	}
	if h.placed {
		removeOwn(h.dir, h.path, h.own)
	}
	h.next.Close()
	h.done.Wait()
	if !h.placed {
		os.Remove(h.tmp)
	}
}

// testHookHandoverRemove, when set, runs in removeOwn between its check
// and its removal.
var testHookHandoverRemove func()

// removeOwn removes the socket file at path if it is still own, the one
// this process bound: under the directory's lock, which the rename of the
// next binary's socket into place takes too, so that a newer socket is
// never removed in its stead. Without the lock (another user holds it on
// a shared directory) the file is left: a stale socket answers nothing,
// and the next binary binds afresh and renames its own over it. A binary
// from before 2026-11-29 renames without the lock: against it, the window
// between the check and the removal remains.
func removeOwn(dir, path string, own os.FileInfo) {
	unlock, ok := lockDir(dir)
	if !ok {
		return
	}
	defer unlock()
	if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, own) {
		if testHookHandoverRemove != nil {
			testHookHandoverRemove()
		}
		os.Remove(path)
	}
}

// renameIntoPlace renames the socket file from to to, under dir's lock
// (removeOwn), or without it when it is not had: the rename itself is
// atomic, and only a stopping process's removal could then race it.
func renameIntoPlace(dir, from, to string) error {
	unlock, _ := lockDir(dir)
	defer unlock()
	return os.Rename(from, to)
}
