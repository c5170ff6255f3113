package spec

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
)

// labelRE is a safe label: model versions and names end up in file names,
// container names, metric labels and HTTP headers.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

var sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// Limits of numeric fields, inclusive.
const (
	MinTimeout    = time.Second
	MaxTimeout    = time.Hour
	MinMaxLatency = 10 * time.Millisecond
	MaxMaxLatency = 10 * time.Minute
	MaxMaxTokens  = 4096
	MaxPrompts    = 16
	MaxPromptLen  = 4096
	MinMemory     = Quantity(16 << 20)
	MaxMemory     = Quantity(4 << 40)
	MaxCPUs       = 1024
	MaxThreads    = 256
	MaxParallel   = 64
	MinCtx        = 128
	MaxCtx        = 1 << 20
)

// Validate checks a defaulted Document and returns Errors listing every
// problem, in file order. It does not touch the file system: ModelPath
// resolves and checks the model file.
func (d *Document) Validate() error {
	v := &validator{doc: d}
	v.header()
	v.model()
	v.strategy()
	v.warmup()
	v.resources()
	v.runtime()
	v.quality()
	v.kubernetes()
	if len(v.errs) == 0 {
		return nil
	}
	sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].Line < v.errs[j].Line })
	return v.errs
}

type validator struct {
	doc  *Document
	errs Errors
}

// fail records an error at the line of field, or of its nearest written
// parent when the field itself is missing.
// Fields that already failed to decode are not reported twice.
func (v *validator) fail(field, format string, args ...any) {
	if v.doc.bad[""] {
		return // the file was not even a mapping
	}
	line := 0
	for p := field; p != ""; p = parentPath(p) {
		if v.doc.bad[p] {
			return
		}
		if line == 0 {
			line = v.doc.lines[p]
		}
	}
	v.errs = append(v.errs, &FieldError{File: v.doc.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// badUnder reports whether field or anything below it failed to decode:
// a list or a pointer field whose items failed is not validated again.
func (v *validator) badUnder(field string) bool {
	for p := range v.doc.bad {
		if p == field || strings.HasPrefix(p, field+".") || strings.HasPrefix(p, field+"[") {
			return true
		}
	}
	return false
}

func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

func (v *validator) header() {
	d := v.doc
	if d.APIVersion != APIVersion {
		v.fail("apiVersion", "want %q, got %q", APIVersion, d.APIVersion)
	}
	if d.Kind != Kind {
		v.fail("kind", "want %q, got %q", Kind, d.Kind)
	}
	v.label("metadata.name", d.Metadata.Name)
}

func (v *validator) label(field, s string) {
	switch {
	case s == "":
		v.fail(field, "required")
	case !labelRE.MatchString(s):
		v.fail(field, "%q is not a safe label (1-64 of A-Z a-z 0-9 . _ -)", s)
	}
}

func (v *validator) model() {
	m := v.doc.Spec.Model
	switch {
	case m.Name == "":
		v.fail("spec.model.name", "required")
	case len(m.Name) > 128 || strings.IndexFunc(m.Name, notPrintable) >= 0:
		v.fail("spec.model.name", "%q: want at most 128 printable characters", m.Name)
	}
	v.label("spec.model.version", m.Version)
	if err := checkModelPath(m.Path); err != nil {
		v.fail("spec.model.path", "%v", err)
	}
	if m.SHA256 != "" && !sha256RE.MatchString(m.SHA256) {
		v.fail("spec.model.sha256", "%q is not a sha256 (64 hex digits)", m.SHA256)
	}
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

// checkModelPath is the lexical half of path confinement; ModelPath does the
// rest against the real models directory.
func checkModelPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("required")
	case strings.ContainsRune(p, 0) || strings.IndexFunc(p, notPrintable) >= 0:
		return fmt.Errorf("%q contains control characters", p)
	case hasDotDot(p):
		return fmt.Errorf("%q escapes the models directory (no .. allowed)", p)
	case !strings.HasSuffix(strings.ToLower(p), ".gguf"):
		return fmt.Errorf("%q: want a .gguf file", p)
	}
	return nil
}

func hasDotDot(p string) bool {
	for _, el := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el == ".." {
			return true
		}
	}
	return false
}

func (v *validator) strategy() {
	s := v.doc.Spec.Strategy
	switch s.Type {
	case StrategyBlueGreen, StrategyPrewarm, StrategyCanary:
	default:
		v.fail("spec.strategy.type", "unknown strategy %q (want %s, %s or %s)", s.Type, StrategyBlueGreen, StrategyPrewarm, StrategyCanary)
	}
	v.duration("spec.strategy.readyTimeout", s.ReadyTimeout.Duration, MinTimeout, MaxTimeout)
	v.duration("spec.strategy.drainTimeout", s.DrainTimeout.Duration, MinTimeout, MaxTimeout)
	if s.Type != StrategyPrewarm && v.doc.written("spec.strategy.autoPromote") {
		v.fail("spec.strategy.autoPromote", "applies only to strategy %s", StrategyPrewarm)
	}
	v.canary()
}

func (v *validator) duration(field string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.fail(field, "%s is out of range (want %s to %s)", d, lo, hi)
	}
}

func (v *validator) warmup() {
	w := v.doc.Spec.Warmup
	if len(w.Prompts) == 0 || len(w.Prompts) > MaxPrompts {
		v.fail("spec.warmup.prompts", "want 1 to %d prompts, got %d", MaxPrompts, len(w.Prompts))
	}
	for i, p := range w.Prompts {
		if strings.TrimSpace(p) == "" || len(p) > MaxPromptLen {
			v.fail(fmt.Sprintf("spec.warmup.prompts[%d]", i), "want a non-empty prompt of at most %d bytes", MaxPromptLen)
		}
	}
	v.duration("spec.warmup.maxLatency", w.MaxLatency.Duration, MinMaxLatency, MaxMaxLatency)
	v.intRange("spec.warmup.maxTokens", w.MaxTokens, 1, MaxMaxTokens)
}

func (v *validator) intRange(field string, n, lo, hi int) {
	if n < lo || n > hi {
		v.fail(field, "%d is out of range (want %d to %d)", n, lo, hi)
	}
}

func (v *validator) resources() {
	r := v.doc.Spec.Resources
	if r.Memory < MinMemory || r.Memory > MaxMemory {
		v.fail("spec.resources.memory", "%s is out of range (want %s to %s)", r.Memory, MinMemory, MaxMemory)
	}
	if !(r.CPUs > 0 && r.CPUs <= MaxCPUs) || math.IsNaN(r.CPUs) {
		v.fail("spec.resources.cpus", "%v is out of range (want more than 0, at most %d)", r.CPUs, MaxCPUs)
	}
	v.intRange("spec.resources.threads", r.Threads, 1, MaxThreads)
	v.intRange("spec.resources.parallel", r.Parallel, 1, MaxParallel)
	v.intRange("spec.resources.ctx", r.Ctx, MinCtx, MaxCtx)
}

func (v *validator) runtime() {
	s := v.doc.Spec
	switch s.Runtime {
	case RuntimeProcess:
	case RuntimeDocker, RuntimeKubernetes:
		if s.Image == "" {
			v.fail("spec.image", "required for runtime %s", s.Runtime)
		} else if strings.IndexFunc(s.Image, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
			v.fail("spec.image", "%q is not an image reference", s.Image)
		}
	default:
		v.fail("spec.runtime", "unknown runtime %q (want %s, %s or %s)", s.Runtime, RuntimeProcess, RuntimeDocker, RuntimeKubernetes)
	}
}
