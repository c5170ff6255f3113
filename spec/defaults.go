package spec

import (
	"strings"
	"time"
)

// Defaults applied by SetDefaults to every field left out of desired.yaml.
const (
	DefaultStrategy     = StrategyBlueGreen
	DefaultReadyTimeout = 180 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	DefaultMaxLatency   = 5 * time.Second
	DefaultMaxTokens    = 8
	DefaultMemory       = Quantity(2 << 30) // 2Gi
	DefaultCPUs         = 1.0
	DefaultThreads      = 1
	DefaultParallel     = 2
	DefaultCtx          = 2048
	DefaultRuntime      = RuntimeProcess
	DefaultAutoPromote  = true
)

// DefaultPrompts is the warm-up prompt used when none is given.
var DefaultPrompts = []string{"Say hello"}

// SetDefaults fills every field that was not written in the file. A field
// written with a zero value (threads: 0) keeps it, so that validation
// rejects it instead of silently replacing it; in a Document built in code,
// zero means "not set". It also writes the model's sha256 in lower case, so
// that it compares equal to a computed checksum.
func (d *Document) SetDefaults() {
	s := &d.Spec
	s.Model.SHA256 = strings.ToLower(s.Model.SHA256)
	setString(d, "spec.strategy.type", &s.Strategy.Type, DefaultStrategy)
	setDuration(d, "spec.strategy.readyTimeout", &s.Strategy.ReadyTimeout, DefaultReadyTimeout)
	setDuration(d, "spec.strategy.drainTimeout", &s.Strategy.DrainTimeout, DefaultDrainTimeout)
	if s.Strategy.AutoPromote == nil && s.Strategy.Type == StrategyPrewarm {
		v := DefaultAutoPromote
		s.Strategy.AutoPromote = &v
	}
	d.setCanaryDefaults()
	if s.Warmup.Prompts == nil && !d.written("spec.warmup.prompts") {
		s.Warmup.Prompts = append([]string(nil), DefaultPrompts...)
	}
	setDuration(d, "spec.warmup.maxLatency", &s.Warmup.MaxLatency, DefaultMaxLatency)
	setInt(d, "spec.warmup.maxTokens", &s.Warmup.MaxTokens, DefaultMaxTokens)
	if s.Resources.Memory == 0 && !d.written("spec.resources.memory") {
		s.Resources.Memory = DefaultMemory
	}
	if s.Resources.CPUs == 0 && !d.written("spec.resources.cpus") {
		s.Resources.CPUs = DefaultCPUs
	}
	setInt(d, "spec.resources.threads", &s.Resources.Threads, DefaultThreads)
	setInt(d, "spec.resources.parallel", &s.Resources.Parallel, DefaultParallel)
	setInt(d, "spec.resources.ctx", &s.Resources.Ctx, DefaultCtx)
	setString(d, "spec.runtime", &s.Runtime, DefaultRuntime)
	d.setQualityDefaults()
	d.setKubernetesDefaults()
}

// AutoPromoteEnabled reports whether a prewarmed standby is swapped in as
// soon as it is warm (the default) rather than on `zdml deploy-fast`.
// Strategy bluegreen always swaps as soon as the gates pass.
func (s Strategy) AutoPromoteEnabled() bool {
	return s.AutoPromote == nil || *s.AutoPromote
}

// written reports whether the file set the field at path (to anything but null).
func (d *Document) written(path string) bool {
	_, ok := d.lines[path]
	return ok
}

func setString(d *Document, path string, p *string, def string) {
	if *p == "" && !d.written(path) {
		*p = def
	}
}

func setInt(d *Document, path string, p *int, def int) {
	if *p == 0 && !d.written(path) {
		*p = def
	}
}

func setDuration(d *Document, path string, p *Duration, def time.Duration) {
	if p.Duration == 0 && !d.written(path) {
		p.Duration = def
	}
}
