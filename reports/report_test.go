package reports

import (
	"bytes"
	"errors"
	"flag"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/zero-downtime-ml/zdml/loadgen"
)

var update = flag.Bool("update", false, "update the .golden files")

const fixtureDir = "testdata/synthetic-run"

func fixtureReport(t *testing.T) *Report {
	t.Helper()
	if *regen {
		writeSyntheticRun(t, fixtureDir)
	}
	r, err := Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// golden compares got with testdata/<name>, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	return want
}

func TestMarkdownGolden(t *testing.T) {
	r := fixtureReport(t)
	var b bytes.Buffer
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	if want := golden(t, "synthetic-run.golden.md", b.Bytes()); !bytes.Equal(b.Bytes(), want) {
		t.Errorf("markdown differs from testdata/synthetic-run.golden.md (go test ./reports -update after checking):\n%s", b.String())
	}
}

func TestSummaryGolden(t *testing.T) {
	// Two runs of two commands, rows of one seed row in the order given.
	got := Summary([]*Record{fixtureReport(t).Record(), largeFixtureReport(t).Record()})
	if want := golden(t, "latest.golden.md", got); !bytes.Equal(got, want) {
		t.Errorf("summary differs from testdata/latest.golden.md:\n%s", got)
	}
}

// TestChartsGolden compares the PNG bytes: gonum/plot's vgimg renderer with
// its embedded Liberation fonts is deterministic (the test renders twice to
// prove it), so a byte comparison is exact and needs no pixel tolerance.
func TestChartsGolden(t *testing.T) {
	r := fixtureReport(t)
	for _, c := range []struct {
		name string
		make func() ([]byte, error)
	}{{"latency", r.LatencyChart}, {"rps", r.RateChart}} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.make()
			if err != nil {
				t.Fatal(err)
			}
			again, err := c.make()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, again) {
				t.Fatal("two renders of the same chart differ: PNG output is not deterministic")
			}
			img, err := png.Decode(bytes.NewReader(got))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 300 {
				t.Errorf("chart is %dx%d, want at least 800x300", b.Dx(), b.Dy())
			}
			want := golden(t, "synthetic-run-"+c.name+".golden.png", got)
			if !bytes.Equal(got, want) {
				t.Errorf("chart differs from its golden file (%s)", pixelDiff(got, want))
			}
		})
	}
}

// pixelDiff says how two PNGs differ, to tell a font change from a bug.
func pixelDiff(a, b []byte) string {
	ia, err1 := png.Decode(bytes.NewReader(a))
	ib, err2 := png.Decode(bytes.NewReader(b))
	if err := errors.Join(err1, err2); err != nil {
		return err.Error()
	}
	if ia.Bounds() != ib.Bounds() {
		return "sizes " + ia.Bounds().String() + " and " + ib.Bounds().String()
	}
	n := 0
	bounds := ia.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			if !sameColor(ia, ib, image.Pt(x, y)) {
				n++
			}
		}
	}
	return strconv.Itoa(n) + " pixels differ"
}

func sameColor(a, b image.Image, p image.Point) bool {
	r1, g1, b1, a1 := a.At(p.X, p.Y).RGBA()
	r2, g2, b2, a2 := b.At(p.X, p.Y).RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// TestReportMatchesRawFile recomputes the headline numbers straight from
// results.bin with vegeta's own decoder and checks the report says the same.
func TestReportMatchesRawFile(t *testing.T) {
	r := fixtureReport(t)
	total, failed, perColor := countRaw(t, filepath.Join(fixtureDir, loadgen.ResultsFile))
	a := r.Analysis
	if a.All.Requests != total || a.All.Failed != failed {
		t.Errorf("report: %d requests, %d failed; raw file: %d, %d", a.All.Requests, a.All.Failed, total, failed)
	}
	for c, n := range perColor {
		if a.All.ByColor[c] != n {
			t.Errorf("color %q: report %d, raw %d", c, a.All.ByColor[c], n)
		}
	}
	phaseSum := 0
	for _, p := range a.Phases {
		phaseSum += p.Requests
	}
	if phaseSum != total {
		t.Errorf("phases hold %d requests, the run %d: every request belongs to exactly one phase", phaseSum, total)
	}
	var names []string
	for _, p := range a.Phases {
		names = append(names, p.Name)
	}
	if got, want := strings.Join(names, ","), "before,warmup,swap,drain,after"; got != want {
		t.Errorf("phases = %s, want %s", got, want)
	}
}

// countRaw reads a results file with vegeta alone: total, failed (error
// or non-2xx) and successful-or-not requests per serving color.
func countRaw(t *testing.T, path string) (total, failed int, perColor map[string]int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	perColor = map[string]int{}
	for {
		var res vegeta.Result
		if err := dec.Decode(&res); err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			t.Fatal(err)
		}
		total++
		if res.Error != "" || res.Code < 200 || res.Code > 299 {
			failed++
		}
		perColor[res.Headers.Get("X-Model-Color")]++
	}
}
