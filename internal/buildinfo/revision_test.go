package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestRevision(t *testing.T) {
	const full = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{name: "clean", settings: []debug.BuildSetting{{Key: "vcs.revision", Value: full}, {Key: "vcs.modified", Value: "false"}}, want: "0123456789ab"},
		{name: "dirty", settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: full}}, want: "0123456789ab+dirty"},
		{name: "short revision", settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, want: "abc"},
		{name: "no vcs", settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Revision(&debug.BuildInfo{Settings: tt.settings}); got != tt.want {
				t.Errorf("Revision = %q, want %q", got, tt.want)
			}
		})
	}
	// This test binary's own build info reads without panicking.
	if bi, ok := debug.ReadBuildInfo(); ok {
		t.Logf("test binary revision: %q", Revision(bi))
	}
}
