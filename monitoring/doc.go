// Package monitoring holds the Prometheus scrape configuration, alert and
// recording rules and Grafana provisioning, and runs a local Prometheus
// against the stack (make monitor).
package monitoring
