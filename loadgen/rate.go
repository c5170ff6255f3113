package loadgen

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"go.yaml.in/yaml/v3"
)

// Rate is an open-loop request rate written "N/unit": "4/s", "90/m",
// "1/2s". The zero Rate means no rate was set.
type Rate struct {
	Freq int
	Per  time.Duration
}

// ParseRate reads "N/unit", where unit is s, m, h or a Go duration.
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("want a rate such as \"4/s\", got %q", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n <= 0 {
		return Rate{}, fmt.Errorf("rate %q: want a positive whole number of requests before the /", s)
	}
	unit = strings.TrimSpace(unit)
	if unit == "s" || unit == "m" || unit == "h" {
		unit = "1" + unit
	}
	per, err := time.ParseDuration(unit)
	if err != nil || per <= 0 {
		return Rate{}, fmt.Errorf("rate %q: want a time unit after the / (s, m, h or a duration such as 2s)", s)
	}
	return Rate{Freq: n, Per: per}, nil
}

// UnmarshalYAML reads the "N/unit" form.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a rate such as \"4/s\"")
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText writes the "N/unit" form.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads the "N/unit" form.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// String writes "4/s", "90/m" or "1/2s".
func (r Rate) String() string {
	if r.Freq == 0 {
		return ""
	}
	switch r.Per {
	case time.Second:
		return fmt.Sprintf("%d/s", r.Freq)
	case time.Minute:
		return fmt.Sprintf("%d/m", r.Freq)
	case time.Hour:
		return fmt.Sprintf("%d/h", r.Freq)
	}
	return fmt.Sprintf("%d/%s", r.Freq, r.Per)
}

// PerSecond is the rate in requests per second.
func (r Rate) PerSecond() float64 {
	if r.Per == 0 {
		return 0
	}
	return float64(r.Freq) / r.Per.Seconds()
}

// Pacer is vegeta's constant pacer for r.
func (r Rate) Pacer() vegeta.Pacer { return vegeta.ConstantPacer{Freq: r.Freq, Per: r.Per} }
