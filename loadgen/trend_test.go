package loadgen

import (
	"math"
	"testing"
	"time"
)

// TestTrends judges synthetic samples: 90 samples 10 s apart (15 minutes).
// The reconciler's memory wobbles but stays put, its goroutines grow by
// one every 5 samples (a leak of one per deploy), and a color runs only
// in the last two thirds.
func TestTrends(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var smp []Sample
	for i := range 90 {
		s := Sample{Time: t0.Add(time.Duration(i) * 10 * time.Second), Goroutines: 20 + i/5, NginxWorkers: 2, ModelServers: 1,
			StateDir: map[string]int64{"events.jsonl": int64(4096 * (1 + i/30))}}
		s.Procs = append(s.Procs, ProcSample{Name: SubjectReconciler, PIDs: []int{7}, RSS: int64(30<<20 + (i%3)<<20), FDs: 20})
		if i == 45 {
			s.NginxWorkers, s.ModelServers = 4, 2 // a deploy's moment: a median ignores it
		}
		if i >= 30 {
			s.Procs = append(s.Procs, ProcSample{Name: SubjectGreen, PIDs: []int{100 + i/10}, RSS: 50 << 20, FDs: 15})
		}
		smp = append(smp, s)
	}
	by := map[string]Trend{}
	for _, tr := range Trends(smp, t0, t0.Add(15*time.Minute)) {
		by[tr.Name] = tr
	}
	tests := []struct {
		name        string
		first, last float64
		grows       bool
	}{
		{"reconciler RSS", 31 << 20, 31 << 20, false},
		{"reconciler open files", 20, 20, false},
		{"reconciler goroutines", 22.5, 34.5, true},
		{"nginx workers", 2, 2, false},
		{"model-server processes", 1, 1, false},
		{TrendDisk, 4096, 3 * 4096, false}, // +8 KiB: under the 1 MiB tolerance
	}
	for _, tt := range tests {
		got, ok := by[tt.name]
		if !ok {
			t.Errorf("no trend %q (have %v)", tt.name, by)
			continue
		}
		if got.First != tt.first || got.Last != tt.last || got.Grows != tt.grows {
			t.Errorf("%s: first %g last %g grows %v; want %g, %g, %v", tt.name, got.First, got.Last, got.Grows, tt.first, tt.last, tt.grows)
		}
	}
	g := by["reconciler goroutines"]
	// One goroutine per 50 s is 72 an hour.
	if math.Abs(g.SlopePerHour-72) > 1 || g.N != 90 {
		t.Errorf("goroutines slope %.2f/h over %d samples, want 72/h over 90", g.SlopePerHour, g.N)
	}
	green := by["green RSS"]
	if green.N != 60 || green.PIDs != 6 || !math.IsNaN(green.First) || green.Grows {
		t.Errorf("green: %d samples from %d processes, first third %g, grows %v; want 60 from 6, none in the first third, not judged",
			green.N, green.PIDs, green.First, green.Grows)
	}
	if _, ok := by["blue RSS"]; ok {
		t.Errorf("blue never ran, yet has a trend")
	}
	a := &Analysis{Trends: Trends(smp, t0, t0.Add(15*time.Minute))}
	if n, err := a.resourceValue("growing"); err != nil || n != 1 {
		t.Errorf("growing = %g (%v), want 1 (the goroutines)", n, err)
	}
}
