package space

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// zeroMeansDefault lists the architecture keys whose zero value the decoder leaves for "not
// written", which validation then replaces by a default, with what is valid for each.
var zeroMeansDefault = map[string]string{
	"blocks":       fmt.Sprintf("must be between 1 and %d (got 0); to leave a stage out, delete it", maxBlocks),
	"stride":       fmt.Sprintf("must be between 1 and %d (1 or 2 in a stage) (got 0); leave it out for the default: 1, or a pool's kernel", maxSize),
	"kernel":       fmt.Sprintf("must be between 1 and %d (odd and at most 15 in a block) (got 0); leave it out for the default", maxSize),
	"widen_factor": fmt.Sprintf("must be between 1 and %d (got 0); leave it out for 1", maxWidth),
	"groups":       fmt.Sprintf("must be between 1 and %d, a divisor of the channels (got 0); leave it out for 1", maxWidth),
	"mid_width":    fmt.Sprintf("must be between 1 and %d (got 0); leave it out for width/4", maxWidth),
	"ratio":        fmt.Sprintf("must be between 1 and %d (got 0); leave it out for 16", maxWidth),
	"compression":  "must be in (0, 1] (got 0); leave it out for 1, no compression",
}

// explicitZero returns a *ConfigError at the first key of zeroMeansDefault written with the
// value 0 in an architecture document ("blocks: 0", "stride: 0", "compression: 0.0"). The
// decoder cannot tell a zero written from a field left out, and validation fills a left-out
// field with its default; a zero written is a mistake, never silently the default. A stage of
// no blocks is written by leaving the stage out.
func explicitZero(data []byte) (err error) {
	defer func() {
		if recover() != nil {
			err = nil // the decoder reports the malformed document
		}
	}()
	f, perr := parser.ParseBytes(data, 0)
	if perr != nil || len(f.Docs) == 0 {
		return nil
	}
	var found *ConfigError
	ast.Walk(visitorFunc(func(n ast.Node) bool {
		if found != nil {
			return false
		}
		mv, ok := n.(*ast.MappingValueNode)
		if !ok || mv.Key == nil || mv.Value == nil || mv.Key.GetToken() == nil {
			return true
		}
		msg, listed := zeroMeansDefault[mv.Key.GetToken().Value]
		if listed && isZero(mv.Value) {
			found = tokenError(mv.Value.GetToken(), msg)
			return false
		}
		return true
	}), f.Docs[0])
	if found != nil {
		return found
	}
	return nil
}

// isZero reports whether n is the number 0, written as an integer or a float.
func isZero(n ast.Node) bool {
	switch v := n.(type) {
	case *ast.IntegerNode:
		return v.GetToken() != nil && fmt.Sprint(v.Value) == "0"
	case *ast.FloatNode:
		return v.Value == 0
	}
	return false
}

// visitorFunc adapts a function to ast.Visitor; returning false stops the descent.
type visitorFunc func(ast.Node) bool

// Visit implements ast.Visitor.
func (f visitorFunc) Visit(n ast.Node) ast.Visitor {
	if f(n) {
		return f
	}
	return nil
}
