package loadgen

import (
	"context"
	"fmt"
	"time"
)

// controller decides when the attack stops: at the scenario's duration,
// or for a deploy at the latest of that and the deploy's end plus After.
// It makes the deploy's commit at its moment and waits for the outcome.
type controller struct {
	r    *Runner
	a    *attack
	info *RunInfo
}

func (c *controller) run(ctx context.Context) {
	defer c.a.atk.Stop()
	sc := c.r.sc
	stopAt := c.a.began.Add(sc.Load.Duration.Duration)
	var end time.Time
	var after time.Duration
	var err error
	switch {
	case sc.Deploy != nil:
		end, err = c.single(ctx, sc.Deploy)
		after = sc.Deploy.After.Duration
	case sc.Series != nil:
		end, err = c.series(ctx, sc.Series)
		after = sc.Series.After.Duration
	}
	if err != nil {
		c.info.Error = err.Error()
		c.r.log.Error("deploy", "scenario", sc.Name, "err", err)
	}
	if !end.IsZero() && end.Add(after).After(stopAt) {
		stopAt = end.Add(after)
	}
	if !sleepUntil(ctx, stopAt) && c.info.Error == "" {
		c.info.Error = "interrupted before the end of the traffic"
	}
}

// single makes the scenario's one deploy at its moment.
func (c *controller) single(ctx context.Context, d *Deploy) (time.Time, error) {
	if !sleepUntil(ctx, c.a.began.Add(d.At.Duration)) {
		return time.Now(), ctx.Err()
	}
	di := &DeployInfo{FromVersion: c.r.sc.Stack.Model.Version}
	c.info.Deploy = di
	return c.deploy(ctx, d, di)
}

// series makes the series' deploys in order, each at its moment and not
// before Gap after the one before it has ended. It stops at the first
// deploy that does not end as expected.
func (c *controller) series(ctx context.Context, s *Series) (time.Time, error) {
	plan := s.Plan(c.r.sc.Stack.Model, c.r.sc.Load.Duration.Duration)
	c.a.setPlanned(len(plan))
	serving, last := c.r.sc.Stack.Model.Version, time.Time{}
	for i, d := range plan {
		at := c.a.began.Add(d.At.Duration)
		if g := last.Add(s.Gap.Duration); !last.IsZero() && g.After(at) {
			at = g
		}
		if !sleepUntil(ctx, at) {
			return time.Now(), ctx.Err()
		}
		di := &DeployInfo{FromVersion: serving}
		c.info.Deploys = append(c.info.Deploys, di)
		c.a.setDeploying(i + 1)
		end, err := c.deploy(ctx, d, di)
		if err != nil {
			return end, fmt.Errorf("deploy %d of %d: %w", i+1, len(plan), err)
		}
		if di.Outcome.Result == ExpectSucceeded {
			serving = d.Model.Version
		}
		last = end
	}
	return last, nil
}

// deploy commits d now and waits for the outcome, recording both in di.
// It returns when the deploy ended (or gave up).
func (c *controller) deploy(ctx context.Context, d *Deploy, di *DeployInfo) (time.Time, error) {
	di.ToVersion, di.Strategy, di.Expect = d.Model.Version, d.Strategy, d.Expect
	di.CommittedAt = time.Now()
	commit, err := c.r.deployer.Deploy(ctx, d)
	if err != nil {
		return time.Now(), err
	}
	di.Commit = commit
	c.r.log.Info("deploy committed", "scenario", c.r.sc.Name, "commit", short(commit), "version", d.Model.Version)
	wctx, cancel := context.WithTimeout(ctx, d.Timeout.Duration)
	defer cancel()
	o, err := c.r.deployer.Wait(wctx, commit, d.Model.Version, di.CommittedAt)
	if err != nil && ctx.Err() != nil {
		return time.Now(), fmt.Errorf("deploy %s: interrupted before it finished", d.Model.Version)
	}
	if err != nil {
		return time.Now(), fmt.Errorf("deploy %s did not finish within %s: %w", d.Model.Version, d.Timeout.Duration, err)
	}
	di.Outcome = &o
	c.r.log.Info("deploy finished", "scenario", c.r.sc.Name, "outcome", o.Result, "reason", o.Reason)
	if d.Expect != "" && o.Result != d.Expect {
		return time.Now(), fmt.Errorf("deploy %s ended %s (%s), want %s", d.Model.Version, o.Result, o.Reason, d.Expect)
	}
	return time.Now(), nil
}

// sleepUntil waits for t or ctx; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
