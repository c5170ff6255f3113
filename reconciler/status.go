package reconciler

import (
	"fmt"
	"strings"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

// StatusReport is `zdml status --json` and the API's GET /status
// (docs/architecture.md, "Reconciler CLI and status").
type StatusReport struct {
	SyncState      string         `json:"sync_state"`
	ActiveColor    spec.Color     `json:"active_color,omitempty"`
	ActiveVersion  string         `json:"active_version,omitempty"`
	DeployedCommit string         `json:"deployed_commit,omitempty"`
	DeployedSpec   string         `json:"deployed_spec_hash,omitempty"`
	DesiredVersion string         `json:"desired_version,omitempty"`
	DesiredCommit  string         `json:"desired_commit,omitempty"`
	DesiredSpec    string         `json:"desired_spec_hash,omitempty"`
	DesiredError   string         `json:"desired_error,omitempty"`
	Source         string         `json:"source,omitempty"`
	Step           string         `json:"step,omitempty"`
	DeployID       string         `json:"deploy_id,omitempty"`
	LastDeploy     *DeploySummary `json:"last_deploy,omitempty"`
	Quarantine     *Quarantine    `json:"quarantine,omitempty"`
	// Retry is set while the desired state's deploy, failed for a reason
	// of the environment, waits for its next attempt.
	Retry      *RetryState    `json:"retry,omitempty"`
	Conditions []Condition    `json:"conditions"`
	Prewarm    *PrewarmReport `json:"prewarm,omitempty"`
	Canary     *CanaryReport  `json:"canary,omitempty"`
	// Maintenance is set while nginx answers user routes with 503.
	Maintenance *MaintenanceState `json:"maintenance,omitempty"`
	Colors      []ColorReport     `json:"colors"`
	Nginx       NginxReport       `json:"nginx"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// ColorReport is one color in a status report.
type ColorReport struct {
	Color      spec.Color `json:"color"`
	Role       string     `json:"role"`
	Running    bool       `json:"running"`
	Version    string     `json:"version,omitempty"`
	ID         string     `json:"id,omitempty"`
	Addr       string     `json:"addr,omitempty"`
	InstanceID string     `json:"instance_id,omitempty"`
	Priority   string     `json:"priority,omitempty"`
	WarmedAt   time.Time  `json:"warmed_at,omitzero"`
	ExitErr    string     `json:"exit_error,omitempty"`
}

// PrewarmReport is the prewarmed standby in a status report (`zdml
// prewarm-status`): Ready when it runs, warm with what desired.yaml asks
// for, so that `zdml deploy-fast` only swaps and drains.
type PrewarmReport struct {
	Color    spec.Color `json:"color"`
	Version  string     `json:"version,omitempty"`
	WarmedAt time.Time  `json:"warmed_at,omitzero"`
	Ready    bool       `json:"ready"`
	Reason   string     `json:"reason"`
}

// NginxReport is nginx in a status report.
type NginxReport struct {
	// Router names what routes when it is not nginx: "service <name>", the
	// stable Service of runtime kubernetes (its selector's color is Active).
	Router  string     `json:"router,omitempty"`
	Running bool       `json:"running"`
	ID      string     `json:"id,omitempty"`
	Active  spec.Color `json:"active,omitempty"`
	Hash    string     `json:"config_hash,omitempty"`
	Error   string     `json:"error,omitempty"`
}

// report builds the status report from state and an observation.
func (r *Reconciler) report(o observation) StatusReport {
	s := r.state
	rep := StatusReport{ActiveColor: s.ActiveColor, DesiredError: s.DesiredError, LastDeploy: s.LastDeploy,
		Source: sourceName(r.cfg.Source), UpdatedAt: time.Now().UTC()}
	if !rep.ActiveColor.Valid() && o.route.Running && o.route.Active.Valid() {
		rep.ActiveColor = o.route.Active
	}
	if cs := s.Colors[rep.ActiveColor]; cs != nil {
		rep.ActiveVersion = cs.Version
	}
	if st, ok := o.colors[rep.ActiveColor]; ok && st.Running && rep.ActiveVersion == "" {
		rep.ActiveVersion = st.ModelVersion
	}
	if d := s.Deployed; d != nil {
		rep.DeployedCommit, rep.DeployedSpec = d.Commit, d.SpecHash
		if rep.ActiveVersion == "" {
			rep.ActiveVersion = d.Version
		}
	}
	if d := s.Desired; d != nil {
		rep.DesiredVersion, rep.DesiredCommit, rep.DesiredSpec = d.Version, d.Commit, d.SpecHash
		if q, ok := s.Quarantined(d.SpecHash, d.Digest); ok {
			rep.Quarantine = &q
		}
		if rs := s.Retry; rs != nil && rs.SpecHash == d.SpecHash && d.SpecHash != "" {
			rep.Retry = rs
		}
	}
	if p := s.InProgress; p != nil {
		rep.Step, rep.DeployID = p.Step, p.DeployID
	}
	for _, c := range spec.Colors {
		rep.Colors = append(rep.Colors, colorReport(c, s.Colors[c], o))
	}
	rep.Nginx = NginxReport{Running: o.route.Running, ID: o.route.ID, Active: o.route.Active, Hash: o.route.Hash}
	if rt, ok := r.router().(*kubeRouter); ok {
		rep.Nginx.Router = rt.name()
	}
	if o.routeErr != nil {
		rep.Nginx.Error = o.routeErr.Error()
	}
	rep.SyncState, rep.Conditions = r.conditions(o, rep)
	rep.Prewarm = r.prewarmReport(o, s.Desired)
	rep.Canary = r.canaryReport()
	rep.Maintenance = s.Maintenance
	return rep
}

// prewarmReport describes the color prewarmed for deploy-fast, if any,
// against the desired revision.
func (r *Reconciler) prewarmReport(o observation, desired *Revision) *PrewarmReport {
	for _, c := range spec.Colors {
		cs := r.state.Colors[c]
		if cs == nil || cs.Role != RolePrewarmed {
			continue
		}
		p := &PrewarmReport{Color: c, Version: cs.Version, WarmedAt: cs.WarmedAt}
		switch {
		case o.colors != nil && !o.running(c):
			p.Reason = fmt.Sprintf("%s was warmed with %s but is not running: run zdml prewarm again", c, cs.Version)
		case desired == nil || desired.ConfigHash != cs.ConfigHash:
			want := "an unreadable desired state"
			if desired != nil {
				want = desired.Version
			}
			p.Reason = fmt.Sprintf("%s is warm with %s, but desired.yaml wants %s: run zdml prewarm again", c, cs.Version, want)
		default:
			p.Ready, p.Reason = true, fmt.Sprintf("%s is warm with %s: zdml deploy-fast swaps it in", c, cs.Version)
		}
		return p
	}
	return nil
}

func colorReport(c spec.Color, cs *ColorState, o observation) ColorReport {
	cr := ColorReport{Color: c, Role: RoleStopped}
	if cs != nil {
		cr.Role, cr.Version, cr.ID, cr.Addr, cr.InstanceID, cr.WarmedAt = cs.Role, cs.Version, cs.ID, cs.Addr, cs.InstanceID, cs.WarmedAt
	}
	if st, ok := o.colors[c]; ok {
		cr.Running, cr.ExitErr = st.Running, st.ExitErr
		if st.Running {
			cr.Version, cr.ID, cr.Addr, cr.Priority = st.ModelVersion, st.ID, st.Addr, st.Priority.String()
			if st.InstanceID != "" {
				cr.InstanceID = st.InstanceID
			}
		} else if cr.Role != RoleStopped {
			cr.Role = RoleStopped + " (was " + cr.Role + ")"
		}
	}
	return cr
}

func sourceName(s Source) string {
	if s == nil {
		return ""
	}
	return s.String()
}

// conditions derives the sync state and the Ready, Progressing and
// Degraded conditions.
func (r *Reconciler) conditions(o observation, rep StatusReport) (string, []Condition) {
	s := r.state
	serving := rep.ActiveColor != "" && (o.colors == nil || o.running(rep.ActiveColor))
	if o.colors != nil && !o.route.Running {
		serving = false
	}
	set := func(typ string, ok bool, reason, msg string) {
		st := "False"
		if ok {
			st = "True"
		}
		s.SetCondition(typ, st, reason, msg)
	}
	if serving {
		set(CondReady, true, "Serving", "nginx routes to "+string(rep.ActiveColor)+" "+rep.ActiveVersion)
	} else {
		set(CondReady, false, "NotServing", "no healthy color behind nginx")
	}
	state := SyncSynced
	switch {
	case s.InProgress != nil && rep.Canary != nil:
		state = SyncProgressing
		set(CondProgressing, true, "Canary"+title(rep.Canary.Status), fmt.Sprintf("canary %s at %d%%: %s", rep.Canary.DeployID, rep.Canary.Weight, rep.Canary.Message))
	case s.InProgress != nil:
		state = SyncProgressing
		set(CondProgressing, true, "Deploying", s.InProgress.Kind+" "+s.InProgress.DeployID+" at step "+s.InProgress.Step)
	case rep.Quarantine != nil:
		state = SyncQuarantined
		set(CondProgressing, false, "Quarantined", rep.Quarantine.Reason)
	case rep.Retry != nil:
		state = SyncRetrying
		set(CondProgressing, true, "Retrying", rep.Retry.Describe(time.Now()))
	case rep.DesiredError != "":
		state = SyncDegraded
		set(CondProgressing, false, "DesiredUnreadable", rep.DesiredError)
	case s.Desired != nil && s.Deployed != nil && s.Desired.SpecHash == s.Deployed.SpecHash && serving:
		set(CondProgressing, false, "Synced", "deployed "+s.Deployed.Version+" at "+shortCommit(s.Deployed.Commit))
	case s.Desired != nil && r.awaitingPromotion():
		state = SyncProgressing
		set(CondProgressing, true, "AwaitingPromotion", "standby warm with "+s.Desired.Version+"; run zdml deploy-fast")
	default:
		state = SyncProgressing
		set(CondProgressing, true, "OutOfSync", "desired state differs from the deployed one")
	}
	if !serving && s.Deployed != nil {
		state = SyncDegraded
	}
	switch {
	case !serving && s.Deployed != nil:
		set(CondDegraded, true, "NotServing", "the active color or nginx is down")
	case state == SyncQuarantined:
		set(CondDegraded, true, "Quarantined", rep.Quarantine.Reason)
	case state == SyncDegraded:
		set(CondDegraded, true, "DesiredUnreadable", rep.DesiredError)
	case s.LastDeploy != nil && s.LastDeploy.Outcome == OutcomeDegraded && len(s.LastDeploy.Degraded) > 0:
		l := s.LastDeploy
		set(CondDegraded, true, l.Degraded[0].Reason, l.Kind+" "+l.ID+" degraded: "+l.Reason)
	default:
		set(CondDegraded, false, "AsExpected", "")
	}
	return state, append([]Condition(nil), s.Conditions...)
}

// awaitingPromotion reports whether the standby is warm with the desired
// version, waiting for `zdml deploy-fast`.
func (r *Reconciler) awaitingPromotion() bool {
	d := r.state.Desired
	for _, c := range spec.Colors {
		if cs := r.state.Colors[c]; cs != nil && d != nil && cs.Role == RolePrewarmed && cs.ConfigHash == d.ConfigHash {
			return true
		}
	}
	return false
}

func shortCommit(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	if commit == "" {
		return "(file)"
	}
	return commit
}

// publish refreshes the status snapshot the API serves and the gauges.
// An empty observation reuses the last one.
func (r *Reconciler) publish(o observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.colors == nil {
		o = r.lastObs
	} else {
		r.lastObs = o
	}
	rep := r.report(o)
	r.snapshot = rep
	r.metrics.setSync(rep.SyncState)
	r.metrics.setActive(rep.ActiveColor)
	dep := r.state.Deployed
	if dep == nil {
		dep = &Revision{}
	}
	r.metrics.setVersions(rep.DesiredVersion, dep.Version, rep.DesiredCommit, dep.Commit)
	next := 0.0
	if rep.Retry != nil {
		next = float64(rep.Retry.NextAttemptAt.Unix())
	}
	r.metrics.retryNext.Set(next)
}

// Status returns the latest status report.
func (r *Reconciler) Status() StatusReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshot
}

// title upper-cases the first letter: "paused" -> "Paused", for reasons.
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
