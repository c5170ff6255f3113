package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Root is where the kernel mounts the process table.
const Root = "/proc"

// Stat returns the state letter (R, S, Z, ...) and the parent pid from
// /proc/PID/stat; ok is false when the process is gone.
func Stat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", Root, pid))
	if err != nil {
		return "", 0, false
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, true
}

// Alive reports whether pid exists and is not a zombie: an exited process
// whose parent has not reaped it still answers kill 0.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, _, ok := Stat(pid)
	return ok && state != "Z" && state != "X"
}

// Cmdline returns a process's arguments (nil when it is gone or a kernel
// thread).
func Cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/cmdline", Root, pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// PIDs lists every process id.
func PIDs() ([]int, error) {
	return numbered(Root)
}

// Threads lists the thread ids of pid (/proc/PID/task).
func Threads(pid int) ([]int, error) {
	return numbered(fmt.Sprintf("%s/%d/task", Root, pid))
}

// OpenFiles lists the paths of the files pid holds open (/proc/PID/fd);
// nil when it is gone or not ours to read.
func OpenFiles(pid int) []string {
	dir := fmt.Sprintf("%s/%d/fd", Root, pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil {
			out = append(out, target)
		}
	}
	return out
}

// numbered lists the entries of dir whose names are numbers.
func numbered(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(entries))
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}
