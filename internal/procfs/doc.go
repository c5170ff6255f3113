// Package procfs reads the process table from Linux's /proc: which pids
// exist, a process's state, parent, arguments and threads. The reconciler
// uses it to find and adopt its model servers, nginx to tell live workers
// from retiring ones. None of it needs a library.
package procfs
