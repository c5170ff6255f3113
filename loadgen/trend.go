package loadgen

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Trend says whether one reading of a soak's samples stays flat: the
// median of the samples in the run's first third of time against the
// median in its last third (medians, so that the spikes of the deploys
// themselves, a second color or an old nginx worker for a few seconds,
// do not decide), and the least-squares slope over every sample.
type Trend struct {
	Name string
	Unit string // "bytes" or "count"
	// N is how many samples had the reading; PIDs how many distinct
	// processes they came from (a color restarts at every deploy).
	N, PIDs int
	// First and Last are the medians of the first and last thirds.
	First, Last float64
	Min, Max    float64
	// SlopePerHour is the least-squares slope, in Unit per hour.
	SlopePerHour float64
	// Tolerance is how far Last may be above First and still be flat.
	Tolerance float64
	// Grows is true when Last is above First by more than Tolerance: a
	// leak, or growth by design that the report must name.
	Grows bool
}

// Growth is Last − First.
func (t Trend) Growth() float64 { return t.Last - t.First }

// TrendDisk names the state directory's disk use among the trends.
const TrendDisk = "state directory disk"

// point is one reading at a time, from one process.
type point struct {
	at  time.Time
	v   float64
	pid int
}

// Trends computes the trend of every reading the samples hold, for a run
// from start to end: each subject's RSS and open files, the reconciler's
// goroutines, the nginx workers, the model servers and the state
// directory's disk use.
func Trends(samples []Sample, start, end time.Time) []Trend {
	var out []Trend
	for _, sub := range []string{SubjectNginx, SubjectReconciler, SubjectBlue, SubjectGreen} {
		rss, fds := readings(samples, sub)
		if len(rss) == 0 {
			continue
		}
		out = append(out, newTrend(sub+" RSS", "bytes", rss, start, end, 0.10, 4<<20))
		out = append(out, newTrend(sub+" open files", "count", fds, start, end, 0.10, 3))
	}
	var gor, workers, servers, disk []point
	for _, s := range samples {
		if s.Goroutines >= 0 {
			gor = append(gor, point{at: s.Time, v: float64(s.Goroutines)})
		}
		workers = append(workers, point{at: s.Time, v: float64(s.NginxWorkers)})
		servers = append(servers, point{at: s.Time, v: float64(s.ModelServers)})
		disk = append(disk, point{at: s.Time, v: float64(s.StateDirBytes())})
	}
	out = append(out, newTrend("reconciler goroutines", "count", gor, start, end, 0.10, 5))
	out = append(out, newTrend("nginx workers", "count", workers, start, end, 0, 0.5))
	out = append(out, newTrend("model-server processes", "count", servers, start, end, 0, 0.5))
	out = append(out, newTrend(TrendDisk, "bytes", disk, start, end, 0.10, 1<<20))
	return out
}

func readings(samples []Sample, subject string) (rss, fds []point) {
	for _, s := range samples {
		p, ok := s.Proc(subject)
		if !ok {
			continue
		}
		pid := 0
		if len(p.PIDs) > 0 {
			pid = p.PIDs[0]
		}
		rss = append(rss, point{at: s.Time, v: float64(p.RSS), pid: pid})
		fds = append(fds, point{at: s.Time, v: float64(p.FDs), pid: pid})
	}
	return rss, fds
}

// newTrend judges pts: flat while the last third's median is at most the
// first's plus the larger of rel × first and abs.
func newTrend(name, unit string, pts []point, start, end time.Time, rel, abs float64) Trend {
	t := Trend{Name: name, Unit: unit, N: len(pts)}
	if len(pts) == 0 {
		return t
	}
	third := end.Sub(start) / 3
	var first, last []float64
	pids := map[int]bool{}
	t.Min, t.Max = math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		pids[p.pid] = true
		t.Min, t.Max = math.Min(t.Min, p.v), math.Max(t.Max, p.v)
		switch {
		case p.at.Before(start.Add(third)):
			first = append(first, p.v)
		case !p.at.Before(end.Add(-third)):
			last = append(last, p.v)
		}
	}
	t.PIDs = len(pids)
	t.First, t.Last = median(first), median(last)
	t.SlopePerHour = slope(pts, start)
	t.Tolerance = math.Max(rel*t.First, abs)
	t.Grows = len(first) > 0 && len(last) > 0 && t.Last-t.First > t.Tolerance
	return t
}

// median is the middle value (the mean of the two middle ones); NaN for
// none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// slope is the least-squares slope of pts, per hour.
func slope(pts []point, start time.Time) float64 {
	n := float64(len(pts))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, p := range pts {
		x := p.at.Sub(start).Hours()
		sx, sy, sxx, sxy = sx+x, sy+p.v, sxx+x*x, sxy+x*p.v
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// String is "reconciler RSS: 24.1 → 24.3 MiB (flat)".
func (t Trend) String() string {
	verdict := "flat"
	if t.Grows {
		verdict = "GROWS"
	}
	return fmt.Sprintf("%s: %g → %g %s (%s)", t.Name, t.First, t.Last, t.Unit, verdict)
}
