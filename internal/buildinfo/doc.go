// Package buildinfo names the source a binary was built from, for the
// model server's /health and a load test's recorded environment.
package buildinfo
