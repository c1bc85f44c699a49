package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The handover socket's directory (ADR 0039): who may write there, and
// what killed processes left in it.

// privateDir makes dir, or checks that it is this user's, and leaves it
// accessible to this user alone.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making the handover directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is not a directory of this user's: the handover socket, which gives away the listening socket, cannot be kept private there", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("making the handover directory private: %w", err)
		}
	}
	return nil
}

// sharedDirCheck refuses a --handover path that another user could
// block (handoverDirSafe).
func sharedDirCheck(path string) error {
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--handover %s: %w", path, err)
	}
	dst, ok := di.Sys().(*syscall.Stat_t)
	if !di.IsDir() || !ok {
		return fmt.Errorf("--handover %s: %s is not a directory", path, dir)
	}
	fileUID := -1
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		fileUID = int(fi.Sys().(*syscall.Stat_t).Uid)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--handover %s: %w", path, err)
	}
	if err := handoverDirSafe(path, int(dst.Uid), di.Mode(), fileUID, os.Getuid()); err != nil {
		return err
	}
	// The directories above it, on the path as given and on the one its
	// symbolic links lead to (each may run through directories of others).
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("--handover %s: %w", path, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("--handover %s: %w", path, err)
	}
	for _, d := range []string{abs, real} {
		for child, parent := d, filepath.Dir(d); child != parent; child, parent = parent, filepath.Dir(parent) {
			ci, err := os.Lstat(child)
			if err != nil {
				return fmt.Errorf("--handover %s: %w", path, err)
			}
			pi, err := os.Stat(parent)
			if err != nil {
				return fmt.Errorf("--handover %s: %w", path, err)
			}
			cst, ok1 := ci.Sys().(*syscall.Stat_t)
			pst, ok2 := pi.Sys().(*syscall.Stat_t)
			if !ok1 || !ok2 {
				return fmt.Errorf("--handover %s: cannot tell who owns %s", path, child)
			}
			if err := ancestorSafe(path, child, int(pst.Uid), pi.Mode(), int(cst.Uid), os.Getuid()); err != nil {
				return err
			}
		}
	}
	return nil
}

// ancestorSafe says why another user than uid could move child, a
// directory on the way to the --handover path (or a symbolic link to
// one), away and put one of theirs in its place, which blocks the next
// upgrade as removing the socket would: its parent is theirs (not root's),
// or writable by others and not sticky, or sticky and child theirs.
// Until 2026-11-29 only the socket's own directory was looked at.
func ancestorSafe(path, child string, parentUID int, parentMode fs.FileMode, childUID, uid int) error {
	parent := filepath.Dir(child)
	if parentUID != uid && parentUID != 0 {
		return fmt.Errorf("--handover %s: %s is user %d's, who could move %s away and put a directory of theirs in its place, and so block the next upgrade: give a path whose directories are this user's (%d) or root's", path, parent, parentUID, child, uid)
	}
	sticky := parentMode&fs.ModeSticky != 0
	if parentMode.Perm()&0o022 != 0 && !sticky {
		return fmt.Errorf("--handover %s: %s is writable by other users (%s) and not sticky: any of them could move %s away and put a directory of theirs in its place, and so block the next upgrade; give a path whose directories only this user (or root) can write", path, parent, parentMode, child)
	}
	if sticky && childUID != uid && childUID != 0 && parentUID != uid {
		return fmt.Errorf("--handover %s: %s is user %d's, in the sticky directory %s: they could move it away and put a directory of theirs in its place, and so block the next upgrade; give a path whose directories are this user's (%d) or root's", path, child, childUID, parent, uid)
	}
	return nil
}

// handoverDirSafe says why a --handover path, in a directory of user
// dirUID and mode dirMode, where the path is user fileUID's (-1: free),
// could be blocked by a user other than uid: removed or replaced (the
// next binary finds no socket, or another user's, which it refuses), or
// held by a file that uid cannot replace when its socket is renamed
// there. The peer checks keep the listener from another user in any
// case; this keeps the upgrade from being blocked. Root may write any
// directory, and replaces any file.
func handoverDirSafe(path string, dirUID int, dirMode fs.FileMode, fileUID, uid int) error {
	dir := filepath.Dir(path)
	if dirUID != uid && dirUID != 0 {
		return fmt.Errorf("--handover %s: its directory %s is user %d's, who could remove or replace the socket there and so block the next upgrade: give a path in a directory of this user's (%d)", path, dir, dirUID, uid)
	}
	sticky := dirMode&fs.ModeSticky != 0
	if dirMode.Perm()&0o022 != 0 && !sticky {
		return fmt.Errorf("--handover %s: its directory %s is writable by other users (%s) and not sticky: any of them could remove or replace the socket and so block the next upgrade; give a path in a directory only this user can write, or a sticky one such as /tmp", path, dir, dirMode)
	}
	if sticky && fileUID >= 0 && fileUID != uid && dirUID != uid && uid != 0 {
		return fmt.Errorf("--handover %s exists and is user %d's, not this user's (%d): in the sticky directory %s this process cannot replace it with its socket, and no binary after it could take the listener over; remove it, or give another path", path, fileUID, uid, dir)
	}
	return nil
}

// handoverLockWait bounds the wait for the handover directory's lock,
// held by a process for a rename or a check and a removal.
const handoverLockWait = time.Second

// lockDir takes an exclusive flock on dir, waiting at most
// handoverLockWait; ok is false when it is not had. The lock is advisory,
// and on a shared directory another user may hold it.
func lockDir(dir string) (unlock func(), ok bool) {
	f, err := os.Open(dir)
	if err != nil {
		return func() {}, false
	}
	for deadline := time.Now().Add(handoverLockWait); ; time.Sleep(10 * time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, true // the close releases it
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) || time.Now().After(deadline) {
			f.Close()
			return func() {}, false
		}
	}
}

// removeStaleTmp removes the temporary handover sockets in dir that
// processes killed in their start left (between the bind and the rename
// into place): this user's, older than handoverTmpAgeMin, of a process
// that is gone or has this process's pid (a container restarted as pid 1
// has the pid of the one killed). The age keeps a starting process's
// socket, whatever pid namespace it runs in: the pid alone does not tell
// processes of another namespace on a shared directory apart.
func removeStaleTmp(dir string, now time.Time, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // the bind that follows says why
	}
	for _, e := range entries {
		pid, ok := tmpPid(e.Name())
		if !ok || e.Type()&fs.ModeSocket == 0 {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != os.Getuid() || now.Sub(fi.ModTime()) < handoverTmpAgeMin {
			continue
		}
		if pid != os.Getpid() && processExists(pid) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err == nil {
			log.Info("removed a temporary handover socket left by a process killed in its start", "file", p, "pid", pid)
		}
	}
}

// tmpPid is the pid in a temporary handover socket's name:
// .PID.RANDOM.new, or .PID.new as named before 2026-11-29.
func tmpPid(name string) (int, bool) {
	rest, hidden := strings.CutPrefix(name, ".")
	rest, temporary := strings.CutSuffix(rest, ".new")
	if !hidden || !temporary {
		return 0, false
	}
	pid, _, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(pid)
	return n, err == nil && n > 0
}

// processExists: a process with pid exists in this pid namespace
// (another user's too: EPERM).
func processExists(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
