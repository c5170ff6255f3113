package process

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTailLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	text := "old run\n" + strings.Repeat("a line of this run\n", 100) + "last\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	off := int64(len("old run\n"))
	tests := []struct {
		name          string
		offset, limit int64
		n             int
		want          int
		last          string
	}{
		{name: "this run only", offset: off, limit: 1 << 20, n: 1000, want: 101, last: "last"},
		{name: "last n", offset: off, limit: 1 << 20, n: 3, want: 3, last: "last"},
		{name: "byte limit drops the cut line", offset: off, limit: 40, n: 1000, want: 2, last: "last"},
		{name: "nothing after offset", offset: int64(len(text)), limit: 1 << 20, n: 5, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tailLines(path, tt.offset, tt.limit, tt.n)
			if err != nil || len(got) != tt.want || (tt.want > 0 && got[len(got)-1] != tt.last) {
				t.Errorf("got %q, %v; want %d lines ending %q", got, err, tt.want, tt.last)
			}
			for _, l := range got {
				if l == "old run" {
					t.Error("a line of the previous run")
				}
			}
		})
	}
	if _, err := tailLines(filepath.Join(t.TempDir(), "none"), 0, 10, 1); err == nil {
		t.Error("a missing log: no error")
	}
}
