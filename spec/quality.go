package spec

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Quality is the output-quality gate, run on the standby before it gets
// traffic: golden prompts answered by both versions (greedy), and a
// held-out text both score, whose perplexity ratio (new ÷ active) and mean
// KL divergence (new vs active next-token distributions) must stay under
// their bounds. Package quality runs it.
type Quality struct {
	Prompts []QualityPrompt `yaml:"prompts,omitempty" json:"prompts,omitempty"`
	// HeldOut is a text file both versions score, relative to the
	// repository (the reconciler resolves and reads it); empty means
	// quality.DefaultHeldOut.
	HeldOut string `yaml:"heldOut,omitempty" json:"heldOut,omitempty"`
	// HeldOutTokens bounds how much of the held-out text is scored.
	HeldOutTokens      int      `yaml:"heldOutTokens,omitempty" json:"heldOutTokens,omitempty"`
	MaxPerplexityRatio float64  `yaml:"maxPerplexityRatio,omitempty" json:"maxPerplexityRatio,omitempty"`
	MaxKL              float64  `yaml:"maxKL,omitempty" json:"maxKL,omitempty"`
	MaxTokens          int      `yaml:"maxTokens,omitempty" json:"maxTokens,omitempty"` // per golden reply
	Timeout            Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`     // the whole gate
}

// QualityPrompt is a golden prompt and what its reply must hold.
type QualityPrompt struct {
	Prompt string `yaml:"prompt" json:"prompt"`
	Expect Expect `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// Expect is what a golden reply must hold: the substring Contains and a
// match of the RE2 expression Regex (anywhere, unless anchored), each when
// set. With neither, the prompt is only reported side by side.
type Expect struct {
	Contains string `yaml:"contains,omitempty" json:"contains,omitempty"`
	Regex    string `yaml:"regex,omitempty" json:"regex,omitempty"`
}

// Quality defaults and limits.
const (
	DefaultHeldOutTokens      = 512
	DefaultMaxPerplexityRatio = 1.10
	DefaultMaxKL              = 0.05
	DefaultQualityMaxTokens   = 32
	DefaultQualityTimeout     = 10 * time.Minute
	MinHeldOutTokens          = 16
	MaxHeldOutTokens          = 8192
	MaxPerplexityRatioBound   = 1000
	MaxKLBound                = 100
	MaxRegexLen               = 1024
)

// setQualityDefaults fills the quality fields not written, when the spec
// has a quality section.
func (d *Document) setQualityDefaults() {
	q := d.Spec.Quality
	if q == nil {
		return
	}
	setInt(d, "spec.quality.heldOutTokens", &q.HeldOutTokens, DefaultHeldOutTokens)
	setFloat(d, "spec.quality.maxPerplexityRatio", &q.MaxPerplexityRatio, DefaultMaxPerplexityRatio)
	setFloat(d, "spec.quality.maxKL", &q.MaxKL, DefaultMaxKL)
	setInt(d, "spec.quality.maxTokens", &q.MaxTokens, DefaultQualityMaxTokens)
	setDuration(d, "spec.quality.timeout", &q.Timeout, DefaultQualityTimeout)
}

func setFloat(d *Document, path string, p *float64, def float64) {
	if *p == 0 && !d.written(path) {
		*p = def
	}
}

func (v *validator) quality() {
	q := v.doc.Spec.Quality
	if q == nil {
		return
	}
	if len(q.Prompts) > MaxPrompts {
		v.fail("spec.quality.prompts", "want at most %d prompts, got %d", MaxPrompts, len(q.Prompts))
	}
	for i, p := range q.Prompts {
		v.qualityPrompt(fmt.Sprintf("spec.quality.prompts[%d]", i), p)
	}
	if v.doc.written("spec.quality.heldOut") || q.HeldOut != "" {
		if err := checkRelPath(q.HeldOut); err != nil {
			v.fail("spec.quality.heldOut", "%v", err)
		}
	}
	v.intRange("spec.quality.heldOutTokens", q.HeldOutTokens, MinHeldOutTokens, MaxHeldOutTokens)
	v.floatRange("spec.quality.maxPerplexityRatio", q.MaxPerplexityRatio, 1, MaxPerplexityRatioBound, true)
	v.floatRange("spec.quality.maxKL", q.MaxKL, 0, MaxKLBound, false)
	v.intRange("spec.quality.maxTokens", q.MaxTokens, 1, MaxMaxTokens)
	v.duration("spec.quality.timeout", q.Timeout.Duration, MinTimeout, MaxTimeout)
}

func (v *validator) qualityPrompt(field string, p QualityPrompt) {
	if strings.TrimSpace(p.Prompt) == "" || len(p.Prompt) > MaxPromptLen {
		v.fail(field+".prompt", "want a non-empty prompt of at most %d bytes", MaxPromptLen)
	}
	if len(p.Expect.Contains) > MaxPromptLen {
		v.fail(field+".expect.contains", "want at most %d bytes", MaxPromptLen)
	}
	if p.Expect.Regex == "" {
		if v.doc.written(field + ".expect.regex") {
			v.fail(field+".expect.regex", "empty: leave it out or write an expression")
		}
		return
	}
	if len(p.Expect.Regex) > MaxRegexLen {
		v.fail(field+".expect.regex", "want at most %d bytes", MaxRegexLen)
	} else if _, err := regexp.Compile(p.Expect.Regex); err != nil {
		v.fail(field+".expect.regex", "%q is not an RE2 expression: %v", p.Expect.Regex, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
}

// floatRange checks lo <= f <= hi, or lo < f when loOK is false.
func (v *validator) floatRange(field string, f, lo, hi float64, loOK bool) {
	if math.IsNaN(f) || f > hi || f < lo || (!loOK && f == lo) {
		want := fmt.Sprintf("%v to %v", lo, hi)
		if !loOK {
			want = fmt.Sprintf("more than %v, at most %v", lo, hi)
		}
		v.fail(field, "%v is out of range (want %s)", f, want)
	}
}

// checkRelPath is the lexical check of a file the reconciler reads from
// the repository: relative, inside it, printable.
func checkRelPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty: leave it out to use the default held-out text")
	case strings.ContainsRune(p, 0) || strings.IndexFunc(p, notPrintable) >= 0:
		return fmt.Errorf("%q contains control characters", p)
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, "\\"):
		return fmt.Errorf("%q is absolute: want a path relative to the repository", p)
	case hasDotDot(p):
		return fmt.Errorf("%q escapes the repository (no .. allowed)", p)
	}
	return nil
}
