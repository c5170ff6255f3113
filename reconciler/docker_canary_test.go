package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// TestDockerCanary is the canary on the Docker runtime: the colors are
// containers, nginx is a container, the analysis scrapes each container's
// /metrics; v2 is promoted through its steps with 0 failed requests, and
// only v2's container is left.
func TestDockerCanary(t *testing.T) {
	e := newDockerEnv(t)
	e.serveBlueV1()
	loop := startClients(t, e.public, 4)
	text := strings.Replace(canarySpec("v2", "", "      - setWeight: 25\n      - pause: 2s\n      - setWeight: 75\n      - pause: 2s\n", passingMetrics),
		"  resources:", "  runtime: docker\n  image: "+e.image+"\n  resources:", 1)
	text = strings.Replace(text, "readyTimeout: 30s", "readyTimeout: 120s", 1)
	e.commit(text, "v2 canary on docker")
	e.waitCanaryWeight(25)
	st := e.waitSynced("v2", 3*time.Minute)
	loop.check(t)
	if st.ActiveColor != spec.Green || loop.versions["v1"] == 0 || loop.versions["v2"] == 0 {
		t.Errorf("active %s, clients saw %v; want green and both versions", st.ActiveColor, loop.versions)
	}
	recs := e.waitDeploys(2, 10*time.Second)
	if last := recs[len(recs)-1]; last.Outcome != OutcomeSucceeded || last.Strategy != spec.StrategyCanary {
		t.Errorf("history: %s %s: %s", last.Outcome, last.Strategy, last.Reason)
	}
	passes := 0
	for _, ev := range e.canaryEvents(recs[len(recs)-1].ID) {
		if ev.Analysis != nil && ev.Analysis.Verdict == "pass" {
			passes++
		}
	}
	if passes == 0 {
		t.Error("no analysis window passed: the containers' /metrics were not read")
	}
	e.only(spec.Green, "v2")
}
