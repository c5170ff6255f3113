package monitoring

import (
	"flag"
	"os/exec"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the checked-in generated files and golden files")

// promtool runs Debian's promtool with args in dir and returns its output.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.LookPath(t, "promtool", "prometheus"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
