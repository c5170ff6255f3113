package reconciler

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockFile is the name of the lock in the state directory.
const LockFile = "lock"

// Holder describes the process holding a state directory's lock. It is
// written into the lock file, so that a refused second reconciler, or a CLI
// looking for the daemon's API, can name it.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`            // e.g. "reconcile", "deploy"
	APIAddr string    `json:"api_addr,omitempty"` // the daemon's API, when it serves one
	Since   time.Time `json:"since"`
}

// LockedError is returned when another process holds the lock.
type LockedError struct {
	Path   string
	Holder Holder // zero when the file could not be read
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("state is locked by another zdml (%s)", e.Path)
	}
	msg := fmt.Sprintf("state is locked by zdml %s (pid %d, since %s)", h.Command, h.PID, h.Since.Format(time.RFC3339))
	if h.APIAddr != "" {
		msg += ", api " + h.APIAddr
	}
	return msg + " (" + e.Path + ")"
}

// Lock is an exclusive flock on <state>/lock: one process acts on a state
// directory at a time. The kernel drops it when the process dies, so a
// SIGKILLed reconciler never leaves a stale lock behind.
type Lock struct {
	f *os.File
}

// AcquireLock takes the state directory's lock without waiting, recording
// h in it. When another process holds it, the error is a *LockedError
// naming that process.
func AcquireLock(stateDir string, h Holder) (*Lock, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	path := filepath.Join(stateDir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := flockRetry(f); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			held, _ := readHolder(path)
			return nil, &LockedError{Path: path, Holder: held}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if h.Since.IsZero() {
		h.Since = time.Now().UTC()
	}
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	return &Lock{f: f}, nil
}

// flockRetry takes the exclusive lock, retrying for about 100 ms: a CLI
// probing with LockHolder holds a shared lock for microseconds, which must
// not make a starting daemon believe that another one runs.
func flockRetry(f *os.File) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return err
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
	return err
}

// LockHolder reports who holds the state directory's lock; ok is false when
// nobody does.
func LockHolder(stateDir string) (h Holder, ok bool, err error) {
	path := filepath.Join(stateDir, LockFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("lock: %w", err)
	}
	defer f.Close()
	// A shared lock succeeds only when nobody holds the exclusive one.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return h, false, nil
	}
	h, err = readHolder(path)
	return h, true, err
}

func readHolder(path string) (Holder, error) {
	var h Holder
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("lock file %s: %w", path, err)
	}
	return h, nil
}
