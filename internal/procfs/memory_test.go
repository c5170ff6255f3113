package procfs

import (
	"os"
	"testing"
)

// TestMemory: this test process is resident, so its RSS and PSS are
// positive and PSS (shared pages divided) never exceeds RSS; the host has
// memory available and the temp directory's file system has free space.
func TestMemory(t *testing.T) {
	u, err := Memory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.PID != os.Getpid() || u.Rss <= 0 || u.Pss <= 0 || u.Pss > u.Rss {
		t.Errorf("Memory(self) = %+v; want positive RSS and PSS, PSS <= RSS", u)
	}
	if sum := u.SharedClean + u.SharedDirty + u.PrivateClean + u.PrivateDirty; sum != u.Rss {
		t.Errorf("shared+private = %d, RSS %d; want equal", sum, u.Rss)
	}
	if got := u.Add(u); got.Rss != 2*u.Rss || got.Pss != 2*u.Pss || got.PID != u.PID {
		t.Errorf("Add = %+v", got)
	}
	if _, err := Memory(-1); err == nil {
		t.Error("Memory(-1) = nil error")
	}
	if avail, err := MemAvailable(); err != nil || avail <= 0 {
		t.Errorf("MemAvailable = %d, %v", avail, err)
	}
	if free, err := DiskFree(t.TempDir()); err != nil || free <= 0 {
		t.Errorf("DiskFree = %d, %v", free, err)
	}
}

func TestParseKB(t *testing.T) {
	if n, err := parseKB("  123 kB"); err != nil || n != 123<<10 {
		t.Errorf(`parseKB("  123 kB") = %d, %v`, n, err)
	}
	for _, bad := range []string{"", "x kB"} {
		if _, err := parseKB(bad); err == nil {
			t.Errorf("parseKB(%q) = nil error", bad)
		}
	}
}
