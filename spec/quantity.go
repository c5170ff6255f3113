package spec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Quantity is a byte count written as Kubernetes writes memory: "2Gi", "512Mi", "1G".
type Quantity int64

var quantitySuffixes = []struct {
	suffix string
	mult   int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// ParseQuantity parses "2Gi", "512Mi", "1G" or a plain byte count.
func ParseQuantity(s string) (Quantity, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, q := range quantitySuffixes {
		if strings.HasSuffix(num, q.suffix) {
			num, mult = strings.TrimSuffix(num, q.suffix), q.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	// !(v >= 0) also rejects NaN, whose conversion to an integer is undefined.
	if err != nil || !(v >= 0) || v*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("want a memory size such as \"2Gi\" or \"512Mi\", got %q", s)
	}
	return Quantity(v * float64(mult)), nil
}

// String writes the quantity in the largest binary unit that divides it.
func (q Quantity) String() string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if q != 0 && int64(q)%u.mult == 0 {
			return strconv.FormatInt(int64(q)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(q), 10)
}

// UnmarshalYAML reads a memory size.
func (q *Quantity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a memory size such as \"2Gi\"")
	}
	v, err := ParseQuantity(n.Value)
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// MarshalYAML writes the size as a string.
func (q Quantity) MarshalYAML() (any, error) { return q.String(), nil }

// MarshalJSON writes the size as a string.
func (q Quantity) MarshalJSON() ([]byte, error) { return json.Marshal(q.String()) }

// UnmarshalJSON reads a memory size string.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseQuantity(s)
	if err != nil {
		return err
	}
	*q = v
	return nil
}
