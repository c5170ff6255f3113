package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/zero-downtime-ml/zdml/reconciler"
)

// TestPrintStatusRetryingAndDegraded: zdml status names a deploy that is
// retrying (kind, reason, next attempt) and a last deploy that was
// degraded (why), and zdml history the same.
func TestPrintStatusRetryingAndDegraded(t *testing.T) {
	now := time.Now()
	rep := reconciler.StatusReport{SyncState: reconciler.SyncRetrying, ActiveColor: "blue", ActiveVersion: "v1",
		Retry: &reconciler.RetryState{Attempt: 2, Kind: reconciler.TransientPortInUse, FailedStep: "preflight",
			Reason: "standby green: port 127.0.0.1:8001 is already in use", NextAttemptAt: now.Add(9 * time.Second)},
		LastDeploy: &reconciler.DeploySummary{ID: "d1", Kind: "deploy", Outcome: reconciler.OutcomeDegraded,
			Reason: "drain timed out after 1s with 1 request in flight", FromVersion: "v0", ToVersion: "v1", StartedAt: now, FinishedAt: now}}
	var b bytes.Buffer
	printStatus(&b, rep)
	for _, want := range []string{"sync:     retrying", "retrying: attempt 2 failed at preflight (port_in_use, transient)",
		"next attempt at", "degraded: drain timed out after 1s with 1 request in flight"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("zdml status lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	printHistory(&b, []reconciler.DeployRecord{{ID: "d2", Kind: "deploy", Outcome: reconciler.OutcomeFailed, FailedStep: "preflight",
		Reason: "port in use", Retry: rep.Retry, StartedAt: now, FinishedAt: now}})
	if !strings.Contains(b.String(), "retry: attempt 2 (port_in_use), next at") {
		t.Errorf("zdml history lacks the retry:\n%s", b.String())
	}
}
