package monitoring

import (
	"math"
	"testing"

	"github.com/prometheus/common/model"
)

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    float64
		unit string
		want string
	}{
		{"seconds", 1.23456, UnitSeconds, "1.235s"},
		{"milliseconds", 0.0123, UnitSeconds, "12ms"},
		{"bytes", 3 << 20, UnitBytes, "3.0 MiB"},
		{"ratio", 0.0123, UnitRatio, "1.23 %"},
		{"zero ratio", 0, UnitRatio, "0.00 %"},
		{"rate", 2.5, UnitPerSec, "2.50/s"},
		{"count", 41.7, UnitCount, "42"},
		{"plain", 0.5, UnitNone, "0.5"},
		{"NaN: no requests in the window", math.NaN(), UnitSeconds, "n/a"},
		{"infinity", math.Inf(1), UnitSeconds, "+Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatValue(tc.v, tc.unit); got != tc.want {
				t.Errorf("FormatValue(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
			}
		})
	}
}

func TestReadings(t *testing.T) {
	v := model.Vector{
		{Metric: model.Metric{"color": "green", "version": "v2"}, Value: 1},
		{Metric: model.Metric{"color": "blue", "version": "v1"}, Value: 1},
	}
	got := readings(Metric{Name: "model version", By: []string{"color"}, Label: "version"}, v)
	want := []Reading{{Metric: "model version", Series: "blue", Value: 1, Text: "v1"}, {Metric: "model version", Series: "green", Value: 1, Text: "v2"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reading %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	s := Snapshot{Readings: got}
	if r, ok := s.Get("model version", "green"); !ok || r.Text != "v2" {
		t.Errorf("Get green: %+v %v", r, ok)
	}
	if _, ok := s.Get("model version", "purple"); ok {
		t.Error("Get found a series that does not exist")
	}
}
