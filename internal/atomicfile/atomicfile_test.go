package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		old  []byte // nil: no file before
		data []byte
		perm os.FileMode
	}{
		{name: "new file", data: []byte("hello\n"), perm: 0o644},
		{name: "replace", old: []byte("a much longer old content\n"), data: []byte("new\n"), perm: 0o644},
		{name: "private", data: []byte("secret"), perm: 0o600},
		{name: "empty", old: []byte("x"), data: []byte{}, perm: 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if tt.old != nil {
				if err := os.WriteFile(path, tt.old, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, tt.data, tt.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Errorf("content = %q, %v; want %q", got, err, tt.data)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != tt.perm {
				t.Errorf("mode = %v, %v; want %v", fi.Mode().Perm(), err, tt.perm)
			}
			assertOnly(t, dir, "state.json")
		})
	}
}

// A failed write leaves what was there and no temp file: the rename onto a
// non-empty directory fails after the temp file was written and synced.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf")
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o644); err == nil {
		t.Fatal("WriteFile over a non-empty directory: no error")
	}
	if fi, err := os.Stat(filepath.Join(path, "inside")); err != nil || !fi.IsDir() {
		t.Errorf("old content lost: %v", err)
	}
	assertOnly(t, dir, "conf")

	missing := filepath.Join(dir, "no", "such", "dir", "f")
	if err := WriteFile(missing, []byte("x"), 0o644); err == nil {
		t.Error("WriteFile into a missing directory: no error")
	}
}

// A reader racing the writer sees one whole version or the other, never a
// torn or empty file.
func TestWriteFileReaderSeesWholeVersions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nginx.conf")
	a, b := bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 96<<10)
	if err := WriteFile(path, a, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range 200 {
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := WriteFile(path, data, 0o644); err != nil {
				t.Error(err)
				return
			}
		}
	})
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Error("no read raced the writer")
			}
			assertOnly(t, dir, "nginx.conf")
			return
		default:
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read while replacing: %v", err)
		}
		if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
			t.Fatalf("read a torn file of %d bytes", len(got))
		}
		reads++
	}
}

func assertOnly(t *testing.T, dir string, want string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != want {
		t.Errorf("directory holds %v, want only %s (a temp file left behind?)", names, want)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SyncDir of a missing directory: no error")
	}
}
