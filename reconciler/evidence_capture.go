package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"github.com/zero-downtime-ml/zdml/nginx"
	"github.com/zero-downtime-ml/zdml/quality"
	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
	"go.yaml.in/yaml/v3"
)

// StepEvidence names the evidence capture in events and history.
const StepEvidence = "evidence"

// Bounds of a capture. The rollback waits for it at most evidenceTimeout:
// evidence is best effort, and never holds up a rollback.
const (
	evidenceTimeout    = 10 * time.Second
	evidenceAskTimeout = 5 * time.Second // asking both colors the prompts
	evidenceLogLines   = 200
	evidenceMaxPrompts = 4
)

// capture is what one evidence capture needs, copied from the deploy and
// the state before it starts, so that it runs on its own goroutine and
// can be abandoned without touching the deploy.
type capture struct {
	dir      string
	idx      EvidenceIndex
	spec     *spec.Spec
	verdict  *quality.Verdict
	windows  []analysis.Decision
	nginxDir string // "" when nginx does not route (runtime kubernetes)
	drv      driver.Driver
	addrs    map[spec.Color]string
	asker    func(ctx context.Context, addr, prompt string, maxTokens int) (string, string, error)
	root     string
}

// keepEvidence captures a failed deploy's evidence before its rollback
// stops the standby (pipeline.go's fail): best effort, within
// evidenceTimeout. What it kept, or why it kept nothing (a full disk),
// goes into the deploy's record, an event and the log; it is never the
// deploy's error. A deploy that never started a standby, one superseded
// by a newer desired state and one cancelled by `zdml rollback` keep
// none.
func (r *Reconciler) keepEvidence(ctx context.Context, d *deploy, failedStep string, cause error) {
	if !d.started || errors.Is(cause, errSuperseded) || errors.Is(cause, errRollbackRequested) {
		return
	}
	t0 := time.Now()
	c := r.newCapture(d, failedStep, cause)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), evidenceTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.run(cctx) }()
	var err error
	select {
	case err = <-done:
	case <-cctx.Done():
		err = fmt.Errorf("timed out after %s; the rollback went on without it", evidenceTimeout)
	}
	took := time.Since(t0)
	if err != nil {
		d.evidenceErr = err.Error()
		r.log.Error("evidence not kept", "deploy_id", d.id, "err", err)
		r.event(d, StepEvidence, PhaseInfo, took, "evidence not kept: "+err.Error())
		d.steps = append(d.steps, StepTiming{Name: StepEvidence, Outcome: "failed", Duration: took, Message: err.Error()})
		return
	}
	d.evidence = c.dir
	msg := "kept in " + c.dir
	if len(c.idx.Missing) > 0 {
		msg += "; missing: " + strings.Join(c.idx.Missing, "; ")
	}
	d.log.Info("evidence kept", "dir", c.dir, "files", c.idx.Files, "missing", c.idx.Missing)
	r.event(d, StepEvidence, PhaseInfo, took, msg)
	d.steps = append(d.steps, StepTiming{Name: StepEvidence, Outcome: "ok", Duration: took, Message: msg})
}

// newCapture copies what the capture needs from d and the state.
func (r *Reconciler) newCapture(d *deploy, failedStep string, cause error) *capture {
	root := filepath.Join(r.cfg.StateDir, EvidenceDir)
	c := &capture{root: root, dir: filepath.Join(root, d.id), spec: d.target.Spec, verdict: d.verdict,
		nginxDir: r.proxy.Runner().Dir(), addrs: map[spec.Color]string{d.to: r.colorAddr(d.to)},
		idx: EvidenceIndex{DeployID: d.id, Kind: d.kind, Strategy: d.strategy, Step: failedStep, Reason: cause.Error(),
			At: time.Now().UTC(), From: d.from, To: d.to, FromVersion: d.fromVer, ToVersion: d.target.Version,
			Commit: d.target.Commit, Swapped: d.swapped}}
	if d.from != "" {
		c.addrs[d.from] = r.colorAddr(d.from)
	}
	if _, ok := r.router().(*nginxRouter); !ok {
		c.nginxDir = ""
	}
	if cs := r.state.Canary; cs != nil && cs.DeployID == d.id {
		c.windows = append([]analysis.Decision(nil), cs.Windows...)
	}
	if drv, err := r.colorDriver(d.to); err == nil {
		c.drv = drv
	}
	client := r.clientFor(d.to) // both colors of a deploy run on one runtime
	c.asker = func(ctx context.Context, addr, prompt string, maxTokens int) (string, string, error) {
		text, served, err := client.Completion(ctx, addr, prompt, maxTokens)
		return text, served.Version, err
	}
	return c
}

