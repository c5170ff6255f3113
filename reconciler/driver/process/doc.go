// Package process is the process runtime's driver, the default: each color
// is a local model-server process in its own session, recorded under
// <state>/colors/<color>/ (pid, instance.json, modelserver.log) so that a
// restarted reconciler adopts it, and run at a lower CPU priority (nice and
// autogroup) while it loads beside the serving color.
package process
