package space

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Load reads and parses the architecture in the YAML file at path (see Parse).
func Load(path string) (*Arch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes an architecture from YAML and validates it. Decoding is strict: unknown keys,
// duplicate keys and values of the wrong type are errors. Every mistake is returned as a
// *ConfigError with filename, line, column and field.
func Parse(data []byte, filename string) (*Arch, error) {
	var a Arch
	err := DecodeYAML(data, filename, &a, func() error {
		if err := explicitZero(data); err != nil {
			return err
		}
		a.dropEmpty()
		return a.Validate()
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// archYAML has Arch's fields without its MarshalYAML method, for the encoder.
type archYAML Arch

// MarshalYAML encodes the architecture as YAML that Parse reads back to an equal Arch.
func (a *Arch) MarshalYAML() ([]byte, error) {
	return yaml.MarshalWithOptions((*archYAML)(a), yaml.Indent(2), yaml.IndentSequence(true))
}

// dropEmpty turns the empty lists that the decoder makes of "key: []" into nil, which is how they
// are encoded (left out), so that a round trip through YAML gives an equal Arch.
func (a *Arch) dropEmpty() {
	nilIfEmpty(&a.Stem)
	nilIfEmpty(&a.Head)
	nilIfEmpty(&a.Stages)
	for i := range a.Stages {
		st := &a.Stages[i]
		nilIfEmpty(&st.List)
		nilIfEmpty(&st.AuxHead)
		st.Block.dropEmpty()
		for j := range st.List {
			st.List[j].dropEmpty()
		}
	}
}

func (b *Block) dropEmpty() {
	for _, l := range []*[]int{&b.MLP, &b.N3x3, &b.N3x3B, &b.N5x5, &b.N3x3dbl, &b.N7x7, &b.N7x7dbl, &b.N7x7x3} {
		nilIfEmpty(l)
	}
}

func nilIfEmpty[T any](s *[]T) {
	if len(*s) == 0 {
		*s = nil
	}
}

// fromYAML turns a decoding error of go-yaml into a *ConfigError at the error's token, with a
// message in this package's terms.
func fromYAML(err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	var (
		te *yaml.TypeError
		ue *yaml.UnknownFieldError
		oe *yaml.OverflowError
		ye yaml.Error
	)
	switch {
	case errors.As(err, &te):
		return tokenError(te.Token, fmt.Sprintf("must be %s (got %s)", describeType(te.DstType), quoteToken(te.Token)))
	case errors.As(err, &ue):
		return tokenError(ue.Token, ue.Message)
	case errors.As(err, &oe):
		return tokenError(oe.Token, fmt.Sprintf("must be %s (got %s, out of range)", describeType(oe.DstType), oe.SrcNum))
	case errors.As(err, &ye):
		return tokenError(ye.GetToken(), ye.GetMessage())
	}
	return &ConfigError{Msg: err.Error()}
}

func quoteToken(t *token.Token) string {
	if t == nil {
		return "nothing"
	}
	switch t.Type {
	case token.MappingStartType, token.MappingValueType:
		return "a mapping"
	case token.SequenceStartType, token.SequenceEntryType:
		return "a list"
	}
	return fmt.Sprintf("%q", t.Value)
}

// describeType says in words what a value of Go type t looks like in YAML.
func describeType(t reflect.Type) string {
	if t == nil {
		return "a value of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[Shape]():
		return "a list of three integers [C, H, W]"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return "a value of type " + t.String()
}

// positions maps the fields of a YAML document to where they are written, and back.
type positions struct {
	at    map[string]*token.Position // path → position of its key (or list entry)
	field map[[2]int]string          // line, column of a key or value → path
}

func indexPositions(data []byte) positions {
	p := positions{at: map[string]*token.Position{}, field: map[[2]int]string{}}
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil || len(f.Docs) == 0 {
		return p
	}
	body := f.Docs[0].Body
	if body == nil {
		return p
	}
	// A field missing at the top is reported at the first key.
	p.at[""] = body.GetToken().Position
	if m, ok := body.(*ast.MappingNode); ok && len(m.Values) > 0 {
		p.at[""] = m.Values[0].Key.GetToken().Position
	}
	p.walk(body, "")
	return p
}

func (p positions) record(t *token.Token, path string) {
	if t == nil || t.Position == nil {
		return
	}
	if _, ok := p.at[path]; !ok {
		p.at[path] = t.Position
	}
	p.field[[2]int{t.Position.Line, t.Position.Column}] = path
}

func (p positions) walk(n ast.Node, path string) {
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			p.walk(mv, path)
		}
	case *ast.MappingValueNode:
		key := n.Key.GetToken()
		if key == nil {
			return
		}
		sub := key.Value
		if path != "" {
			sub = path + "." + sub
		}
		p.record(key, sub)
		if n.Value != nil {
			p.record(n.Value.GetToken(), sub)
			p.walk(n.Value, sub)
		}
	case *ast.SequenceNode:
		for i, v := range n.Values {
			sub := fmt.Sprintf("%s[%d]", path, i)
			if v != nil {
				p.record(v.GetToken(), sub)
				p.walk(v, sub)
			}
		}
	case *ast.TagNode:
		p.walk(n.Value, path)
	case *ast.AnchorNode:
		p.walk(n.Value, path)
	}
}

var lastPathElem = regexp.MustCompile(`(^|\.)[^.\[]*$|\[\d+\]$`)

// parentPath returns the path of the mapping or list that holds path: "stages[1]" for
// "stages[1].stride", "stages" for "stages[1]", "" for "stages".
func parentPath(path string) string { return lastPathElem.ReplaceAllString(path, "") }

// locate completes a *ConfigError with the file name, the position of its field, or the field at
// its position.
func locate(err error, data []byte, filename string) error {
	return locateIn(err, data, filename, nil)
}

// locateIn is locate that also lists, for an unknown key, the keys valid in its mapping, found
// from root, the type of the document.
func locateIn(err error, data []byte, filename string, root reflect.Type) error {
	var ce *ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	e := *ce
	e.File = filename
	pos := indexPositions(data)
	if e.Field == "" && e.Line > 0 {
		e.Field = pos.field[[2]int{e.Line, e.Col}]
	}
	if e.Line == 0 {
		// A missing field is reported where its parent is written.
		for path := e.Field; ; path = parentPath(path) {
			if at, ok := pos.at[path]; ok && at != nil {
				e.Line, e.Col = at.Line, at.Column
				break
			}
			if path == "" {
				break
			}
		}
	}
	if strings.HasPrefix(e.Msg, "unknown field") && e.Field != "" {
		if keys := keysAt(root, parentPath(e.Field)); keys != nil {
			e.Msg = fmt.Sprintf("%s; valid fields here: %s", e.Msg, strings.Join(keys, ", "))
		}
	}
	return &e
}

var pathPart = regexp.MustCompile(`[^.\[]+|\[\d+\]`)

// keysAt returns the YAML keys of the mapping at path in a document of type root, sorted, or nil
// if that is not a struct.
func keysAt(root reflect.Type, path string) []string {
	if root == nil {
		return nil
	}
	t := root
	for _, part := range pathPart.FindAllString(path, -1) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case strings.HasPrefix(part, "["):
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
				return nil
			}
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			f, ok := fieldTypeOfKey(t, part)
			if !ok {
				return nil
			}
			t = f
		default:
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	keys := yamlKeys(t)
	slices.Sort(keys)
	return keys
}

// fieldTypeOfKey returns the type of the field of struct t, inlined structs included, with YAML key
// key.
func fieldTypeOfKey(t reflect.Type, key string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts := yamlName(f)
		if strings.Contains(opts, "inline") {
			if ft, ok := fieldTypeOfKey(f.Type, key); ok {
				return ft, true
			}
		} else if name == key {
			return f.Type, true
		}
	}
	return nil, false
}
