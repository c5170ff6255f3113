// Package reports turns a scenario's raw results and the reconciler's step
// events into a markdown report with PNG charts (gonum/plot).
package reports
