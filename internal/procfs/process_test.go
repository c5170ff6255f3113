package procfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	self := os.Getpid()
	state, ppid, ok := Stat(self)
	if !ok || ppid != os.Getppid() || state == "Z" {
		t.Errorf("Stat(self) = %q, %d, %v; want a live process whose parent is %d", state, ppid, ok, os.Getppid())
	}
	if !Alive(self) {
		t.Error("Alive(self) = false")
	}
	if args := Cmdline(self); !slices.Equal(args, os.Args) {
		t.Errorf("Cmdline(self) = %q, want %q", args, os.Args)
	}
	pids, err := PIDs()
	if err != nil || !slices.Contains(pids, self) || !slices.Contains(pids, 1) {
		t.Errorf("PIDs() = %d pids, %v; want ours (%d) and 1 among them", len(pids), err, self)
	}
	tids, err := Threads(self)
	if err != nil || !slices.Contains(tids, self) || len(tids) < 2 {
		t.Errorf("Threads(self) = %v, %v; want the main thread and the runtime's others", tids, err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if files := OpenFiles(self); !slices.Contains(files, f.Name()) {
		t.Errorf("OpenFiles(self) = %q, want %s among them", files, f.Name())
	}
}

// A child that exited but was not reaped is a zombie: present in /proc,
// not alive. Once reaped it is gone.
func TestZombieAndGone(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 0", "zdml-procfs-test")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		state, ppid, ok := Stat(pid)
		if ok && state == "Z" {
			if ppid != os.Getpid() {
				t.Errorf("zombie's parent = %d, want us (%d)", ppid, os.Getpid())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d never became a zombie (state %q, ok %v)", pid, state, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if Alive(pid) {
		t.Errorf("Alive(zombie %d) = true", pid)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := Stat(pid); ok {
		t.Errorf("Stat(reaped %d): still there", pid)
	}
	if Alive(pid) || Alive(0) || Alive(-1) {
		t.Error("Alive of a reaped, zero or negative pid = true")
	}
	if args := Cmdline(pid); args != nil {
		t.Errorf("Cmdline(reaped) = %q, want nil", args)
	}
	if _, err := Threads(pid); err == nil {
		t.Error("Threads(reaped): no error")
	}
}
