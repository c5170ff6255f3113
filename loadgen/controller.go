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
	if sc.Deploy != nil {
		end, err := c.deploy(ctx, sc.Deploy)
		if err != nil {
			c.info.Error = err.Error()
			c.r.log.Error("deploy", "scenario", sc.Name, "err", err)
		}
		if after := end.Add(sc.Deploy.After.Duration); after.After(stopAt) {
			stopAt = after
		}
	}
	if !sleepUntil(ctx, stopAt) && c.info.Error == "" {
		c.info.Error = "interrupted before the end of the traffic"
	}
}

// deploy commits at the scenario's moment and waits for the outcome. It
// returns when the deploy ended (or gave up).
func (c *controller) deploy(ctx context.Context, d *Deploy) (time.Time, error) {
	if !sleepUntil(ctx, c.a.began.Add(d.At.Duration)) {
		return time.Now(), ctx.Err()
	}
	di := &DeployInfo{ToVersion: d.Model.Version, Strategy: d.Strategy, Expect: d.Expect,
		FromVersion: c.r.sc.Stack.Model.Version}
	c.info.Deploy = di
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
