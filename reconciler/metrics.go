package reconciler

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zero-downtime-ml/zdml/reconciler/analysis"
	"github.com/zero-downtime-ml/zdml/spec"
)

// Sync states, as status and zdml_reconciler_sync_state name them.
const (
	SyncSynced      = "synced"
	SyncProgressing = "progressing"
	SyncDegraded    = "degraded"
	SyncQuarantined = "quarantined"
	// SyncRetrying: the desired state's deploy failed for a reason of the
	// environment and is tried again by itself (status `retry`).
	SyncRetrying = "retrying"
)

var syncStates = []string{SyncSynced, SyncProgressing, SyncDegraded, SyncQuarantined, SyncRetrying}

// metrics are the reconciler's Prometheus metrics (docs/architecture.md,
// "Reconciler"). Labels are bounded: outcomes, strategies, step names,
// colors, states and self-heal reasons are fixed sets; versions and
// commits change only with deploys.
type metrics struct {
	deploys        *prometheus.CounterVec
	deployDuration *prometheus.HistogramVec
	stepDuration   *prometheus.HistogramVec
	activeColor    *prometheus.GaugeVec
	versionInfo    *prometheus.GaugeVec
	syncState      *prometheus.GaugeVec
	lastDeploy     *prometheus.GaugeVec
	lastDrain      prometheus.Gauge
	lastDrainIn    prometheus.Gauge
	lastDrainLeft  prometheus.Gauge
	retries        *prometheus.CounterVec
	retryNext      prometheus.Gauge
	selfHeals      *prometheus.CounterVec
	canaryWeight   prometheus.Gauge
	canaryWindows  *prometheus.CounterVec
}

// deployBuckets reach 30 minutes: a cold load of a large model is slow.
var deployBuckets = []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zdml_reconciler_deploys_total",
			Help: "Finished deploys by outcome (succeeded, degraded, rolled_back, failed)."}, []string{"outcome"}),
		deployDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zdml_reconciler_deploy_duration_seconds",
			Help: "Duration of a whole deploy.", Buckets: deployBuckets}, []string{"strategy"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zdml_reconciler_step_duration_seconds",
			Help: "Duration of each deploy step.", Buckets: append([]float64{0.01, 0.05, 0.1}, deployBuckets...)}, []string{"step"}),
		activeColor: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zdml_reconciler_active_color",
			Help: "1 for the color nginx routes to, 0 for the other."}, []string{"color"}),
		versionInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zdml_reconciler_version_info",
			Help: "Desired and deployed version and commit (value 1)."},
			[]string{"desired_version", "deployed_version", "desired_commit", "deployed_commit"}),
		syncState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zdml_reconciler_sync_state",
			Help: "1 for the current sync state."}, []string{"state"}),
		lastDeploy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zdml_reconciler_last_deploy_timestamp_seconds",
			Help: "Unix time of the last deploy finishing, by outcome."}, []string{"outcome"}),
		lastDrain: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zdml_reconciler_last_drain_seconds",
			Help: "How long the last drain took."}),
		lastDrainIn: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zdml_reconciler_last_drain_inflight",
			Help: "Requests in flight on the old color when the last drain began."}),
		lastDrainLeft: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zdml_reconciler_last_drain_left_inflight",
			Help: "Requests still in flight on the old color when the last drain ended (0 unless it timed out)."}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zdml_reconciler_deploy_retries_total",
			Help: "Deploys that failed for a reason of the environment and were scheduled for another attempt, by kind."}, []string{"kind"}),
		retryNext: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zdml_reconciler_retry_next_attempt_timestamp_seconds",
			Help: "Unix time of the next attempt of a deploy being retried (0 when none is)."}),
		selfHeals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zdml_reconciler_self_heals_total",
			Help: "Self-heals by reason."}, []string{"reason"}),
		canaryWeight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zdml_reconciler_canary_weight",
			Help: "Percent of user traffic nginx sends to the canary (0 without a canary)."}),
		canaryWindows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zdml_reconciler_canary_windows_total",
			Help: "Canary analysis windows by verdict (pass, fail, inconclusive)."}, []string{"verdict"}),
	}
	if reg != nil {
		reg.MustRegister(m.deploys, m.deployDuration, m.stepDuration, m.activeColor, m.versionInfo,
			m.syncState, m.lastDeploy, m.lastDrain, m.lastDrainIn, m.lastDrainLeft, m.selfHeals, m.canaryWeight, m.canaryWindows,
			m.retries, m.retryNext)
	}
	for _, o := range Outcomes {
		m.deploys.WithLabelValues(o)
	}
	for _, k := range TransientKinds {
		m.retries.WithLabelValues(k)
	}
	for _, v := range []analysis.Verdict{analysis.Pass, analysis.Fail, analysis.Inconclusive} {
		m.canaryWindows.WithLabelValues(string(v))
	}
	return m
}

// setActive sets the active color gauge.
func (m *metrics) setActive(active spec.Color) {
	for _, c := range spec.Colors {
		v := 0.0
		if c == active {
			v = 1
		}
		m.activeColor.WithLabelValues(string(c)).Set(v)
	}
}

// setSync sets the sync state gauge.
func (m *metrics) setSync(state string) {
	for _, s := range syncStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.syncState.WithLabelValues(s).Set(v)
	}
}

// setVersions replaces the version info series.
func (m *metrics) setVersions(desiredVersion, deployedVersion, desiredCommit, deployedCommit string) {
	m.versionInfo.Reset()
	m.versionInfo.WithLabelValues(desiredVersion, deployedVersion, desiredCommit, deployedCommit).Set(1)
}
