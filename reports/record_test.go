package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRecordRoundTrip writes reports and reads their records back: the
// summary built from the files is the summary built from the reports.
func TestRecordRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		rep  func(*testing.T) *Report
	}{
		{"deploy", fixtureReport},
		{"large model, another command", largeFixtureReport},
		{"series", seriesFixture},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rep(t)
			dir := t.TempDir()
			md, err := r.Write(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := strings.TrimSuffix(md, ".md") + ".json"
			got, err := ReadRecord(path)
			if err != nil {
				t.Fatal(err)
			}
			want := r.Record()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("record read back\n%+v\nwant\n%+v", got, want)
			}
			if g, w := Summary([]*Record{got}), Summary([]*Record{want}); !bytes.Equal(g, w) {
				t.Errorf("summary from %s:\n%s\nfrom the report:\n%s", path, g, w)
			}
			latest, err := LatestRecords(dir)
			if err != nil || len(latest) != 1 || latest[0].Scenario != r.Name() {
				t.Errorf("LatestRecords(%s) = %v, %v; want the one record of %s", dir, latest, err, r.Name())
			}
		})
	}
}

// TestRecordGolden pins the record's format: records are committed, and a
// change that cannot read the old ones must be a new RecordVersion.
func TestRecordGolden(t *testing.T) {
	dir := t.TempDir()
	path, err := fixtureReport(t).Record().Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "2026-11-25-deploy-under-load.json" {
		t.Errorf("record written to %s, want 2026-11-25-deploy-under-load.json beside the report", path)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := golden(t, "synthetic-run.golden.json", got); !bytes.Equal(got, want) {
		t.Errorf("record differs from testdata/synthetic-run.golden.json (go test ./reports -update after checking):\n%s", got)
	}
}

// TestLatestRecordsAddsUpRuns is a reports directory as a fresh clone has
// it after runs of several commands on several days: latest.md gets the
// newest run of every scenario, whichever command made it.
func TestLatestRecordsAddsUpRuns(t *testing.T) {
	dir := t.TempDir()
	older := fixtureReport(t).Record() // deploy-under-load, 2026-11-25
	newer := fixtureReport(t).Record()
	newer.Started = older.Started.Add(5 * 24 * time.Hour)
	newer.Requests, newer.Failed = 150, 0
	large := largeFixtureReport(t).Record()
	soak := seriesFixture(t).Record() // 2026-12-06
	for _, rec := range []*Record{newer, soak, older, large} {
		if _, err := rec.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := LatestRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.BaseName())
	}
	want := []string{"2026-11-30-deploy-under-load", "2026-11-25-deploy-under-load-large", "2026-12-06-soak"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("latest records %v, want %v", got, want)
	}
	sum := string(Summary(recs))
	for _, w := range []string{
		"| [deploy-under-load](2026-11-30-deploy-under-load.md): standard deploy under load |",
		"| 150 | 0 (0.00%) |",
		"[deploy-under-load-large](2026-11-25-deploy-under-load-large.md)",
		"[soak](2026-12-06-soak.md): (not in the seed)",
		"| 3 deploys, 5.0 s in windows |",
		"by `make loadtest-deploy`, `make loadtest-large` and `make soak`",
	} {
		if !strings.Contains(sum, w) {
			t.Errorf("summary lacks %q:\n%s", w, sum)
		}
	}
	if strings.Contains(sum, "2026-11-25-deploy-under-load.md") {
		t.Errorf("summary still links the older run of deploy-under-load:\n%s", sum)
	}
}

// TestReadRecordErrors: a record that is not what this code writes is an
// error naming the file and what is wrong, never a row with zeros.
func TestReadRecordErrors(t *testing.T) {
	good, err := json.MarshalIndent(fixtureReport(t).Record(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) string {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("the record has no %q", old)
		}
		return strings.Replace(string(good), old, new, 1)
	}
	for _, tt := range []struct {
		name, file, body, want string
	}{
		{"empty", "", "", "empty"},
		{"not JSON", "", "scenario: soak\n", "line 1: invalid character"},
		{"cut short", "", string(good[:200]), "cut short"},
		{"a wrong type", "", edit(`"requests": 120`, `"requests": "120"`), "line 16: json: cannot unmarshal string"},
		{"an unknown field", "", edit(`"requests": 120`, `"requests": 120, "p99": 3`), `unknown field "p99"`},
		{"another version", "", edit(`"version": 1`, `"version": 2`), "version 2, this zdml reads version 1"},
		{"no scenario", "-.json", edit(`"scenario": "deploy-under-load"`, `"scenario": ""`), "no scenario"},
		{"more failed than sent", "", edit(`"failed": 2`, `"failed": 200`), "200 failed of 120 requests"},
		{"an unknown duration", "", edit(`"kind": "deploy"`, `"kind": "minutes"`), `duration kind "minutes"`},
		{"data after it", "", string(good) + "{}", "data after the record"},
		{"named for another run", "2026-11-26-deploy-under-load.json", string(good),
			"holds the run of deploy-under-load started 2026-11-25T20:00:00Z, which is 2026-11-25-deploy-under-load.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := tt.file
			if file == "" {
				file = "2026-11-25-deploy-under-load.json"
			}
			path := filepath.Join(dir, file)
			if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, read := range []func() error{
				func() error { _, err := ReadRecord(path); return err },
				func() error { _, err := LatestRecords(dir); return err },
			} {
				err := read()
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err %v, want one naming %s and saying %q", err, path, tt.want)
				}
			}
		})
	}
}

func TestTimingString(t *testing.T) {
	for _, tt := range []struct {
		name string
		t    Timing
		want string
	}{
		{"no deploy", Timing{Kind: TimingRun, Seconds: 40.46}, "40.5 s (no deploy)"},
		{"deploy", Timing{Kind: TimingDeploy, Seconds: 6.2}, "6.2 s"},
		{"prewarm", Timing{Kind: TimingPrewarm, Seconds: 0.6, FastDeploySeconds: 0.34}, "0.6 s prewarm + 0.3 s fast deploy"},
		{"series", Timing{Kind: TimingSeries, Deploys: 20, Seconds: 95}, "20 deploys, 95.0 s in windows"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			b, err := json.Marshal(tt.t)
			if err != nil {
				t.Fatal(err)
			}
			var back Timing
			if err := json.Unmarshal(b, &back); err != nil || back != tt.t {
				t.Errorf("%s read back as %+v (%v)", b, back, err)
			}
		})
	}
}
