package spec

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a desired.yaml file, located by file, line and
// field path so that a user can jump to it: `desired.yaml:7: spec.strategy.type: ...`.
type FieldError struct {
	File  string // file name as given to Parse; may be empty
	Line  int    // 1-based; 0 when unknown (a Document built in code)
	Field string // dotted path such as spec.strategy.type; empty for the whole file
	Msg   string
}

// Error formats the error as file:line: field: message, leaving out the
// parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, in file order. Parse returns
// them together so that a user fixes a file in one pass, not one error at a
// time.
type Errors []*FieldError

// Error joins the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each error to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
