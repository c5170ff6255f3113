// Package testenv gives tests the real things they run against: the
// repository's freshly built binaries, the generated GGUF models and the
// system tools (nginx, git, promtool, docker). It never skips: a missing
// component fails the test with what to install, because `make test`
// installs everything first and CI may not skip.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	rootOnce sync.Once
	root     string
)

// RepoRoot is the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if root == "" {
		t.Fatal("testenv: no go.mod above the working directory")
	}
	return root
}

var (
	makeMu   sync.Mutex
	madeDone = map[string]bool{}
)

// Make runs `make -s target [VAR=value ...]` in the repository once per test
// binary, under a file lock shared by every test package, so parallel
// packages build once.
func Make(t testing.TB, target string, vars ...string) {
	t.Helper()
	makeMu.Lock()
	defer makeMu.Unlock()
	key := strings.Join(append([]string{target}, vars...), " ")
	if madeDone[key] {
		return
	}
	r := RepoRoot(t)
	if err := os.MkdirAll(filepath.Join(r, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(r, "bin", ".make.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	cmd := exec.Command("make", append([]string{"-s", "-C", r, target}, vars...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: make %s: %v\n%s", key, err, out)
	}
	madeDone[key] = true
}

// Binary returns the path of a freshly built bin/<name> (modelserver or zdml).
func Binary(t testing.TB, name string) string {
	t.Helper()
	Make(t, "build")
	return filepath.Join(RepoRoot(t), "bin", name)
}

// ModelsDir returns the models directory after `make models` has run.
func ModelsDir(t testing.TB) string {
	t.Helper()
	Make(t, "models")
	return filepath.Join(RepoRoot(t), "models")
}

// Model returns the path of one generated model file, e.g. "tiny.gguf".
func Model(t testing.TB, file string) string {
	t.Helper()
	p := filepath.Join(ModelsDir(t), file)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: model %s: %v (make models should have made it)", file, err)
	}
	return p
}

// LookPath finds a system tool or fails the test naming the package to install.
func LookPath(t testing.TB, tool, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, tool)); serr == nil {
				return filepath.Join(dir, tool)
			}
		}
		t.Fatalf("testenv: %s not found: install it (apt-get install %s) or run make test, which does", tool, debianPackage)
	}
	return p
}
