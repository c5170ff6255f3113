package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// TestMonitorRun is `make monitor` on a free port: Prometheus comes up
// with its files under <state-dir>/prometheus, answers the targets query
// through `zdml monitor targets`, and a Ctrl-C (SIGINT) stops it cleanly.
func TestMonitorRun(t *testing.T) {
	testenv.LookPath(t, "prometheus", "prometheus")
	zdml := testenv.Binary(t, "zdml")
	state, listen := t.TempDir(), testenv.FreeAddr(t)
	cmd := exec.Command(zdml, "monitor", "run", "--listen", listen, "--state-dir", state, "--scrape-interval", "1s",
		"--blue-addr", testenv.FreeAddr(t), "--green-addr", testenv.FreeAddr(t), "--api-addr", testenv.FreeAddr(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n') // printed once ready
	if err != nil || !strings.Contains(line, "prometheus: http://"+listen) {
		t.Fatalf("first line %q, %v", line, err)
	}
	for _, f := range []string{"prometheus.yml", "rules/alerts.yml", "rules/recording.yml", "data", "prometheus.log"} {
		if _, err := os.Stat(filepath.Join(state, "prometheus", f)); err != nil {
			t.Errorf("state dir: %v", err)
		}
	}
	var out []byte
	deadline := time.Now().Add(20 * time.Second)
	for { // target discovery runs a moment after /-/ready
		out, err = exec.Command(zdml, "monitor", "targets", "--url", "http://"+listen).CombinedOutput()
		if err == nil && strings.Contains(string(out), " blue ") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || !strings.Contains(string(out), "modelserver") || !strings.Contains(string(out), " blue ") || !strings.Contains(string(out), "reconciler") {
		t.Errorf("zdml monitor targets: %v\n%s", err, out)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("zdml monitor run after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("zdml monitor run did not stop on SIGINT")
	}
	if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		c.Close()
		t.Error("something still listens on the Prometheus address after the stop")
	}
}

func TestMonitorRunRefusesBadEnv(t *testing.T) {
	t.Setenv("ZDML_SCRAPE_INTERVAL", "often")
	err := monitorRun(context.Background(), nil, []string{"--listen", testenv.FreeAddr(t)})
	if err == nil || !strings.Contains(err.Error(), `ZDML_SCRAPE_INTERVAL="often"`) {
		t.Fatalf("got %v, want the malformed ZDML_SCRAPE_INTERVAL named", err)
	}
}

func TestWriteGrafana(t *testing.T) {
	grafana := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/health" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"database":"ok","version":"10.4.2"}`))
	}))
	defer grafana.Close()
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"answering", grafana.URL, []string{"dashboard: " + grafana.URL + "/d/zdml-overview", "status: answering (Grafana 10.4.2)"}},
		{"down", "http://" + testenv.FreeAddr(t), []string{"status: not answering", "make monitor", "ssh -L 3000:127.0.0.1:3000", `uid "zdml-prometheus"`, "http://127.0.0.1:9090/classic/graph?g0.expr="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeGrafana(context.Background(), &b, tc.url); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
