package buildinfo

import "runtime/debug"

// Revision is the VCS revision bi was built from, shortened to 12 hex
// digits, with "+dirty" when the tree had uncommitted changes; "" when the
// build recorded none (go run, a test binary, a build outside git).
func Revision(bi *debug.BuildInfo) string {
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev[:min(12, len(rev))] + dirty
}
