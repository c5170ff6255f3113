// Package analysis judges a canary against the stable color on live
// metrics. It reads each color's own /metrics (no Prometheus needed),
// takes the difference of two scrapes as one window per color, and
// compares the canary's error rate, latency, time to first token and
// generation speed with the stable color's over the same window. A window
// with too little canary traffic, or a metric that cannot be computed, is
// inconclusive: never a pass and never a fail (the peers' known failure is
// to promote or abort on missing data). With a Prometheus address, PromQL
// metrics are judged too.
package analysis
