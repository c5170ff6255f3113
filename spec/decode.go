package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxErrors is how many errors Parse reports; the rest are counted.
const MaxErrors = 20

// MaxFileSize bounds a desired.yaml file: a spec is a few hundred bytes, and
// a huge file is a mistake, not a deployment.
const MaxFileSize = 1 << 20

// Load reads, decodes, defaults and validates the desired.yaml file at path.
func Load(path string) (*Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("spec: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes data strictly (unknown fields, wrong types, duplicate keys,
// anchors and several documents are errors), applies the defaults and
// validates the result. filename only labels errors. On failure it returns
// Errors with every problem found, each naming file, line and field.
func Parse(filename string, data []byte) (*Document, error) {
	d := newDecoder(filename)
	doc := &Document{file: filename, lines: d.lines}
	if !d.document(data, reflect.ValueOf(doc).Elem()) {
		return nil, d.errs
	}
	doc.bad = d.bad
	doc.SetDefaults()
	errs := d.errs
	if err := doc.Validate(); err != nil {
		errs = append(errs, err.(Errors)...)
	}
	if len(errs) > 0 {
		return nil, d.finish(errs)
	}
	return doc, nil
}

// Decode decodes one YAML document into v, a pointer to a struct, with the
// rules of Parse: fields by their yaml tags, unknown fields, wrong types,
// duplicate keys, anchors and several documents are errors. A field type
// may implement yaml.Unmarshaler; an error it returns that is a
// *FieldError keeps its own line and field. Decode returns the line of
// every field written, by dotted path (loadgen's scenarios use it to
// locate their own validation errors), or Errors.
func Decode(filename string, data []byte, v any) (map[string]int, error) {
	d := newDecoder(filename)
	if d.document(data, reflect.ValueOf(v).Elem()); len(d.errs) > 0 {
		return nil, d.finish(d.errs)
	}
	return d.lines, nil
}

// parseNode parses exactly one YAML document into its root node.
func parseNode(data []byte) (*yaml.Node, error) {
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
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("empty document")
	}
	return doc.Content[0], nil
}

// decoder walks a yaml.Node tree beside the Go type it decodes into, so that
// every error carries the field's dotted path and line, and every field that
// was written is remembered (a written zero is not a missing value).
type decoder struct {
	file  string
	errs  Errors
	lines map[string]int
	bad   map[string]bool // fields that failed to decode: validation skips them
	// dropped counts errors beyond MaxErrors: a file that is not a spec at
	// all would otherwise produce one error per line.
	dropped int
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}, bad: map[string]bool{}}
}

// document decodes data into v; false means data is not one YAML document
// of a sane size, and nothing was decoded.
func (d *decoder) document(data []byte, v reflect.Value) bool {
	if len(data) > MaxFileSize {
		d.errs = Errors{d.errorf(0, "", "file is larger than %d bytes", MaxFileSize)}
		return false
	}
	root, err := parseNode(data)
	if err != nil {
		d.errs = Errors{d.yamlError(err)}
		return false
	}
	d.value("", root, v)
	return true
}

// finish sorts errs by line and caps them at MaxErrors.
func (d *decoder) finish(errs Errors) Errors {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	if more := d.dropped + len(errs) - MaxErrors; more > 0 {
		errs = append(errs[:MaxErrors:MaxErrors], d.errorf(0, "", "and %d more errors", more))
	}
	return errs
}

func (d *decoder) errorf(line int, field, format string, args ...any) *FieldError {
	return &FieldError{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	d.failAt(n.Line, field, format, args...)
}

func (d *decoder) failAt(line int, field, format string, args ...any) {
	d.bad[field] = true
	if len(d.errs) >= MaxErrors {
		d.dropped++
		return
	}
	d.errs = append(d.errs, d.errorf(line, field, format, args...))
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the messages of yaml's parser (as opposed to its
// scanner). The library reports their line zero-based (the line where the
// enclosing collection starts) and leaves it out for the first line, so
// they are shifted to the 1-based numbering every other error uses.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected '-' indicator", "did not find expected <document start>",
	"did not find expected key", "did not find expected node content",
	"found duplicate %TAG directive", "found duplicate %YAML directive",
	"found incompatible YAML document", "found undefined tag handle",
}

// yamlError turns the YAML library's "yaml: line 3: msg" into file:3: msg.
func (d *decoder) yamlError(err error) *FieldError {
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

// value decodes n into v, which is addressable. It reports whether
// anything was written (null is the same as absent).
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.fail(n, path, "anchors and aliases are not supported")
		return true
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return false
	}
	if path != "" {
		d.lines[path] = n.Line
	}
	d.decode(path, n, v)
	return true
}

func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	if v.Addr().Type().Implements(unmarshalerType) {
		err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n)
		var fe *FieldError
		switch {
		case errors.As(err, &fe): // located more precisely than n
			d.failAt(fe.Line, fe.Field, "%s", fe.Msg)
		case err != nil:
			d.fail(n, path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(path, n, v)
	case reflect.Pointer:
		elem, before := reflect.New(v.Type().Elem()), len(d.errs)
		if d.value(path, n, elem.Elem()); len(d.errs) == before {
			v.Set(elem)
		}
	case reflect.Slice:
		d.sequence(path, n, v)
	default:
		d.scalar(path, n, v)
	}
}

// mapping decodes a YAML mapping into a struct by the fields' yaml tags.
func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping of fields, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			d.fail(key, path, "want a field name, got %s", describe(key))
			continue
		}
		child := joinPath(path, key.Value)
		idx, ok := fields[key.Value]
		switch {
		case !ok:
			d.fail(key, child, "unknown field (want one of %s)", knownList(fields))
		case seen[key.Value]:
			d.fail(key, child, "duplicate field")
		default:
			seen[key.Value] = true
			if d.value(child, val, v.Field(idx)) {
				d.lines[child] = key.Line // a block value starts below its key
			}
		}
	}
}

// sequence decodes a YAML sequence into a slice.
func (d *decoder) sequence(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "want a list, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(fmt.Sprintf("%s[%d]", path, i), item, out.Index(i))
	}
	v.Set(out)
}

// scalar decodes strings, integers, numbers and booleans; the YAML tag must
// fit the Go kind (a quoted "2" is not an integer, a 2 is not a bool).
func (d *decoder) scalar(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, got %s", kindName(v.Kind()), describe(n))
		return
	}
	tag := n.ShortTag()
	var err error
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
		return
	case reflect.Int, reflect.Int64:
		if tag != "!!int" {
			break
		}
		var i int64
		if err = n.Decode(&i); err == nil {
			v.SetInt(i)
			return
		}
	case reflect.Float64:
		if tag != "!!int" && tag != "!!float" {
			break
		}
		var f float64
		if err = n.Decode(&f); err == nil {
			v.SetFloat(f)
			return
		}
	case reflect.Bool:
		if tag != "!!bool" {
			break
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
		return
	}
	d.fail(n, path, "want %s, got %q", kindName(v.Kind()), n.Value)
}

func joinPath(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

// yamlFields maps each yaml tag name of t to its field index.
func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = i
	}
	return out
}

func knownList(fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return fields[names[i]] < fields[names[j]] })
	return strings.Join(names, ", ")
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return k.String()
}

// describe names what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}
