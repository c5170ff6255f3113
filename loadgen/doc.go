// Package loadgen runs deploy-under-load scenarios on vegeta: declared in
// YAML, it drives chat traffic through nginx, commits desired.yaml at a chosen
// moment, records every request with the color and version that served it,
// and checks k6-style thresholds.
package loadgen
