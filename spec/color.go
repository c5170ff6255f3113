package spec

import "fmt"

// Color names one of the two slots a model version can run in.
type Color string

const (
	Blue  Color = "blue"
	Green Color = "green"
)

// Colors lists both colors in a stable order.
var Colors = []Color{Blue, Green}

// ParseColor accepts exactly "blue" or "green".
func ParseColor(s string) (Color, error) {
	switch c := Color(s); c {
	case Blue, Green:
		return c, nil
	}
	return "", fmt.Errorf("color %q: want blue or green", s)
}

// Other returns the opposite color: the standby of an active color.
func (c Color) Other() Color {
	if c == Blue {
		return Green
	}
	return Blue
}

// String returns the color's name.
func (c Color) String() string { return string(c) }

// Valid reports whether c is blue or green.
func (c Color) Valid() bool { return c == Blue || c == Green }
