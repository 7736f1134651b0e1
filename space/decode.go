package space

import (
	"fmt"
	"reflect"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// DecodeYAML decodes the YAML document data, read from filename, strictly into v: unknown keys,
// duplicate keys and values of the wrong type are errors. When validate is not nil it runs after
// decoding. Every mistake comes back as a *ConfigError with filename, line, column and field; a
// *ConfigError from validate that names only its field is placed at that field's line, and an
// unknown key's error lists the keys valid in its mapping. Recipes,
// search spaces and experiments are read with it, so all configs report errors alike. An empty
// document (nothing, or only comments) leaves v as it was: a recipe file with no fields means
// all defaults, as a partial one means defaults for what it leaves out.
func DecodeYAML(data []byte, filename string, v any, validate func() error) error {
	if emptyDocument(data) {
		// go-yaml would set v to its zero value.
	} else if err := unmarshalStrict(data, v); err != nil {
		return locateIn(fromYAML(err), data, filename, reflect.TypeOf(v))
	}
	if validate != nil {
		if err := validate(); err != nil {
			return locateIn(err, data, filename, reflect.TypeOf(v))
		}
	}
	return nil
}

// emptyDocument reports whether data holds no YAML value: nothing, blank lines, comments, a lone
// document marker or null.
func emptyDocument(data []byte) (empty bool) {
	defer func() {
		if recover() != nil {
			empty = false // the decoder reports the malformed document
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return false // the decoder reports the syntax error
	}
	for _, d := range f.Docs {
		switch d.Body.(type) {
		case nil, *ast.NullNode, *ast.CommentGroupNode:
		default:
			return false
		}
	}
	return true
}

// unmarshalStrict is go-yaml's strict decoding, with the panics that some malformed documents
// cause inside go-yaml v1.19 (an anchor on a tagged empty node, found by fuzzing) turned into
// errors: bad input must never crash nas.
func unmarshalStrict(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &ConfigError{Msg: fmt.Sprintf("malformed YAML the parser cannot read (%v)", r)}
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, yaml.Strict())
}
