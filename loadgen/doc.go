// Package loadgen runs deploy-under-load scenarios on vegeta: declared in
// YAML (scenarios/README.md), it drives chat traffic through nginx, commits
// desired.yaml at a chosen moment (GitOps), follows the reconciler's
// events.jsonl, records every request with the color and version that
// served it, and checks k6-style thresholds.
//
// A run directory holds results.bin (vegeta's gob encoding, with the
// harness's measurements as X-Loadgen-* annotations in each result's
// headers: request kind, time to first token, status, connection reuse),
// events.jsonl (the reconciler's step events during the run), run.json
// (scenario, deploy commits and outcomes, environment) and, for a scenario
// with sampling, samples.jsonl (the stack's memory, open files,
// goroutines, processes and disk over time). A scenario makes one deploy
// or a series of them (a storm, a soak). The reports package renders a
// run directory alone. RunManaged starts a stack of its own for
// a scenario (Stack: temp git repository, zdml reconcile on free ports) and
// stops all of it afterwards, also on Ctrl-C.
package loadgen
