package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RunManaged runs sc on a stack of its own: it starts the stack on the
// scenario's initial desired state, runs the scenario with GitOps deploys
// and the stack's events, and stops the stack whatever happens (also when
// ctx is cancelled by Ctrl-C). info carries the fields of run.json the
// caller knows (command, scenario text).
func RunManaged(ctx context.Context, sc *Scenario, cfg StackConfig, dir string, info RunInfo, opts ...Option) (*RunData, error) {
	st, err := StartStack(ctx, cfg, sc.Stack)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		return st.Stop(sctx)
	}
	models := []string{sc.Stack.Model.Path}
	if sc.Deploy != nil {
		models = append(models, sc.Deploy.Model.Path)
	}
	if s := sc.Series; s != nil {
		for _, m := range s.Models {
			models = append(models, m.Path)
		}
		if s.Broken != nil {
			models = append(models, s.Broken.Model.Path)
		}
	}
	info.Runtime = st.cfg.Runtime
	if info.Env == nil {
		info.Env = CaptureEnvironment(ctx, cfg.ModelsDir, models...)
	}
	dep := st.Deployer()
	dep.Runtime = ""
	opts = append([]Option{WithDeployer(dep), WithEvents(st.EventsPath()), WithRunInfo(info)}, opts...)
	if sc.Sampling != nil {
		smp, err := NewSampler(st.Sampled(), sc.Sampling.Every.Duration)
		if err != nil {
			return nil, errors.Join(err, stop())
		}
		opts = append(opts, WithSampler(smp))
	}
	data, runErr := NewRunner(sc, st.PublicURL(), dir, opts...).Run(ctx)
	if err := stop(); err != nil {
		return data, errors.Join(runErr, err)
	}
	return data, runErr
}
