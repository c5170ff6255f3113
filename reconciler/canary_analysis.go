package reconciler

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// scrapeTimeout bounds one /metrics scrape of a color.
const scrapeTimeout = 3 * time.Second

// analysisRun is the analysis of one canary weight, in its own goroutine
// so that nothing it waits on (a slow scrape, a hung Prometheus) can hold
// up the canary's loop, least of all an abort.
type analysisRun struct {
	decisions chan analysis.Decision
	cancel    context.CancelFunc
	done      chan struct{}
}

// stop ends the run and waits for its goroutine.
func (a *analysisRun) stop() {
	a.cancel()
	<-a.done
}

// startAnalysis judges the canary every analysis interval, each window the
// difference between two scrapes of both colors taken together. A new
// weight starts a new run, so that no window mixes two weights.
func (r *Reconciler) startAnalysis(ctx context.Context, d *deploy, weight int) *analysisRun {
	ctx, cancel := context.WithCancel(ctx)
	run := &analysisRun{decisions: make(chan analysis.Decision, 4), cancel: cancel, done: make(chan struct{})}
	a := d.target.Spec.Strategy.Analysis
	if a == nil || weight == 0 {
		close(run.done)
		return run
	}
	colors := analysis.Colors{Canary: d.to, Stable: d.from}
	prom := r.prometheus()
	go func() {
		defer close(run.done)
		client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		tick := time.NewTicker(a.Interval.Duration)
		defer tick.Stop()
		var base [2]analysis.Sample
		have := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now, err := r.scrapeBoth(ctx, client, colors)
			var dec analysis.Decision
			switch {
			case err != nil:
				dec = inconclusive(weight, "scrape: "+err.Error())
				have = false
			case !have:
				base, have = now, true
				continue
			default:
				dec = r.judgeWindow(ctx, *a, weight, base, now, colors, prom)
				base = now
			}
			select {
			case run.decisions <- dec:
			default: // the loop is busy: drop the window rather than block
			}
		}
	}()
	return run
}

// scrapeBoth scrapes the canary and the stable color, in that order.
func (r *Reconciler) scrapeBoth(ctx context.Context, client *http.Client, colors analysis.Colors) ([2]analysis.Sample, error) {
	var out [2]analysis.Sample
	for i, c := range []spec.Color{colors.Canary, colors.Stable} {
		sctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
		s, err := analysis.Scrape(sctx, client, r.colorAddr(c))
		cancel()
		if err != nil {
			return out, fmt.Errorf("%s: %w", c, err)
		}
		out[i] = s
	}
	return out, nil
}

// judgeWindow decides the window between two scrapes of both colors.
func (r *Reconciler) judgeWindow(ctx context.Context, a spec.Analysis, weight int, base, now [2]analysis.Sample,
	colors analysis.Colors, prom analysis.Querier) analysis.Decision {
	canary, err := analysis.Delta(base[0], now[0])
	if err != nil {
		return inconclusive(weight, fmt.Sprintf("%s: %v", colors.Canary, err))
	}
	stable, err := analysis.Delta(base[1], now[1])
	if err != nil {
		return inconclusive(weight, fmt.Sprintf("%s: %v", colors.Stable, err))
	}
	jctx, cancel := context.WithTimeout(ctx, a.Interval.Duration)
	defer cancel()
	return analysis.Judge(jctx, a, weight, canary, stable, colors, prom)
}

func inconclusive(weight int, why string) analysis.Decision {
	return analysis.Decision{At: time.Now().UTC(), Weight: weight, Verdict: analysis.Inconclusive, Reason: why}
}

// prometheus is the PromQL querier of --prometheus-url, or nil.
func (r *Reconciler) prometheus() analysis.Querier {
	if r.cfg.PrometheusURL == "" {
		return nil
	}
	p, err := analysis.NewPrometheus(r.cfg.PrometheusURL, 5*time.Second)
	if err != nil {
		r.log.Warn("prometheus", "url", r.cfg.PrometheusURL, "err", err)
		return nil
	}
	return p
}
