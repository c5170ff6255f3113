package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv/dockertest"
	"github.com/zero-downtime-ml/zdml/spec"
)

// LogTail shows the last lines a color's container wrote, the model
// server's own, and says so when the color has no container.
func TestDockerLogTail(t *testing.T) {
	ctx := context.Background()
	c := dockertest.Client(t)
	d, _ := newTestDocker(t, c)
	inst := tinyInstance(t, spec.Green, "v1")
	if _, err := d.Start(ctx, inst); err != nil {
		t.Fatal(err)
	}
	awaitReady(t, inst.Addr, 60*time.Second)
	lines, err := d.LogTail(ctx, spec.Green, 200)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(lines, "\n")
	if len(lines) < 2 || !strings.Contains(all, `"msg":"model loaded"`) || !strings.Contains(all, `"color":"green"`) {
		t.Errorf("log tail (%d lines):\n%s", len(lines), all)
	}
	if two, err := d.LogTail(ctx, spec.Green, 2); err != nil || len(two) != 2 || two[1] != lines[len(lines)-1] {
		t.Errorf("last 2 lines: %q, %v", two, err)
	}
	if _, err := d.LogTail(ctx, spec.Blue, 10); err == nil || !strings.Contains(err.Error(), "no container") {
		t.Errorf("a color without a container: %v", err)
	}
}
