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
	rest, dot := strings.CutPrefix(name, ".")
	rest, new := strings.CutSuffix(rest, ".new")
	if !dot || !new {
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
