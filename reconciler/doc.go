// Package reconciler converges the machine to desired.yaml: it watches the
// file or a git branch, runs the blue/green pipeline as a list of steps that
// observe before they act, rolls back when a gate fails, and records state,
// history and step events. Drivers run the colors: the contract is package
// driver, the runtimes driver/process and driver/docker, built by name in
// NewDriver.
package reconciler
