package modelserver

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadMemory(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    Memory
		wantErr bool
	}{
		{"rollup", "00400000-7ffe [rollup]\nRss:   2048 kB\nPss:   1024 kB\nPss_Anon: 10 kB\nShared_Clean: 1024 kB\n", Memory{RSS: 2 << 20, PSS: 1 << 20}, false},
		{"no pss", "Rss: 10 kB\n", Memory{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readMemory(p)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Errorf("got %+v %v, want %+v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
	// And this very process, for real.
	m, err := ReadMemory()
	if err != nil || m.RSS <= 0 || m.PSS <= 0 || m.PSS > m.RSS {
		t.Errorf("ReadMemory: %+v %v", m, err)
	}
}
