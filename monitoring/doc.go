// Package monitoring holds the Prometheus scrape configuration, alert and
// recording rules and Grafana provisioning of zero-downtime-ml, and the Go
// around them:
//
//   - ScrapeConfig renders prometheus.yml (monitoring/prometheus.yml for the
//     process runtime, prometheus.compose.yml for compose) from one template;
//     both colors are always scraped, labelled color and role, so a stopped
//     standby shows as down, as expected.
//   - The rules (rules/*.yml, embedded) are unit-tested with promtool.
//   - Server runs Debian's prometheus on loopback with everything under one
//     directory (make monitor: .zdml/prometheus), and stops it cleanly.
//   - Client, Targets and Dashboard read Prometheus's HTTP API and the
//     Grafana dashboard JSON, so tests evaluate every panel's query.
//   - DeployWatch takes metric snapshots around a deploy and DeployReport
//     writes them as markdown (make deploy-monitored).
package monitoring
