// Package procfs reads the process table from Linux's /proc: which pids
// exist, a process's state, parent, arguments, threads and memory
// (smaps_rollup), and the host's available memory. The reconciler uses it
// to find and adopt its model servers and for pre-flight's headroom checks
// and `zdml mem`, nginx to tell live workers from retiring ones. None of it
// needs a library.
package procfs
