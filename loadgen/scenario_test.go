package loadgen

import (
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

func TestShippedScenariosLoad(t *testing.T) {
	scs, err := LoadScenarios("scenarios")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"baseline", "canary-regression", "canary-under-load", "deploy-storm-short", "deploy-under-load",
		"no-traffic-deploy", "prewarm-fast", "quality-regression", "rollback-under-load"}
	var got []string
	for _, s := range scs {
		got = append(got, s.Name)
		if !strings.HasSuffix(s.File, s.Name+".yaml") {
			t.Errorf("scenario %s is in %s: name and file should match", s.Name, s.File)
		}
		if len(s.Thresholds) == 0 {
			t.Errorf("scenario %s has no thresholds", s.Name)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("scenarios = %v, want %v", got, want)
	}
	large, err := LoadScenarios("scenarios/large")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range large {
		if !strings.HasSuffix(s.File, s.Name+".yaml") || !strings.HasSuffix(s.Name, "-large") || len(s.Thresholds) == 0 {
			t.Errorf("large scenario %s in %s: want a name ending in -large matching its file, and thresholds", s.Name, s.File)
		}
		if s.Load.Concurrency != s.Stack.Resources.Parallel {
			t.Errorf("%s: %d clients for %d slots; the large scenarios keep every slot busy", s.Name, s.Load.Concurrency, s.Stack.Resources.Parallel)
		}
	}
}

const goodScenario = `name: demo
stack:
  model: {version: v1, path: demo-v1.gguf}
load:
  rate: 2/s
  duration: 20s
deploy:
  at: 5s
  model: {version: v2, path: demo-v2.gguf}
thresholds:
  http_req_failed: rate == 0
  http_req_duration{phase:deploy}: [p(99) <= 3x baseline, p50 < 2s]
  deploy: outcome == succeeded
`

func TestParseScenarioDefaults(t *testing.T) {
	s, err := ParseScenario("good.yaml", []byte(goodScenario))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Load.Rate, (Rate{Freq: 2, Per: time.Second}); got != want {
		t.Errorf("rate = %v, want %v", got, want)
	}
	if s.Load.Timeout.Duration != DefaultTimeout || s.Load.MaxTokens != DefaultMaxTokens || len(s.Load.Mix) != 4 {
		t.Errorf("load defaults not applied: %+v", s.Load)
	}
	d := s.Deploy
	if d.Strategy != "bluegreen" || d.Expect != ExpectSucceeded || d.Model.Name != "demo" || d.Timeout.Duration != DefaultDeployBy {
		t.Errorf("deploy defaults not applied: %+v", d)
	}
	if len(s.Thresholds) != 4 {
		t.Fatalf("thresholds = %d, want 4", len(s.Thresholds))
	}
	th := s.Thresholds[1]
	if th.Metric != "http_req_duration" || th.Phase != "deploy" || th.Agg != "p99" || th.Op != "<=" || th.Factor != 3 {
		t.Errorf("threshold 1 = %+v", th)
	}
	if got := s.Thresholds[2].Value; got != 2 {
		t.Errorf("p50 < 2s bound = %v seconds, want 2", got)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown field", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duraton: 5s\n",
			[]string{"bad.yaml:6: load.duraton: unknown field (want one of rate, concurrency, duration, timeout, maxTokens, users, prompts, mix)"}},
		{"bad rate", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: fast\n  duration: 5s\n",
			[]string{`bad.yaml:5: load.rate: want a rate such as "4/s", got "fast"`}},
		{"rate and concurrency", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  concurrency: 2\n  duration: 5s\n",
			[]string{"bad.yaml:6: load.concurrency: set rate or concurrency, not both"}},
		{"wrong type", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5s\n  maxTokens: many\n",
			[]string{`bad.yaml:7: load.maxTokens: want an integer, got "many"`}},
		{"bare duration", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5\n",
			[]string{`bad.yaml:6: load.duration: want a duration such as "30s", got "5"`}},
		{"missing model", "name: x\nload:\n  rate: 1/s\n  duration: 5s\n",
			[]string{"bad.yaml: stack.model.version: required", "bad.yaml: stack.model.path: required"}},
		{"bad kind", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5s\n  mix:\n    - {kind: chat}\n    - {kind: websocket, weight: 1}\n",
			[]string{"bad.yaml:8: load.mix[0].weight: want a positive weight, got 0",
				`bad.yaml:9: load.mix[1].kind: unknown kind "websocket" (known: chat, chat_user, completions, completions_stream)`}},
		{"deploy after the end", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5s\ndeploy:\n  at: 10s\n  model: {version: v2, path: b.gguf}\n",
			[]string{"bad.yaml:8: deploy.at: 10s is not before the end of the traffic (load.duration 5s)"}},
		{"same model", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5s\ndeploy:\n  at: 1s\n  model: {version: v1, path: a.gguf}\n  strategy: rolling\n",
			[]string{"bad.yaml:9: deploy.model: is the stack's model already: nothing would deploy",
				`bad.yaml:10: deploy.strategy: want bluegreen, prewarm or canary, got "rolling"`}},
		{"bad threshold metric", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5s\nthresholds:\n  http_req_failed: rate == 0\n  http_req_waiting: p99 < 1s\n",
			[]string{`bad.yaml:9: thresholds.http_req_waiting: unknown metric "http_req_waiting" (known: http_req_failed, http_reqs, http_req_duration, ttft, deploy, deploys, resources, canary)`}},
		{"bad threshold expression", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5s\nthresholds:\n  http_req_duration:\n    - p99 < 1s\n    - p99 lower than 2s\n",
			[]string{`bad.yaml:10: thresholds.http_req_duration: want "aggregate op value" such as "p99 <= 2s", got "p99 lower than 2s"`}},
		{"threshold needs deploy", "name: x\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5s\nthresholds:\n  deploy: outcome == succeeded\n",
			[]string{`bad.yaml:8: thresholds: "deploy: outcome == succeeded" needs a deploy, and this scenario has none`}},
		{"invalid yaml", "name: x\nload: [1, 2\n",
			[]string{"bad.yaml:2: invalid YAML: did not find expected ',' or ']'"}},
		{"two documents", "name: x\n---\nname: y\n",
			[]string{"bad.yaml: invalid YAML: more than one YAML document in the file"}},
		{"duplicate key", "name: x\nname: y\n",
			[]string{"bad.yaml:2: name: duplicate field"}},
		{"bad name", "name: Big Name\nstack:\n  model: {version: v1, path: a.gguf}\nload:\n  rate: 1/s\n  duration: 5s\n",
			[]string{`bad.yaml:1: name: want lowercase letters, digits and dashes, got "Big Name"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScenario("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

func TestWithDuration(t *testing.T) {
	s, err := ParseScenario("good.yaml", []byte(goodScenario))
	if err != nil {
		t.Fatal(err)
	}
	long := s.WithDuration(80 * time.Second)
	if long.Load.Duration.Duration != 80*time.Second || long.Deploy.At.Duration != 20*time.Second {
		t.Errorf("WithDuration(80s): duration %s, deploy at %s; want 80s and 20s", long.Load.Duration.Duration, long.Deploy.At.Duration)
	}
	if s.Deploy.At.Duration != 5*time.Second {
		t.Errorf("WithDuration changed the original: deploy at %s", s.Deploy.At.Duration)
	}
}

func TestStackGatesReachDesired(t *testing.T) {
	const y = `name: big
stack:
  model: {name: smollm2-shaped, version: v1, path: smollm2-shaped-v1.gguf}
  resources: {threads: 2, parallel: 2, ctx: 1024, memory: 4Gi}
  readyTimeout: 240s
  warmup: {maxLatency: 60s, maxTokens: 4}
load:
  concurrency: 2
  duration: 30s
`
	s, err := ParseScenario("big.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	text, err := InitialDesired(s.Stack, "process", "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := spec.Parse("desired.yaml", text)
	if err != nil {
		t.Fatal(err)
	}
	got := d.Spec
	if got.Strategy.ReadyTimeout.Duration != 240*time.Second || got.Warmup.MaxLatency.Duration != 60*time.Second ||
		got.Warmup.MaxTokens != 4 || got.Resources.Threads != 2 || got.Resources.Ctx != 1024 || got.Resources.Memory != 4<<30 {
		t.Errorf("desired.yaml spec = %+v\n%s", got, text)
	}
	if len(got.Warmup.Prompts) == 0 {
		t.Error("warm-up prompts left out: want the spec's default")
	}

	bad := strings.Replace(y, "maxTokens: 4", "maxTokens: -4", 1)
	if _, err := ParseScenario("big.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), ": stack: initial desired.yaml is invalid") ||
		!strings.Contains(err.Error(), "warmup.maxTokens") {
		t.Errorf("a stack the spec rejects: err = %v, want a stack error naming warmup.maxTokens", err)
	}
}
