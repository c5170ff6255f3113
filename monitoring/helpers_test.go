package monitoring

import (
	"flag"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the checked-in generated files and golden files")

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// promtool runs Debian's promtool with args in dir and returns its output.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.LookPath(t, "promtool", "prometheus"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
