package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/zero-downtime-ml/zdml/spec"
	"go.yaml.in/yaml/v3"
)

// maxScenarioSize bounds a scenario file: it is a few dozen lines.
const maxScenarioSize = 1 << 20

// strictDecoder walks a yaml.Node tree beside the Go value it fills, so
// that every error carries the field's dotted path and line, and unknown
// fields are reported with the list of known ones.
type strictDecoder struct {
	file  string
	errs  spec.Errors
	lines map[string]int
}

// decodeStrict decodes one YAML document into v (a pointer to a struct)
// and returns the line of every field written.
func decodeStrict(file string, data []byte, v any) (map[string]int, error) {
	d := &strictDecoder{file: file, lines: map[string]int{}}
	if len(data) > maxScenarioSize {
		return nil, spec.Errors{d.errorf(0, "", "file is larger than %d bytes", maxScenarioSize)}
	}
	root, err := parseOneDocument(data)
	if err != nil {
		return nil, spec.Errors{d.yamlError(err)}
	}
	d.value("", root, reflect.ValueOf(v).Elem())
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
		return nil, d.errs
	}
	return d.lines, nil
}

func parseOneDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document in the file")
	}
	if len(doc.Content) != 1 {
		return nil, errors.New("empty document")
	}
	return doc.Content[0], nil
}

func (d *strictDecoder) errorf(line int, field, format string, args ...any) *spec.FieldError {
	return &spec.FieldError{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (d *strictDecoder) fail(n *yaml.Node, field, format string, args ...any) {
	d.errs = append(d.errs, d.errorf(n.Line, field, format, args...))
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the YAML parser's messages whose line the library
// reports zero-based (the line where the enclosing collection starts); they
// are shifted to the 1-based numbering every other error uses.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected '-' indicator", "did not find expected <document start>",
	"did not find expected key", "did not find expected node content",
}

func (d *strictDecoder) yamlError(err error) *spec.FieldError {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return d.errorf(0, "", "invalid YAML: %s", err)
	}
	line, _ := strconv.Atoi(m[1])
	if slices.Contains(parserProblems, m[2]) {
		line++
	}
	return d.errorf(line, "", "invalid YAML: %s", m[2])
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *strictDecoder) value(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.fail(n, path, "anchors and aliases are not supported")
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	if path != "" {
		d.lines[path] = n.Line
	}
	if v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			var le *lineError
			if errors.As(err, &le) {
				d.errs = append(d.errs, d.errorf(le.line, le.field, "%s", le.msg))
				return
			}
			d.fail(n, path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(path, n, v)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(path, n, v.Elem())
	case reflect.Slice:
		d.sequence(path, n, v)
	default:
		d.scalar(path, n, v)
	}
}

func (d *strictDecoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		field := joinField(path, k.Value)
		idx, ok := fields[k.Value]
		switch {
		case !ok:
			d.fail(k, field, "unknown field (known: %s)", knownList(fields))
		case seen[k.Value]:
			d.fail(k, field, "duplicate field")
		default:
			seen[k.Value] = true
			d.value(field, val, v.Field(idx))
		}
	}
}

func (d *strictDecoder) sequence(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i))
	}
	v.Set(s)
}

func (d *strictDecoder) scalar(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want a %s, got %s", kindName(v.Kind()), describe(n))
		return
	}
	if v.Kind() == reflect.String && n.ShortTag() != "!!str" {
		d.fail(n, path, "want a string, got %s (quote it)", describe(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(n, path, "want a %s, got %s", kindName(v.Kind()), describe(n))
	}
}

func joinField(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

// yamlFields maps each yaml tag of struct type t to its field index.
func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			out[tag] = i
		}
	}
	return out
}

func knownList(fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "whole number"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean (true or false)"
	}
	return k.String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}
