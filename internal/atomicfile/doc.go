// Package atomicfile replaces files so that a reader, or a process killed
// half-way, sees the old content or the new one and never a torn file. The
// reconciler's state files, nginx's configuration, Prometheus's
// configuration and rules, and a load test's run.json are all written
// through it.
package atomicfile
