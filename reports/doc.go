// Package reports turns a scenario's raw results and the reconciler's step
// events into a markdown report with PNG charts (gonum/plot).
//
// Beside each report (<date>-<scenario>.md) goes its record
// (<date>-<scenario>.json): the few numbers and words latest.md says about
// the run, computed from its raw results. The raw results under
// reports/runs/ are large and stay on the machine that made them; the
// records are committed with the reports, and latest.md is built from the
// newest record of every scenario in the reports directory (Record,
// LatestRecords, Summary), so the runs of different commands on different
// days add up to one summary. A report written before records existed has
// none and is left out of latest.md until its scenario runs again (or
// `zdml report` regenerates it from its raw run, where that is still on the
// machine). A record this code cannot read is an error naming its file,
// never a silent gap; a change of format that old records cannot follow
// takes a new RecordVersion.
package reports