// run gathers and writes the evidence, index.json last, then prunes the
// oldest folders beyond MaxEvidence.
func (c *capture) run(ctx context.Context) error {
	start := time.Now()
	if _, err := os.Stat(filepath.Join(c.dir, EvidenceIndexFile)); err == nil {
		return nil // kept before a restart: a resumed rollback keeps the first capture
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	prompts, why := c.prompts(ctx)
	if why != "" {
		c.idx.Missing = append(c.idx.Missing, why)
	}
	c.write(EvidenceSpecFile, func() ([]byte, error) { return specYAML(c.spec, c.idx.Commit) })
	if c.nginxDir != "" { // nginx routes (not runtime kubernetes's stable Service)
		c.write(EvidenceNginxFile, func() ([]byte, error) { return os.ReadFile(filepath.Join(c.nginxDir, nginx.ConfFile)) })
	}
	c.write(EvidenceLogFile, func() ([]byte, error) { return c.logTail(ctx) })
	if c.verdict != nil {
		c.write(EvidenceVerdictFile, func() ([]byte, error) { return json.MarshalIndent(c.verdict, "", "  ") })
	}
	if len(prompts) > 0 {
		c.write(EvidencePromptsFile, func() ([]byte, error) { return json.MarshalIndent(prompts, "", "  ") })
	}
	if len(c.windows) > 0 {
		c.write(EvidenceAnalysisFile, func() ([]byte, error) { return json.MarshalIndent(c.windows, "", "  ") })
	}
	c.idx.Took = time.Since(start)
	b, _ := json.MarshalIndent(c.idx, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(c.dir, EvidenceIndexFile), append(b, '\n'), 0o644); err != nil {
		_ = os.RemoveAll(c.dir) // without an index it would show nothing, and holds space
		return fmt.Errorf("evidence: %w", err)
	}
	pruneEvidence(c.root, MaxEvidence, c.idx.DeployID)
	return nil
}

// write writes one file of the evidence atomically; what fails is noted
// in the index, and the capture goes on.
func (c *capture) write(name string, content func() ([]byte, error)) {
	b, err := content()
	if err == nil {
		err = atomicfile.WriteFile(filepath.Join(c.dir, name), b, 0o644)
	}
	if err != nil {
		c.idx.Missing = append(c.idx.Missing, fmt.Sprintf("%s: %v", name, err))
		return
	}
	c.idx.Files = append(c.idx.Files, name)
}

// logTail is the standby's last lines, from its runtime.
func (c *capture) logTail(ctx context.Context) ([]byte, error) {
	lt, ok := c.drv.(driver.LogTailer)
	if !ok {
		return nil, errors.New("the standby's runtime shows no log")
	}
	lines, err := lt.LogTail(ctx, c.idx.To, evidenceLogLines)
	if err != nil {
		return nil, err
	}
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}

// specYAML renders the deployed spec, defaults applied.
func specYAML(s *spec.Spec, commit string) ([]byte, error) {
	if s == nil {
		return nil, errors.New("no spec recorded")
	}
	b, err := yaml.Marshal(struct {
		Spec *spec.Spec `yaml:"spec"`
	}{s})
	if err != nil {
		return nil, err
	}
	head := "# the spec deployed (defaults applied)"
	if commit != "" {
		head += ", from commit " + commit
	}
	return append([]byte(head+"\n"), b...), nil
}

// prompts are the quality gate's golden prompts with both replies, from
// its verdict; without one, the warm-up prompts asked of both colors now
// (greedy, as the warm-up asks them). A standby that serves users (a
// canary) is asked nothing: its weight goes to 0 first.
func (c *capture) prompts(ctx context.Context) ([]EvidencePrompt, string) {
	if v := c.verdict; v != nil && len(v.Prompts) > 0 {
		out := make([]EvidencePrompt, 0, len(v.Prompts))
		for _, p := range v.Prompts {
			pass, expect := p.Pass, p.Expect
			out = append(out, EvidencePrompt{Prompt: p.Prompt, Expect: &expect, From: "quality gate", Pass: &pass,
				Active:  EvidenceReply{Color: c.idx.From, Version: v.Active.Version, Text: p.Active.Text},
				Standby: EvidenceReply{Color: c.idx.To, Version: v.Candidate.Version, Text: p.Candidate.Text}})
		}
		return out, ""
	}
	if c.idx.Swapped {
		return nil, "prompts: not asked, the standby was serving users (its analysis windows are the evidence)"
	}
	if c.spec == nil || len(c.spec.Warmup.Prompts) == 0 {
		return nil, "prompts: the spec has no warm-up prompts"
	}
	return c.ask(ctx, c.spec.Warmup.Prompts, c.spec.Warmup.MaxTokens), ""
}

// ask sends each prompt to both colors at once, within evidenceAskTimeout.
func (c *capture) ask(ctx context.Context, prompts []string, maxTokens int) []EvidencePrompt {
	ctx, cancel := context.WithTimeout(ctx, evidenceAskTimeout)
	defer cancel()
	if len(prompts) > evidenceMaxPrompts {
		prompts = prompts[:evidenceMaxPrompts]
	}
	out := make([]EvidencePrompt, len(prompts))
	var wg sync.WaitGroup
	for _, col := range []spec.Color{c.idx.From, c.idx.To} {
		if col == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, p := range prompts {
				text, version, err := c.asker(ctx, c.addrs[col], p, maxTokens)
				rep := EvidenceReply{Color: col, Version: version, Text: text}
				if err != nil {
					rep.Error = err.Error()
				}
				if col == c.idx.To {
					out[i].Standby = rep
				} else {
					out[i].Active = rep
				}
			}
		}()
	}
	wg.Wait()
	for i, p := range prompts {
		out[i].Prompt, out[i].From = p, "asked at capture"
		if c.idx.From == "" {
			out[i].Active.Error = "first deploy: no active version"
		}
	}
	return out
}

// pruneEvidence removes the oldest evidence folders beyond keep (deploy
// ids begin with their UTC start time, so their names sort by age), never
// the one just written.
func pruneEvidence(root string, keep int, current string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != current {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > keep-1 {
		_ = os.RemoveAll(filepath.Join(root, names[0]))
		names = names[1:]
	}
}
