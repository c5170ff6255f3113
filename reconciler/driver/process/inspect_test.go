package process

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestProcessOwns: a model server is this state directory's color when
// its command line names the shared chat database and the color (or, from
// before the colors shared one, the color's own database).
func TestProcessOwns(t *testing.T) {
	p := &Process{stateDir: "/s"}
	tests := []struct {
		name  string
		color spec.Color
		args  []string
		want  bool
	}{
		{name: "shared db, its color", color: spec.Green, args: []string{"--color", "green", "--db", "/s/chat.db"}, want: true},
		{name: "shared db, the other color", color: spec.Blue, args: []string{"--color", "green", "--db", "/s/chat.db"}},
		{name: "per-color db of an earlier version", color: spec.Green, args: []string{"--db", "/s/colors/green/chat.db", "--color", "green"}, want: true},
		{name: "another state directory", color: spec.Green, args: []string{"--color", "green", "--db", "/other/chat.db"}},
		{name: "no db flag", color: spec.Green, args: []string{"--color", "green"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.ownsArgs(tt.color, append([]string{"/bin/modelserver"}, tt.args...)); got != tt.want {
				t.Errorf("ownsArgs(%s, %v) = %v, want %v", tt.color, tt.args, got, tt.want)
			}
		})
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	os.WriteFile(path, []byte("old run\n"+strings.Repeat("line\n", 20)+"fatal: port in use\n"), 0o644)
	got := logTail(path, int64(len("old run\n")), 2)
	if got != "line | fatal: port in use" {
		t.Errorf("logTail = %q", got)
	}
	if got := logTail(path, 1<<20, 2); got != "" {
		t.Errorf("tail past the end = %q", got)
	}
}
